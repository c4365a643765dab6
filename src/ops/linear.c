/* Linear layer with bias: y = x w^T + b through SGEMM.
 *   forward          y [N,OUT] = b (broadcast); y += x [N,IN] x w^T [IN,OUT]
 *   backward data    dx [N,IN] (+)= dy [N,OUT] x w [OUT,IN]
 *   backward params  dw [OUT,IN] (+)= dy^T [OUT,N] x x [N,IN]; db (+)= column sums of dy
 * x may have any shape with N first (e.g. [N,C,1,1] after global pooling).
 */
#include <stdio.h>

#include "ops/gemm.h"
#include "ops/op_check.h"
#include "sharesnet/ops.h"

/* Sizes of one linear call, checked against every tensor. */
typedef struct linear_geom {
    int N, IN, OUT;
    char what[256]; /* "linear_forward: x [..], w [..], y [..]" */
} linear_geom;

/* Check the three tensors every linear op has: `in` [N, IN...] (x or dx),
 * `wt` [OUT,IN] (w or dw) and `out` [N,OUT] (y or dy); fill g. */
static sn_status linear_check(sn_context *ctx, const char *op, const char *in_name,
                              const sn_tensor *in, const char *w_name, const sn_tensor *wt,
                              const char *out_name, const sn_tensor *out, linear_geom *g)
{
    if (!ctx)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: no context", op);
    SN_TRY(sn_check_tensor(ctx, op, in_name, in));
    SN_TRY(sn_check_tensor(ctx, op, w_name, wt));
    SN_TRY(sn_check_tensor(ctx, op, out_name, out));
    char si[64], sw[64], so[64];
    sn_shape_string(in, si, sizeof si);
    sn_shape_string(wt, sw, sizeof sw);
    sn_shape_string(out, so, sizeof so);
    g->N = in->shape[0];
    g->IN = (int)(in->count / (size_t)g->N);
    g->OUT = wt->shape[0];
    const size_t w_in = wt->count / (size_t)g->OUT;
    if (w_in != (size_t)g->IN)
        return sn_fail(SN_ERR_SHAPE, "%s: %s %s has %zu inputs, %s %s has %d per sample", op,
                       w_name, sw, w_in, in_name, si, g->IN);
    SN_TRY(sn_check_dims(op, w_name, wt, g->OUT, g->IN, 1, 1));
    SN_TRY(sn_check_dims(op, out_name, out, g->N, g->OUT, 1, 1));
    snprintf(g->what, sizeof g->what, "%s: %s %s, %s %s, %s %s", op, in_name, si, w_name, sw,
             out_name, so);
    return SN_OK;
}

/* Prefix a failure of a kernel launch with the op and its shapes. */
static sn_status with_context(sn_status st, const linear_geom *g)
{
    return st == SN_OK ? st : sn_fail_context(st, "%s", g->what);
}

/* x [N,IN], w [OUT,IN], b [OUT] -> y [N,OUT]. */
sn_status sn_linear_forward(sn_context *ctx, const sn_tensor *x, const sn_tensor *w,
                            const sn_tensor *b, sn_tensor *y)
{
    const char *op = "linear_forward";
    linear_geom g;
    SN_TRY(linear_check(ctx, op, "x", x, "w", w, "y", y, &g));
    SN_TRY(sn_check_tensor(ctx, op, "b", b));
    SN_TRY(sn_check_count(op, "b", b, (size_t)g.OUT));
    const size_t global[2] = {(size_t)g.OUT, (size_t)g.N};
    SN_TRY(with_context(SN_ENQUEUE(ctx, "sn_bias_rows", 2, global, NULL, SN_ARG_INT(g.N),
                                   SN_ARG_INT(g.OUT), SN_ARG_MEM(b->buffer),
                                   SN_ARG_MEM(y->buffer)),
                        &g));
    /* y [N,OUT] += x [N,IN] x w^T [IN,OUT] */
    return sn_gemm(ctx, g.what, (size_t)g.N, (size_t)g.OUT, (size_t)g.IN, 1.0f,
                   (sn_gemm_operand){x->buffer, 0, (size_t)g.IN, 0},
                   (sn_gemm_operand){w->buffer, 0, (size_t)g.IN, 1}, 1.0f,
                   (sn_gemm_operand){y->buffer, 0, (size_t)g.OUT, 0});
}

/* dy [N,OUT], w [OUT,IN] -> dx [N,IN] (+= when accumulate). */
sn_status sn_linear_backward_data(sn_context *ctx, const sn_tensor *dy, const sn_tensor *w,
                                  sn_tensor *dx, int accumulate)
{
    linear_geom g;
    SN_TRY(linear_check(ctx, "linear_backward_data", "dx", dx, "w", w, "dy", dy, &g));
    /* dx [N,IN] (+)= dy [N,OUT] x w [OUT,IN]; beta 0 never reads dx */
    return sn_gemm(ctx, g.what, (size_t)g.N, (size_t)g.IN, (size_t)g.OUT, 1.0f,
                   (sn_gemm_operand){dy->buffer, 0, (size_t)g.OUT, 0},
                   (sn_gemm_operand){w->buffer, 0, (size_t)g.IN, 0}, accumulate ? 1.0f : 0.0f,
                   (sn_gemm_operand){dx->buffer, 0, (size_t)g.IN, 0});
}

/* dy [N,OUT], x [N,IN] -> dw [OUT,IN], db [OUT] (+= when accumulate). */
sn_status sn_linear_backward_params(sn_context *ctx, const sn_tensor *dy, const sn_tensor *x,
                                    sn_tensor *dw, sn_tensor *db, int accumulate)
{
    const char *op = "linear_backward_params";
    linear_geom g;
    SN_TRY(linear_check(ctx, op, "x", x, "dw", dw, "dy", dy, &g));
    SN_TRY(sn_check_tensor(ctx, op, "db", db));
    SN_TRY(sn_check_count(op, "db", db, (size_t)g.OUT));
    /* dw [OUT,IN] (+)= dy^T [OUT,N] x x [N,IN]; beta 0 never reads dw */
    SN_TRY(sn_gemm(ctx, g.what, (size_t)g.OUT, (size_t)g.IN, (size_t)g.N, 1.0f,
                   (sn_gemm_operand){dy->buffer, 0, (size_t)g.OUT, 1},
                   (sn_gemm_operand){x->buffer, 0, (size_t)g.IN, 0}, accumulate ? 1.0f : 0.0f,
                   (sn_gemm_operand){dw->buffer, 0, (size_t)g.IN, 0}));
    const size_t global = (size_t)g.OUT;
    return with_context(SN_ENQUEUE(ctx, "sn_bias_grad", 1, &global, NULL, SN_ARG_INT(g.N),
                                   SN_ARG_INT(g.OUT), SN_ARG_INT(accumulate != 0),
                                   SN_ARG_MEM(dy->buffer), SN_ARG_MEM(db->buffer)),
                        &g);
}
