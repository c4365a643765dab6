/* conv2d (no bias, groups 1) as im2col + SGEMM over chunks of the batch,
 * the SGEMM being our own kernel (SN_CONV_ALGO_GEMM, every device) or
 * CLBlast's (SN_CONV_ALGO_CLBLAST, where the device compiles at run time).
 *
 * For a chunk of n images (kernels in kernels/conv.cl):
 *   forward          col [CKK, n*OHW] = im2col(x)
 *                    cn  [OC, n*OHW]  = w [OC, CKK] x col;   y = permute(cn)
 *   backward data    cn  = permute(dy);  col = w^T x cn;     dx (+)= col2im(col)
 *   backward weights col = im2col(x); cn = permute(dy);      dw (+)= cn x col^T
 * with CKK = C*K*K and OHW = OH*OW. A chunk of one image needs no permute:
 * its slice of y or dy already is [OC, OHW]. Chunks bound the workspace
 * while keeping the GEMMs large (N = n*OHW columns).
 *
 * The weight gradient's GEMM has a small output [OC, CKK] and a long inner
 * dimension n*OHW, and a GEMM library parallelises over the output only: a
 * GPU would run it on a few of its cores. So its columns are cut into
 * slices whose partial products (one strided batched GEMM) a kernel sums.
 *
 * These are the GEMM and CLBLAST algorithms. Each public op checks its shapes
 * once here, then runs the algorithm sn_conv_choose() picks for the pass and
 * shape (ops/conv_algo.h): this one, the direct kernels (conv_direct.c) or
 * Winograd (conv_winograd.c).
 */
#include "ops/conv2d.h"

#include <stdio.h>

#include "ops/conv_algo.h"
#include "ops/gemm.h"
#include "ops/op_check.h"
#include "sharesnet/ops.h"

/* 8M floats (32 MiB). Measured on POCL (2 cores), ResNet-20's first stage
 * at batch 128: chunks of 4 to 32 images run at the same speed, one chunk of
 * 128 (80 MiB of columns, out of cache) twice as slow. This limit gives
 * three chunks of 43 images there (44K GEMM columns each), and chunks of 4
 * images (12.5K columns) for ImageNet's 56x56 64-channel 3x3 convs. */
#define SN_CONV_DEFAULT_LIMIT ((size_t)8 << 20)

/* Weight-gradient slices: at least this many columns each, and no more
 * slices than needed for this many partial outputs per compute unit. */
#define SN_CONV_SPLIT_MIN_COLS 1024
#define SN_CONV_SPLIT_OUTPUTS_PER_CU 8192

size_t sn_conv2d_workspace_limit(const sn_context *ctx)
{
    return ctx->test.conv_workspace_floats ? ctx->test.conv_workspace_floats
                                           : SN_CONV_DEFAULT_LIMIT;
}

/* Sizes of one convolution, checked against every tensor of the call. */
typedef struct conv_geom {
    int N, C, H, W;  /* input x / dx */
    int OC, K, stride, pad;
    int OH, OW;      /* output y / dy */
    int CKK, OHW;
    int chunk;       /* images per chunk */
    int splits;      /* most weight-gradient slices of one chunk */
    char what[320];  /* "conv2d_forward: x [..], w [..], y [..], stride s, pad p" */
} conv_geom;

/* Check desc and the three tensors of a conv call: `in` [N,C,H,W] (x or dx),
 * `wt` [OC,C,K,K] (w or dw), `out` [N,OC,OH,OW] (y or dy); fill g. */
static sn_status conv_check(sn_context *ctx, const char *op, const sn_conv2d_desc *d,
                            const char *in_name, const sn_tensor *in, const char *w_name,
                            const sn_tensor *wt, const char *out_name, const sn_tensor *out,
                            conv_geom *g)
{
    if (!ctx)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: no context", op);
    if (!d)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: no convolution descriptor", op);
    if (d->kernel <= 0 || d->stride <= 0 || d->pad < 0)
        return sn_fail(SN_ERR_INVALID_ARG,
                       "%s: kernel %d, stride %d, pad %d (kernel and stride must be positive, "
                       "pad not negative)",
                       op, d->kernel, d->stride, d->pad);
    SN_TRY(sn_check_tensor(ctx, op, in_name, in));
    SN_TRY(sn_check_tensor(ctx, op, w_name, wt));
    SN_TRY(sn_check_tensor(ctx, op, out_name, out));

    char si[64], sw[64], so[64];
    sn_shape_string(in, si, sizeof si);
    sn_shape_string(wt, sw, sizeof sw);
    sn_shape_string(out, so, sizeof so);
    int wo, wc, wh, ww;
    sn_dims4(in, &g->N, &g->C, &g->H, &g->W);
    sn_dims4(wt, &wo, &wc, &wh, &ww);
    if (wc != g->C)
        return sn_fail(SN_ERR_SHAPE, "%s: %s %s has %d input channels, %s %s has %d", op, w_name,
                       sw, wc, in_name, si, g->C);
    SN_TRY(sn_check_dims(op, w_name, wt, wo, g->C, d->kernel, d->kernel));
    const long long ph = (long long)g->H + 2LL * d->pad, pw = (long long)g->W + 2LL * d->pad;
    if (ph < d->kernel || pw < d->kernel)
        return sn_fail(SN_ERR_SHAPE, "%s: kernel %d is larger than %s %s padded by %d", op,
                       d->kernel, in_name, si, d->pad);
    const long long oh = (ph - d->kernel) / d->stride + 1, ow = (pw - d->kernel) / d->stride + 1;
    g->OC = wo;
    g->K = d->kernel;
    g->stride = d->stride;
    g->pad = d->pad;
    g->OH = (int)oh; /* <= H + 2*pad; checked against `out` just below */
    g->OW = (int)ow;
    if (oh > 0x7fffffff || ow > 0x7fffffff)
        return sn_fail(SN_ERR_SHAPE, "%s: output of %s %s with pad %d is too large", op, in_name,
                       si, d->pad);
    SN_TRY(sn_check_dims(op, out_name, out, g->N, g->OC, g->OH, g->OW));

    g->CKK = g->C * g->K * g->K;
    g->OHW = g->OH * g->OW;
    snprintf(g->what, sizeof g->what, "%s: %s %s, %s %s, %s %s, stride %d, pad %d", op, in_name,
             si, w_name, sw, out_name, so, g->stride, g->pad);

    /* Images per chunk, then evened out over the chunks. */
    size_t limit = sn_conv2d_workspace_limit(ctx);
    const size_t max_alloc = (size_t)(ctx->info.max_alloc_bytes / sizeof(float));
    if (max_alloc && limit > max_alloc)
        limit = max_alloc;
    if (limit > 0x7fffffffu) /* kernels index the workspace with int */
        limit = 0x7fffffffu;
    const size_t per_image = ((size_t)g->CKK + (size_t)g->OC) * (size_t)g->OHW;
    if (per_image > 0x7fffffffu)
        return sn_fail(SN_ERR_UNSUPPORTED,
                       "%s: one image needs %zu workspace floats (2^31-1 at most)", g->what,
                       per_image);
    size_t n = limit / per_image;
    n = n < 1 ? 1 : n > (size_t)g->N ? (size_t)g->N : n;
    const size_t chunks = ((size_t)g->N + n - 1) / n;
    g->chunk = (int)(((size_t)g->N + chunks - 1) / chunks);
    g->splits = 1; /* set by backward_weights */
    return SN_OK;
}

/* Slices of the weight gradient's inner dimension for `cols` columns: one
 * unless the output [OC, CKK] is too small to keep the device busy. */
static int weight_splits(const sn_context *ctx, const conv_geom *g, size_t cols)
{
    const size_t outputs = (size_t)g->OC * (size_t)g->CKK;
    const size_t wanted = (ctx->info.compute_units * (size_t)SN_CONV_SPLIT_OUTPUTS_PER_CU +
                           outputs - 1) / outputs;
    const size_t most = cols / SN_CONV_SPLIT_MIN_COLS;
    const size_t splits = wanted < most ? wanted : most;
    return splits < 1 ? 1 : splits > 1024 ? 1024 : (int)splits;
}

/* Prefix a failure of a kernel launch with the op and its shapes. */
static sn_status with_context(sn_status st, const conv_geom *g)
{
    return st == SN_OK ? st : sn_fail_context(st, "%s", g->what);
}

/* One GEMM of the im2col algorithms: our kernel, or CLBlast's for
 * SN_CONV_ALGO_CLBLAST. */
static sn_status algo_gemm(sn_context *ctx, sn_conv_algo algo, const char *op, size_t m, size_t n,
                           size_t k, sn_gemm_operand a, sn_gemm_operand b, float beta,
                           sn_gemm_operand c)
{
    if (algo == SN_CONV_ALGO_CLBLAST)
        return sn_gemm_clblast(ctx, op, m, n, k, 1.0f, a, b, beta, c);
    return sn_gemm(ctx, op, m, n, k, 1.0f, a, b, beta, c);
}

/* Floats of the chunk's columns and cn: where the partials start. */
static size_t partials_offset(const conv_geom *g)
{
    return ((size_t)g->CKK + (size_t)g->OC) * (size_t)g->chunk * (size_t)g->OHW;
}

/* Workspace of one chunk: col [CKK, chunk*OHW], cn [OC, chunk*OHW], then
 * (splits > 1) the weight-gradient partials [splits, OC, CKK]. */
static sn_status conv_workspace(sn_context *ctx, const conv_geom *g, cl_mem *ws)
{
    size_t floats = partials_offset(g);
    if (g->splits > 1)
        floats += (size_t)g->splits * (size_t)g->OC * (size_t)g->CKK;
    if (floats > 0x7fffffffu)
        return sn_fail(SN_ERR_UNSUPPORTED, "%s: workspace of %zu floats (2^31-1 at most)",
                       g->what, floats);
    return with_context(sn_workspace(ctx, floats * sizeof(float), ws), g);
}

/* col [CKK, n*OHW] (workspace start) = im2col of x images n0 .. n0+n-1. */
static sn_status im2col(sn_context *ctx, const conv_geom *g, cl_mem x, int n0, int n, cl_mem ws)
{
    const size_t global[2] = {(size_t)g->OH, (size_t)n * (size_t)g->CKK};
    return with_context(SN_ENQUEUE(ctx, "sn_im2col", 2, global, NULL, SN_ARG_INT(n),
                                   SN_ARG_INT(g->C), SN_ARG_INT(g->H), SN_ARG_INT(g->W),
                                   SN_ARG_INT(g->K), SN_ARG_INT(g->stride), SN_ARG_INT(g->pad),
                                   SN_ARG_INT(g->OH), SN_ARG_INT(g->OW), SN_ARG_INT(n0),
                                   SN_ARG_MEM(x), SN_ARG_MEM(ws)),
                        g);
}

/* The chunk's slice of an output-shaped tensor t [N,OC,OHW] as a GEMM
 * operand [OC, n*OHW]: t itself for one image, else cn in the workspace
 * (filled from t when `load`). */
static sn_status cn_operand(sn_context *ctx, const conv_geom *g, cl_mem t, int n0, int n,
                            cl_mem ws, int load, sn_gemm_operand *op)
{
    if (n == 1) {
        *op = (sn_gemm_operand){t, (size_t)n0 * (size_t)g->OC * (size_t)g->OHW,
                                (size_t)g->OHW, 0};
        return SN_OK;
    }
    const size_t col_floats = (size_t)g->CKK * (size_t)n * (size_t)g->OHW;
    *op = (sn_gemm_operand){ws, col_floats, (size_t)n * (size_t)g->OHW, 0};
    if (!load)
        return SN_OK;
    const size_t global[3] = {(size_t)g->OHW, (size_t)g->OC, (size_t)n};
    return with_context(SN_ENQUEUE(ctx, "sn_conv_nc_to_cn", 3, global, NULL, SN_ARG_INT(n),
                                   SN_ARG_INT(g->OC), SN_ARG_INT(g->OHW), SN_ARG_INT(n0),
                                   SN_ARG_INT(col_floats), SN_ARG_MEM(t), SN_ARG_MEM(ws)),
                        g);
}

/* t [N,OC,OHW] images n0 .. n0+n-1 = cn [OC, n*OHW] (no-op for one image,
 * where the GEMM wrote t directly). */
static sn_status cn_store(sn_context *ctx, const conv_geom *g, cl_mem t, int n0, int n, cl_mem ws)
{
    if (n == 1)
        return SN_OK;
    const size_t col_floats = (size_t)g->CKK * (size_t)n * (size_t)g->OHW;
    const size_t global[3] = {(size_t)g->OHW, (size_t)g->OC, (size_t)n};
    return with_context(SN_ENQUEUE(ctx, "sn_conv_cn_to_nc", 3, global, NULL, SN_ARG_INT(n),
                                   SN_ARG_INT(g->OC), SN_ARG_INT(g->OHW), SN_ARG_INT(n0),
                                   SN_ARG_INT(col_floats), SN_ARG_MEM(ws), SN_ARG_MEM(t)),
                        g);
}

/* The algorithm for pass and shape g (checked). */
static sn_conv_algo choose(sn_context *ctx, sn_conv_pass pass, const conv_geom *g)
{
    return sn_conv_choose(ctx, pass, g->N, g->C, g->H, g->W, g->OC, g->K, g->stride, g->pad);
}

/* x [N,C,H,W], w [OC,C,K,K] -> y [N,OC,OH,OW] with im2col + GEMM (ours or
 * CLBlast's, per algo). */
static sn_status im2col_forward(sn_context *ctx, sn_conv_algo algo, const sn_conv2d_desc *d,
                                const sn_tensor *x, const sn_tensor *w, sn_tensor *y)
{
    conv_geom g;
    SN_TRY(conv_check(ctx, "conv2d_forward", d, "x", x, "w", w, "y", y, &g));
    cl_mem ws;
    SN_TRY(conv_workspace(ctx, &g, &ws));
    for (int n0 = 0; n0 < g.N; n0 += g.chunk) {
        const int n = g.N - n0 < g.chunk ? g.N - n0 : g.chunk;
        const size_t cols = (size_t)n * (size_t)g.OHW;
        sn_gemm_operand out;
        SN_TRY(im2col(ctx, &g, x->buffer, n0, n, ws));
        SN_TRY(cn_operand(ctx, &g, y->buffer, n0, n, ws, 0, &out));
        /* out [OC, n*OHW] = w [OC, CKK] x col [CKK, n*OHW] */
        SN_TRY(algo_gemm(ctx, algo, g.what, (size_t)g.OC, cols, (size_t)g.CKK,
                         (sn_gemm_operand){w->buffer, 0, (size_t)g.CKK, 0},
                         (sn_gemm_operand){ws, 0, cols, 0}, 0.0f, out));
        SN_TRY(cn_store(ctx, &g, y->buffer, n0, n, ws));
    }
    return SN_OK;
}

sn_status sn_conv2d_gemm_forward(sn_context *ctx, const sn_conv2d_desc *d, const sn_tensor *x,
                                 const sn_tensor *w, sn_tensor *y)
{
    return im2col_forward(ctx, SN_CONV_ALGO_GEMM, d, x, w, y);
}

sn_status sn_conv2d_clblast_forward(sn_context *ctx, const sn_conv2d_desc *d, const sn_tensor *x,
                                    const sn_tensor *w, sn_tensor *y)
{
    return im2col_forward(ctx, SN_CONV_ALGO_CLBLAST, d, x, w, y);
}

/* x [N,C,H,W], w [OC,C,K,K] -> y [N,OC,OH,OW]. */
sn_status sn_conv2d_forward(sn_context *ctx, const sn_conv2d_desc *d, const sn_tensor *x,
                            const sn_tensor *w, sn_tensor *y)
{
    conv_geom g;
    SN_TRY(conv_check(ctx, "conv2d_forward", d, "x", x, "w", w, "y", y, &g));
    const sn_conv_algo algo = choose(ctx, SN_CONV_FORWARD, &g);
    return with_context(sn_conv_impls[algo].forward(ctx, d, x, w, y), &g);
}

/* dy [N,OC,OH,OW], w [OC,C,K,K] -> dx [N,C,H,W] (+= when accumulate), im2col
 * style: the GEMM's columns scattered back by col2im. */
static sn_status im2col_backward_data(sn_context *ctx, sn_conv_algo algo,
                                      const sn_conv2d_desc *d, const sn_tensor *dy,
                                      const sn_tensor *w, sn_tensor *dx, int accumulate)
{
    conv_geom g;
    SN_TRY(conv_check(ctx, "conv2d_backward_data", d, "dx", dx, "w", w, "dy", dy, &g));
    cl_mem ws;
    SN_TRY(conv_workspace(ctx, &g, &ws));
    for (int n0 = 0; n0 < g.N; n0 += g.chunk) {
        const int n = g.N - n0 < g.chunk ? g.N - n0 : g.chunk;
        const size_t cols = (size_t)n * (size_t)g.OHW;
        sn_gemm_operand grad;
        SN_TRY(cn_operand(ctx, &g, dy->buffer, n0, n, ws, 1, &grad));
        /* dcol [CKK, n*OHW] = w^T [CKK, OC] x dy [OC, n*OHW] */
        SN_TRY(algo_gemm(ctx, algo, g.what, (size_t)g.CKK, cols, (size_t)g.OC,
                         (sn_gemm_operand){w->buffer, 0, (size_t)g.CKK, 1}, grad, 0.0f,
                         (sn_gemm_operand){ws, 0, cols, 0}));
        const size_t global[2] = {(size_t)g.H, (size_t)n * (size_t)g.C};
        SN_TRY(with_context(
            SN_ENQUEUE(ctx, "sn_col2im", 2, global, NULL, SN_ARG_INT(n), SN_ARG_INT(g.C),
                       SN_ARG_INT(g.H), SN_ARG_INT(g.W), SN_ARG_INT(g.K), SN_ARG_INT(g.stride),
                       SN_ARG_INT(g.pad), SN_ARG_INT(g.OH), SN_ARG_INT(g.OW), SN_ARG_INT(n0),
                       SN_ARG_INT(accumulate != 0), SN_ARG_MEM(ws), SN_ARG_MEM(dx->buffer)),
            &g));
    }
    return SN_OK;
}

sn_status sn_conv2d_gemm_backward_data(sn_context *ctx, const sn_conv2d_desc *d,
                                       const sn_tensor *dy, const sn_tensor *w, sn_tensor *dx,
                                       int accumulate)
{
    return im2col_backward_data(ctx, SN_CONV_ALGO_GEMM, d, dy, w, dx, accumulate);
}

sn_status sn_conv2d_clblast_backward_data(sn_context *ctx, const sn_conv2d_desc *d,
                                          const sn_tensor *dy, const sn_tensor *w, sn_tensor *dx,
                                          int accumulate)
{
    return im2col_backward_data(ctx, SN_CONV_ALGO_CLBLAST, d, dy, w, dx, accumulate);
}

sn_status sn_conv2d_backward_data(sn_context *ctx, const sn_conv2d_desc *d, const sn_tensor *dy,
                                  const sn_tensor *w, sn_tensor *dx, int accumulate)
{
    conv_geom g;
    SN_TRY(conv_check(ctx, "conv2d_backward_data", d, "dx", dx, "w", w, "dy", dy, &g));
    const sn_conv_algo algo = choose(ctx, SN_CONV_BACKWARD_DATA, &g);
    return with_context(sn_conv_impls[algo].backward_data(ctx, d, dy, w, dx, accumulate), &g);
}

/* dw [OC, CKK] (+)= grad [OC, cols] x col^T [cols, CKK] for one chunk, in
 * `splits` slices of the columns summed by a kernel when splits > 1. beta 0
 * (overwrite) never reads dw: the GEMMs skip C then, the kernel branches.
 * The slices' products are one batched GEMM of our own kernel for both
 * algorithms: CLBlast's batched GEMM allocates temporaries of its own that
 * the context could not account for. */
static sn_status weight_gemm(sn_context *ctx, sn_conv_algo algo, const conv_geom *g,
                             sn_gemm_operand grad, size_t cols, cl_mem ws, int splits,
                             int overwrite, cl_mem dw)
{
    const sn_gemm_operand col_t = {ws, 0, cols, 1};
    const size_t outputs = (size_t)g->OC * (size_t)g->CKK;
    if (splits == 1)
        return algo_gemm(ctx, algo, g->what, (size_t)g->OC, (size_t)g->CKK, cols, grad, col_t,
                         overwrite ? 0.0f : 1.0f, (sn_gemm_operand){dw, 0, (size_t)g->CKK, 0});
    /* partial [s] [OC, CKK] = grad slice s x col slice s^T; the columns left
     * over by equal slices go into the last partial. */
    const size_t slice = cols / (size_t)splits, rest = cols - slice * (size_t)splits;
    const size_t part = partials_offset(g);
    SN_TRY(sn_gemm_batched(ctx, g->what, (size_t)g->OC, (size_t)g->CKK, slice, 1.0f, grad, slice,
                           col_t, slice, 0.0f, (sn_gemm_operand){ws, part, (size_t)g->CKK, 0},
                           outputs, (size_t)splits));
    if (rest) {
        sn_gemm_operand grad_rest = grad, col_rest = col_t;
        grad_rest.offset += slice * (size_t)splits;
        col_rest.offset += slice * (size_t)splits;
        SN_TRY(algo_gemm(ctx, algo, g->what, (size_t)g->OC, (size_t)g->CKK, rest, grad_rest,
                         col_rest, 1.0f,
                         (sn_gemm_operand){ws, part + (size_t)(splits - 1) * outputs,
                                           (size_t)g->CKK, 0}));
    }
    const size_t global = outputs;
    return with_context(SN_ENQUEUE(ctx, "sn_conv_sum_partials", 1, &global, NULL,
                                   SN_ARG_INT(outputs), SN_ARG_INT(splits),
                                   SN_ARG_INT(!overwrite), SN_ARG_INT(part), SN_ARG_MEM(ws),
                                   SN_ARG_MEM(dw)),
                        g);
}

/* x [N,C,H,W], dy [N,OC,OH,OW] -> dw [OC,C,K,K] (+= when accumulate), im2col
 * style. */
static sn_status im2col_backward_weights(sn_context *ctx, sn_conv_algo algo,
                                         const sn_conv2d_desc *d, const sn_tensor *x,
                                         const sn_tensor *dy, sn_tensor *dw, int accumulate)
{
    conv_geom g;
    SN_TRY(conv_check(ctx, "conv2d_backward_weights", d, "x", x, "dw", dw, "dy", dy, &g));
    g.splits = weight_splits(ctx, &g, (size_t)g.chunk * (size_t)g.OHW);
    cl_mem ws;
    SN_TRY(conv_workspace(ctx, &g, &ws));
    for (int n0 = 0; n0 < g.N; n0 += g.chunk) {
        const int n = g.N - n0 < g.chunk ? g.N - n0 : g.chunk;
        const size_t cols = (size_t)n * (size_t)g.OHW;
        sn_gemm_operand grad;
        SN_TRY(im2col(ctx, &g, x->buffer, n0, n, ws));
        SN_TRY(cn_operand(ctx, &g, dy->buffer, n0, n, ws, 1, &grad));
        /* dw [OC, CKK] (+)= dy [OC, n*OHW] x col^T [n*OHW, CKK]; the first
         * chunk overwrites unless accumulating. */
        SN_TRY(weight_gemm(ctx, algo, &g, grad, cols, ws, weight_splits(ctx, &g, cols),
                           n0 == 0 && !accumulate, dw->buffer));
    }
    return SN_OK;
}

sn_status sn_conv2d_gemm_backward_weights(sn_context *ctx, const sn_conv2d_desc *d,
                                          const sn_tensor *x, const sn_tensor *dy, sn_tensor *dw,
                                          int accumulate)
{
    return im2col_backward_weights(ctx, SN_CONV_ALGO_GEMM, d, x, dy, dw, accumulate);
}

sn_status sn_conv2d_clblast_backward_weights(sn_context *ctx, const sn_conv2d_desc *d,
                                             const sn_tensor *x, const sn_tensor *dy,
                                             sn_tensor *dw, int accumulate)
{
    return im2col_backward_weights(ctx, SN_CONV_ALGO_CLBLAST, d, x, dy, dw, accumulate);
}

sn_status sn_conv2d_backward_weights(sn_context *ctx, const sn_conv2d_desc *d,
                                     const sn_tensor *x, const sn_tensor *dy, sn_tensor *dw,
                                     int accumulate)
{
    conv_geom g;
    SN_TRY(conv_check(ctx, "conv2d_backward_weights", d, "x", x, "dw", dw, "dy", dy, &g));
    const sn_conv_algo algo = choose(ctx, SN_CONV_BACKWARD_WEIGHTS, &g);
    return with_context(sn_conv_impls[algo].backward_weights(ctx, d, x, dy, dw, accumulate),
                        &g);
}
