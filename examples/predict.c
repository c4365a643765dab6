/* Classify images with a trained checkpoint.
 *
 *   predict CHECKPOINT IMAGE.pgm...
 *
 * The checkpoint says which model it holds and for which input (channels,
 * size, classes), the normalisation its training used and the class names:
 * rebuild that graph, load the weights, normalise each image the same way,
 * run one forward pass in eval mode and print the most likely class. Images
 * are binary PGM (P5, 8-bit gray) of the model's size, to keep this example
 * free of image libraries; sn_dataset_load reads PNG folders. */
#include "example_util.h"

#include <math.h>
#include <string.h>

/* Read a P5 PGM of exactly size x size into px; 0 on any problem. */
static int read_pgm(const char *path, int size, uint8_t *px)
{
    FILE *f = fopen(path, "rb");
    int w, h, max;
    int ok = f && fscanf(f, "P5 %d %d %d", &w, &h, &max) == 3 && fgetc(f) != EOF && w == size &&
             h == size && max == 255 && fread(px, 1, (size_t)size * size, f) == (size_t)size * size;
    if (f)
        fclose(f);
    if (!ok)
        fprintf(stderr, "%s: not an 8-bit PGM of %dx%d\n", path, size, size);
    return ok;
}

/* Name k of the checkpoint's newline-separated class names. */
static void class_name(const char *names, int k, char *out, size_t size)
{
    snprintf(out, size, "class %d", k);
    for (int i = 0; *names; i++) {
        const char *end = strchr(names, '\n');
        size_t len = end ? (size_t)(end - names) : strlen(names);
        if (i == k) {
            snprintf(out, size, "%.*s", (int)len, names);
            return;
        }
        if (!end)
            return;
        names = end + 1;
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s CHECKPOINT IMAGE.pgm...\n", argv[0]);
        return 2;
    }
    int n = argc - 2;
    static sn_checkpoint_info info; /* large: class names */
    CHECK(sn_checkpoint_info_read(argv[1], &info));
    sn_graph *g;
    CHECK(sn_graph_build(info.model, &info.graph, &g));
    if (g->in_channels != 1) {
        fprintf(stderr, "%s takes %d channels; this example reads gray images\n", info.model,
                g->in_channels);
        return 1;
    }
    sn_context *ctx;
    CHECK(sn_context_create(NULL, &ctx));
    sn_model *m;
    CHECK(sn_model_create(ctx, g, n, 0, &m));
    CHECK(sn_checkpoint_load(m, argv[1], /*with_optimizer*/ 0, NULL));

    size_t per = (size_t)g->size * g->size;
    float *images = malloc(per * n * sizeof *images);
    int32_t *labels = calloc((size_t)n, sizeof *labels); /* unused by a prediction */
    float *logits = malloc((size_t)n * g->classes * sizeof *logits);
    uint8_t *px = malloc(per);
    if (!images || !labels || !logits || !px)
        return 1;
    for (int i = 0; i < n; i++) {
        if (!read_pgm(argv[2 + i], g->size, px))
            return 1;
        for (size_t k = 0; k < per; k++)
            images[i * per + k] = (px[k] / 255.0f - info.state.mean[0]) / info.state.std[0];
    }
    CHECK(sn_model_set_batch(m, images, labels, n));
    CHECK(sn_model_forward(m, /*training*/ 0));
    CHECK(sn_model_logits(m, logits, n));
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * g->classes;
        int best = 0;
        double sum = 0;
        for (int k = 1; k < g->classes; k++)
            best = z[k] > z[best] ? k : best;
        for (int k = 0; k < g->classes; k++)
            sum += exp(z[k] - z[best]);
        char name[128];
        class_name(info.state.class_names, best, name, sizeof name);
        printf("%s: %s (%.1f%%)\n", argv[2 + i], name, 100.0 / sum);
    }
    free(images);
    free(labels);
    free(logits);
    free(px);
    sn_model_free(m);
    sn_graph_free(g);
    sn_context_free(ctx);
    return 0;
}
