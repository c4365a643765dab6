/* conv2d as direct (implicit-GEMM) kernels, kernels/conv_direct.cl: no
 * im2col columns. The workspace holds only the rearranged weights (or dy
 * transposed, for the channel-lane weight gradient), a zero-padded copy of
 * the input of a chunk of images when pad > 0 (so the inner loops need no
 * bounds checks; column-split when a strided pass reads it with pixels in
 * the lanes), and the weight gradient's partial sums.
 *
 * Two tilings of every product (see conv_direct.cl):
 *   channel lanes (gather, wgrad): a work item computes OB*V channels (vector
 *     lanes) by P pixels or columns; V, PA (OB = 1) and PB (OB = 2) are
 *     build-time constants of the kernels, set from the device parameter
 *     table (runtime/device_params.c) that tile_config() reads. Every device.
 *   pixel lanes (rows, wrows): M channels by vectors of V pixels of a row.
 *     CPUs, where a row fills a vector (choose_rows, choose_wrows).
 *
 * On CPUs the launches set their work-group sizes (local_1d, local_3d). */
#include <stdlib.h>
#include <string.h>

#include "ops/conv2d.h"
#include "ops/conv_algo.h"
#include "ops/conv_direct.h"
#include "ops/op_check.h"

typedef struct tiles {
    int V, PA, PB, PBW;
} tiles;

/* The kernels' tile sizes: the device parameter table's, as built. */
static tiles tile_config(const sn_context *ctx)
{
    const sn_device_params *p = &ctx->params;
    return (tiles){p->convd_v, p->convd_pa, p->convd_pb, p->convd_pbw};
}

/* Channel tiling of `ch` lanes: the "b" variant (two vectors) when they
 * fill whole pairs of vectors, else "a"; *padded = lanes rounded up. p:
 * pixels of the gather's tile, pw: columns of the weight gradient's. */
typedef struct lane_tiling {
    int ob, p, pw, padded, lanes; /* lanes = ob * V per work item */
    const char *gather, *wgrad;
} lane_tiling;

static lane_tiling lanes_for(const tiles *t, int ch)
{
    if (ch % (2 * t->V) == 0)
        return (lane_tiling){2, t->PB, t->PBW, ch, 2 * t->V, "sn_convd_gather_b",
                             "sn_convd_wgrad_b"};
    return (lane_tiling){1, t->PA, t->PA, (ch + t->V - 1) / t->V * t->V, t->V,
                         "sn_convd_gather_a", "sn_convd_wgrad_a"};
}

static size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

/* Pixel-lane tilings (conv_direct.cl): M channels by PV vectors of V pixels
 * (rows kernels of forward / backward data; rows2: backward data at stride
 * 2 with both column phases), or M output channels by P columns of dw
 * (wrows kernel of the weight gradient). */
typedef struct rows_tiling {
    int m, pv;
    const char *kernel;
} rows_tiling;

static const rows_tiling rows_8x3 = {8, 3, "sn_convd_rows_8x3"},
                         rows_6x4 = {6, 4, "sn_convd_rows_6x4"},
                         rows_4x6 = {4, 6, "sn_convd_rows_4x6"},
                         rows_3x8 = {3, 8, "sn_convd_rows_3x8"},
                         rows2_4x3 = {4, 3, "sn_convd_rows2_4x3"},
                         rows2_3x4 = {3, 4, "sn_convd_rows2_3x4"},
                         wrows_4x6 = {4, 6, "sn_convd_wrows_4x6"};

#define SN_INT_MAX_FLOATS ((size_t)0x7fffffff)

/* Geometry of one call, shared by the three passes. B below is the input
 * that forward and weight gradient read: x itself, or its copy in the
 * workspace. */
typedef struct dgeom {
    int N, C, H, W, OC, K, S, P, OH, OW;
    int Hp, Wp;  /* rows and columns of B that windows reach */
    int padded;  /* 1: B is a copy (zero-padded and/or column-split) */
    int split;   /* B's rows in `split` segments of Wq floats: column
                    b + split*q at b*Wq + q (1: plain rows) */
    int Wq, RW;  /* RW = split*Wq: floats per row of B */
} dgeom;

/* `split`: 1, or the stride when a pixel-lane kernel reads B (then B is a
 * column-split copy even without padding). */
static void dgeom_init(dgeom *g, int N, int C, int H, int W, int OC, int K, int stride, int pad,
                       int split)
{
    *g = (dgeom){N, C, H, W, OC, K, stride, pad, 0, 0, 0, 0, 0, 1, 0, 0};
    g->OH = (H + 2 * pad - K) / stride + 1;
    g->OW = (W + 2 * pad - K) / stride + 1;
    /* Only rows and columns a window reaches: (O-1)*s + K <= H + 2*pad. */
    g->Hp = (g->OH - 1) * stride + K;
    g->Wp = (g->OW - 1) * stride + K;
    g->split = split > 1 ? split : 1;
    g->padded = pad > 0 || g->split > 1;
    if (!g->padded) {
        g->Hp = H;
        g->Wp = W;
    }
    g->Wq = (g->Wp + g->split - 1) / g->split;
    g->RW = g->split > 1 ? g->split * g->Wq : g->Wp;
}

/* Images per chunk so that `per_image` floats per image stay within the
 * workspace limit (at least one image), evened out over the chunks. */
static int chunk_images(const sn_context *ctx, int N, size_t per_image)
{
    size_t limit = sn_conv2d_workspace_limit(ctx);
    size_t n = per_image ? limit / per_image : (size_t)N;
    n = n < 1 ? 1 : n > (size_t)N ? (size_t)N : n;
    const size_t chunks = ceil_div((size_t)N, n);
    return (int)ceil_div((size_t)N, chunks);
}

/* One dimension: input size H, output size O; the phase a in [0, s) has
 * Ha = ceil((H - a)/s) pixels and taps kh0 + s*u, u < Th. */
static void bd_phase(int H, int K, int s, int pad, int a, int *Ha, int *kh0, int *Th, int *o0)
{
    *Ha = a < H ? (H - a + s - 1) / s : 0;
    *kh0 = (a + pad) % s;
    *Th = *kh0 < K ? (K - *kh0 + s - 1) / s : 0;
    *o0 = (a + pad - *kh0) / s; /* dy index of pixel 0, tap 0 */
}

/* Margins of dy that backward data's gather reads around [OH, OW]. */
static void bd_dim_margins(int H, int O, int K, int s, int pad, int *lo, int *hi)
{
    *lo = *hi = 0;
    for (int a = 0; a < s; a++) {
        int Ha, kh0, Th, o0;
        bd_phase(H, K, s, pad, a, &Ha, &kh0, &Th, &o0);
        if (!Ha || !Th)
            continue;
        const int min = o0 - (Th - 1), max = o0 + Ha - 1;
        if (-min > *lo)
            *lo = -min;
        if (max - (O - 1) > *hi)
            *hi = max - (O - 1);
    }
}

/* Column margins of dy that the column-paired backward data (stride 2)
 * reads: columns j + (b + pad - kw) / 2, b = (kw + pad) mod 2, for j below
 * ceil(W / 2) and every kw. */
static void pair_col_margins(int W, int O, int K, int pad, int *lo, int *hi)
{
    int min = 0, max = 0;
    for (int kw = 0; kw < K; kw++) {
        const int off = (((kw + pad) & 1) + pad - kw) / 2;
        if (kw == 0 || off < min)
            min = off;
        if (kw == 0 || off > max)
            max = off;
    }
    *lo = min < 0 ? -min : 0;
    const int last = (W + 1) / 2 - 1 + max;
    *hi = last > O - 1 ? last - (O - 1) : 0;
}

/* The rows kernel's tiling for a forward (pass SN_CONV_FORWARD) or
 * backward-data product, or NULL for the gather. Only on CPUs (on GPUs the
 * gather's lanes are 4 wide and its stores coalesce), and only where a row
 * of pixels fills a vector: forward rows of OW (at a stride read from a
 * column-split copy), or the whole OH*OW plane of a 1x1 at stride 1 without
 * padding; backward-data phase rows (W / s pixels or more).
 *
 * Measured on POCL (Zen 5, 2 cores): the rows kernel wins 2-6x where the
 * gather's lanes are few channels (3 to 32: its stores, one scalar per lane
 * and pixel, dominate) and on 1x1s (its broadcasts walk R planes a plane
 * apart). The gather keeps: 3x3s of more than 32 channels whose rows leave
 * part of the last vector idle (56 or 28 pixels) and 1x1s of 7x7 planes
 * (even or better there); strided forwards on rows shorter than two vectors
 * (the column-split copy costs about as much as the product there); and
 * backward data at stride 2 on more than 32 channels (ResNet-50's
 * projection: 1.4x faster there).
 *
 * Tilings: 3 or 4 channels when there are no more (the stems' backward
 * data), 8 channels x 3 vectors on 3x3s, 6 x 4 on 1x1s (each keeps its 24
 * accumulators in registers; measured best); backward data at stride 2 with
 * the two column phases of a dx row paired (rows2), whose stores are whole
 * vectors. */
static const rows_tiling *choose_rows(const sn_context *ctx, sn_conv_pass pass, int C, int H,
                                      int W, int OC, int K, int S, int pad)
{
    if (ctx->info.type != SN_DEVICE_CPU)
        return NULL;
    const tiles t = tile_config(ctx);
    const int flat = K == 1 && S == 1 && pad == 0;
    const int vo = pass == SN_CONV_FORWARD ? OC : C;
    const int OH = (H + 2 * pad - K) / S + 1, OW = (W + 2 * pad - K) / S + 1;
    const int qw = pass == SN_CONV_FORWARD ? (flat ? OH * OW : OW) : (flat ? H * W : W / S);
    if (qw < t.V)
        return NULL;
    /* Share of the lanes that the vectors of a row fill (49 pixels: 77%). */
    const double filled = (double)qw / (double)(ceil_div((size_t)qw, (size_t)t.V) * t.V);
    if (vo > 32 && (K > 1 ? qw % t.V != 0 : filled < 0.85))
        return NULL;
    if (pass == SN_CONV_FORWARD && S > 1 && qw < 2 * t.V)
        return NULL;
    if (pass == SN_CONV_BACKWARD_DATA && S == 2)
        return vo <= 3 ? &rows2_3x4 : vo <= 32 ? &rows2_4x3 : NULL;
    return vo <= 3 ? &rows_3x8 : vo <= 4 ? &rows_4x6 : K == 1 ? &rows_6x4 : &rows_8x3;
}

/* The pixel-lane weight gradient's tiling, or NULL for the channel-lane
 * one. CPUs only, where a row of dy fills a vector (OW >= V; at a stride,
 * two vectors, to pay for the column-split copy of x), on 3x3-like kernels
 * (K > 1). Measured on POCL: it wins 2.5x on the stems (3 input channels:
 * the channel-lane kernel's 12 columns per tile leave a quarter of 27 idle,
 * and its transposed dy costs as much as the product) and a little on 16
 * output channels; with more channels, and on 1x1s, the channel-lane kernel
 * is faster. */
static const rows_tiling *choose_wrows(const sn_context *ctx, int C, int OC, int K, int S,
                                       int OW)
{
    if (ctx->info.type != SN_DEVICE_CPU || K == 1 || (OC > 16 && C > 4) ||
        OW < tile_config(ctx).V * (S > 1 ? 2 : 1))
        return NULL;
    return &wrows_4x6;
}

/* How the product of a forward or backward-data pass is tiled: the gather
 * (channels in the lanes) or, with rt, the rows kernel (pixels in the
 * lanes). padded: channels of A's rows (VOp). g: the geometry, B
 * column-split when the forward's rows kernel reads it at a stride. */
typedef struct prod_plan {
    const rows_tiling *rt;
    lane_tiling lt;
    int padded, pair; /* pair: rt is a column-paired backward data (rows2) */
    dgeom g;
} prod_plan;

static prod_plan plan_product(const sn_context *ctx, sn_conv_pass pass, int N, int C, int H,
                              int W, int OC, int K, int S, int pad)
{
    const tiles t = tile_config(ctx);
    const int vo = pass == SN_CONV_FORWARD ? OC : C;
    prod_plan p;
    p.rt = choose_rows(ctx, pass, C, H, W, OC, K, S, pad);
    p.lt = lanes_for(&t, vo);
    p.padded = p.rt ? (int)ceil_div((size_t)vo, (size_t)p.rt->m) * p.rt->m : p.lt.padded;
    p.pair = p.rt == &rows2_4x3 || p.rt == &rows2_3x4;
    dgeom_init(&p.g, N, C, H, W, OC, K, S, pad, pass == SN_CONV_FORWARD && p.rt ? S : 1);
    return p;
}

/* Floats of the backward-data weights of every phase (pair: of every row
 * phase, with all K column taps). */
static size_t bd_weight_floats(const dgeom *g, int Cp, int pair)
{
    size_t total = 0;
    for (int a = 0; a < g->S; a++)
        for (int b = 0; b < (pair ? 1 : g->S); b++) {
            int Ha, kh0, Th, o0, Wb, kw0, Tw, p0;
            bd_phase(g->H, g->K, g->S, g->P, a, &Ha, &kh0, &Th, &o0);
            bd_phase(g->W, g->K, g->S, g->P, b, &Wb, &kw0, &Tw, &p0);
            total += (size_t)g->OC * (size_t)Th * (size_t)(pair ? g->K : Tw) * (size_t)Cp;
        }
    return total;
}

/* Margins of dy around [OH, OW] that backward data reads. */
static void bd_margins(const prod_plan *p, int *mt, int *mb, int *ml, int *mr)
{
    const dgeom *g = &p->g;
    bd_dim_margins(g->H, g->OH, g->K, g->S, g->P, mt, mb);
    if (p->pair)
        pair_col_margins(g->W, g->OW, g->K, g->P, ml, mr);
    else
        bd_dim_margins(g->W, g->OW, g->K, g->S, g->P, ml, mr);
}

/* Workspace floats of the forward: the weights once, the copy of B per
 * image. */
static size_t fwd_fixed(const dgeom *g, int padded)
{
    return (size_t)g->C * g->K * g->K * (size_t)padded;
}
static size_t fwd_per_image(const dgeom *g)
{
    return g->padded ? (size_t)g->C * g->Hp * g->RW : 0;
}

/* Slices of the weight gradient's reduction over `nrows` rows (n, oh): enough
 * work items to keep every compute unit busy, and (CPUs) small enough that
 * a slice's rows of dy and x stay in cache while its work items re-read
 * them, unless the partial sums [slices, OC, CKK] would outgrow that data.
 * `row_floats`: floats of dy and x one row brings in. */
static int wgrad_slices(const sn_context *ctx, size_t items_per_slice, int nrows,
                        size_t row_floats, size_t outputs)
{
    size_t want = (size_t)ctx->info.compute_units *
                  (ctx->info.type == SN_DEVICE_CPU ? 32u : 256u);
    size_t slices = ceil_div(want, items_per_slice ? items_per_slice : 1);
    if (ctx->info.type == SN_DEVICE_CPU) {
        const size_t cache_floats = (size_t)64 << 10; /* 256 KiB */
        size_t by_cache = ceil_div((size_t)nrows * row_floats, cache_floats);
        const size_t most = ((size_t)nrows * row_floats) / (outputs ? outputs : 1);
        if (by_cache > most)
            by_cache = most;
        if (by_cache > slices)
            slices = by_cache;
    }
    if (slices > (size_t)nrows)
        slices = (size_t)nrows;
    if (slices > 1024)
        slices = 1024;
    return slices < 1 ? 1 : (int)slices;
}

/* Tiling, geometry, chunk, slices and workspace floats of the weight
 * gradient: the pixel-lane wrows kernel (rt; B column-split at strides > 1)
 * or the channel-lane one over dy transposed (lt). */
typedef struct wgrad_plan {
    const rows_tiling *rt;
    lane_tiling lt;
    dgeom g;
    int chunk, slices;
    size_t per_image, part_floats;
} wgrad_plan;

static wgrad_plan plan_wgrad(const sn_context *ctx, int N, int C, int H, int W, int OC, int K,
                             int S, int pad)
{
    wgrad_plan p;
    const tiles t = tile_config(ctx);
    p.lt = lanes_for(&t, OC);
    const int OW = (W + 2 * pad - K) / S + 1;
    p.rt = choose_wrows(ctx, C, OC, K, S, OW);
    dgeom_init(&p.g, N, C, H, W, OC, K, S, pad, p.rt ? S : 1);
    const dgeom *g = &p.g;
    const size_t CKK = (size_t)C * K * K, OHW = (size_t)g->OH * g->OW;
    /* dyT per image (channel lanes only), and B's copy. */
    p.per_image = fwd_per_image(g) + (p.rt ? 0 : OHW * p.lt.padded);
    p.chunk = chunk_images(ctx, N, p.per_image);
    const size_t items =
        p.rt ? ceil_div(CKK, (size_t)p.rt->pv) * ceil_div((size_t)OC, (size_t)p.rt->m)
             : ceil_div(CKK, (size_t)p.lt.pw) * (size_t)(p.lt.padded / p.lt.lanes);
    const size_t row_floats = (size_t)g->OW * (p.rt ? (size_t)OC : (size_t)p.lt.padded) +
                              (size_t)C * g->S * g->RW;
    p.slices = wgrad_slices(ctx, items, p.chunk * g->OH, row_floats, (size_t)OC * CKK);
    /* Partial sums [slices][CKK][OCp], OCp in whole vectors for
     * sn_convd_sum_partials. */
    p.part_floats = (size_t)p.slices * CKK * p.lt.padded;
    return p;
}

int sn_conv_direct_supported(sn_context *ctx, sn_conv_pass pass, int N, int C, int H, int W,
                             int OC, int K, int stride, int pad)
{
    if (!sn_conv_shape_valid(ctx, N, C, H, W, OC, K, stride, pad))
        return 0;
    /* Every index the kernels form stays below 2^31 for one image plus the
     * fixed part; chunks keep larger batches there. */
    size_t need = 0, img_x = 0;
    switch (pass) {
    case SN_CONV_FORWARD: {
        const prod_plan p = plan_product(ctx, pass, N, C, H, W, OC, K, stride, pad);
        img_x = (size_t)C * (size_t)p.g.Hp * (size_t)p.g.RW;
        need = fwd_fixed(&p.g, p.padded) + img_x;
        break;
    }
    case SN_CONV_BACKWARD_DATA: {
        const prod_plan p = plan_product(ctx, pass, N, C, H, W, OC, K, stride, pad);
        int mt, mb, ml, mr;
        bd_margins(&p, &mt, &mb, &ml, &mr);
        img_x = (size_t)C * (size_t)p.g.Hp * (size_t)p.g.RW;
        need = bd_weight_floats(&p.g, p.padded, p.pair) +
               (size_t)OC * (size_t)(p.g.OH + mt + mb) * (size_t)(p.g.OW + ml + mr);
        break;
    }
    default: {
        const wgrad_plan p = plan_wgrad(ctx, N, C, H, W, OC, K, stride, pad);
        img_x = (size_t)C * (size_t)p.g.Hp * (size_t)p.g.RW;
        need = p.part_floats + p.per_image * (size_t)p.chunk;
        break;
    }
    }
    /* The workspace of one image must also fit the device's largest
     * allocation (small on FPGAs and some integrated GPUs): otherwise GEMM. */
    return need < SN_INT_MAX_FLOATS && need * sizeof(float) <= ctx->info.max_alloc_bytes &&
           (size_t)N * img_x < ((size_t)1 << 40);
}

int sn_conv2d_direct_plan(sn_context *ctx, sn_conv_pass pass, int N, int C, int H, int W, int OC,
                          int K, int stride, int pad, sn_conv_direct_plan *plan)
{
    if (!sn_conv_direct_supported(ctx, pass, N, C, H, W, OC, K, stride, pad))
        return 0;
    if (pass == SN_CONV_BACKWARD_WEIGHTS) {
        const wgrad_plan p = plan_wgrad(ctx, N, C, H, W, OC, K, stride, pad);
        *plan = (sn_conv_direct_plan){p.rt ? p.rt->kernel : p.lt.wgrad, p.g.split};
    } else {
        const prod_plan p = plan_product(ctx, pass, N, C, H, W, OC, K, stride, pad);
        *plan = (sn_conv_direct_plan){p.rt ? p.rt->kernel : p.lt.gather, p.g.split};
    }
    return 1;
}

/* Work-groups per launch on CPUs. POCL runs a work-group as one loop on one
 * thread and, left to itself, makes the groups as large as it can (often
 * one per core): one core delayed by other work then stalls the whole
 * launch, and (measured) the gather loses its cache reuse inside such
 * groups (half the speed on 1x1s). About 8 groups per compute unit balance
 * the cores at a per-group cost well below the groups' work. */
static size_t cpu_groups(const sn_context *ctx)
{
    return 8 * (size_t)(ctx->info.compute_units ? ctx->info.compute_units : 1);
}

/* Work-group size of a 1-D launch of n items (the kernels bound-check) on
 * CPUs: about cpu_groups() groups, a power of two so that few sizes occur
 * (POCL compiles each). NULL (the driver's choice) elsewhere. */
static const size_t *local_1d(const sn_context *ctx, size_t n, size_t *local)
{
    if (ctx->info.type != SN_DEVICE_CPU)
        return NULL;
    const size_t want = ceil_div(n, cpu_groups(ctx));
    const size_t most = ctx->info.max_work_group_size ? ctx->info.max_work_group_size : 1;
    size_t l = 1;
    while (l < want && 2 * l <= most)
        l *= 2;
    *local = l;
    return local;
}

/* Work items per work-group along a 3-D launch's main dimension on CPUs. */
#define CPU_GROUP 8

/* Work-group shape of a 3-D launch whose kernels bound-check dimensions 0
 * and 1 but not 2 (slices), on CPUs: CPU_GROUP work items along dimension
 * `along` (0 or 1: the one of many tiles, whose neighbours share data), one
 * along the others. The shape is fixed because POCL compiles a kernel to
 * native code anew for every work-group size it is launched with (2-4 s for
 * a gather or rows kernel on 2 cores): sizes that followed each launch (about
 * 16 groups per launch) had ResNet-20's first step compile gather_b three
 * times and sn_convd_sum_partials five. Groups this small also keep both
 * cores busy when other work holds one for a while (bench/RESULTS.md).
 * NULL (the driver's choice) elsewhere. */
static const size_t *local_3d(const sn_context *ctx, int along, size_t local[3])
{
    if (ctx->info.type != SN_DEVICE_CPU)
        return NULL;
    local[0] = local[1] = local[2] = 1;
    local[along] = CPU_GROUP;
    return local;
}

/* Copy images n0 .. n0+n-1 of `in` [N,C,Hi,Wi] zero-padded into
 * out [n,C,Ho,Wo] at out_off; split > 1: each row column-split into
 * `split` segments of Wq floats (sn_convd_pad). */
static sn_status pad_copy(sn_context *ctx, cl_mem in, int C, int Hi, int Wi, int Ho, int Wo,
                          int top, int left, int split, int Wq, int n0, int n, cl_mem out,
                          size_t out_off)
{
    const size_t rows = (size_t)Ho * (size_t)n * (size_t)C;
    size_t lbuf;
    return SN_ENQUEUE(ctx, "sn_convd_pad", 1, &rows, local_1d(ctx, rows, &lbuf), SN_ARG_INT(C),
                      SN_ARG_INT(Hi), SN_ARG_INT(Wi), SN_ARG_INT(Ho), SN_ARG_INT(Wo),
                      SN_ARG_INT(top), SN_ARG_INT(left), SN_ARG_INT(split), SN_ARG_INT(Wq),
                      SN_ARG_INT(n0), SN_ARG_INT(n), SN_ARG_MEM(in), SN_ARG_INT(out_off),
                      SN_ARG_MEM(out));
}

/* B of forward / weight gradient for images n0 .. n0+n-1: x's copy at
 * `off` in the workspace when g->padded. */
static sn_status copy_input(sn_context *ctx, const dgeom *g, cl_mem x, int n0, int n, cl_mem ws,
                            size_t off)
{
    if (!g->padded)
        return SN_OK;
    return pad_copy(ctx, x, g->C, g->H, g->W, g->Hp, g->Wp, g->P, g->P, g->split, g->Wq, n0, n,
                    ws, off);
}

/* Bits of the forward's fused epilogue (keep equal to SN_CONVD_EPI_* in
 * kernels/conv_direct.cl). */
enum { EPI_AFFINE = 1, EPI_RES = 2, EPI_RELU = 4 };

/* The arguments of one launch of the gather or rows kernel (see
 * conv_direct.cl). cs, seg: B's column split (rows kernel only; cs 1:
 * plain rows). epi: 0, or the epilogue bits with scale/shift/res (NULL
 * where unused). */
typedef struct gather_args {
    int R, Th, Tw, t0, du, dv, cs, seg, VO, VOp, Q, Qw, b_rs, b_cs, b_plane, b_img, y_rs, y_cs,
        y_plane, y_img, accumulate, a_off, b_off, y_off, images, epi;
    cl_mem A, B, Y, scale, shift, res;
    size_t a_floats, b_floats; /* what the launch reads of A (per lane tile:
                                  all lanes) and of B (all images) */
} gather_args;

/* Work-group order: lanes first when re-reading A (the weights) for every
 * pixel tile moves fewer bytes than re-reading B for every lane tile. A
 * that fits in half a megabyte counts as cached. pixels, lanes: per tile. */
static int lanes_first(int pixels, int lanes, const gather_args *a)
{
    const double pixel_tiles = (double)ceil_div((size_t)a->Q * a->images, (size_t)pixels);
    const double lane_tiles = (double)ceil_div((size_t)a->VOp, (size_t)lanes);
    const double a_bytes = 4.0 * (double)a->a_floats, b_bytes = 4.0 * (double)a->b_floats;
    const double a_reads = a_bytes <= 512.0 * 1024 ? 1.0 : pixel_tiles;
    const double pixels_first = a_bytes + lane_tiles * b_bytes;
    const double lanes_then = b_bytes + a_reads * a_bytes;
    return lanes_then < pixels_first;
}

static sn_status gather(sn_context *ctx, const lane_tiling *lt, const gather_args *a)
{
    if (a->Q <= 0 || a->images <= 0)
        return SN_OK;
    if (a->cs != 1)
        return sn_fail(SN_ERR_INTERNAL, "direct conv: gather on a column-split input");
    const int lf = lanes_first(lt->p, lt->lanes, a);
    const size_t pixel_tiles = ceil_div((size_t)a->Q * a->images, (size_t)lt->p),
                 lane_tiles = (size_t)(a->VOp / lt->lanes);
    const size_t global[3] = {lf ? lane_tiles : pixel_tiles, lf ? pixel_tiles : lane_tiles, 1};
    size_t lbuf[3];
    return SN_ENQUEUE(ctx, lt->gather, 3, global, local_3d(ctx, lf, lbuf), SN_ARG_INT(a->R),
                      SN_ARG_INT(a->Th), SN_ARG_INT(a->Tw), SN_ARG_INT(a->t0),
                      SN_ARG_INT(a->du), SN_ARG_INT(a->dv), SN_ARG_INT(a->VO),
                      SN_ARG_INT(a->VOp), SN_ARG_INT(a->Q), SN_ARG_INT(a->Qw),
                      SN_ARG_INT(a->images), SN_ARG_INT(a->b_rs), SN_ARG_INT(a->b_cs),
                      SN_ARG_INT(a->b_plane),
                      SN_ARG_INT(a->b_img), SN_ARG_INT(a->y_rs), SN_ARG_INT(a->y_cs),
                      SN_ARG_INT(a->y_plane), SN_ARG_INT(a->y_img), SN_ARG_INT(a->accumulate),
                      SN_ARG_INT(lf), SN_ARG_INT(a->a_off), SN_ARG_MEM(a->A),
                      SN_ARG_INT(a->b_off), SN_ARG_MEM(a->B), SN_ARG_INT(a->y_off),
                      SN_ARG_MEM(a->Y), SN_ARG_INT(a->epi),
                      SN_ARG_MEM(a->scale ? a->scale : a->A),
                      SN_ARG_MEM(a->shift ? a->shift : a->A), SN_ARG_MEM(a->res ? a->res : a->A));
}

/* The same launch on the rows kernel (pixels in the lanes). Rows that are
 * contiguous in both B and Y (a 1x1 without padding at stride 1) run as one
 * long row, so that no vector straddles a row end. */
static sn_status rows(sn_context *ctx, const rows_tiling *rt, const gather_args *a)
{
    if (a->Q <= 0 || a->images <= 0)
        return SN_OK;
    const tiles t = tile_config(ctx);
    int qh = a->Q / a->Qw, qw = a->Qw;
    if (a->b_rs == qw && a->y_rs == qw && a->y_cs == 1 && a->b_cs == 1) {
        qw *= qh;
        qh = 1;
    }
    if (a->b_cs != 1 || qw < t.V)
        return sn_fail(SN_ERR_INTERNAL, "direct conv: rows kernel on a row of %d pixels", qw);
    const size_t vecs = (size_t)qh * ceil_div((size_t)qw, (size_t)t.V) * a->images;
    const int cf = lanes_first(rt->pv * t.V, rt->m, a);
    const size_t pixel_tiles = ceil_div(vecs, (size_t)rt->pv),
                 chan_tiles = ceil_div((size_t)a->VO, (size_t)rt->m);
    const size_t global[3] = {cf ? chan_tiles : pixel_tiles, cf ? pixel_tiles : chan_tiles, 1};
    size_t lbuf[3];
    return SN_ENQUEUE(ctx, rt->kernel, 3, global, local_3d(ctx, cf, lbuf), SN_ARG_INT(a->R),
                      SN_ARG_INT(a->Th), SN_ARG_INT(a->Tw), SN_ARG_INT(a->t0),
                      SN_ARG_INT(a->du), SN_ARG_INT(a->dv), SN_ARG_INT(a->cs),
                      SN_ARG_INT(a->seg), SN_ARG_INT(a->VO), SN_ARG_INT(a->VOp), SN_ARG_INT(qh),
                      SN_ARG_INT(qw), SN_ARG_INT(a->images), SN_ARG_INT(a->b_rs),
                      SN_ARG_INT(a->b_plane),
                      SN_ARG_INT(a->b_img), SN_ARG_INT(a->y_rs), SN_ARG_INT(a->y_cs),
                      SN_ARG_INT(a->y_plane), SN_ARG_INT(a->y_img), SN_ARG_INT(a->accumulate),
                      SN_ARG_INT(cf), SN_ARG_INT(a->a_off), SN_ARG_MEM(a->A),
                      SN_ARG_INT(a->b_off), SN_ARG_MEM(a->B), SN_ARG_INT(a->y_off),
                      SN_ARG_MEM(a->Y), SN_ARG_INT(a->epi),
                      SN_ARG_MEM(a->scale ? a->scale : a->A),
                      SN_ARG_MEM(a->shift ? a->shift : a->A), SN_ARG_MEM(a->res ? a->res : a->A));
}

static sn_status product(sn_context *ctx, const prod_plan *p, const gather_args *a)
{
    return p->rt ? rows(ctx, p->rt, a) : gather(ctx, &p->lt, a);
}

static sn_status workspace(sn_context *ctx, size_t floats, cl_mem *ws)
{
    if (floats > SN_INT_MAX_FLOATS)
        return sn_fail(SN_ERR_UNSUPPORTED, "direct conv: workspace of %zu floats (2^31-1 at most)",
                       floats);
    /* A few floats of slack: never read past the end on clamped tiles. */
    return sn_workspace(ctx, (floats + 64) * sizeof(float), ws);
}

sn_status sn_conv2d_direct_forward(sn_context *ctx, const sn_conv2d_desc *d, const sn_tensor *x,
                                   const sn_tensor *w, sn_tensor *y)
{
    return sn_conv2d_direct_forward_affine(ctx, d, x, w, NULL, NULL, NULL, 0, y);
}

sn_status sn_conv2d_direct_forward_affine(sn_context *ctx, const sn_conv2d_desc *d,
                                          const sn_tensor *x, const sn_tensor *w,
                                          const sn_tensor *scale, const sn_tensor *shift,
                                          const sn_tensor *residual, int relu, sn_tensor *y)
{
    int N, C, H, W, OC, wc, wk, wk2;
    sn_dims4(x, &N, &C, &H, &W);
    sn_dims4(w, &OC, &wc, &wk, &wk2);
    if (!sn_conv_algo_supported(ctx, SN_CONV_ALGO_DIRECT, SN_CONV_FORWARD, N, C, H, W, OC,
                                d->kernel, d->stride, d->pad))
        return sn_fail(SN_ERR_UNSUPPORTED, "direct conv forward: shape not supported");
    if (!scale != !shift)
        return sn_fail(SN_ERR_INVALID_ARG, "direct conv forward: scale and shift go together");
    const prod_plan plan =
        plan_product(ctx, SN_CONV_FORWARD, N, C, H, W, OC, d->kernel, d->stride, d->pad);
    const dgeom g = plan.g;
    if ((scale && (scale->count != (size_t)OC || shift->count != (size_t)OC)) ||
        (residual && residual->count != (size_t)N * OC * g.OH * g.OW))
        return sn_fail(SN_ERR_SHAPE,
                       "direct conv forward: scale/shift need %d elements, residual %zu", OC,
                       (size_t)N * OC * g.OH * g.OW);
    const int epi = (scale ? EPI_AFFINE : 0) | (residual ? EPI_RES : 0) | (relu ? EPI_RELU : 0);
    const int CKK = C * g.K * g.K, OHW = g.OH * g.OW;
    const size_t fixed = fwd_fixed(&g, plan.padded), per_image = fwd_per_image(&g);
    const int chunk = g.padded ? chunk_images(ctx, N, per_image) : N;
    cl_mem ws;
    SN_TRY(workspace(ctx, fixed + per_image * (size_t)chunk, &ws));

    const size_t wg[2] = {(size_t)plan.padded, (size_t)CKK};
    SN_TRY(SN_ENQUEUE(ctx, "sn_convd_weights_fwd", 2, wg, NULL, SN_ARG_INT(OC), SN_ARG_INT(CKK),
                      SN_ARG_INT(plan.padded), SN_ARG_MEM(w->buffer), SN_ARG_INT(0),
                      SN_ARG_MEM(ws)));
    /* B: rows of RW floats, window rows S apart; columns S apart, or with a
     * column-split copy (the rows kernel at a stride) tap kw in segment
     * kw mod S at kw / S. */
    const int split = g.split > 1;
    for (int n0 = 0; n0 < N; n0 += chunk) {
        const int n = N - n0 < chunk ? N - n0 : chunk;
        SN_TRY(copy_input(ctx, &g, x->buffer, n0, n, ws, fixed));
        const gather_args a = {
            .R = C, .Th = g.K, .Tw = g.K, .t0 = 0, .du = g.RW, .dv = 1,
            .cs = split ? g.S : 1, .seg = g.Wq, .VO = OC, .VOp = plan.padded, .Q = OHW,
            .Qw = g.OW, .b_rs = g.S * g.RW, .b_cs = split ? 1 : g.S, .b_plane = g.Hp * g.RW,
            .b_img = C * g.Hp * g.RW, .y_rs = g.OW, .y_cs = 1, .y_plane = OHW,
            .y_img = OC * OHW, .accumulate = 0, .a_off = 0,
            .b_off = g.padded ? (int)fixed : n0 * C * H * W, .y_off = n0 * OC * OHW,
            .images = n, .A = ws, .B = g.padded ? ws : x->buffer, .Y = y->buffer,
            .a_floats = fixed, .b_floats = (size_t)n * C * g.Hp * g.RW, .epi = epi,
            .scale = scale ? scale->buffer : NULL, .shift = shift ? shift->buffer : NULL,
            .res = residual ? residual->buffer : NULL};
        SN_TRY(product(ctx, &plan, &a));
    }
    return SN_OK;
}

/* The column-paired launch of backward data at stride 2 (SN_CONVD_ROWS2):
 * a's args as for the rows kernel on phase (a, 0), without the column
 * taps (the kernel runs every kw). */
static sn_status rows2(sn_context *ctx, const rows_tiling *rt, const gather_args *a, int K,
                       int pad, int W)
{
    if (a->Q <= 0 || a->images <= 0)
        return SN_OK;
    const tiles t = tile_config(ctx);
    const int qh = a->Q / a->Qw, qw = a->Qw;
    if (qw < t.V)
        return sn_fail(SN_ERR_INTERNAL, "direct conv: rows2 kernel on a row of %d pixels", qw);
    const size_t vecs = (size_t)qh * ceil_div((size_t)qw, (size_t)t.V) * a->images;
    const int cf = lanes_first(rt->pv * t.V, rt->m, a);
    const size_t pixel_tiles = ceil_div(vecs, (size_t)rt->pv),
                 chan_tiles = ceil_div((size_t)a->VO, (size_t)rt->m);
    const size_t global[3] = {cf ? chan_tiles : pixel_tiles, cf ? pixel_tiles : chan_tiles, 1};
    size_t lbuf[3];
    return SN_ENQUEUE(ctx, rt->kernel, 3, global, local_3d(ctx, cf, lbuf), SN_ARG_INT(a->R),
                      SN_ARG_INT(a->Th), SN_ARG_INT(K), SN_ARG_INT(pad), SN_ARG_INT(a->t0),
                      SN_ARG_INT(a->du), SN_ARG_INT(a->VO), SN_ARG_INT(a->VOp), SN_ARG_INT(qh),
                      SN_ARG_INT(qw), SN_ARG_INT(W), SN_ARG_INT(a->images),
                      SN_ARG_INT(a->b_rs), SN_ARG_INT(a->b_plane), SN_ARG_INT(a->b_img),
                      SN_ARG_INT(a->y_rs), SN_ARG_INT(a->y_plane), SN_ARG_INT(a->y_img),
                      SN_ARG_INT(a->accumulate), SN_ARG_INT(cf), SN_ARG_INT(a->a_off),
                      SN_ARG_MEM(a->A), SN_ARG_INT(a->b_off), SN_ARG_MEM(a->B),
                      SN_ARG_INT(a->y_off), SN_ARG_MEM(a->Y));
}

sn_status sn_conv2d_direct_backward_data(sn_context *ctx, const sn_conv2d_desc *d,
                                         const sn_tensor *dy, const sn_tensor *w, sn_tensor *dx,
                                         int accumulate)
{
    int N, C, H, W, OC, wc, wk, wk2;
    sn_dims4(dx, &N, &C, &H, &W);
    sn_dims4(w, &OC, &wc, &wk, &wk2);
    const prod_plan plan =
        plan_product(ctx, SN_CONV_BACKWARD_DATA, N, C, H, W, OC, d->kernel, d->stride, d->pad);
    const dgeom g = plan.g;
    const int S = g.S, K = g.K, Cp = plan.padded;
    int mt, mb, ml, mr;
    bd_margins(&plan, &mt, &mb, &ml, &mr);
    const int padded = mt || mb || ml || mr;
    const int Hd = g.OH + mt + mb, Wd = g.OW + ml + mr;
    const size_t fixed = bd_weight_floats(&g, Cp, plan.pair);
    const size_t per_image = padded ? (size_t)OC * Hd * Wd : 0;
    const int chunk = padded ? chunk_images(ctx, N, per_image) : N;
    cl_mem ws;
    SN_TRY(workspace(ctx, fixed + per_image * (size_t)chunk, &ws));
    /* Phases (a, b) of dx, one launch each; paired: one launch per row
     * phase a with all K column taps (b = 0 stands for both). */
    const int col_phases = plan.pair ? 1 : S;

    /* Weights of every phase, one block each. */
    size_t a_off = 0;
    for (int a = 0; a < S; a++)
        for (int b = 0; b < col_phases; b++) {
            int Ha, kh0, Th, o0, Wb, kw0, Tw, p0;
            bd_phase(H, K, S, g.P, a, &Ha, &kh0, &Th, &o0);
            bd_phase(W, K, S, g.P, b, &Wb, &kw0, &Tw, &p0);
            if (plan.pair) {
                kw0 = 0;
                Tw = K;
            }
            if (Th && Tw) {
                const size_t wg[3] = {(size_t)Cp, (size_t)Th * Tw, (size_t)OC};
                SN_TRY(SN_ENQUEUE(ctx, "sn_convd_weights_bwd", 3, wg, NULL, SN_ARG_INT(OC),
                                  SN_ARG_INT(C), SN_ARG_INT(K), SN_ARG_INT(Cp), SN_ARG_INT(S),
                                  SN_ARG_INT(plan.pair ? 1 : S), SN_ARG_INT(kh0),
                                  SN_ARG_INT(kw0), SN_ARG_INT(Th), SN_ARG_INT(Tw),
                                  SN_ARG_MEM(w->buffer), SN_ARG_INT(a_off), SN_ARG_MEM(ws)));
            }
            a_off += (size_t)OC * Th * Tw * Cp;
        }

    for (int n0 = 0; n0 < N; n0 += chunk) {
        const int n = N - n0 < chunk ? N - n0 : chunk;
        if (padded)
            SN_TRY(pad_copy(ctx, dy->buffer, OC, g.OH, g.OW, Hd, Wd, mt, ml, 1, Wd, n0, n, ws,
                            fixed));
        a_off = 0;
        for (int a = 0; a < S; a++)
            for (int b = 0; b < col_phases; b++) {
                int Ha, kh0, Th, o0, Wb, kw0, Tw, p0;
                bd_phase(H, K, S, g.P, a, &Ha, &kh0, &Th, &o0);
                bd_phase(W, K, S, g.P, b, &Wb, &kw0, &Tw, &p0);
                if (plan.pair) {
                    Tw = K;
                    p0 = 0; /* the kernel adds each tap's column */
                }
                const gather_args ga = {
                    .R = Th && Tw ? OC : 0, .Th = Th, .Tw = Tw,
                    .t0 = (o0 + mt) * Wd + (p0 + ml), .du = -Wd, .dv = -1, .cs = 1, .seg = 0,
                    .VO = C, .VOp = Cp, .Q = Ha * Wb, .Qw = Wb, .b_rs = Wd, .b_cs = 1,
                    .b_plane = Hd * Wd, .b_img = OC * Hd * Wd, .y_rs = S * W, .y_cs = S,
                    .y_plane = H * W, .y_img = C * H * W, .accumulate = accumulate != 0,
                    .a_off = (int)a_off, .b_off = padded ? (int)fixed : n0 * OC * Hd * Wd,
                    .y_off = n0 * C * H * W + a * W + b, .images = n, .A = ws,
                    .B = padded ? ws : dy->buffer, .Y = dx->buffer,
                    .a_floats = (size_t)OC * Th * Tw * Cp,
                    .b_floats = (size_t)n * OC * Hd * Wd};
                SN_TRY(plan.pair ? rows2(ctx, plan.rt, &ga, K, g.P, W)
                                 : product(ctx, &plan, &ga));
                a_off += (size_t)OC * Th * Tw * Cp;
            }
    }
    return SN_OK;
}

sn_status sn_conv2d_direct_backward_weights(sn_context *ctx, const sn_conv2d_desc *d,
                                            const sn_tensor *x, const sn_tensor *dy,
                                            sn_tensor *dw, int accumulate)
{
    int N, C, H, W, OC, wc, wk, wk2;
    sn_dims4(x, &N, &C, &H, &W);
    sn_dims4(dw, &OC, &wc, &wk, &wk2);
    const wgrad_plan plan = plan_wgrad(ctx, N, C, H, W, OC, d->kernel, d->stride, d->pad);
    const dgeom g = plan.g;
    const tiles t = tile_config(ctx);
    const lane_tiling lt = plan.lt;
    const int K = g.K, CKK = C * K * K, OHW = g.OH * g.OW;
    const size_t per_image = plan.per_image, part_floats = plan.part_floats;
    const int chunk = plan.chunk, slices = plan.slices;
    cl_mem ws;
    SN_TRY(workspace(ctx, part_floats + per_image * (size_t)chunk, &ws));
    /* dyT (channel lanes only), then B's copy. */
    const size_t dyt_off = part_floats,
                 xp_off = dyt_off + (plan.rt ? 0 : (size_t)chunk * OHW * lt.padded);

    for (int n0 = 0; n0 < N; n0 += chunk) {
        const int n = N - n0 < chunk ? N - n0 : chunk;
        size_t lbuf[3];
        if (!plan.rt) {
            const size_t tg = (size_t)OHW * (size_t)n;
            SN_TRY(SN_ENQUEUE(ctx, "sn_convd_transpose_dy", 1, &tg, local_1d(ctx, tg, lbuf),
                              SN_ARG_INT(OC), SN_ARG_INT(OHW), SN_ARG_INT(lt.padded),
                              SN_ARG_INT(n0), SN_ARG_INT(n), SN_ARG_MEM(dy->buffer),
                              SN_ARG_INT(dyt_off), SN_ARG_MEM(ws)));
        }
        SN_TRY(copy_input(ctx, &g, x->buffer, n0, n, ws, xp_off));
        const int nrows = n * g.OH, rows = (int)ceil_div((size_t)nrows, (size_t)slices);
        const int used = (int)ceil_div((size_t)nrows, (size_t)rows);
        const int b_off = g.padded ? (int)xp_off : n0 * C * H * W;
        const cl_mem B = g.padded ? ws : x->buffer;
        if (plan.rt) {
            const size_t pg[3] = {ceil_div((size_t)CKK, (size_t)plan.rt->pv),
                                  ceil_div((size_t)OC, (size_t)plan.rt->m), (size_t)used};
            SN_TRY(SN_ENQUEUE(ctx, plan.rt->kernel, 3, pg, local_3d(ctx, 0, lbuf), SN_ARG_INT(C),
                              SN_ARG_INT(K), SN_ARG_INT(g.S), SN_ARG_INT(g.Hp),
                              SN_ARG_INT(g.RW), SN_ARG_INT(g.Wq), SN_ARG_INT(g.OH),
                              SN_ARG_INT(g.OW), SN_ARG_INT(OC), SN_ARG_INT(lt.padded),
                              SN_ARG_INT(nrows), SN_ARG_INT(rows), SN_ARG_INT(n0 * OC * OHW),
                              SN_ARG_MEM(dy->buffer), SN_ARG_INT(b_off), SN_ARG_MEM(B),
                              SN_ARG_INT(0), SN_ARG_MEM(ws)));
        } else {
            const size_t pg[3] = {ceil_div((size_t)CKK, (size_t)lt.pw),
                                  (size_t)(lt.padded / lt.lanes), (size_t)used};
            SN_TRY(SN_ENQUEUE(ctx, lt.wgrad, 3, pg, local_3d(ctx, 0, lbuf), SN_ARG_INT(C),
                              SN_ARG_INT(K), SN_ARG_INT(g.S), SN_ARG_INT(g.Hp),
                              SN_ARG_INT(g.Wp), SN_ARG_INT(g.OH), SN_ARG_INT(g.OW),
                              SN_ARG_INT(lt.padded), SN_ARG_INT(nrows), SN_ARG_INT(rows),
                              SN_ARG_INT(dyt_off), SN_ARG_MEM(ws), SN_ARG_INT(b_off),
                              SN_ARG_MEM(B), SN_ARG_INT(0), SN_ARG_MEM(ws)));
        }
        const size_t sg[3] = {ceil_div((size_t)CKK, 16), (size_t)(lt.padded / t.V), 1};
        SN_TRY(SN_ENQUEUE(ctx, "sn_convd_sum_partials", 2, sg, local_3d(ctx, 0, lbuf),
                          SN_ARG_INT(OC), SN_ARG_INT(CKK), SN_ARG_INT(lt.padded),
                          SN_ARG_INT(used), SN_ARG_INT(n0 > 0 || accumulate), SN_ARG_INT(0),
                          SN_ARG_MEM(ws), SN_ARG_MEM(dw->buffer)));
    }
    return SN_OK;
}
