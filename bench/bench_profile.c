/* `sharesnet bench profile`: where the device time of a warm training step
 * (or inference pass) goes, per kernel and per kind of op, next to the
 * step's wall time. The gap between the two is what the host and the
 * launches cost (the device idles while the host enqueues or waits). */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sharesnet bench profile --model M [--batch B] [--device X] [--mode train|infer]\n"
    "                               [--steps N] [--warmup N] [--in-ch C] [--size S] [--classes N]\n\n"
    "Runs --warmup untimed steps (kernel compilation, tuning), then --steps steps with every\n"
    "kernel launch timed by OpenCL profiling events, and prints the device time per step of\n"
    "each kernel and of each kind of op (convolution, batch norm, ...), next to the median wall\n"
    "time of a step. CLBlast GEMMs count as clblast_sgemm* (the event of their last kernel).\n"
    "Defaults: --batch 128, --mode train, --steps 3, --warmup 2.";

/* Kinds of op by kernel name prefix, most specific first. */
static const struct {
    const char *prefix, *kind;
} kinds[] = {
    {"sn_convd_", "convolution"},  {"sn_conv", "convolution"},  {"sn_wino", "convolution"},
    {"sn_channel_affine", "convolution"}, /* the conv's epilogue when not fused */
    {"sn_im2col", "convolution"},  {"sn_col2im", "convolution"}, {"clblast_", "convolution"},
    {"sn_bn", "batch norm"},       {"sn_batchnorm", "batch norm"}, {"sn_relu", "elementwise"},
    {"sn_add", "elementwise"},     {"sn_axpy", "elementwise"},  {"sn_copy", "elementwise"},
    {"sn_scale", "elementwise"},   {"sn_fill", "elementwise"},  {"sn_shortcut", "elementwise"},
    {"sn_sgd", "optimizer"},       {"sn_softmax", "loss"},      {"sn_ce", "loss"},
    {"sn_gap", "pooling"},         {"sn_maxpool", "pooling"},   {"sn_linear", "linear"},
    {"sn_bias", "linear"},
};

static const char *kind_of(const char *kernel)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strncmp(kernel, kinds[i].prefix, strlen(kinds[i].prefix)))
            return kinds[i].kind;
    return "other";
}

typedef struct kind_total {
    const char *kind;
    long launches;
    double ms;
} kind_total;

static int by_ms_desc(const void *a, const void *b)
{
    double x = ((const kind_total *)a)->ms, y = ((const kind_total *)b)->ms;
    return (x < y) - (x > y);
}

static void print_profile(const sn_kernel_time *t, int n, int steps, double wall_ms)
{
    double device_ms = 0;
    for (int i = 0; i < n; i++)
        device_ms += t[i].ms / steps;
    kind_total totals[sizeof kinds / sizeof kinds[0] + 1];
    int n_kinds = 0;
    for (int i = 0; i < n; i++) {
        const char *k = kind_of(t[i].name);
        int j = 0;
        while (j < n_kinds && strcmp(totals[j].kind, k))
            j++;
        if (j == n_kinds)
            totals[n_kinds++] = (kind_total){k, 0, 0};
        totals[j].launches += t[i].launches;
        totals[j].ms += t[i].ms;
    }
    qsort(totals, (size_t)n_kinds, sizeof totals[0], by_ms_desc);

    printf("\nwall time per step (median): %.2f ms; device time per step: %.2f ms (%.0f%% of wall)\n",
           wall_ms, device_ms, wall_ms > 0 ? 100.0 * device_ms / wall_ms : 0.0);
    printf("\n| kind of op | launches / step | ms / step | %% of device time |\n|---|--:|--:|--:|\n");
    for (int j = 0; j < n_kinds; j++)
        printf("| %s | %.0f | %.2f | %.1f%% |\n", totals[j].kind,
               (double)totals[j].launches / steps, totals[j].ms / steps,
               device_ms > 0 ? 100.0 * totals[j].ms / steps / device_ms : 0.0);
    printf("\n| kernel | kind | launches / step | ms / step | us / launch | %% of device time |\n"
           "|---|---|--:|--:|--:|--:|\n");
    for (int i = 0; i < n; i++)
        printf("| %s | %s | %.0f | %.3f | %.1f | %.1f%% |\n", t[i].name, kind_of(t[i].name),
               (double)t[i].launches / steps, t[i].ms / steps,
               t[i].launches ? 1e3 * t[i].ms / (double)t[i].launches : 0.0,
               device_ms > 0 ? 100.0 * t[i].ms / steps / device_ms : 0.0);
}

int bench_profile_main(int argc, char **argv)
{
    cli_option opts[] = {
        {"model", 1, "model name (see sharesnet info --all)", NULL},
        {"batch", 1, "batch size (default 128)", NULL},
        {"device", 1, "device selector (P:D, gpu/cpu/accelerator, or a name part)", NULL},
        {"mode", 1, "train (forward, backward, SGD step) or infer (eval forward); default train", NULL},
        {"steps", 1, "profiled steps (default 3)", NULL},
        {"warmup", 1, "untimed steps first (default 2)", NULL},
        CLI_GRAPH_OPTIONS,
    };
    cli_args args = {opts, sizeof opts / sizeof opts[0], NULL, 0};
    int rc = cli_parse(argc, argv, 1, usage, &args);
    int n_pos = args.n_positional;
    cli_args_free(&args);
    if (rc)
        return rc == 1 ? 0 : rc;
    sn_graph_options go;
    long batch, steps, warmup;
    if (!cli_graph_options(&args, &go) || !cli_int(&args, "batch", 128, &batch) ||
        !cli_int(&args, "steps", 3, &steps) || !cli_int(&args, "warmup", 2, &warmup))
        return 2;
    const char *model = cli_get(&args, "model"), *mode = cli_get(&args, "mode");
    int train = !mode || !strcmp(mode, "train");
    if (!model || n_pos || batch <= 0 || batch > 1 << 20 || steps <= 0 || steps > 10000 ||
        warmup < 0 || warmup > 10000 || (mode && strcmp(mode, "train") && strcmp(mode, "infer"))) {
        fprintf(stderr, "sharesnet: bench profile needs --model MODEL, --batch in [1, 1048576], "
                        "--steps in [1, 10000], --warmup in [0, 10000], --mode train|infer and "
                        "no other arguments\n");
        return 2;
    }
    sn_graph *g = NULL;
    sn_status st = sn_graph_build(model, &go, &g);
    if (st != SN_OK)
        return cli_error("model", st);
    sn_context_options co;
    sn_context_options_default(&co);
    co.device = cli_get(&args, "device");
    co.profiling = 1;
    sn_context *ctx = NULL;
    sn_model *m = NULL;
    st = sn_context_create(&co, &ctx);
    if (st != SN_OK) {
        sn_graph_free(g);
        return cli_error("device", st);
    }
    const sn_device_info *dev = sn_context_device(ctx);
    bench_machine mach;
    bench_machine_get(&mach);
    printf("sharesnet bench profile: %s, batch %ld, %s, %ld steps after %ld warm-up\n", g->model,
           batch, train ? "train step" : "inference", steps, warmup);
    printf("device: %s (%s), driver %s; host %s, %s, %d cores, %s\n", dev->name,
           sn_device_type_name(dev->type), dev->driver_version, mach.host, mach.cpu, mach.cores,
           mach.date);
    sn_sgd_options sgd = {0.01f, 0.9f, 5e-4f, 1};
    int modes = train ? BENCH_TRAIN : BENCH_INFER;
    bench_speed warm, timed;
    sn_kernel_time *t = NULL;
    int n = 0;
    st = sn_model_create(ctx, g, (int)batch, 1, &m);
    /* The warm-up also tunes every conv shape, so no tuning run is profiled. */
    if (st == SN_OK && warmup > 0)
        st = bench_model_speed(ctx, m, (int)batch, modes, (int)warmup - 1, 1, &sgd, &warm);
    if (st == SN_OK)
        st = sn_profile_start(ctx);
    if (st == SN_OK) {
        st = bench_model_speed(ctx, m, (int)batch, modes, 0, (int)steps, &sgd, &timed);
        sn_status stop = sn_profile_stop(ctx, &t, &n);
        if (st == SN_OK)
            st = stop;
    }
    if (st == SN_OK) {
        const bench_timing *bt = train ? &timed.train : &timed.infer;
        print_profile(t, n, (int)steps, 1e3 * bt->median_s);
    }
    free(t);
    sn_model_free(m);
    sn_context_free(ctx);
    sn_graph_free(g);
    return st == SN_OK ? 0 : cli_error("bench profile", st);
}
