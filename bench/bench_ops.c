/* sharesnet-bench-ops: time the three convolution passes (forward,
 * backward-data, backward-weights) on the conv shapes of ResNet-20 (CIFAR,
 * 32x32) and of ResNet-50's stages (ImageNet, 224x224), through the public
 * ops API on one device.
 *
 * Method: every pass runs `warmup` times first (kernel compiles, CLBlast's
 * in-process kernel cache, first-touch allocations), then `reps` timed runs.
 * Each timed run is bracketed by sn_context_finish() so the wall clock
 * (sn_now_seconds) covers exactly the enqueued work of that pass, host-side
 * enqueue cost included. The table reports the median (and min/max, to show
 * the spread); GFLOP/s = 2*N*OC*OH*OW*C*K*K / median for every pass and
 * algorithm: the direct convolution's operation count, so Winograd's figure
 * is "effective" GFLOP/s (it does fewer multiplications: F(2x2, 3x3) 16
 * instead of 36 per 2x2 output tile and channel pair), comparable across
 * algorithms as 1/time.
 *
 * Then the linear layers' GEMMs (the classifier heads of ResNet-20 and
 * ResNet-50: forward, backward data, backward weights, as src/ops/linear.c
 * calls them) with our SGEMM and CLBlast's, side by side.
 *
 * --algo gemm,direct,winograd,clblast times each algorithm (forced around
 * each run) side by side: their runs are interleaved rep by rep, so a noisy
 * machine slows them alike. "auto" leaves the choice to the library's tuner.
 * An algorithm that does not support a shape (Winograd: 3x3 stride 1 only)
 * would run GEMM there, as SN_CONV_ALGO does: it is not timed, its row says
 * "declined" in the "runs" column (which otherwise names the algorithm that
 * ran: the tuner's choice for auto) and the CSV has no row for it.
 *
 * Output: a Markdown table on stdout (device, driver and date above it) and,
 * with --csv, one CSV row per (shape, pass).
 *
 * The program's main (bench_ops_main.c) and `sharesnet bench ops` both call
 * bench_ops_main(). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sharesnet.h"
#include "sharesnet/ops.h"
#include "bench.h" /* bench_ops_main: also `sharesnet bench ops` */
#include "ops/conv_tune.h" /* which algorithm a forced or tuned run takes */
#include "ops/gemm.h"      /* the linear layers' GEMMs, ours and CLBlast's */

static const char usage[] =
    "usage: sharesnet-bench-ops [options]   (or: sharesnet bench ops [options])\n"
    "\n"
    "Median time and GFLOP/s of conv2d forward, backward-data and backward-weights\n"
    "on the conv shapes of ResNet-20 (32x32) and ResNet-50 (224x224).\n"
    "\n"
    "options:\n"
    "  --device X                  device selector (P:D, gpu, cpu, name substring;\n"
    "                              default $SN_DEVICE, else the first GPU)\n"
    "  --reps N                    timed repetitions per pass (default 5)\n"
    "  --warmup N                  discarded runs before timing (default 2)\n"
    "  --shapes resnet20|resnet50|linear|all   shape families (default all; linear:\n"
    "                              only the linear layers' GEMMs of both)\n"
    "  --batch B                   batch for every shape (default 128 for ResNet-20,\n"
    "                              8 for ResNet-50; --quick: 4 and 2)\n"
    "  --quick                     a few small shapes (CI smoke run, seconds)\n"
    "  --algo LIST                 comma-separated gemm, direct, winograd, clblast, auto\n"
    "                              (default auto): algorithms timed side by side, runs\n"
    "                              interleaved; GFLOP/s counts the direct convolution's\n"
    "                              operations for every algorithm (Winograd: effective)\n"
    "  --csv FILE                  also write the results as CSV\n"
    "  --help                      this text\n";

enum family { RESNET20 = 1, RESNET50 = 2, LINEAR_ONLY = 4 };

/* One convolution of a network: input [N,C,H,H], weights [OC,C,K,K]. */
typedef struct conv_shape {
    enum family family;
    const char *name;
    int c, oc, h, k, stride, pad;
    int quick_h; /* input size under --quick; 0: not in the quick set */
} conv_shape;

/* ResNet-20 (He et al. 2016, CIFAR): 3x3 convs, 16/32/64 channels, the first
 * conv of stages 2 and 3 strided. ResNet-50 (torchvision v1.5: stride on the
 * 3x3): the stem, then each stage's 1x1 reduce, 3x3, 1x1 expand and the
 * strided convs of the first blocks. */
static const conv_shape shapes[] = {
    {RESNET20, "r20.stem", 3, 16, 32, 3, 1, 1, 32},
    {RESNET20, "r20.s1.3x3", 16, 16, 32, 3, 1, 1, 32},
    {RESNET20, "r20.s2.3x3.down", 16, 32, 32, 3, 2, 1, 0},
    {RESNET20, "r20.s2.3x3", 32, 32, 16, 3, 1, 1, 0},
    {RESNET20, "r20.s3.3x3.down", 32, 64, 16, 3, 2, 1, 16},
    {RESNET20, "r20.s3.3x3", 64, 64, 8, 3, 1, 1, 0},
    {RESNET50, "r50.stem.7x7", 3, 64, 224, 7, 2, 3, 32},
    {RESNET50, "r50.s1.1x1.in", 64, 64, 56, 1, 1, 0, 0},
    {RESNET50, "r50.s1.3x3", 64, 64, 56, 3, 1, 1, 0},
    {RESNET50, "r50.s1.1x1.out", 64, 256, 56, 1, 1, 0, 14},
    {RESNET50, "r50.s1.1x1.reduce", 256, 64, 56, 1, 1, 0, 0},
    {RESNET50, "r50.s2.3x3.down", 128, 128, 56, 3, 2, 1, 0},
    {RESNET50, "r50.s2.proj", 256, 512, 56, 1, 2, 0, 0},
    {RESNET50, "r50.s2.3x3", 128, 128, 28, 3, 1, 1, 8},
    {RESNET50, "r50.s2.1x1.reduce", 512, 128, 28, 1, 1, 0, 0},
    {RESNET50, "r50.s3.3x3", 256, 256, 14, 3, 1, 1, 0},
    {RESNET50, "r50.s3.1x1.reduce", 1024, 256, 14, 1, 1, 0, 0},
    {RESNET50, "r50.s3.1x1.out", 256, 1024, 14, 1, 1, 0, 0},
    {RESNET50, "r50.s4.3x3", 512, 512, 7, 3, 1, 1, 0},
    {RESNET50, "r50.s4.1x1.out", 512, 2048, 7, 1, 1, 0, 0},
};
#define N_SHAPES (int)(sizeof shapes / sizeof shapes[0])

enum pass { FORWARD, BACKWARD_DATA, BACKWARD_WEIGHTS, N_PASSES };
static const char *const pass_names[N_PASSES] = {"forward", "backward_data", "backward_weights"};

#define MAX_ALGOS 5
static const char *const algo_names[MAX_ALGOS] = {"auto", "gemm", "direct", "winograd",
                                                  "clblast"};

typedef struct options {
    const char *device, *csv;
    int reps, warmup, quick, batch, families;
    int algos[MAX_ALGOS], n_algos; /* indices into algo_names */
} options;

typedef struct result {
    double median_ms, min_ms, max_ms, gflops;
} result;

static int parse_int(const char *opt, const char *text, int min, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > INT_MAX) {
        fprintf(stderr, "sharesnet-bench-ops: %s wants an integer >= %d, got '%s'\n", opt, min,
                text);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* 0 to run, 1 for --help, 2 on a usage error. */
static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){NULL, NULL, 5, 2, 0, 0, RESNET20 | RESNET50, {0}, 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 1;
        }
        if (!strcmp(a, "--quick")) {
            o->quick = 1;
            continue;
        }
        const char *names[] = {"--device", "--reps",  "--warmup", "--csv",
                               "--shapes", "--batch", "--algo"};
        int k = 0;
        while (k < 7 && strcmp(a, names[k]))
            k++;
        if (k == 7) {
            fprintf(stderr, "sharesnet-bench-ops: unknown option '%s' (see --help)\n", a);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "sharesnet-bench-ops: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        int bad = 0;
        switch (k) {
        case 0: o->device = v; break;
        case 1: bad = parse_int(a, v, 1, &o->reps); break;
        case 2: bad = parse_int(a, v, 0, &o->warmup); break;
        case 3: o->csv = v; break;
        case 4:
            if (!strcmp(v, "resnet20"))
                o->families = RESNET20;
            else if (!strcmp(v, "resnet50"))
                o->families = RESNET50;
            else if (!strcmp(v, "linear"))
                o->families = RESNET20 | RESNET50 | LINEAR_ONLY;
            else if (!strcmp(v, "all"))
                o->families = RESNET20 | RESNET50;
            else {
                fprintf(stderr,
                        "sharesnet-bench-ops: --shapes is resnet20, resnet50, linear or all\n");
                bad = 1;
            }
            break;
        case 5: bad = parse_int(a, v, 1, &o->batch); break;
        default: {
            o->n_algos = 0;
            char list[64];
            snprintf(list, sizeof list, "%s", v);
            for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok && !bad;
                 tok = strtok_r(NULL, ",", &save)) {
                int j = 0;
                while (j < MAX_ALGOS && strcmp(tok, algo_names[j]))
                    j++;
                if (j == MAX_ALGOS || o->n_algos == MAX_ALGOS) {
                    fprintf(stderr, "sharesnet-bench-ops: --algo takes up to 5 of gemm, "
                                    "direct, winograd, clblast, auto (comma-separated)\n");
                    bad = 1;
                } else
                    o->algos[o->n_algos++] = j;
            }
            if (!o->n_algos && !bad) {
                fprintf(stderr, "sharesnet-bench-ops: --algo needs an algorithm\n");
                bad = 1;
            }
            break;
        }
        }
        if (bad)
            return 2;
    }
    return 0;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Uniform [-scale, scale): the values do not matter for timing, as long as
 * they stay normal (denormals would slow CPUs down). */
static sn_status upload_random(sn_tensor *t, unsigned seed, float scale)
{
    float *host = malloc(t->count * sizeof *host);
    if (!host) {
        fprintf(stderr, "sharesnet-bench-ops: out of host memory\n");
        return SN_ERR_OUT_OF_MEMORY;
    }
    unsigned long long s = 0x9e3779b97f4a7c15ULL * (seed + 1);
    for (size_t i = 0; i < t->count; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        host[i] = scale * (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    sn_status st = sn_tensor_upload(t, host, t->count);
    free(host);
    return st;
}

typedef struct conv_buffers {
    sn_conv2d_desc desc;
    sn_tensor x, w, y, dy, dx, dw;
} conv_buffers;

/* Select the algorithm of the next runs: index into algo_names (0: the
 * tuner's choice). algo_names after "auto" are sn_conv_algo's order. */
static void use_algo(sn_context *ctx, int algo)
{
    sn_conv_force_algo(ctx, algo - 1);
}

/* One run of pass p with algorithm `algo` (index into algo_names). */
typedef sn_status (*run_fn)(sn_context *ctx, void *user, enum pass p, int algo);

static sn_status run_pass(sn_context *ctx, void *user, enum pass p, int algo)
{
    conv_buffers *b = user;
    use_algo(ctx, algo);
    switch (p) {
    case FORWARD: return sn_conv2d_forward(ctx, &b->desc, &b->x, &b->w, &b->y);
    case BACKWARD_DATA: return sn_conv2d_backward_data(ctx, &b->desc, &b->dy, &b->w, &b->dx, 0);
    default: return sn_conv2d_backward_weights(ctx, &b->desc, &b->x, &b->dy, &b->dw, 0);
    }
}

/* Warm up, then time `reps` runs of one pass with each algorithm of o
 * (interleaved: rep i of every algorithm before rep i+1), each run between
 * two finishes. r[a] for o->algos[a]; algorithms with skip[a] set are not
 * run (r[a] stays zero). */
static sn_status time_pass(sn_context *ctx, run_fn run, void *b, enum pass p, const options *o,
                           const int *skip, double flops, result *r)
{
    double *ms = malloc((size_t)o->reps * (size_t)o->n_algos * sizeof *ms);
    if (!ms) {
        fprintf(stderr, "sharesnet-bench-ops: out of host memory\n");
        return SN_ERR_OUT_OF_MEMORY;
    }
    sn_status st = SN_OK;
    for (int a = 0; a < o->n_algos && st == SN_OK; a++) {
        if (skip[a])
            continue;
        for (int i = 0; i < o->warmup && st == SN_OK; i++)
            st = run(ctx, b, p, o->algos[a]);
        if (st == SN_OK)
            st = sn_context_finish(ctx);
    }
    for (int i = 0; i < o->reps && st == SN_OK; i++) {
        for (int a = 0; a < o->n_algos && st == SN_OK; a++) {
            if (skip[a])
                continue;
            double start = sn_now_seconds();
            st = run(ctx, b, p, o->algos[a]);
            if (st == SN_OK)
                st = sn_context_finish(ctx);
            ms[a * o->reps + i] = 1e3 * (sn_now_seconds() - start);
        }
    }
    for (int a = 0; a < o->n_algos && st == SN_OK; a++) {
        if (skip[a])
            continue;
        double *m = ms + a * o->reps;
        qsort(m, (size_t)o->reps, sizeof *m, compare_double);
        int n = o->reps;
        r[a].median_ms = n % 2 ? m[n / 2] : 0.5 * (m[n / 2 - 1] + m[n / 2]);
        r[a].min_ms = m[0];
        r[a].max_ms = m[n - 1];
        r[a].gflops = r[a].median_ms > 0 ? flops / (r[a].median_ms * 1e6) : 0;
    }
    use_algo(ctx, 0);
    free(ms);
    return st;
}

/* The algorithm that runs for `algo` (index into algo_names) on this shape
 * and pass: itself, GEMM where it does not support the shape, or the
 * tuner's choice (auto: asking may time the candidates, as the first run
 * would). */
static const char *runs_algo(sn_context *ctx, int algo, enum pass p, int n, const conv_shape *s,
                             int h)
{
    use_algo(ctx, algo);
    /* enum pass lists the passes in sn_conv_pass's order */
    const sn_conv_algo a = sn_conv_choose(ctx, (sn_conv_pass)p, n, s->c, h, h, s->oc, s->k,
                                          s->stride, s->pad);
    use_algo(ctx, 0);
    return sn_conv_algo_name(a);
}

static void release_buffers(conv_buffers *b)
{
    sn_tensor_release(&b->x);
    sn_tensor_release(&b->w);
    sn_tensor_release(&b->y);
    sn_tensor_release(&b->dy);
    sn_tensor_release(&b->dx);
    sn_tensor_release(&b->dw);
}

static sn_status alloc_buffers(sn_context *ctx, conv_buffers *b, int n, const conv_shape *s, int h,
                               int oh)
{
    int xs[4] = {n, s->c, h, h}, ws[4] = {s->oc, s->c, s->k, s->k}, ys[4] = {n, s->oc, oh, oh};
    b->desc = (sn_conv2d_desc){s->k, s->stride, s->pad};
    sn_status st;
    if ((st = sn_tensor_alloc(ctx, &b->x, 4, xs, SN_MEM_ACTIVATION)) != SN_OK ||
        (st = sn_tensor_alloc(ctx, &b->w, 4, ws, SN_MEM_PARAM)) != SN_OK ||
        (st = sn_tensor_alloc(ctx, &b->y, 4, ys, SN_MEM_ACTIVATION)) != SN_OK ||
        (st = sn_tensor_alloc(ctx, &b->dy, 4, ys, SN_MEM_ACTIVATION)) != SN_OK ||
        (st = sn_tensor_alloc(ctx, &b->dx, 4, xs, SN_MEM_ACTIVATION)) != SN_OK ||
        (st = sn_tensor_alloc(ctx, &b->dw, 4, ws, SN_MEM_GRAD)) != SN_OK ||
        (st = upload_random(&b->x, 1, 1.0f)) != SN_OK ||
        (st = upload_random(&b->w, 2, 0.1f)) != SN_OK ||
        (st = upload_random(&b->dy, 3, 1.0f)) != SN_OK)
        return st;
    return SN_OK;
}

static int default_batch(const options *o, enum family f)
{
    if (o->batch)
        return o->batch;
    if (f == RESNET20)
        return o->quick ? 4 : 128;
    return o->quick ? 2 : 8;
}

/* ---- the linear layers' GEMMs ----------------------------------------------
 * The classifier head y [N,OUT] = x [N,IN] w^T, and its two backward GEMMs,
 * exactly as src/ops/linear.c calls them: our kernel ("gemm", what the
 * library runs) against CLBlast on the same operands. */
typedef struct linear_shape {
    enum family family;
    const char *name;
    int in, out;
    int quick; /* in the --quick set */
} linear_shape;

static const linear_shape linear_shapes[] = {
    {RESNET20, "r20.fc", 64, 10, 1},
    {RESNET50, "r50.fc", 2048, 1000, 0},
};

typedef struct linear_buffers {
    int n, in, out;
    sn_tensor x, w, y;
} linear_buffers;

static sn_status run_linear(sn_context *ctx, void *user, enum pass p, int algo)
{
    const linear_buffers *b = user;
    const size_t n = (size_t)b->n, in = (size_t)b->in, out = (size_t)b->out;
    const sn_gemm_operand x = {b->x.buffer, 0, in, 0}, w = {b->w.buffer, 0, in, 0},
                          y = {b->y.buffer, 0, out, 0};
    sn_gemm_operand wt = w, yt = y;
    wt.trans = 1;
    yt.trans = 1;
    size_t m, cols, k;
    sn_gemm_operand a, bb, c;
    switch (p) {
    case FORWARD: /* y [N,OUT] = x [N,IN] w^T */
        m = n, cols = out, k = in, a = x, bb = wt, c = y;
        break;
    case BACKWARD_DATA: /* dx [N,IN] = dy [N,OUT] w [OUT,IN] */
        m = n, cols = in, k = out, a = y, bb = w, c = x;
        break;
    default: /* dw [OUT,IN] = dy^T [OUT,N] x [N,IN] */
        m = out, cols = in, k = n, a = yt, bb = x, c = w;
        break;
    }
    if (!strcmp(algo_names[algo], "clblast"))
        return sn_gemm_clblast(ctx, "bench", m, cols, k, 1.0f, a, bb, 0.0f, c);
    return sn_gemm(ctx, "bench", m, cols, k, 1.0f, a, bb, 0.0f, c);
}

/* Time our GEMM and CLBlast's (where the device may compile at run time)
 * on the linear layers' shapes; rows go to stdout and the CSV as for the
 * convolutions (C = IN, OC = OUT, 1x1). Returns the number of failures. */
static int bench_linear(sn_context *ctx, const options *o, FILE *csv, const char *date)
{
    const sn_device_info *dev = sn_context_device(ctx);
    options lo = *o;
    lo.n_algos = 0;
    lo.algos[lo.n_algos++] = 1; /* gemm */
    if (sn_context_runtime_compile(ctx))
        lo.algos[lo.n_algos++] = 4; /* clblast */
    printf("\nLinear layers (the GEMMs of src/ops/linear.c; GFLOP/s = 2*N*IN*OUT / median):\n\n");
    printf("| shape | pass | algo | N | IN | OUT | median ms | min ms | max ms | GFLOP/s |\n");
    printf("|---|---|---|--:|--:|--:|--:|--:|--:|--:|\n");
    int failures = 0;
    for (size_t i = 0; i < sizeof linear_shapes / sizeof linear_shapes[0]; i++) {
        const linear_shape *s = &linear_shapes[i];
        if (!(o->families & s->family) || (o->quick && !s->quick))
            continue;
        linear_buffers b;
        memset(&b, 0, sizeof b);
        b.n = default_batch(o, s->family);
        b.in = s->in;
        b.out = s->out;
        const int xs[2] = {b.n, b.in}, ws[2] = {b.out, b.in}, ys[2] = {b.n, b.out};
        sn_status st;
        if ((st = sn_tensor_alloc(ctx, &b.x, 2, xs, SN_MEM_ACTIVATION)) == SN_OK &&
            (st = sn_tensor_alloc(ctx, &b.w, 2, ws, SN_MEM_PARAM)) == SN_OK &&
            (st = sn_tensor_alloc(ctx, &b.y, 2, ys, SN_MEM_ACTIVATION)) == SN_OK &&
            (st = upload_random(&b.x, 1, 1.0f)) == SN_OK &&
            (st = upload_random(&b.w, 2, 0.1f)) == SN_OK)
            st = upload_random(&b.y, 3, 1.0f);
        const double flops = 2.0 * b.n * (double)b.in * b.out;
        for (int p = 0; p < N_PASSES && st == SN_OK; p++) {
            result rs[MAX_ALGOS] = {{0}};
            const int skip[MAX_ALGOS] = {0};
            st = time_pass(ctx, run_linear, &b, (enum pass)p, &lo, skip, flops, rs);
            for (int a = 0; a < lo.n_algos && st == SN_OK; a++) {
                const result r = rs[a];
                const char *algo = algo_names[lo.algos[a]];
                printf("| %s | %s | %s | %d | %d | %d | %.3f | %.3f | %.3f | %.1f |\n", s->name,
                       pass_names[p], algo, b.n, b.in, b.out, r.median_ms, r.min_ms, r.max_ms,
                       r.gflops);
                if (csv) {
                    fprintf(csv, "%s,%s,%s,%s,%d,%d,%d,1,1,1,1,0,%.4f,%.3f,%.4f,%.4f,%d,", s->name,
                            pass_names[p], algo, algo, b.n, b.in, b.out, r.median_ms, r.gflops,
                            r.min_ms, r.max_ms, o->reps);
                    cli_csv_field(csv, dev->name);
                    fputc(',', csv);
                    cli_csv_field(csv, dev->driver_version);
                    fprintf(csv, ",%s\n", date);
                }
            }
        }
        if (st != SN_OK) {
            fprintf(stderr, "sharesnet-bench-ops: %s (N=%d): %s: %s\n", s->name, b.n,
                    sn_status_name(st), sn_last_error());
            failures++;
        }
        sn_tensor_release(&b.x);
        sn_tensor_release(&b.w);
        sn_tensor_release(&b.y);
        fflush(stdout);
    }
    return failures;
}

/* The program; argv[0] is skipped (the program or sub-command name). */
int bench_ops_main(int argc, char **argv)
{
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : 2;

    sn_context_options copts;
    sn_context_options_default(&copts);
    copts.device = o.device;
    sn_context *ctx = NULL;
    if (sn_context_create(&copts, &ctx) != SN_OK) {
        fprintf(stderr, "sharesnet-bench-ops: %s\n", sn_last_error());
        return 1;
    }
    const sn_device_info *dev = sn_context_device(ctx);

    char date[64];
    time_t now = time(NULL);
    struct tm tm_now;
    localtime_r(&now, &tm_now);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S%z", &tm_now);

    FILE *csv = NULL;
    if (o.csv) {
        csv = fopen(o.csv, "w");
        if (!csv) {
            fprintf(stderr, "sharesnet-bench-ops: cannot write %s: %s\n", o.csv, strerror(errno));
            sn_context_free(ctx);
            return 1;
        }
        fprintf(csv, "shape,pass,algo,runs,batch,C,OC,H,W,K,stride,pad,median_ms,gflops,"
                     "min_ms,max_ms,reps,device,driver,date\n");
    }

    printf("# sharesnet conv2d benchmark\n\n");
    printf("- device: %s (%s, %s, %u compute units)\n", dev->name, sn_device_type_name(dev->type),
           dev->platform, dev->compute_units);
    printf("- driver: %s, %s\n", dev->driver_version, dev->device_version);
    printf("- date: %s\n", date);
    printf("- method: %d warm-up runs discarded, median of %d timed runs, each between "
           "clFinish calls (wall clock)%s\n\n",
           o.warmup, o.reps, o.quick ? "; --quick shapes" : "");
    printf("GFLOP/s = 2*N*OC*OH*OW*C*K*K / median for every algorithm (Winograd: effective); "
           "runs: the algorithm that ran (GEMM where the one asked for declines the shape, the "
           "tuner's choice for auto)\n\n");
    printf("| shape | pass | algo | runs | N | C | OC | H x W | K | stride | pad | median ms "
           "| min ms | max ms | GFLOP/s |\n");
    printf("|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    fflush(stdout);

    int failures = 0;
    for (int i = 0; i < N_SHAPES; i++) {
        const conv_shape *s = &shapes[i];
        if (!(o.families & s->family) || (o.families & LINEAR_ONLY) || (o.quick && !s->quick_h))
            continue;
        int n = default_batch(&o, s->family);
        int h = o.quick ? s->quick_h : s->h;
        int oh = (h + 2 * s->pad - s->k) / s->stride + 1;
        double flops = 2.0 * n * s->oc * oh * oh * (double)s->c * s->k * s->k;

        conv_buffers b;
        memset(&b, 0, sizeof b);
        sn_status st = alloc_buffers(ctx, &b, n, s, h, oh);
        for (int p = 0; p < N_PASSES; p++) {
            /* An algorithm that declines the shape would run GEMM under its
             * name: it is not timed, its row says "declined". */
            result rs[MAX_ALGOS] = {{0}};
            const char *runs[MAX_ALGOS];
            int skip[MAX_ALGOS] = {0};
            for (int a = 0; a < o.n_algos && st == SN_OK; a++) {
                runs[a] = runs_algo(ctx, o.algos[a], (enum pass)p, n, s, h);
                skip[a] = o.algos[a] != 0 && strcmp(runs[a], algo_names[o.algos[a]]) != 0;
            }
            if (st == SN_OK)
                st = time_pass(ctx, run_pass, &b, (enum pass)p, &o, skip, flops, rs);
            if (st != SN_OK) {
                fprintf(stderr, "sharesnet-bench-ops: %s %s (N=%d): %s: %s\n", s->name,
                        pass_names[p], n, sn_status_name(st), sn_last_error());
                failures++;
                break;
            }
            for (int a = 0; a < o.n_algos; a++) {
                const result r = rs[a];
                const char *algo = algo_names[o.algos[a]];
                if (skip[a]) {
                    printf("| %s | %s | %s | declined | %d | %d | %d | %dx%d | %d | %d | %d | - "
                           "| - | - | - |\n",
                           s->name, pass_names[p], algo, n, s->c, s->oc, h, h, s->k, s->stride,
                           s->pad);
                    continue;
                }
                printf("| %s | %s | %s | %s | %d | %d | %d | %dx%d | %d | %d | %d | %.3f | "
                       "%.3f | %.3f | %.1f |\n",
                       s->name, pass_names[p], algo, runs[a], n, s->c, s->oc, h, h, s->k,
                       s->stride, s->pad, r.median_ms, r.min_ms, r.max_ms, r.gflops);
                if (csv) {
                    fprintf(csv, "%s,%s,%s,%s,%d,%d,%d,%d,%d,%d,%d,%d,%.4f,%.3f,%.4f,%.4f,%d,",
                            s->name, pass_names[p], algo, runs[a], n, s->c, s->oc, h, h, s->k,
                            s->stride, s->pad, r.median_ms, r.gflops, r.min_ms, r.max_ms,
                            o.reps);
                    cli_csv_field(csv, dev->name);
                    fputc(',', csv);
                    cli_csv_field(csv, dev->driver_version);
                    fprintf(csv, ",%s\n", date);
                }
            }
            fflush(stdout);
        }
        release_buffers(&b);
    }

    failures += bench_linear(ctx, &o, csv, date);

    if (csv && fclose(csv) != 0) {
        fprintf(stderr, "sharesnet-bench-ops: error writing %s\n", o.csv);
        failures++;
    }
    sn_context_free(ctx);
    if (failures)
        fprintf(stderr, "sharesnet-bench-ops: %d shape(s) failed\n", failures);
    return failures ? 1 : 0;
}
