/* `sharesnet predict`: top-k classes of PNG images under a checkpoint. */
#include "cli/cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

int cli_model_from_checkpoint(const char *path, sn_context *ctx, int batch, sn_graph **g,
                              sn_model **m, sn_checkpoint_info *info);

static const char usage[] =
    "usage: sharesnet predict --checkpoint FILE [--top K] [--device X] IMAGE.png...\n\n"
    "Prints the K most likely classes of each image with their probabilities. Images are\n"
    "converted to the model's channels and center-cropped or padded to its size.";

/* Name of class k from the checkpoint's newline-separated list. */
static void class_name(const char *names, int k, char *out, size_t size)
{
    snprintf(out, size, "%d", k);
    for (int i = 0; names && *names; i++) {
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

int cmd_predict(int argc, char **argv)
{
    cli_option opts[] = {
        {"checkpoint", 1, "checkpoint file written by sharesnet train", NULL},
        {"top", 1, "classes to show per image (default 5)", NULL},
        {"device", 1, "device selector", NULL},
    };
    cli_args args = {opts, 3, NULL, 0};
    int rc = cli_parse_positional(argc, argv, 2, usage, -1, &args); /* the images */
    if (rc) {
        cli_args_free(&args);
        return rc == 1 ? 0 : rc;
    }
    const char *path = cli_get(&args, "checkpoint");
    long top;
    if (!path || args.n_positional == 0 || !cli_int(&args, "top", 5, &top) || top <= 0) {
        fprintf(stderr, "sharesnet: predict needs --checkpoint FILE and at least one image; --top > 0\n");
        cli_args_free(&args);
        return 2;
    }
    sn_context *ctx = NULL;
    sn_graph *g = NULL;
    sn_model *m = NULL;
    sn_checkpoint_info info;
    int n = args.n_positional;
    rc = cli_open_context(cli_get(&args, "device"), &ctx);
    if (!rc)
        rc = cli_model_from_checkpoint(path, ctx, n, &g, &m, &info);
    float *images = NULL, *logits = NULL;
    uint8_t *pixels = NULL;
    int32_t *labels = NULL;
    if (!rc) {
        size_t per = (size_t)g->in_channels * g->size * g->size;
        images = malloc(per * n * sizeof *images);
        pixels = malloc(per);
        labels = calloc((size_t)n, sizeof *labels);
        logits = malloc((size_t)n * g->classes * sizeof *logits);
        if (!images || !pixels || !labels || !logits) {
            fprintf(stderr, "sharesnet: out of memory\n");
            rc = 1;
        }
        for (int i = 0; !rc && i < n; i++) {
            if ((rc = cli_check_image_shape(args.positional[i], g)) != 0)
                break;
            sn_status st = sn_png_decode(args.positional[i], g->in_channels, g->size, g->size, 0, pixels);
            if (st != SN_OK) {
                rc = cli_error("predict", st);
                break;
            }
            for (size_t k = 0; k < per; k++) {
                int c = (int)(k / ((size_t)g->size * g->size));
                float mean = info.state.channels ? info.state.mean[c] : 0.0f;
                float std = info.state.channels ? info.state.std[c] : 1.0f;
                images[i * per + k] = (pixels[k] / 255.0f - mean) / std;
            }
        }
    }
    if (!rc) {
        sn_status st = sn_model_set_batch(m, images, labels, n);
        if (st == SN_OK)
            st = sn_model_forward(m, 0);
        if (st == SN_OK)
            st = sn_model_logits(m, logits, n);
        if (st != SN_OK)
            rc = cli_error("predict", st);
    }
    for (int i = 0; !rc && i < n; i++) {
        const float *z = logits + (size_t)i * g->classes;
        double max = z[0], sum = 0;
        for (int k = 1; k < g->classes; k++)
            max = z[k] > max ? z[k] : max;
        for (int k = 0; k < g->classes; k++)
            sum += exp(z[k] - max);
        printf("%s\n", args.positional[i]);
        int *used = calloc((size_t)g->classes, sizeof *used);
        for (int r = 0; used && r < top && r < g->classes; r++) {
            int best = -1;
            for (int k = 0; k < g->classes; k++)
                if (!used[k] && (best < 0 || z[k] > z[best]))
                    best = k;
            used[best] = 1;
            char name[128];
            class_name(info.state.class_names, best, name, sizeof name);
            printf("  %2d. %-24s %6.2f%%\n", r + 1, name, 100.0 * exp(z[best] - max) / sum);
        }
        free(used);
    }
    free(images);
    free(pixels);
    free(labels);
    free(logits);
    sn_model_free(m);
    sn_graph_free(g);
    sn_context_free(ctx);
    cli_args_free(&args);
    return rc;
}
