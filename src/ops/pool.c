/* Pooling: global average pool and max pool, forward and backward. */
#include "ops/op_check.h"

/* x [N,C,H,W] -> y [N,C] (or [N,C,1,1]). */
sn_status sn_gap_forward(sn_context *ctx, const sn_tensor *x, sn_tensor *y)
{
    static const char op[] = "gap_forward";
    SN_TRY(sn_check_tensor(ctx, op, "x", x));
    SN_TRY(sn_check_tensor(ctx, op, "y", y));
    int N, C, H, W;
    sn_dims4(x, &N, &C, &H, &W);
    SN_TRY(sn_check_dims(op, "y", y, N, C, 1, 1));
    size_t global = (size_t)N * (size_t)C;
    return SN_ENQUEUE(ctx, "sn_gap_forward", 1, &global, NULL, SN_ARG_INT(N * C),
                      SN_ARG_INT(H * W), SN_ARG_MEM(x->buffer), SN_ARG_MEM(y->buffer));
}

/* dy [N,C] (or [N,C,1,1]) -> dx [N,C,H,W]. */
sn_status sn_gap_backward(sn_context *ctx, const sn_tensor *dy, sn_tensor *dx, int accumulate)
{
    static const char op[] = "gap_backward";
    SN_TRY(sn_check_tensor(ctx, op, "dy", dy));
    SN_TRY(sn_check_tensor(ctx, op, "dx", dx));
    int N, C, H, W;
    sn_dims4(dx, &N, &C, &H, &W);
    SN_TRY(sn_check_dims(op, "dy", dy, N, C, 1, 1));
    size_t global[2] = {(size_t)H * (size_t)W, (size_t)N * (size_t)C};
    return SN_ENQUEUE(ctx, "sn_gap_backward", 2, global, NULL, SN_ARG_INT(N * C),
                      SN_ARG_INT(H * W), SN_ARG_INT(accumulate ? 1 : 0), SN_ARG_MEM(dy->buffer),
                      SN_ARG_MEM(dx->buffer));
}

/* Window parameters against x [N,C,H,W]; the output size in *OH, *OW.
 * PyTorch's rule pad <= kernel/2 keeps a pixel in every window. */
static sn_status check_pool(const char *op, const sn_tensor *x, int kernel, int stride, int pad,
                            int *OH, int *OW)
{
    if (kernel < 1 || stride < 1 || pad < 0 || 2 * pad > kernel)
        return sn_fail(SN_ERR_INVALID_ARG,
                       "%s: kernel %d, stride %d, pad %d (need kernel, stride >= 1 and "
                       "0 <= pad <= kernel/2)",
                       op, kernel, stride, pad);
    int N, C, H, W;
    sn_dims4(x, &N, &C, &H, &W);
    if (H + 2 * pad < kernel || W + 2 * pad < kernel) {
        char s[64];
        return sn_fail(SN_ERR_SHAPE, "%s: x %s with pad %d is smaller than the %dx%d window", op,
                       sn_shape_string(x, s, sizeof s), pad, kernel, kernel);
    }
    *OH = (H + 2 * pad - kernel) / stride + 1;
    *OW = (W + 2 * pad - kernel) / stride + 1;
    return SN_OK;
}

/* x [N,C,H,W] -> y [N,C,OH,OW], OH = (H + 2*pad - kernel)/stride + 1. */
sn_status sn_maxpool_forward(sn_context *ctx, const sn_tensor *x, int kernel, int stride, int pad,
                             sn_tensor *y)
{
    static const char op[] = "maxpool_forward";
    SN_TRY(sn_check_tensor(ctx, op, "x", x));
    SN_TRY(sn_check_tensor(ctx, op, "y", y));
    int N, C, H, W, OH, OW;
    sn_dims4(x, &N, &C, &H, &W);
    SN_TRY(check_pool(op, x, kernel, stride, pad, &OH, &OW));
    SN_TRY(sn_check_dims(op, "y", y, N, C, OH, OW));
    size_t global[1] = {(size_t)N * (size_t)C * (size_t)OH};
    return SN_ENQUEUE(ctx, "sn_maxpool_forward", 1, global, NULL, SN_ARG_INT(N * C), SN_ARG_INT(H),
                      SN_ARG_INT(W), SN_ARG_INT(OH), SN_ARG_INT(OW), SN_ARG_INT(kernel),
                      SN_ARG_INT(stride), SN_ARG_INT(pad), SN_ARG_MEM(x->buffer),
                      SN_ARG_MEM(y->buffer));
}

/* x, dx [N,C,H,W], dy [N,C,OH,OW]. */
sn_status sn_maxpool_backward(sn_context *ctx, const sn_tensor *x, const sn_tensor *dy, int kernel,
                              int stride, int pad, sn_tensor *dx, int accumulate)
{
    static const char op[] = "maxpool_backward";
    SN_TRY(sn_check_tensor(ctx, op, "x", x));
    SN_TRY(sn_check_tensor(ctx, op, "dy", dy));
    SN_TRY(sn_check_tensor(ctx, op, "dx", dx));
    int N, C, H, W, OH, OW;
    sn_dims4(x, &N, &C, &H, &W);
    SN_TRY(check_pool(op, x, kernel, stride, pad, &OH, &OW));
    SN_TRY(sn_check_dims(op, "dy", dy, N, C, OH, OW));
    SN_TRY(sn_check_dims(op, "dx", dx, N, C, H, W));
    size_t global[1] = {(size_t)N * (size_t)C};
    return SN_ENQUEUE(ctx, "sn_maxpool_backward", 1, global, NULL, SN_ARG_INT(N * C),
                      SN_ARG_INT(H), SN_ARG_INT(W), SN_ARG_INT(OH), SN_ARG_INT(OW),
                      SN_ARG_INT(kernel), SN_ARG_INT(stride), SN_ARG_INT(pad),
                      SN_ARG_INT(accumulate ? 1 : 0), SN_ARG_MEM(x->buffer),
                      SN_ARG_MEM(dy->buffer), SN_ARG_MEM(dx->buffer));
}
