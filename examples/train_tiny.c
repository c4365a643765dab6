/* Train a tiny ShaResNet on data made up here, then save it.
 *
 *   train_tiny OUT_DIR
 *
 * The data: 8x8 gray images of two classes, horizontal vs vertical stripes
 * with noise. The model: sharesnet8 for 1 input channel, 8x8, 2 classes
 * (the zoo's default input is 3x32x32, 10 classes: set the graph options to
 * your data's). sn_train writes OUT_DIR/checkpoint.safetensors after every
 * epoch (and best.safetensors, the best test top-1) and OUT_DIR/log.jsonl.
 * It also writes three test images as OUT_DIR/sample_K_CLASS.pgm for the
 * predict example. */
#include "example_util.h"

#include <string.h>

enum { SIZE = 8, CLASSES = 2 };

/* One image of `label`: stripes along x (0) or y (1), contrast and noise
 * from a small LCG so every run sees the same data. */
static void make_image(uint8_t *px, int label, uint32_t *rng)
{
    for (int y = 0; y < SIZE; y++)
        for (int x = 0; x < SIZE; x++) {
            *rng = *rng * 1664525u + 1013904223u;
            int on = (label ? x : y) % 2;
            int noise = (int)(*rng >> 27) - 16;
            int v = (on ? 190 : 60) + noise;
            px[y * SIZE + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
}

/* An sn_dataset owns malloc'ed arrays (sn_dataset_free releases them). */
static void make_dataset(sn_dataset *d, int count, uint32_t seed)
{
    static const char *const names[CLASSES] = {"horizontal", "vertical"};
    memset(d, 0, sizeof *d);
    d->count = count;
    d->channels = 1;
    d->height = d->width = SIZE;
    d->classes = CLASSES;
    d->images = malloc((size_t)count * SIZE * SIZE);
    d->labels = malloc((size_t)count * sizeof *d->labels);
    d->class_names = calloc(CLASSES, sizeof *d->class_names);
    if (!d->images || !d->labels || !d->class_names) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (int k = 0; k < CLASSES; k++)
        d->class_names[k] = strdup(names[k]);
    uint32_t rng = seed;
    for (int i = 0; i < count; i++) {
        d->labels[i] = i % CLASSES;
        make_image(d->images + (size_t)i * SIZE * SIZE, d->labels[i], &rng);
    }
}

/* Binary PGM: the simplest image file a reader can parse without a library. */
static void write_pgm(const char *path, const uint8_t *px)
{
    FILE *f = fopen(path, "wb");
    if (!f || fprintf(f, "P5\n%d %d\n255\n", SIZE, SIZE) < 0 ||
        fwrite(px, 1, SIZE * SIZE, f) != SIZE * SIZE || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
        return 2;
    }
    const char *out = argv[1];
    sn_dataset train, test;
    make_dataset(&train, 256, 1);
    make_dataset(&test, 64, 2);

    sn_context *ctx;
    CHECK(sn_context_create(NULL, &ctx)); /* default device: $SN_DEVICE, else the first */

    sn_graph_options o;
    sn_graph_options_default(&o);
    o.classes = CLASSES;
    o.in_channels = 1;
    o.size = SIZE;
    sn_graph *g;
    CHECK(sn_graph_build("sharesnet8", &o, &g));
    sn_model *m;
    CHECK(sn_model_create(ctx, g, 32, /*seed*/ 1, &m));
    printf("sharesnet8: %lld parameters\n", sn_graph_param_count(g));

    sn_train_config c;
    sn_train_config_default(&c, 3);
    c.batch = 32;
    c.lr.base_lr = 0.05;
    c.crop_padding = 0; /* stripes: a shifted crop would still be fine, a flip would not */
    c.flip = 0;
    c.seed = 1;
    c.out_dir = out;
    sn_train_state state;
    memset(&state, 0, sizeof state); /* a new run */
    sn_epoch_report last;
    CHECK(sn_train(m, &train, &test, &c, &state, NULL, &last));
    printf("after %d epochs: test top-1 %.1f%%, checkpoint %s/checkpoint.safetensors\n",
           last.epoch, 100 * last.test_top1, out);

    for (int k = 0; k < 3; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/sample_%d_%s.pgm", out, k,
                 test.class_names[test.labels[k]]);
        write_pgm(path, test.images + (size_t)k * SIZE * SIZE);
    }
    sn_model_free(m);
    sn_graph_free(g);
    sn_context_free(ctx);
    sn_dataset_free(&train);
    sn_dataset_free(&test);
    /* Stripes are easy: a model that learnt nothing is a failure. */
    return last.test_top1 > 0.9 ? 0 : 1;
}
