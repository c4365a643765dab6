/* The optimizer step: torch.optim.SGD (dampening 0) on one parameter tensor,
 * one kernel that reads param, grad and momentum once and writes them once. */
#include "ops/op_check.h"

#include <math.h>

/* Element-wise launches use a fixed work-group size: with a NULL local size
 * and an odd global size (a prime, say) some GPU drivers fall back to groups
 * of one work-item. */
static size_t group_size(const sn_context *ctx)
{
    size_t max = ctx->info.max_work_group_size;
    return max && max < 256 ? max : 256;
}

/* param, grad, momentum_buf [same element count]; momentum_buf may be NULL
 * when momentum is 0 (PyTorch keeps no buffer then). */
sn_status sn_sgd_step(sn_context *ctx, sn_tensor *param, const sn_tensor *grad,
                      sn_tensor *momentum_buf, float lr, float momentum, float weight_decay,
                      int nesterov)
{
    static const char op[] = "sgd_step";
    if (!ctx)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: no context", op);
    SN_TRY(sn_check_tensor(ctx, op, "param", param));
    SN_TRY(sn_check_tensor(ctx, op, "grad", grad));
    SN_TRY(sn_check_count(op, "grad", grad, param->count));
    if (!isfinite(lr) || lr < 0.0f)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: learning rate %g (must be finite and >= 0)", op,
                       (double)lr);
    if (!isfinite(momentum) || momentum < 0.0f)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: momentum %g (must be finite and >= 0)", op,
                       (double)momentum);
    if (!isfinite(weight_decay) || weight_decay < 0.0f)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: weight decay %g (must be finite and >= 0)", op,
                       (double)weight_decay);
    int use_buf = momentum_buf != NULL;
    if (use_buf) {
        SN_TRY(sn_check_tensor(ctx, op, "momentum_buf", momentum_buf));
        SN_TRY(sn_check_count(op, "momentum_buf", momentum_buf, param->count));
    } else if (momentum != 0.0f) {
        return sn_fail(SN_ERR_INVALID_ARG, "%s: momentum %g needs a momentum buffer", op,
                       (double)momentum);
    }
    size_t global = sn_global_1d(param->count), local = group_size(ctx);
    /* Without a buffer the kernel never touches its last argument. */
    void *buf = use_buf ? momentum_buf->buffer : param->buffer;
    return SN_ENQUEUE(ctx, "sn_sgd_step", 1, &global, &local, SN_ARG_INT(param->count),
                      SN_ARG_FLOAT(lr), SN_ARG_FLOAT(momentum), SN_ARG_FLOAT(weight_decay),
                      SN_ARG_INT(nesterov != 0), SN_ARG_INT(use_buf), SN_ARG_MEM(param->buffer),
                      SN_ARG_MEM(grad->buffer), SN_ARG_MEM(buf));
}
