/* `sharesnet predict`: top-k classes of PNG images under a checkpoint. */
#include "cli/cli.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

int cli_model_from_checkpoint(const char *path, sn_context *ctx, int batch, sn_graph **g,
                              sn_model **m, sn_checkpoint_info *info);

static const char usage[] =
    "usage: sharesnet predict --checkpoint FILE [--top K] [--json] [--device X] IMAGE.png...\n\n"
    "Prints the K most likely classes of each image with their probabilities. Images are\n"
    "converted to the model's channels and center-cropped or padded to its size.\n"
    "--json prints one JSON document instead: per image the logits (float32, printed\n"
    "with 9 significant digits, so they read back exactly), the softmax probabilities and\n"
    "the top K classes.";

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

/* Softmax of z[0..k) in double (max subtracted first), into p. */
static void softmax(const float *z, int k, double *p)
{
    double max = z[0], sum = 0;
    for (int c = 1; c < k; c++)
        max = z[c] > max ? z[c] : max;
    for (int c = 0; c < k; c++)
        sum += p[c] = exp(z[c] - max);
    for (int c = 0; c < k; c++)
        p[c] /= sum;
}

/* The `top` largest of z[0..k) in decreasing order (ties: lower class
 * first) into order[0..min(top,k)); returns how many. */
static int rank_classes(const float *z, int k, int top, int *order)
{
    int n = top < k ? top : k;
    for (int r = 0; r < n; r++) {
        int best = -1;
        for (int c = 0; c < k; c++) {
            int taken = 0;
            for (int q = 0; q < r && !taken; q++)
                taken = order[q] == c;
            if (!taken && (best < 0 || z[c] > z[best]))
                best = c;
        }
        order[r] = best;
    }
    return n;
}

static int print_text(const sn_graph *g, const sn_checkpoint_info *info, const char **images,
                      const float *logits, int n, int top)
{
    double *p = malloc((size_t)g->classes * sizeof *p);
    int *order = malloc((size_t)g->classes * sizeof *order);
    if (!p || !order) {
        free(p);
        free(order);
        fprintf(stderr, "sharesnet: out of memory\n");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * g->classes;
        softmax(z, g->classes, p);
        printf("%s\n", images[i]);
        int shown = rank_classes(z, g->classes, top, order);
        for (int r = 0; r < shown; r++) {
            char name[128];
            class_name(info->state.class_names, order[r], name, sizeof name);
            printf("  %2d. %-24s %6.2f%%\n", r + 1, name, 100.0 * p[order[r]]);
        }
    }
    free(p);
    free(order);
    return 0;
}

/* One JSON document on stdout; jansson escapes the file and class names. */
static int print_json(const char *checkpoint, const sn_graph *g, const sn_checkpoint_info *info,
                      const char **images, const float *logits, int n, int top)
{
    double *p = malloc((size_t)g->classes * sizeof *p);
    int *order = malloc((size_t)g->classes * sizeof *order);
    json_t *root = json_pack("{s:s,s:s,s:i,s:[]}", "checkpoint", checkpoint, "model", g->model,
                             "classes", g->classes, "predictions");
    json_t *preds = root ? json_object_get(root, "predictions") : NULL;
    int failed = !p || !order || !preds;
    for (int i = 0; !failed && i < n; i++) {
        const float *z = logits + (size_t)i * g->classes;
        softmax(z, g->classes, p);
        json_t *zs = json_array(), *ps = json_array(), *ranked = json_array();
        for (int c = 0; zs && ps && c < g->classes; c++) {
            json_array_append_new(zs, json_real(z[c]));
            json_array_append_new(ps, json_real(p[c]));
        }
        int shown = rank_classes(z, g->classes, top, order);
        for (int r = 0; ranked && r < shown; r++) {
            char name[128];
            class_name(info->state.class_names, order[r], name, sizeof name);
            json_array_append_new(ranked, json_pack("{s:i,s:s,s:f,s:f}", "class", order[r],
                                                    "name", name, "probability", p[order[r]],
                                                    "logit", (double)z[order[r]]));
        }
        json_t *one = zs && ps && ranked ? json_pack("{s:s,s:o,s:o,s:o}", "image", images[i],
                                                     "logits", zs, "probabilities", ps,
                                                     "top", ranked)
                                         : NULL;
        if (!one) {
            json_decref(zs);
            json_decref(ps);
            json_decref(ranked);
        }
        failed = !one || json_array_append_new(preds, one) != 0;
    }
    if (!failed)
        failed = json_dumpf(root, stdout, JSON_INDENT(1) | JSON_REAL_PRECISION(9)) != 0;
    if (!failed)
        putchar('\n');
    json_decref(root);
    free(p);
    free(order);
    if (failed)
        fprintf(stderr, "sharesnet: predict: cannot build the JSON output (out of memory)\n");
    return failed;
}

int cmd_predict(int argc, char **argv)
{
    cli_option opts[] = {
        {"checkpoint", 1, "checkpoint file written by sharesnet train", NULL},
        {"top", 1, "classes to show per image (default 5)", NULL},
        {"device", 1, "device selector", NULL},
        {"json", 0, "print JSON: logits, probabilities and top-k of every image", NULL},
    };
    cli_args args = {opts, sizeof opts / sizeof opts[0], NULL, 0};
    int rc = cli_parse_positional(argc, argv, 2, usage, -1, &args); /* the images */
    if (rc) {
        cli_args_free(&args);
        return rc == 1 ? 0 : rc;
    }
    const char *path = cli_get(&args, "checkpoint");
    long top;
    int json = cli_get(&args, "json") != NULL;
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
    rc = cli_open_context_untimed(cli_get(&args, "device"), &ctx);
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
    if (!rc)
        rc = json ? print_json(path, g, &info, args.positional, logits, n, (int)top)
                  : print_text(g, &info, args.positional, logits, n, (int)top);
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
