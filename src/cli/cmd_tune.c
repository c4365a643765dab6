/* `sharesnet tune`: measure the convolution algorithms for every conv shape
 * of a model ahead of time and store the choices in the tuning file, so
 * training starts with them. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include "ops/conv_tune.h"

static const char usage[] =
    "usage: sharesnet tune --model MODEL [--batch B] [--device X] [--in-ch C] [--size S]\n"
    "                      [--classes N] [--retime]\n\n"
    "Times each convolution algorithm on every conv shape of MODEL (forward, backward data,\n"
    "backward weights; each unique shape once) at batch B, keeps the fastest and writes the\n"
    "choices to the tuning file next to the kernel cache (SN_CACHE_DIR; nothing is stored\n"
    "with SN_CACHE=0). Shapes already in the file are reported, not timed again, unless\n"
    "--retime. At run time SN_CONV_ALGO=gemm|direct|winograd overrides the choices and\n"
    "SN_TUNE=0 uses the device defaults without timing.";

/* One unique conv shape of the model and the layers that have it. */
typedef struct tune_shape {
    sn_conv_shape shape;
    const char *first_layer;
    int layers;
    int needs_dx; /* some layer with this shape does not read the input image */
} tune_shape;

static int collect_shapes(const sn_graph *g, int batch, tune_shape **out)
{
    tune_shape *shapes = calloc((size_t)g->n_layers + 1, sizeof *shapes);
    if (!shapes)
        return -1;
    int n = 0;
    for (int i = 0; i < g->n_layers; i++) {
        const sn_layer_spec *l = &g->layers[i];
        if (l->op != SN_OP_CONV)
            continue;
        const sn_act_shape *in = &g->acts[l->in], *o = &g->acts[l->out];
        sn_conv_shape s = {batch, in->c, in->h, in->w, o->c, l->kernel, l->stride, l->pad};
        int k = 0;
        while (k < n && memcmp(&shapes[k].shape, &s, sizeof s) != 0)
            k++;
        if (k == n)
            shapes[n++] = (tune_shape){s, l->name, 0, 0};
        shapes[k].layers++;
        shapes[k].needs_dx |= l->in != 0; /* the executor skips dx of the image */
    }
    *out = shapes;
    return n;
}

static const char *source_name(sn_conv_tune_source s)
{
    switch (s) {
    case SN_TUNE_SOURCE_DEFAULT: return "default";
    case SN_TUNE_SOURCE_ONLY: return "only";
    case SN_TUNE_SOURCE_FILE: return "file";
    case SN_TUNE_SOURCE_TIMED: return "timed";
    }
    return "?";
}

static void print_header(void)
{
    printf("%-30s %-6s %-16s", "shape (N C H W -> OC KxK/s p)", "layers", "pass");
    for (int a = 0; a < SN_CONV_ALGO_COUNT; a++) {
        char col[32];
        snprintf(col, sizeof col, "%s ms", sn_conv_algo_name((sn_conv_algo)a));
        printf(" %11s", col);
    }
    printf("  %-8s %s\n", "chosen", "from");
}

static void print_row(const tune_shape *t, sn_conv_pass pass, const sn_conv_tune_result *r,
                      sn_status st)
{
    const sn_conv_shape *s = &t->shape;
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%dx%dx%d -> %d %dx%d/%d p%d", s->N, s->C, s->H, s->W, s->OC,
             s->K, s->K, s->stride, s->pad);
    printf("%-30s %6d %-16s", shape, t->layers, sn_conv_pass_name(pass));
    for (int a = 0; a < SN_CONV_ALGO_COUNT; a++) {
        if (!r->supported[a])
            printf(" %11s", "n/a");
        else if (r->ms[a] < 0)
            printf(" %11s", r->source == SN_TUNE_SOURCE_TIMED ? "failed" : "-");
        else
            printf(" %11.3f", r->ms[a]);
    }
    printf("  %-8s %s", sn_conv_algo_name(r->algo), source_name(r->source));
    if (st != SN_OK)
        printf("  (%s)", sn_last_error());
    printf("\n");
    fflush(stdout);
}

int cmd_tune(int argc, char **argv)
{
    cli_option opts[] = {
        {"model", 1, "model name (see sharesnet info --all)", NULL},
        {"batch", 1, "batch size the shapes are timed at (default 128)", NULL},
        {"device", 1, "device selector (P:D, gpu/cpu/accelerator, or a name part)", NULL},
        CLI_GRAPH_OPTIONS,
        {"retime", 0, "measure again shapes the tuning file already has", NULL},
    };
    cli_args args = {opts, sizeof opts / sizeof opts[0], NULL, 0};
    int rc = cli_parse(argc, argv, 2, usage, &args);
    int n_pos = args.n_positional;
    cli_args_free(&args);
    if (rc)
        return rc == 1 ? 0 : rc;
    sn_graph_options o;
    long batch;
    if (!cli_graph_options(&args, &o) || !cli_int(&args, "batch", 128, &batch))
        return 2;
    const char *model = cli_get(&args, "model");
    if (!model || n_pos || batch <= 0 || batch > 1 << 20) {
        fprintf(stderr, "sharesnet: tune needs --model MODEL, a positive --batch and no other "
                        "arguments\n");
        return 2;
    }
    sn_graph *g;
    sn_status st = sn_graph_build(model, &o, &g);
    if (st != SN_OK)
        return cli_error("tune", st);
    tune_shape *shapes = NULL;
    int n = collect_shapes(g, (int)batch, &shapes);
    if (n < 0) {
        sn_graph_free(g);
        fprintf(stderr, "sharesnet: tune: out of memory\n");
        return 1;
    }
    sn_context *ctx;
    if (cli_open_context(cli_get(&args, "device"), &ctx)) {
        free(shapes);
        sn_graph_free(g);
        return 1;
    }
    const sn_device_info *d = sn_context_device(ctx);
    printf("model %s, batch %ld: %d conv shapes on %s (%s, %s)\n", g->model, batch, n, d->name,
           sn_device_type_name(d->type), d->platform);
    print_header();

    int retime = cli_get(&args, "retime") != NULL, failures = 0, write_failed = 0;
    static const sn_conv_pass passes[] = {SN_CONV_FORWARD, SN_CONV_BACKWARD_DATA,
                                          SN_CONV_BACKWARD_WEIGHTS};
    for (int i = 0; i < n; i++) {
        for (size_t p = 0; p < sizeof passes / sizeof passes[0]; p++) {
            if (passes[p] == SN_CONV_BACKWARD_DATA && !shapes[i].needs_dx)
                continue;
            sn_conv_tune_result r;
            st = sn_conv_tune(ctx, passes[p], &shapes[i].shape, retime, &r);
            if (st == SN_ERR_IO) { /* measured, but the file could not be written */
                write_failed = 1;
                st = SN_OK;
            }
            failures += st != SN_OK;
            print_row(&shapes[i], passes[p], &r, st);
        }
    }

    char path[4200];
    sn_conv_tune_path(ctx, path, sizeof path);
    if (!path[0])
        printf("caching is off (SN_CACHE=0): the choices were not stored\n");
    else if (write_failed)
        printf("could not write %s: the choices were not stored\n", path);
    else
        printf("tuning file: %s\n", path);
    const char *forced = getenv("SN_CONV_ALGO"), *tune = getenv("SN_TUNE");
    if (forced && *forced && strcmp(forced, "auto"))
        printf("note: SN_CONV_ALGO=%s overrides these choices at run time\n", forced);
    if (tune && !strcmp(tune, "0"))
        printf("note: SN_TUNE=0 makes runs use the device defaults instead\n");
    sn_context_free(ctx);
    free(shapes);
    sn_graph_free(g);
    return failures || write_failed ? 1 : 0;
}
