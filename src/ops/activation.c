/* Element-wise ops: ReLU forward and backward, residual add. */
#include "ops/op_check.h"

/* SN_ERR_SHAPE unless a and b have the same shape (viewed as 4-D). */
static sn_status check_same(const char *op, const char *name_a, const sn_tensor *a,
                            const char *name_b, const sn_tensor *b)
{
    int n, c, h, w;
    sn_dims4(a, &n, &c, &h, &w);
    if (sn_check_dims(op, name_b, b, n, c, h, w) == SN_OK)
        return SN_OK;
    char sa[64], sb[64];
    return sn_fail(SN_ERR_SHAPE, "%s: %s %s and %s %s differ", op, name_a,
                   sn_shape_string(a, sa, sizeof sa), name_b, sn_shape_string(b, sb, sizeof sb));
}

/* x, y [any]; y may be x. */
sn_status sn_relu_forward(sn_context *ctx, const sn_tensor *x, sn_tensor *y)
{
    static const char op[] = "relu_forward";
    SN_TRY(sn_check_tensor(ctx, op, "x", x));
    SN_TRY(sn_check_tensor(ctx, op, "y", y));
    SN_TRY(check_same(op, "x", x, "y", y));
    size_t global = sn_global_1d(x->count);
    return SN_ENQUEUE(ctx, "sn_relu_forward", 1, &global, NULL, SN_ARG_INT(x->count),
                      SN_ARG_MEM(x->buffer), SN_ARG_MEM(y->buffer));
}

/* dy, y, dx [any]. */
sn_status sn_relu_backward(sn_context *ctx, const sn_tensor *dy, const sn_tensor *y,
                           sn_tensor *dx, int accumulate)
{
    static const char op[] = "relu_backward";
    SN_TRY(sn_check_tensor(ctx, op, "dy", dy));
    SN_TRY(sn_check_tensor(ctx, op, "y", y));
    SN_TRY(sn_check_tensor(ctx, op, "dx", dx));
    SN_TRY(check_same(op, "y", y, "dy", dy));
    SN_TRY(check_same(op, "y", y, "dx", dx));
    size_t global = sn_global_1d(y->count);
    return SN_ENQUEUE(ctx, "sn_relu_backward", 1, &global, NULL, SN_ARG_INT(y->count),
                      SN_ARG_INT(accumulate ? 1 : 0), SN_ARG_MEM(dy->buffer),
                      SN_ARG_MEM(y->buffer), SN_ARG_MEM(dx->buffer));
}

/* a, b, y [any]; y may be a or b. */
sn_status sn_add_forward(sn_context *ctx, const sn_tensor *a, const sn_tensor *b, sn_tensor *y)
{
    static const char op[] = "add_forward";
    SN_TRY(sn_check_tensor(ctx, op, "a", a));
    SN_TRY(sn_check_tensor(ctx, op, "b", b));
    SN_TRY(sn_check_tensor(ctx, op, "y", y));
    SN_TRY(check_same(op, "a", a, "b", b));
    SN_TRY(check_same(op, "a", a, "y", y));
    size_t global = sn_global_1d(a->count);
    return SN_ENQUEUE(ctx, "sn_add_forward", 1, &global, NULL, SN_ARG_INT(a->count),
                      SN_ARG_MEM(a->buffer), SN_ARG_MEM(b->buffer), SN_ARG_MEM(y->buffer));
}
