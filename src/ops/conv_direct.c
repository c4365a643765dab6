/* conv2d as direct (implicit-GEMM) kernels, kernels/conv_direct.cl: no
 * im2col columns. The workspace holds only the rearranged weights (or dy
 * transposed, for the weight gradient), a zero-padded copy of the input of
 * a chunk of images when pad > 0 (so the inner loops need no bounds
 * checks), and the weight gradient's partial sums.
 *
 * Tiles: a work item computes OB*V channels (vector lanes) by P pixels;
 * V, PA (OB = 1) and PB (OB = 2) are build-time constants of the kernels
 * whose defaults tile_config() mirrors. */
#include <stdlib.h>
#include <string.h>

#include "ops/conv2d.h"
#include "ops/conv_algo.h"
#include "ops/op_check.h"

typedef struct tiles {
    int V, PA, PB;
} tiles;

/* Keep equal to the defaults at the top of kernels/conv_direct.cl. */
static tiles tile_config(const sn_context *ctx)
{
    if (ctx->info.type == SN_DEVICE_CPU)
        return (tiles){16, 12, 8};
    return (tiles){4, 4, 4};
}

/* Channel tiling of `ch` lanes: the "b" variant (two vectors) when they
 * fill whole pairs of vectors, else "a"; *padded = lanes rounded up. */
typedef struct lane_tiling {
    int ob, p, padded, lanes; /* lanes = ob * V per work item */
    const char *gather, *wgrad;
} lane_tiling;

static lane_tiling lanes_for(const tiles *t, int ch)
{
    if (ch % (2 * t->V) == 0)
        return (lane_tiling){2, t->PB, ch, 2 * t->V, "sn_convd_gather_b", "sn_convd_wgrad_b"};
    return (lane_tiling){1, t->PA, (ch + t->V - 1) / t->V * t->V, t->V, "sn_convd_gather_a",
                         "sn_convd_wgrad_a"};
}

static size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

#define SN_INT_MAX_FLOATS ((size_t)0x7fffffff)

/* Geometry of one call, shared by the three passes. */
typedef struct dgeom {
    int N, C, H, W, OC, K, S, P, OH, OW;
    int Hp, Wp; /* padded input read by forward / weight gradient */
    int padded; /* 1: the input is copied zero-padded into the workspace */
} dgeom;

static void dgeom_init(dgeom *g, int N, int C, int H, int W, int OC, int K, int stride, int pad)
{
    *g = (dgeom){N, C, H, W, OC, K, stride, pad, 0, 0, 0, 0, 0};
    g->OH = (H + 2 * pad - K) / stride + 1;
    g->OW = (W + 2 * pad - K) / stride + 1;
    /* Only rows and columns a window reaches: (O-1)*s + K <= H + 2*pad. */
    g->Hp = (g->OH - 1) * stride + K;
    g->Wp = (g->OW - 1) * stride + K;
    g->padded = pad > 0;
    if (!g->padded) {
        g->Hp = H;
        g->Wp = W;
    }
}

/* Images per chunk so that `per_image` floats per image stay within the
 * workspace limit (at least one image), evened out over the chunks. */
static int chunk_images(int N, size_t per_image)
{
    size_t limit = sn_conv2d_workspace_limit();
    size_t n = per_image ? limit / per_image : (size_t)N;
    n = n < 1 ? 1 : n > (size_t)N ? (size_t)N : n;
    const size_t chunks = ceil_div((size_t)N, n);
    return (int)ceil_div((size_t)N, chunks);
}

/* Margins of dy that backward data's gather reads around [OH, OW]. */
typedef struct bd_margins {
    int top, bottom, left, right;
} bd_margins;

/* One dimension: input size H, output size O; the phase a in [0, s) has
 * Ha = ceil((H - a)/s) pixels and taps kh0 + s*u, u < Th. */
static void bd_phase(int H, int K, int s, int pad, int a, int *Ha, int *kh0, int *Th, int *o0)
{
    *Ha = a < H ? (H - a + s - 1) / s : 0;
    *kh0 = (a + pad) % s;
    *Th = *kh0 < K ? (K - *kh0 + s - 1) / s : 0;
    *o0 = (a + pad - *kh0) / s; /* dy index of pixel 0, tap 0 */
}

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

/* Floats of the backward-data weights of every phase. */
static size_t bd_weight_floats(const dgeom *g, int Cp)
{
    size_t total = 0;
    for (int a = 0; a < g->S; a++)
        for (int b = 0; b < g->S; b++) {
            int Ha, kh0, Th, o0, Wb, kw0, Tw, p0;
            bd_phase(g->H, g->K, g->S, g->P, a, &Ha, &kh0, &Th, &o0);
            bd_phase(g->W, g->K, g->S, g->P, b, &Wb, &kw0, &Tw, &p0);
            total += (size_t)g->OC * (size_t)Th * (size_t)Tw * (size_t)Cp;
        }
    return total;
}

/* Workspace floats of a pass for `n` images (0: the per-image part only
 * and the fixed part added once). */
static size_t fwd_fixed(const dgeom *g, const lane_tiling *lt)
{
    return (size_t)g->C * g->K * g->K * (size_t)lt->padded;
}
static size_t fwd_per_image(const dgeom *g)
{
    return g->padded ? (size_t)g->C * g->Hp * g->Wp : 0;
}

/* Slices of the weight gradient's reduction over `nrows` rows (n, oh): enough
 * work items to keep every compute unit busy, and (CPUs) small enough that
 * a slice's rows of dyT and x stay in cache while its work items re-read
 * them, unless the partial sums [slices, OC, CKK] would outgrow that data.
 * `row_floats`: floats of dyT and x one row brings in. */
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

/* Chunk, slices and workspace floats of the weight gradient. */
typedef struct wgrad_plan {
    int chunk, slices;
    size_t per_image, part_floats;
} wgrad_plan;

static wgrad_plan plan_wgrad(const sn_context *ctx, const dgeom *g, const lane_tiling *lt)
{
    wgrad_plan p;
    const size_t CKK = (size_t)g->C * g->K * g->K, OHW = (size_t)g->OH * g->OW;
    p.per_image = fwd_per_image(g) + OHW * lt->padded;
    p.chunk = chunk_images(g->N, p.per_image);
    const size_t items = ceil_div(CKK, (size_t)lt->p) * (size_t)(lt->padded / lt->lanes);
    const size_t row_floats = (size_t)g->OW * lt->padded + (size_t)g->C * g->S * g->Wp;
    p.slices = wgrad_slices(ctx, items, p.chunk * g->OH, row_floats, (size_t)g->OC * CKK);
    p.part_floats = (size_t)p.slices * CKK * lt->padded;
    return p;
}

int sn_conv_algo_supported(sn_context *ctx, sn_conv_algo algo, sn_conv_pass pass, int N, int C,
                           int H, int W, int OC, int K, int stride, int pad)
{
    if (!ctx || N <= 0 || C <= 0 || H <= 0 || W <= 0 || OC <= 0 || K <= 0 || stride <= 0 ||
        pad < 0 || H + 2 * pad < K || W + 2 * pad < K)
        return 0;
    if (algo == SN_CONV_ALGO_GEMM)
        return 1;
    if (algo != SN_CONV_ALGO_DIRECT)
        return 0;
    dgeom g;
    dgeom_init(&g, N, C, H, W, OC, K, stride, pad);
    const tiles t = tile_config(ctx);
    const lane_tiling lo = lanes_for(&t, OC), lc = lanes_for(&t, C);
    /* Every index the kernels form stays below 2^31 for one image plus the
     * fixed part; chunks keep larger batches there. */
    const size_t CKK = (size_t)C * K * K;
    const size_t img_x = (size_t)C * (size_t)g.Hp * (size_t)g.Wp;
    const size_t img_y = (size_t)lo.padded * (size_t)g.OH * (size_t)g.OW;
    size_t need = 0;
    switch (pass) {
    case SN_CONV_FORWARD: need = fwd_fixed(&g, &lo) + img_x; break;
    case SN_CONV_BACKWARD_DATA: {
        int mt, mb, ml, mr;
        bd_dim_margins(H, g.OH, K, stride, pad, &mt, &mb);
        bd_dim_margins(W, g.OW, K, stride, pad, &ml, &mr);
        need = bd_weight_floats(&g, lc.padded) +
               (size_t)OC * (size_t)(g.OH + mt + mb) * (size_t)(g.OW + ml + mr);
        break;
    }
    default: {
        const wgrad_plan p = plan_wgrad(ctx, &g, &lo);
        need = p.part_floats + p.per_image * (size_t)p.chunk;
        (void)img_y;
        (void)CKK;
        break;
    }
    }
    /* The workspace of one image must also fit the device's largest
     * allocation (small on FPGAs and some integrated GPUs): otherwise GEMM. */
    return need < SN_INT_MAX_FLOATS && need * sizeof(float) <= ctx->info.max_alloc_bytes &&
           (size_t)N * img_x < ((size_t)1 << 40);
}

/* Copy images n0 .. n0+n-1 of `in` [N,C,Hi,Wi] zero-padded into
 * out [n,C,Ho,Wo] at out_off. */
static sn_status pad_copy(sn_context *ctx, cl_mem in, int C, int Hi, int Wi, int Ho, int Wo,
                          int top, int left, int n0, int n, cl_mem out, size_t out_off)
{
    const size_t rows = (size_t)Ho * (size_t)n * (size_t)C;
    return SN_ENQUEUE(ctx, "sn_convd_pad", 1, &rows, NULL, SN_ARG_INT(C), SN_ARG_INT(Hi),
                      SN_ARG_INT(Wi), SN_ARG_INT(Ho), SN_ARG_INT(Wo), SN_ARG_INT(top),
                      SN_ARG_INT(left), SN_ARG_INT(n0), SN_ARG_INT(n), SN_ARG_MEM(in),
                      SN_ARG_INT(out_off), SN_ARG_MEM(out));
}

/* The arguments of one launch of the gather kernel (see conv_direct.cl). */
typedef struct gather_args {
    int R, Th, Tw, t0, du, dv, VO, VOp, Q, Qw, b_rs, b_cs, b_plane, b_img, y_rs, y_cs, y_plane,
        y_img, accumulate, a_off, b_off, y_off, images;
    cl_mem A, B, Y;
    size_t a_floats, b_floats; /* what the launch reads of A (per lane tile:
                                  all lanes) and of B (all images) */
} gather_args;

/* Work-group order: lanes first when re-reading A (the weights) for every
 * pixel tile moves fewer bytes than re-reading B for every lane tile. A
 * that fits in half a megabyte counts as cached. */
static int lanes_first(const lane_tiling *lt, const gather_args *a)
{
    const double pixel_tiles = (double)ceil_div((size_t)a->Q, (size_t)lt->p) * a->images;
    const double lane_tiles = (double)(a->VOp / lt->lanes);
    const double a_bytes = 4.0 * (double)a->a_floats, b_bytes = 4.0 * (double)a->b_floats;
    const double a_reads = a_bytes <= 512.0 * 1024 ? 1.0 : pixel_tiles;
    const double pixels_first = a_bytes + lane_tiles * b_bytes;
    const double lanes = b_bytes + a_reads * a_bytes;
    return lanes < pixels_first;
}

static sn_status gather(sn_context *ctx, const lane_tiling *lt, const gather_args *a)
{
    if (a->Q <= 0 || a->images <= 0)
        return SN_OK;
    const int lf = lanes_first(lt, a);
    const size_t pixel_tiles = ceil_div((size_t)a->Q, (size_t)lt->p),
                 lane_tiles = (size_t)(a->VOp / lt->lanes);
    const size_t global[3] = {lf ? lane_tiles : pixel_tiles, lf ? pixel_tiles : lane_tiles,
                              (size_t)a->images};
    return SN_ENQUEUE(ctx, lt->gather, 3, global, NULL, SN_ARG_INT(a->R), SN_ARG_INT(a->Th),
                      SN_ARG_INT(a->Tw), SN_ARG_INT(a->t0), SN_ARG_INT(a->du),
                      SN_ARG_INT(a->dv), SN_ARG_INT(a->VO), SN_ARG_INT(a->VOp),
                      SN_ARG_INT(a->Q), SN_ARG_INT(a->Qw), SN_ARG_INT(a->b_rs),
                      SN_ARG_INT(a->b_cs), SN_ARG_INT(a->b_plane), SN_ARG_INT(a->b_img),
                      SN_ARG_INT(a->y_rs), SN_ARG_INT(a->y_cs), SN_ARG_INT(a->y_plane),
                      SN_ARG_INT(a->y_img), SN_ARG_INT(a->accumulate), SN_ARG_INT(lf), SN_ARG_INT(a->a_off),
                      SN_ARG_MEM(a->A), SN_ARG_INT(a->b_off), SN_ARG_MEM(a->B),
                      SN_ARG_INT(a->y_off), SN_ARG_MEM(a->Y));
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
    dgeom g;
    int N, C, H, W, OC, wc, wk, wk2;
    sn_dims4(x, &N, &C, &H, &W);
    sn_dims4(w, &OC, &wc, &wk, &wk2);
    dgeom_init(&g, N, C, H, W, OC, d->kernel, d->stride, d->pad);
    const tiles t = tile_config(ctx);
    const lane_tiling lt = lanes_for(&t, OC);
    const int CKK = C * g.K * g.K, OHW = g.OH * g.OW;
    const size_t fixed = fwd_fixed(&g, &lt), per_image = fwd_per_image(&g);
    const int chunk = g.padded ? chunk_images(N, per_image) : N;
    cl_mem ws;
    SN_TRY(workspace(ctx, fixed + per_image * (size_t)chunk, &ws));

    const size_t wg[2] = {(size_t)lt.padded, (size_t)CKK};
    SN_TRY(SN_ENQUEUE(ctx, "sn_convd_weights_fwd", 2, wg, NULL, SN_ARG_INT(OC), SN_ARG_INT(CKK),
                      SN_ARG_INT(lt.padded), SN_ARG_MEM(w->buffer), SN_ARG_INT(0),
                      SN_ARG_MEM(ws)));
    for (int n0 = 0; n0 < N; n0 += chunk) {
        const int n = N - n0 < chunk ? N - n0 : chunk;
        if (g.padded)
            SN_TRY(pad_copy(ctx, x->buffer, C, H, W, g.Hp, g.Wp, g.P, g.P, n0, n, ws, fixed));
        const gather_args a = {
            .R = C, .Th = g.K, .Tw = g.K, .t0 = 0, .du = g.Wp, .dv = 1, .VO = OC,
            .VOp = lt.padded, .Q = OHW, .Qw = g.OW, .b_rs = g.S * g.Wp, .b_cs = g.S,
            .b_plane = g.Hp * g.Wp, .b_img = C * g.Hp * g.Wp, .y_rs = g.OW, .y_cs = 1,
            .y_plane = OHW, .y_img = OC * OHW, .accumulate = 0, .a_off = 0,
            .b_off = g.padded ? (int)fixed : n0 * C * H * W, .y_off = n0 * OC * OHW,
            .images = n, .A = ws, .B = g.padded ? ws : x->buffer, .Y = y->buffer,
            .a_floats = fixed, .b_floats = (size_t)n * C * g.Hp * g.Wp};
        SN_TRY(gather(ctx, &lt, &a));
    }
    return SN_OK;
}

sn_status sn_conv2d_direct_backward_data(sn_context *ctx, const sn_conv2d_desc *d,
                                         const sn_tensor *dy, const sn_tensor *w, sn_tensor *dx,
                                         int accumulate)
{
    dgeom g;
    int N, C, H, W, OC, wc, wk, wk2;
    sn_dims4(dx, &N, &C, &H, &W);
    sn_dims4(w, &OC, &wc, &wk, &wk2);
    dgeom_init(&g, N, C, H, W, OC, d->kernel, d->stride, d->pad);
    const tiles t = tile_config(ctx);
    const lane_tiling lt = lanes_for(&t, C);
    const int S = g.S, K = g.K;
    int mt, mb, ml, mr;
    bd_dim_margins(H, g.OH, K, S, g.P, &mt, &mb);
    bd_dim_margins(W, g.OW, K, S, g.P, &ml, &mr);
    const int padded = mt || mb || ml || mr;
    const int Hd = g.OH + mt + mb, Wd = g.OW + ml + mr;
    const size_t fixed = bd_weight_floats(&g, lt.padded);
    const size_t per_image = padded ? (size_t)OC * Hd * Wd : 0;
    const int chunk = padded ? chunk_images(N, per_image) : N;
    cl_mem ws;
    SN_TRY(workspace(ctx, fixed + per_image * (size_t)chunk, &ws));

    /* Weights of every phase, one block each. */
    size_t a_off = 0;
    for (int a = 0; a < S; a++)
        for (int b = 0; b < S; b++) {
            int Ha, kh0, Th, o0, Wb, kw0, Tw, p0;
            bd_phase(H, K, S, g.P, a, &Ha, &kh0, &Th, &o0);
            bd_phase(W, K, S, g.P, b, &Wb, &kw0, &Tw, &p0);
            if (Th && Tw) {
                const size_t wg[3] = {(size_t)lt.padded, (size_t)Th * Tw, (size_t)OC};
                SN_TRY(SN_ENQUEUE(ctx, "sn_convd_weights_bwd", 3, wg, NULL, SN_ARG_INT(OC),
                                  SN_ARG_INT(C), SN_ARG_INT(K), SN_ARG_INT(lt.padded),
                                  SN_ARG_INT(S), SN_ARG_INT(kh0), SN_ARG_INT(kw0),
                                  SN_ARG_INT(Th), SN_ARG_INT(Tw), SN_ARG_MEM(w->buffer),
                                  SN_ARG_INT(a_off), SN_ARG_MEM(ws)));
            }
            a_off += (size_t)OC * Th * Tw * lt.padded;
        }

    for (int n0 = 0; n0 < N; n0 += chunk) {
        const int n = N - n0 < chunk ? N - n0 : chunk;
        if (padded)
            SN_TRY(pad_copy(ctx, dy->buffer, OC, g.OH, g.OW, Hd, Wd, mt, ml, n0, n, ws, fixed));
        a_off = 0;
        for (int a = 0; a < S; a++)
            for (int b = 0; b < S; b++) {
                int Ha, kh0, Th, o0, Wb, kw0, Tw, p0;
                bd_phase(H, K, S, g.P, a, &Ha, &kh0, &Th, &o0);
                bd_phase(W, K, S, g.P, b, &Wb, &kw0, &Tw, &p0);
                const gather_args ga = {
                    .R = Th && Tw ? OC : 0, .Th = Th, .Tw = Tw,
                    .t0 = (o0 + mt) * Wd + (p0 + ml), .du = -Wd, .dv = -1, .VO = C,
                    .VOp = lt.padded, .Q = Ha * Wb, .Qw = Wb, .b_rs = Wd, .b_cs = 1,
                    .b_plane = Hd * Wd, .b_img = OC * Hd * Wd, .y_rs = S * W, .y_cs = S,
                    .y_plane = H * W, .y_img = C * H * W, .accumulate = accumulate != 0,
                    .a_off = (int)a_off, .b_off = padded ? (int)fixed : n0 * OC * Hd * Wd,
                    .y_off = n0 * C * H * W + a * W + b, .images = n, .A = ws,
                    .B = padded ? ws : dy->buffer, .Y = dx->buffer,
                    .a_floats = (size_t)OC * Th * Tw * lt.padded,
                    .b_floats = (size_t)n * OC * Hd * Wd};
                SN_TRY(gather(ctx, &lt, &ga));
                a_off += (size_t)OC * Th * Tw * lt.padded;
            }
    }
    return SN_OK;
}

sn_status sn_conv2d_direct_backward_weights(sn_context *ctx, const sn_conv2d_desc *d,
                                            const sn_tensor *x, const sn_tensor *dy,
                                            sn_tensor *dw, int accumulate)
{
    dgeom g;
    int N, C, H, W, OC, wc, wk, wk2;
    sn_dims4(x, &N, &C, &H, &W);
    sn_dims4(dw, &OC, &wc, &wk, &wk2);
    dgeom_init(&g, N, C, H, W, OC, d->kernel, d->stride, d->pad);
    const tiles t = tile_config(ctx);
    const lane_tiling lt = lanes_for(&t, OC);
    const int K = g.K, CKK = C * K * K, OHW = g.OH * g.OW;
    const wgrad_plan plan = plan_wgrad(ctx, &g, &lt);
    const size_t per_image = plan.per_image, part_floats = plan.part_floats;
    const int chunk = plan.chunk, slices = plan.slices;
    cl_mem ws;
    SN_TRY(workspace(ctx, part_floats + per_image * (size_t)chunk, &ws));
    const size_t dyt_off = part_floats, xp_off = dyt_off + (size_t)chunk * OHW * lt.padded;

    for (int n0 = 0; n0 < N; n0 += chunk) {
        const int n = N - n0 < chunk ? N - n0 : chunk;
        const size_t tg = (size_t)OHW * (size_t)n;
        SN_TRY(SN_ENQUEUE(ctx, "sn_convd_transpose_dy", 1, &tg, NULL, SN_ARG_INT(OC),
                          SN_ARG_INT(OHW), SN_ARG_INT(lt.padded), SN_ARG_INT(n0), SN_ARG_INT(n),
                          SN_ARG_MEM(dy->buffer), SN_ARG_INT(dyt_off), SN_ARG_MEM(ws)));
        if (g.padded)
            SN_TRY(pad_copy(ctx, x->buffer, C, H, W, g.Hp, g.Wp, g.P, g.P, n0, n, ws, xp_off));
        const int nrows = n * g.OH, rows = (int)ceil_div((size_t)nrows, (size_t)slices);
        const int used = (int)ceil_div((size_t)nrows, (size_t)rows);
        const size_t pg[3] = {ceil_div((size_t)CKK, (size_t)lt.p),
                              (size_t)(lt.padded / lt.lanes), (size_t)used};
        SN_TRY(SN_ENQUEUE(ctx, lt.wgrad, 3, pg, NULL, SN_ARG_INT(C), SN_ARG_INT(K),
                          SN_ARG_INT(g.S), SN_ARG_INT(g.Hp), SN_ARG_INT(g.Wp), SN_ARG_INT(g.OH),
                          SN_ARG_INT(g.OW), SN_ARG_INT(lt.padded), SN_ARG_INT(nrows),
                          SN_ARG_INT(rows), SN_ARG_INT(dyt_off), SN_ARG_MEM(ws),
                          SN_ARG_INT(g.padded ? xp_off : (size_t)n0 * C * H * W),
                          SN_ARG_MEM(g.padded ? ws : x->buffer), SN_ARG_INT(0), SN_ARG_MEM(ws)));
        const size_t sg[2] = {ceil_div((size_t)CKK, 16), (size_t)(lt.padded / t.V)};
        SN_TRY(SN_ENQUEUE(ctx, "sn_convd_sum_partials", 2, sg, NULL, SN_ARG_INT(OC),
                          SN_ARG_INT(CKK), SN_ARG_INT(lt.padded), SN_ARG_INT(used),
                          SN_ARG_INT(n0 > 0 || accumulate), SN_ARG_INT(0), SN_ARG_MEM(ws),
                          SN_ARG_MEM(dw->buffer)));
    }
    return SN_OK;
}
