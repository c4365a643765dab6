/* Level-1 vector utilities on whole tensors: scale, axpy, copy. Shapes do
 * not matter, only element counts (a [N,C,1,1] tensor may feed an [N,C] one). */
#include "ops/op_check.h"

/* See sgd.c: a fixed work-group size keeps odd lengths fast on GPUs. */
static size_t group_size(const sn_context *ctx)
{
    size_t max = ctx->info.max_work_group_size;
    return max && max < 256 ? max : 256;
}

/* x [any] *= alpha. alpha 0 keeps NaN as NaN (IEEE): zero with sn_tensor_fill. */
sn_status sn_scale(sn_context *ctx, sn_tensor *x, float alpha)
{
    if (!ctx)
        return sn_fail(SN_ERR_INVALID_ARG, "scale: no context");
    SN_TRY(sn_check_tensor(ctx, "scale", "x", x));
    size_t global = sn_global_1d(x->count), local = group_size(ctx);
    return SN_ENQUEUE(ctx, "sn_scale", 1, &global, &local, SN_ARG_INT(x->count),
                      SN_ARG_FLOAT(alpha), SN_ARG_MEM(x->buffer));
}

/* y [count] += alpha * x [count]; x may be y. */
sn_status sn_axpy(sn_context *ctx, float alpha, const sn_tensor *x, sn_tensor *y)
{
    if (!ctx)
        return sn_fail(SN_ERR_INVALID_ARG, "axpy: no context");
    SN_TRY(sn_check_tensor(ctx, "axpy", "x", x));
    SN_TRY(sn_check_tensor(ctx, "axpy", "y", y));
    SN_TRY(sn_check_count("axpy", "y", y, x->count));
    size_t global = sn_global_1d(y->count), local = group_size(ctx);
    return SN_ENQUEUE(ctx, "sn_axpy", 1, &global, &local, SN_ARG_INT(y->count),
                      SN_ARG_FLOAT(alpha), SN_ARG_MEM(x->buffer), SN_ARG_MEM(y->buffer));
}

/* y [count] = x [count]; y's old content (even NaN) is ignored. */
sn_status sn_copy(sn_context *ctx, const sn_tensor *x, sn_tensor *y)
{
    if (!ctx)
        return sn_fail(SN_ERR_INVALID_ARG, "copy: no context");
    SN_TRY(sn_check_tensor(ctx, "copy", "x", x));
    SN_TRY(sn_check_tensor(ctx, "copy", "y", y));
    SN_TRY(sn_check_count("copy", "y", y, x->count));
    if (x->buffer == y->buffer)
        return SN_OK;
    size_t global = sn_global_1d(y->count), local = group_size(ctx);
    return SN_ENQUEUE(ctx, "sn_copy", 1, &global, &local, SN_ARG_INT(y->count),
                      SN_ARG_MEM(x->buffer), SN_ARG_MEM(y->buffer));
}
