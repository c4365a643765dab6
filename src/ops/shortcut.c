/* Option-A shortcut of the He et al. CIFAR ResNets: subsample by `stride`
 * and pad channels with zeros on both sides, no parameters. */
#include "ops/op_check.h"

/* x [N,C,H,W] against the shortcut output [N,OC,ceil(H/s),ceil(W/s)]. */
static sn_status check_shortcut(const char *op, int stride, const char *xname,
                                const sn_tensor *x, const char *yname, const sn_tensor *y)
{
    if (stride < 1)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: stride %d (must be >= 1)", op, stride);
    int N, C, H, W, yn, yc, yh, yw;
    sn_dims4(x, &N, &C, &H, &W);
    sn_dims4(y, &yn, &yc, &yh, &yw);
    const int OH = (H + stride - 1) / stride, OW = (W + stride - 1) / stride;
    if (yn == N && yc >= C && yh == OH && yw == OW)
        return SN_OK;
    char sx[64], sy[64];
    return sn_fail(SN_ERR_SHAPE,
                   "%s: %s %s with stride %d needs %s [%d, >=%d, %d, %d], got %s", op, xname,
                   sn_shape_string(x, sx, sizeof sx), stride, yname, N, C, OH, OW,
                   sn_shape_string(y, sy, sizeof sy));
}

/* x [N,C,H,W] -> y [N,OC,ceil(H/s),ceil(W/s)], OC >= C. */
sn_status sn_shortcut_a_forward(sn_context *ctx, const sn_tensor *x, int stride, sn_tensor *y)
{
    static const char op[] = "shortcut_a_forward";
    SN_TRY(sn_check_tensor(ctx, op, "x", x));
    SN_TRY(sn_check_tensor(ctx, op, "y", y));
    SN_TRY(check_shortcut(op, stride, "x", x, "y", y));
    int N, C, H, W, OC, OH, OW, n;
    sn_dims4(x, &N, &C, &H, &W);
    sn_dims4(y, &n, &OC, &OH, &OW);
    size_t global[1] = {(size_t)N * (size_t)OC * (size_t)OH};
    return SN_ENQUEUE(ctx, "sn_shortcut_a_rows_forward", 1, global, NULL, SN_ARG_INT(C),
                      SN_ARG_INT(H), SN_ARG_INT(W), SN_ARG_INT(OC), SN_ARG_INT(OH), SN_ARG_INT(OW),
                      SN_ARG_INT(N * OC * OH), SN_ARG_INT(stride), SN_ARG_INT((OC - C) / 2),
                      SN_ARG_MEM(x->buffer), SN_ARG_MEM(y->buffer));
}

/* dy [N,OC,ceil(H/s),ceil(W/s)] -> dx [N,C,H,W]. */
sn_status sn_shortcut_a_backward(sn_context *ctx, const sn_tensor *dy, int stride, sn_tensor *dx,
                                 int accumulate)
{
    static const char op[] = "shortcut_a_backward";
    SN_TRY(sn_check_tensor(ctx, op, "dy", dy));
    SN_TRY(sn_check_tensor(ctx, op, "dx", dx));
    SN_TRY(check_shortcut(op, stride, "dx", dx, "dy", dy));
    int N, C, H, W, OC, OH, OW, n;
    sn_dims4(dx, &N, &C, &H, &W);
    sn_dims4(dy, &n, &OC, &OH, &OW);
    size_t global[1] = {(size_t)N * (size_t)C * (size_t)H};
    return SN_ENQUEUE(ctx, "sn_shortcut_a_rows_backward", 1, global, NULL, SN_ARG_INT(C),
                      SN_ARG_INT(H), SN_ARG_INT(W), SN_ARG_INT(OC), SN_ARG_INT(OH), SN_ARG_INT(OW),
                      SN_ARG_INT(N * C * H), SN_ARG_INT(stride), SN_ARG_INT((OC - C) / 2),
                      SN_ARG_INT(accumulate ? 1 : 0), SN_ARG_MEM(dy->buffer),
                      SN_ARG_MEM(dx->buffer));
}
