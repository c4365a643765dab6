/* conv2d as Winograd F(2x2, 3x3), kernels/conv_winograd.cl: 3x3 kernels,
 * stride 1, pad 0..2. Per 2x2 output tile it does 16 multiplications per
 * (input, output) channel pair instead of 36, at the cost of transforms of
 * the input, the filters and the output, and a workspace of 16 values per
 * tile and channel.
 *
 * For a chunk of tiles (any range of the batch's N*TH*TW tiles, so that the
 * workspace stays in the CPU's cache whatever the image size):
 *   forward          U = filter transform (once per call), V = input
 *                    transform of x, M[xi] = U[xi]^T V[xi], y = A^T M A
 *                    (with sn_conv2d_winograd_forward_affine's epilogue
 *                    in the output transform's store)
 *   backward data    the forward machinery on dy with the flipped and
 *                    transposed filter and pad 2 - pad (stride 1)
 *   backward weights V of x, dM = A dY A^T of dy, partial dU per slice of
 *                    the tiles, then dw (+)= G^T (sum of partials) G
 * Every kernel works on vectors of V consecutive tiles (kernels/
 * conv_winograd.cl); the forward GEMM's work item computes OB*V tiles by P
 * output channels, the weight gradient's WC input by WO output channels.
 * These are build-time constants of the kernels, set from the device
 * parameter table (runtime/device_params.c) that tile_config() reads. */
#include <stdlib.h>

#include "ops/conv2d.h"
#include "ops/conv_algo.h"
#include "ops/op_check.h"

typedef struct tiles {
    int V, PA, OB, PB, WC, WO;
} tiles;

/* The kernels' tile sizes: the device parameter table's, as built. */
static tiles tile_config(const sn_context *ctx)
{
    const sn_device_params *p = &ctx->params;
    return (tiles){p->wino_v, p->wino_pa, p->wino_ob, p->wino_pb, p->wino_wc, p->wino_wo};
}

static size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }
static size_t round_up(size_t a, size_t b) { return ceil_div(a, b) * b; }

/* Forward GEMM tiling: a work item computes ob*V tiles (vector lanes) by p
 * output channels. "b" (OB vectors) unless rounding the batch's tiles up to
 * its blocks of OB*V tiles adds more than a quarter of padding tiles (only
 * the last chunk has padding). Measured on POCL, ResNet-50's last stage
 * (128 tiles, padded to 144): "b" 20% faster than "a". */
typedef struct gemm_tiling {
    int ob, p, tiles; /* tiles = ob * V per work item */
    const char *gemm;
} gemm_tiling;

static gemm_tiling gemm_for(const tiles *t, size_t tiles)
{
    if (4 * round_up(tiles, (size_t)t->OB * t->V) <= 5 * tiles)
        return (gemm_tiling){t->OB, t->PB, t->OB * t->V, "sn_wino_gemm_b"};
    return (gemm_tiling){1, t->PA, t->V, "sn_wino_gemm_a"};
}

#define XI 16 /* entries of a transformed 4x4 tile */
#define SN_INT_MAX_FLOATS ((size_t)0x7fffffff)

/* Workspace floats of a chunk aimed at: V and M (or dM) of the chunk stay in
 * the last-level cache between the transform that writes them and the GEMM
 * that reads them. 1M floats = 4 MiB. */
#define SN_WINO_CHUNK_FLOATS ((size_t)1 << 20)

/* One Winograd convolution "in [N][R][Hin][Win] -> out [N][VO][Ho][Wo]" with
 * a 3x3 stride-1 kernel and padding `pad`: the forward, and the backward data
 * as the forward of dy. */
typedef struct wconv {
    int N, R, Hin, Win, VO, pad;
    int Ho, Wo, TH, TW; /* output; tiles of 2x2 outputs per image */
    size_t tiles;       /* N*TH*TW */
} wconv;

static wconv wconv_make(int N, int R, int Hin, int Win, int VO, int pad)
{
    wconv c = {N, R, Hin, Win, VO, pad, 0, 0, 0, 0, 0};
    c.Ho = Hin + 2 * pad - 2;
    c.Wo = Win + 2 * pad - 2;
    c.TH = (c.Ho + 1) / 2;
    c.TW = (c.Wo + 1) / 2;
    c.tiles = (size_t)N * (size_t)c.TH * (size_t)c.TW;
    return c;
}

/* Tiles per chunk: a multiple of `step` so that `per_tile` floats per tile
 * stay within the chunk target and the conv workspace limit (at least one
 * step), evened out over the chunks. A chunk is any range of the batch's
 * tiles: it may cut images and tile rows. */
static size_t chunk_tiles(const sn_context *ctx, size_t tiles, size_t per_tile, size_t step,
                          size_t target)
{
    size_t limit = sn_conv2d_workspace_limit(ctx);
    if (limit > target)
        limit = target;
    const size_t max_alloc = (size_t)(ctx->info.max_alloc_bytes / sizeof(float));
    if (max_alloc && limit > max_alloc / 2)
        limit = max_alloc / 2;
    size_t n = limit / per_tile / step * step;
    if (n < step)
        n = step;
    if (n > round_up(tiles, step))
        n = round_up(tiles, step);
    return round_up(ceil_div(tiles, ceil_div(tiles, n)), step);
}

/* Plan of the forward machinery: tiles per chunk (a multiple of the
 * GEMM's tiles per work item, so that only the last chunk has padding
 * tiles) and workspace floats: U [16][R][VOp], then V [16][R][npad] and
 * M [16][VO][npad], npad the chunk's tiles rounded up to that step. */
typedef struct fwd_plan {
    gemm_tiling gt;
    size_t VOp, chunk, u_floats, floats;
} fwd_plan;

static fwd_plan plan_fwd(const sn_context *ctx, const wconv *c)
{
    const tiles t = tile_config(ctx);
    fwd_plan p;
    p.gt = gemm_for(&t, c->tiles);
    p.VOp = round_up((size_t)c->VO, (size_t)t.V);
    const size_t per_tile = (size_t)XI * ((size_t)c->R + (size_t)c->VO);
    p.u_floats = (size_t)XI * (size_t)c->R * p.VOp;
    /* The GEMM reads all of U once per chunk: chunks at least as large as
     * U keep that traffic below the chunks' own. */
    p.chunk = chunk_tiles(ctx, c->tiles, per_tile, (size_t)p.gt.tiles,
                          p.u_floats > SN_WINO_CHUNK_FLOATS ? p.u_floats : SN_WINO_CHUNK_FLOATS);
    p.floats = p.u_floats + per_tile * p.chunk;
    return p;
}

/* Weight gradient plan: tiles per chunk (a multiple of V: the transforms'
 * and the GEMM's vectors of tiles), slices of a chunk's tiles, workspace:
 * partials [slices][16][C][OCp], then V [16][C][chunk] and
 * dM [16][OC][chunk]. */
typedef struct wgrad_plan {
    size_t OCp, chunk, slices, part_floats, floats;
} wgrad_plan;

/* Slices of the reduction over `np` tiles: enough work items to keep every
 * compute unit busy and (CPUs) few enough tiles per slice that the rows of
 * V and dM its work items re-read stay in cache, unless the partial sums
 * would outgrow that data. */
static size_t wgrad_slices(const sn_context *ctx, size_t items_per_slice, size_t np,
                           size_t row_floats, size_t outputs)
{
    const int cpu = ctx->info.type == SN_DEVICE_CPU;
    const size_t want = (size_t)ctx->info.compute_units * (cpu ? 32u : 256u);
    size_t slices = ceil_div(want, items_per_slice ? items_per_slice : 1);
    if (cpu) {
        const size_t cache_floats = (size_t)64 << 10; /* 256 KiB per transform entry */
        size_t by_cache = ceil_div(np * row_floats, cache_floats);
        const size_t most = np * row_floats / (outputs ? outputs : 1);
        if (by_cache > most)
            by_cache = most;
        if (by_cache > slices)
            slices = by_cache;
    }
    if (slices > np)
        slices = np;
    if (slices > 1024)
        slices = 1024;
    return slices < 1 ? 1 : slices;
}

static wgrad_plan plan_wgrad(const sn_context *ctx, const wconv *c)
{
    const tiles t = tile_config(ctx);
    wgrad_plan p;
    const size_t C = (size_t)c->R, OC = (size_t)c->VO;
    p.OCp = round_up(OC, (size_t)t.V);
    const size_t per_tile = (size_t)XI * (C + OC);
    /* Each chunk writes and sums partials of at least 16*C*OCp floats:
     * chunks four times that large keep that traffic well below the chunks'
     * own. Measured on POCL: twice the forward's chunks (and, for 256
     * channels at 14x14, one chunk instead of four) are 5% faster here. */
    const size_t out_floats = XI * C * p.OCp;
    const size_t target = 4 * out_floats > 2 * SN_WINO_CHUNK_FLOATS ? 4 * out_floats
                                                                    : 2 * SN_WINO_CHUNK_FLOATS;
    p.chunk = chunk_tiles(ctx, c->tiles, per_tile, (size_t)t.V, target);
    const size_t items = ceil_div(C, (size_t)t.WC) * ceil_div(OC, (size_t)t.WO) * XI;
    p.slices = wgrad_slices(ctx, items, p.chunk / (size_t)t.V, (size_t)t.V * (C + OC),
                            C * p.OCp);
    p.part_floats = p.slices * XI * C * p.OCp;
    p.floats = p.part_floats + per_tile * p.chunk;
    return p;
}

int sn_conv_winograd_supported(sn_context *ctx, sn_conv_pass pass, int N, int C, int H, int W,
                               int OC, int K, int stride, int pad)
{
    if (!ctx || N <= 0 || C <= 0 || H <= 0 || W <= 0 || OC <= 0 || K != 3 || stride != 1 ||
        pad < 0 || pad > 2 || (long long)H + 2 * pad < K || (long long)W + 2 * pad < K)
        return 0;
    const wconv fwd = wconv_make(N, C, H, W, OC, pad);
    size_t need;
    switch (pass) {
    case SN_CONV_FORWARD: need = plan_fwd(ctx, &fwd).floats; break;
    case SN_CONV_BACKWARD_DATA: {
        const wconv bd = wconv_make(N, OC, fwd.Ho, fwd.Wo, C, 2 - pad);
        need = plan_fwd(ctx, &bd).floats;
        break;
    }
    default: need = plan_wgrad(ctx, &fwd).floats; break;
    }
    /* Kernels index the workspace with int, and it must fit the device's
     * largest allocation (small on FPGAs and some integrated GPUs). The
     * tile index p0 + p of the batch stays an int too. */
    return need + 64 < SN_INT_MAX_FLOATS &&
           (need + 64) * sizeof(float) <= ctx->info.max_alloc_bytes &&
           fwd.tiles < SN_INT_MAX_FLOATS;
}

static sn_status workspace(sn_context *ctx, size_t floats, cl_mem *ws)
{
    if (floats + 64 > SN_INT_MAX_FLOATS)
        return sn_fail(SN_ERR_UNSUPPORTED,
                       "winograd conv: workspace of %zu floats (2^31-1 at most)", floats);
    /* A few floats of slack, as the direct kernels keep. */
    return sn_workspace(ctx, (floats + 64) * sizeof(float), ws);
}

/* Bits of sn_wino_output's epilogue (keep equal to kernels/conv_winograd.cl:
 * SN_WINO_EPI_*). */
enum { EPI_AFFINE = 1, EPI_RES = 2, EPI_RELU = 4 };

/* The epilogue of the output transform's store: bits, and the buffers the
 * bits name (NULL otherwise). */
typedef struct wepi {
    int bits;
    cl_mem scale, shift, res;
} wepi;

/* The forward machinery: out (+)= conv3x3(in, filter) with the filter given
 * as w [VO][R][3][3] (flip 0) or, for backward data, w [R][VO][3][3] used
 * flipped and transposed (flip 1). epi: NULL, or (accumulate 0) the
 * epilogue applied in the store. */
static sn_status wino_conv(sn_context *ctx, const wconv *c, cl_mem in, cl_mem w, int flip,
                           cl_mem out, int accumulate, const wepi *epi)
{
    const fwd_plan plan = plan_fwd(ctx, c);
    const gemm_tiling *gt = &plan.gt;
    const size_t V = (size_t)tile_config(ctx).V;
    cl_mem ws;
    SN_TRY(workspace(ctx, plan.floats, &ws));
    /* unused epilogue inputs get out: the kernel does not read them */
    const int bits = epi ? epi->bits : 0;
    const cl_mem scale = bits & EPI_AFFINE ? epi->scale : out,
                 shift = bits & EPI_AFFINE ? epi->shift : out,
                 res = bits & EPI_RES ? epi->res : out;

    /* U [16][R][VOp] at 0 */
    const size_t fg[2] = {plan.VOp / V, (size_t)c->R};
    SN_TRY(SN_ENQUEUE(ctx, "sn_wino_filter", 2, fg, NULL, SN_ARG_INT(c->R), SN_ARG_INT(c->VO),
                      SN_ARG_INT(plan.VOp), SN_ARG_INT(flip), SN_ARG_MEM(w), SN_ARG_INT(0),
                      SN_ARG_MEM(ws)));
    /* floats of `in`: below 2^31 like every tensor (checked at allocation) */
    const int total = (int)((size_t)c->N * c->R * c->Hin * c->Win);
    for (size_t p0 = 0; p0 < c->tiles; p0 += plan.chunk) {
        const size_t np = c->tiles - p0 < plan.chunk ? c->tiles - p0 : plan.chunk;
        const size_t npad = round_up(np, (size_t)gt->tiles);
        /* V [16][R][npad], then M [16][VO][npad] */
        const size_t v_off = plan.u_floats, m_off = v_off + (size_t)XI * c->R * npad;
        const size_t ig[2] = {npad / V, (size_t)c->R};
        SN_TRY(SN_ENQUEUE(ctx, "sn_wino_input", 2, ig, NULL, SN_ARG_INT(c->R),
                          SN_ARG_INT(c->Hin), SN_ARG_INT(c->Win), SN_ARG_INT(c->pad),
                          SN_ARG_INT(c->TH), SN_ARG_INT(c->TW), SN_ARG_INT(p0), SN_ARG_INT(np),
                          SN_ARG_INT(npad), SN_ARG_INT(total), SN_ARG_MEM(in), SN_ARG_INT(v_off),
                          SN_ARG_MEM(ws)));
        const size_t gg[3] = {npad / (size_t)gt->tiles, ceil_div((size_t)c->VO, (size_t)gt->p),
                              XI};
        SN_TRY(SN_ENQUEUE(ctx, gt->gemm, 3, gg, NULL, SN_ARG_INT(c->R), SN_ARG_INT(c->VO),
                          SN_ARG_INT(plan.VOp), SN_ARG_INT(npad), SN_ARG_INT(0), SN_ARG_MEM(ws),
                          SN_ARG_INT(v_off), SN_ARG_MEM(ws), SN_ARG_INT(m_off), SN_ARG_MEM(ws)));
        const size_t og[2] = {ceil_div(np, V), (size_t)c->VO};
        SN_TRY(SN_ENQUEUE(ctx, "sn_wino_output", 2, og, NULL, SN_ARG_INT(c->VO),
                          SN_ARG_INT(c->Ho), SN_ARG_INT(c->Wo), SN_ARG_INT(c->TH),
                          SN_ARG_INT(c->TW), SN_ARG_INT(p0), SN_ARG_INT(np), SN_ARG_INT(npad),
                          SN_ARG_INT(accumulate != 0), SN_ARG_INT(bits), SN_ARG_INT(m_off),
                          SN_ARG_MEM(ws), SN_ARG_MEM(scale), SN_ARG_MEM(shift),
                          SN_ARG_MEM(res), SN_ARG_MEM(out)));
    }
    return SN_OK;
}

sn_status sn_conv2d_winograd_forward(sn_context *ctx, const sn_conv2d_desc *d, const sn_tensor *x,
                                     const sn_tensor *w, sn_tensor *y)
{
    int N, C, H, W, OC, wc, wk, wk2;
    sn_dims4(x, &N, &C, &H, &W);
    sn_dims4(w, &OC, &wc, &wk, &wk2);
    const wconv c = wconv_make(N, C, H, W, OC, d->pad);
    return wino_conv(ctx, &c, x->buffer, w->buffer, 0, y->buffer, 0, NULL);
}

sn_status sn_conv2d_winograd_forward_affine(sn_context *ctx, const sn_conv2d_desc *d,
                                            const sn_tensor *x, const sn_tensor *w,
                                            const sn_tensor *scale, const sn_tensor *shift,
                                            const sn_tensor *residual, int relu, sn_tensor *y)
{
    int N, C, H, W, OC, wc, wk, wk2;
    sn_dims4(x, &N, &C, &H, &W);
    sn_dims4(w, &OC, &wc, &wk, &wk2);
    if (!sn_conv_winograd_supported(ctx, SN_CONV_FORWARD, N, C, H, W, OC, d->kernel, d->stride,
                                    d->pad))
        return sn_fail(SN_ERR_UNSUPPORTED, "winograd conv forward: shape not supported");
    if (!scale != !shift)
        return sn_fail(SN_ERR_INVALID_ARG,
                       "winograd conv forward: scale and shift go together");
    const wconv c = wconv_make(N, C, H, W, OC, d->pad);
    const size_t ny = (size_t)N * OC * c.Ho * c.Wo;
    if ((scale && (scale->count != (size_t)OC || shift->count != (size_t)OC)) ||
        (residual && residual->count != ny))
        return sn_fail(SN_ERR_SHAPE,
                       "winograd conv forward: scale/shift need %d elements, residual %zu", OC,
                       ny);
    const wepi epi = {(scale ? EPI_AFFINE : 0) | (residual ? EPI_RES : 0) | (relu ? EPI_RELU : 0),
                      scale ? scale->buffer : NULL, shift ? shift->buffer : NULL,
                      residual ? residual->buffer : NULL};
    return wino_conv(ctx, &c, x->buffer, w->buffer, 0, y->buffer, 0, &epi);
}

sn_status sn_conv2d_winograd_backward_data(sn_context *ctx, const sn_conv2d_desc *d,
                                           const sn_tensor *dy, const sn_tensor *w,
                                           sn_tensor *dx, int accumulate)
{
    int N, OC, OH, OW, wo, C, wk, wk2;
    sn_dims4(dy, &N, &OC, &OH, &OW);
    sn_dims4(w, &wo, &C, &wk, &wk2);
    /* dx = conv(dy, w rotated 180 degrees, in/out swapped), pad 2 - pad:
     * its output is (OH + 2*(2-pad) - 2) = H rows. */
    const wconv c = wconv_make(N, OC, OH, OW, C, 2 - d->pad);
    return wino_conv(ctx, &c, dy->buffer, w->buffer, 1, dx->buffer, accumulate, NULL);
}

sn_status sn_conv2d_winograd_backward_weights(sn_context *ctx, const sn_conv2d_desc *d,
                                              const sn_tensor *x, const sn_tensor *dy,
                                              sn_tensor *dw, int accumulate)
{
    int N, C, H, W, OC, wc, wk, wk2;
    sn_dims4(x, &N, &C, &H, &W);
    sn_dims4(dw, &OC, &wc, &wk, &wk2);
    const wconv c = wconv_make(N, C, H, W, OC, d->pad);
    const wgrad_plan plan = plan_wgrad(ctx, &c);
    const tiles t = tile_config(ctx);
    const size_t V = (size_t)t.V;
    cl_mem ws;
    SN_TRY(workspace(ctx, plan.floats, &ws));

    const int total_x = (int)x->count, total_dy = (int)dy->count;
    for (size_t p0 = 0; p0 < c.tiles; p0 += plan.chunk) {
        const size_t np = c.tiles - p0 < plan.chunk ? c.tiles - p0 : plan.chunk;
        const size_t npad = round_up(np, V);
        /* partials at 0, V [16][C][npad], dM [16][OC][npad] */
        const size_t v_off = plan.part_floats, m_off = v_off + (size_t)XI * (size_t)C * npad;
        const size_t ig[2] = {npad / V, (size_t)C};
        SN_TRY(SN_ENQUEUE(ctx, "sn_wino_input", 2, ig, NULL, SN_ARG_INT(C), SN_ARG_INT(H),
                          SN_ARG_INT(W), SN_ARG_INT(c.pad), SN_ARG_INT(c.TH), SN_ARG_INT(c.TW),
                          SN_ARG_INT(p0), SN_ARG_INT(np), SN_ARG_INT(npad), SN_ARG_INT(total_x),
                          SN_ARG_MEM(x->buffer), SN_ARG_INT(v_off), SN_ARG_MEM(ws)));
        const size_t dg[2] = {npad / V, (size_t)OC};
        SN_TRY(SN_ENQUEUE(ctx, "sn_wino_dy", 2, dg, NULL, SN_ARG_INT(OC), SN_ARG_INT(c.Ho),
                          SN_ARG_INT(c.Wo), SN_ARG_INT(c.TH), SN_ARG_INT(c.TW), SN_ARG_INT(p0),
                          SN_ARG_INT(np), SN_ARG_INT(npad), SN_ARG_INT(total_dy),
                          SN_ARG_MEM(dy->buffer), SN_ARG_INT(m_off), SN_ARG_MEM(ws)));
        /* Slices of whole vectors of the chunk's tiles; the last chunk may
         * use fewer. */
        const size_t per_slice = ceil_div(npad / V, plan.slices) * V;
        const size_t used = ceil_div(npad, per_slice);
        const size_t pg[3] = {ceil_div((size_t)C, (size_t)t.WC),
                              ceil_div((size_t)OC, (size_t)t.WO), used * XI};
        SN_TRY(SN_ENQUEUE(ctx, "sn_wino_wgrad", 3, pg, NULL, SN_ARG_INT(C), SN_ARG_INT(OC),
                          SN_ARG_INT(plan.OCp), SN_ARG_INT(npad), SN_ARG_INT(per_slice),
                          SN_ARG_INT(v_off), SN_ARG_MEM(ws), SN_ARG_INT(m_off), SN_ARG_MEM(ws),
                          SN_ARG_INT(0), SN_ARG_MEM(ws)));
        const size_t sg[2] = {(size_t)C, plan.OCp / V};
        SN_TRY(SN_ENQUEUE(ctx, "sn_wino_wgrad_sum", 2, sg, NULL, SN_ARG_INT(OC), SN_ARG_INT(C),
                          SN_ARG_INT(plan.OCp), SN_ARG_INT(used),
                          SN_ARG_INT(p0 > 0 || accumulate),
                          SN_ARG_INT(0), SN_ARG_MEM(ws), SN_ARG_MEM(dw->buffer)));
    }
    return SN_OK;
}
