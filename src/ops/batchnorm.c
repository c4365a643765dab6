/* Batch norm 2d: training forward (batch statistics, running statistics
 * updated), eval forward, the backward of the training forward, and the
 * backward of the eval forward (frozen batch norm).
 *
 * x [N,C,H,W] (any tensor viewed as 4-D: [N,C] is batch norm 1d), per-channel
 * tensors [C]. The per-channel reductions run in two kernels: partials over
 * chunks of a channel (one work-group each, see kernels/batchnorm.cl), then a
 * fixed-order merge per channel. Their scratch lives in the workspace. */
#include "ops/batchnorm_internal.h"
#include "ops/op_check.h"

/* Work-group size of the reductions unless the caller asks for another. */
#define BN_LOCAL_DEFAULT 256
/* Values per work-item before a channel is split over one more work-group:
 * enough work per item to hide the merge, and channels of a few thousand
 * values still stay in one group. */
#define BN_VALUES_PER_ITEM 32
/* Upper bound of work-groups per channel (the merge loops over them). */
#define BN_MAX_GROUPS 256

/* Largest work-group size `kernel` can run with, needing `local_bytes` of
 * __local memory per work-item. */
static sn_status bn_local_limit(sn_context *ctx, const char *kernel, size_t local_bytes,
                                size_t *limit)
{
    cl_kernel k;
    SN_TRY(sn_kernel_get(ctx, kernel, &k));
    size_t kernel_max = 0, item_max[16] = {0};
    cl_ulong kernel_local = 0, device_local = 0;
    SN_CL_TRY(clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE,
                                       sizeof kernel_max, &kernel_max, NULL),
              "clGetKernelWorkGroupInfo(CL_KERNEL_WORK_GROUP_SIZE)");
    SN_CL_TRY(clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_LOCAL_MEM_SIZE,
                                       sizeof kernel_local, &kernel_local, NULL),
              "clGetKernelWorkGroupInfo(CL_KERNEL_LOCAL_MEM_SIZE)");
    SN_CL_TRY(clGetDeviceInfo(ctx->device, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof item_max,
                              item_max, NULL),
              "clGetDeviceInfo(CL_DEVICE_MAX_WORK_ITEM_SIZES)");
    SN_CL_TRY(clGetDeviceInfo(ctx->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof device_local,
                              &device_local, NULL),
              "clGetDeviceInfo(CL_DEVICE_LOCAL_MEM_SIZE)");
    size_t max = kernel_max;
    if (item_max[0] && item_max[0] < max)
        max = item_max[0];
    if (ctx->info.max_work_group_size && ctx->info.max_work_group_size < max)
        max = ctx->info.max_work_group_size;
    if (device_local > kernel_local) {
        size_t by_memory = (size_t)((device_local - kernel_local) / local_bytes);
        if (by_memory < max)
            max = by_memory;
    }
    *limit = max;
    return SN_OK;
}

sn_status sn_batchnorm_local_limit(sn_context *ctx, size_t *limit)
{
    size_t stats, grad;
    SN_TRY(bn_local_limit(ctx, "sn_bn_stats_partial", sizeof(cl_int) + 2 * sizeof(cl_float), &stats));
    SN_TRY(bn_local_limit(ctx, "sn_bn_grad_partial", 2 * sizeof(cl_float), &grad));
    *limit = stats < grad ? stats : grad;
    return SN_OK;
}

/* Work-group size `local` (0: the default) checked against the kernel. */
static sn_status bn_local_size(sn_context *ctx, const char *op, const char *kernel,
                               size_t local_bytes, size_t local, size_t *out)
{
    size_t limit = 0;
    SN_TRY(bn_local_limit(ctx, kernel, local_bytes, &limit));
    if (limit < 1)
        return sn_fail(SN_ERR_UNSUPPORTED, "%s: kernel %s cannot run on %s (work-group limit 0)",
                       op, kernel, ctx->info.name);
    if (!local) {
        *out = limit < BN_LOCAL_DEFAULT ? limit : BN_LOCAL_DEFAULT;
        return SN_OK;
    }
    if (local > limit)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: work-group size %zu exceeds %zu for %s on %s",
                       op, local, limit, kernel, ctx->info.name);
    *out = local;
    return SN_OK;
}

/* Split M values per channel into `groups` chunks of `chunk` values, none
 * empty. */
static void bn_split(size_t M, size_t local, int *chunk, int *groups)
{
    size_t per_group = local * BN_VALUES_PER_ITEM;
    size_t g = (M + per_group - 1) / per_group;
    if (g > BN_MAX_GROUPS)
        g = BN_MAX_GROUPS;
    if (g < 1)
        g = 1;
    size_t c = (M + g - 1) / g;
    *chunk = (int)c;
    *groups = (int)((M + c - 1) / c);
}

/* Each of the per-channel tensors holds C values. */
static sn_status bn_check_channels(const char *op, int C, int count, const char *const *names,
                                   const sn_tensor *const *tensors)
{
    for (int i = 0; i < count; i++)
        SN_TRY(sn_check_count(op, names[i], tensors[i], (size_t)C));
    return SN_OK;
}

static sn_status bn_check_allocated(sn_context *ctx, const char *op, int count,
                                    const char *const *names, const sn_tensor *const *tensors)
{
    for (int i = 0; i < count; i++)
        SN_TRY(sn_check_tensor(ctx, op, names[i], tensors[i]));
    return SN_OK;
}

static sn_status bn_check_eps(const char *op, float eps)
{
    if (!(eps >= 0.0f))
        return sn_fail(SN_ERR_INVALID_ARG, "%s: eps is %g (must be >= 0)", op, (double)eps);
    return SN_OK;
}

/* x, y [N,C,H,W]; gamma, beta, running_*, save_* [C]. */
sn_status sn_batchnorm_forward_train_local(sn_context *ctx, const sn_tensor *x,
                                           const sn_tensor *gamma, const sn_tensor *beta,
                                           sn_tensor *running_mean, sn_tensor *running_var,
                                           float momentum, float eps, sn_tensor *y,
                                           sn_tensor *save_mean, sn_tensor *save_invstd,
                                           size_t local)
{
    static const char op[] = "batchnorm_forward_train";
    const char *const names[] = {"x", "y", "gamma", "beta", "running_mean", "running_var",
                                 "save_mean", "save_invstd"};
    const sn_tensor *const tensors[] = {x, y, gamma, beta, running_mean, running_var,
                                        save_mean, save_invstd};
    SN_TRY(bn_check_allocated(ctx, op, 8, names, tensors));
    int N, C, H, W;
    sn_dims4(x, &N, &C, &H, &W);
    SN_TRY(sn_check_dims(op, "y", y, N, C, H, W));
    SN_TRY(bn_check_channels(op, C, 6, names + 2, tensors + 2));
    SN_TRY(bn_check_eps(op, eps));

    size_t L;
    SN_TRY(bn_local_size(ctx, op, "sn_bn_stats_partial", sizeof(cl_int) + 2 * sizeof(cl_float),
                         local, &L));
    const int HW = H * W, M = N * HW;
    int chunk, G;
    bn_split((size_t)M, L, &chunk, &G);
    cl_mem ws;
    SN_TRY(sn_workspace(ctx, 2 * (size_t)C * (size_t)G * sizeof(cl_float), &ws));

    size_t global[2] = {L * (size_t)G, (size_t)C}, group[2] = {L, 1};
    SN_TRY(SN_ENQUEUE(ctx, "sn_bn_stats_partial", 2, global, group, SN_ARG_INT(N), SN_ARG_INT(C),
                      SN_ARG_INT(HW), SN_ARG_INT(chunk), SN_ARG_INT(G), SN_ARG_MEM(x->buffer),
                      SN_ARG_MEM(ws), SN_ARG_LOCAL(L * sizeof(cl_int)),
                      SN_ARG_LOCAL(L * sizeof(cl_float)), SN_ARG_LOCAL(L * sizeof(cl_float))));
    size_t channels = (size_t)C;
    SN_TRY(SN_ENQUEUE(ctx, "sn_bn_stats_finalize", 1, &channels, NULL, SN_ARG_INT(C), SN_ARG_INT(M),
                      SN_ARG_INT(chunk), SN_ARG_INT(G), SN_ARG_FLOAT(momentum), SN_ARG_FLOAT(eps),
                      SN_ARG_MEM(ws), SN_ARG_MEM(save_mean->buffer),
                      SN_ARG_MEM(save_invstd->buffer), SN_ARG_MEM(running_mean->buffer),
                      SN_ARG_MEM(running_var->buffer)));
    size_t pixels[2] = {(size_t)HW, (size_t)N * (size_t)C};
    return SN_ENQUEUE(ctx, "sn_bn_normalize", 2, pixels, NULL, SN_ARG_INT(C), SN_ARG_INT(HW),
                      SN_ARG_INT(N * C), SN_ARG_MEM(x->buffer), SN_ARG_MEM(gamma->buffer),
                      SN_ARG_MEM(beta->buffer), SN_ARG_MEM(save_mean->buffer),
                      SN_ARG_MEM(save_invstd->buffer), SN_ARG_MEM(y->buffer));
}

sn_status sn_batchnorm_forward_train(sn_context *ctx, const sn_tensor *x, const sn_tensor *gamma,
                                     const sn_tensor *beta, sn_tensor *running_mean,
                                     sn_tensor *running_var, float momentum, float eps,
                                     sn_tensor *y, sn_tensor *save_mean, sn_tensor *save_invstd)
{
    return sn_batchnorm_forward_train_local(ctx, x, gamma, beta, running_mean, running_var,
                                            momentum, eps, y, save_mean, save_invstd, 0);
}

/* x, y [N,C,H,W]; gamma, beta, running_* [C]. */
sn_status sn_batchnorm_forward_eval(sn_context *ctx, const sn_tensor *x, const sn_tensor *gamma,
                                    const sn_tensor *beta, const sn_tensor *running_mean,
                                    const sn_tensor *running_var, float eps, sn_tensor *y)
{
    static const char op[] = "batchnorm_forward_eval";
    const char *const names[] = {"x", "y", "gamma", "beta", "running_mean", "running_var"};
    const sn_tensor *const tensors[] = {x, y, gamma, beta, running_mean, running_var};
    SN_TRY(bn_check_allocated(ctx, op, 6, names, tensors));
    int N, C, H, W;
    sn_dims4(x, &N, &C, &H, &W);
    SN_TRY(sn_check_dims(op, "y", y, N, C, H, W));
    SN_TRY(bn_check_channels(op, C, 4, names + 2, tensors + 2));
    SN_TRY(bn_check_eps(op, eps));
    const int HW = H * W;
    size_t pixels[2] = {(size_t)HW, (size_t)N * (size_t)C};
    return SN_ENQUEUE(ctx, "sn_bn_eval", 2, pixels, NULL, SN_ARG_INT(C), SN_ARG_INT(HW),
                      SN_ARG_INT(N * C), SN_ARG_FLOAT(eps), SN_ARG_MEM(x->buffer),
                      SN_ARG_MEM(gamma->buffer), SN_ARG_MEM(beta->buffer),
                      SN_ARG_MEM(running_mean->buffer), SN_ARG_MEM(running_var->buffer),
                      SN_ARG_MEM(y->buffer));
}

/* dy, x, dx [N,C,H,W]; gamma, save_*, dgamma, dbeta [C]. */
sn_status sn_batchnorm_backward_local(sn_context *ctx, const sn_tensor *dy, const sn_tensor *x,
                                      const sn_tensor *gamma, const sn_tensor *save_mean,
                                      const sn_tensor *save_invstd, sn_tensor *dx,
                                      int accumulate_dx, sn_tensor *dgamma, sn_tensor *dbeta,
                                      int accumulate_params, size_t local)
{
    static const char op[] = "batchnorm_backward";
    const char *const names[] = {"x", "dy", "dx", "gamma", "save_mean", "save_invstd", "dgamma",
                                 "dbeta"};
    const sn_tensor *const tensors[] = {x, dy, dx, gamma, save_mean, save_invstd, dgamma, dbeta};
    SN_TRY(bn_check_allocated(ctx, op, 8, names, tensors));
    int N, C, H, W;
    sn_dims4(x, &N, &C, &H, &W);
    SN_TRY(sn_check_dims(op, "dy", dy, N, C, H, W));
    SN_TRY(sn_check_dims(op, "dx", dx, N, C, H, W));
    SN_TRY(bn_check_channels(op, C, 5, names + 3, tensors + 3));

    size_t L;
    SN_TRY(bn_local_size(ctx, op, "sn_bn_grad_partial", 2 * sizeof(cl_float), local, &L));
    const int HW = H * W, M = N * HW;
    int chunk, G;
    bn_split((size_t)M, L, &chunk, &G);
    const size_t partials = 2 * (size_t)C * (size_t)G;
    cl_mem ws;
    SN_TRY(sn_workspace(ctx, (partials + 2 * (size_t)C) * sizeof(cl_float), &ws));

    size_t global[2] = {L * (size_t)G, (size_t)C}, group[2] = {L, 1};
    SN_TRY(SN_ENQUEUE(ctx, "sn_bn_grad_partial", 2, global, group, SN_ARG_INT(N), SN_ARG_INT(C),
                      SN_ARG_INT(HW), SN_ARG_INT(chunk), SN_ARG_INT(G), SN_ARG_MEM(dy->buffer),
                      SN_ARG_MEM(x->buffer), SN_ARG_MEM(save_mean->buffer), SN_ARG_MEM(ws),
                      SN_ARG_LOCAL(L * sizeof(cl_float)), SN_ARG_LOCAL(L * sizeof(cl_float))));
    size_t channels = (size_t)C;
    SN_TRY(SN_ENQUEUE(ctx, "sn_bn_grad_finalize", 1, &channels, NULL, SN_ARG_INT(C), SN_ARG_INT(M),
                      SN_ARG_INT(G), SN_ARG_INT(accumulate_params ? 1 : 0), SN_ARG_MEM(ws),
                      SN_ARG_MEM(save_invstd->buffer), SN_ARG_MEM(dgamma->buffer),
                      SN_ARG_MEM(dbeta->buffer), SN_ARG_MEM(ws), SN_ARG_INT(partials)));
    size_t pixels[2] = {(size_t)HW, (size_t)N * (size_t)C};
    return SN_ENQUEUE(ctx, "sn_bn_backward_data", 2, pixels, NULL, SN_ARG_INT(C), SN_ARG_INT(HW),
                      SN_ARG_INT(N * C), SN_ARG_INT(accumulate_dx ? 1 : 0), SN_ARG_MEM(dy->buffer),
                      SN_ARG_MEM(x->buffer), SN_ARG_MEM(gamma->buffer),
                      SN_ARG_MEM(save_mean->buffer), SN_ARG_MEM(save_invstd->buffer),
                      SN_ARG_MEM(ws), SN_ARG_INT(partials), SN_ARG_MEM(dx->buffer));
}

sn_status sn_batchnorm_backward(sn_context *ctx, const sn_tensor *dy, const sn_tensor *x,
                                const sn_tensor *gamma, const sn_tensor *save_mean,
                                const sn_tensor *save_invstd, sn_tensor *dx, int accumulate_dx,
                                sn_tensor *dgamma, sn_tensor *dbeta, int accumulate_params)
{
    return sn_batchnorm_backward_local(ctx, dy, x, gamma, save_mean, save_invstd, dx,
                                       accumulate_dx, dgamma, dbeta, accumulate_params, 0);
}

/* dy, x, dx [N,C,H,W]; gamma, running_*, dgamma, dbeta [C]. */
sn_status sn_batchnorm_backward_eval_local(sn_context *ctx, const sn_tensor *dy,
                                           const sn_tensor *x, const sn_tensor *gamma,
                                           const sn_tensor *running_mean,
                                           const sn_tensor *running_var, float eps,
                                           sn_tensor *dx, int accumulate_dx, sn_tensor *dgamma,
                                           sn_tensor *dbeta, int accumulate_params, size_t local)
{
    static const char op[] = "batchnorm_backward_eval";
    const char *const names[] = {"x", "dy", "dx", "gamma", "running_mean", "running_var",
                                 "dgamma", "dbeta"};
    const sn_tensor *const tensors[] = {x, dy, dx, gamma, running_mean, running_var, dgamma,
                                        dbeta};
    SN_TRY(bn_check_allocated(ctx, op, 8, names, tensors));
    int N, C, H, W;
    sn_dims4(x, &N, &C, &H, &W);
    SN_TRY(sn_check_dims(op, "dy", dy, N, C, H, W));
    SN_TRY(sn_check_dims(op, "dx", dx, N, C, H, W));
    SN_TRY(bn_check_channels(op, C, 5, names + 3, tensors + 3));
    SN_TRY(bn_check_eps(op, eps));

    size_t L;
    SN_TRY(bn_local_size(ctx, op, "sn_bn_grad_partial", 2 * sizeof(cl_float), local, &L));
    const int HW = H * W, M = N * HW;
    int chunk, G;
    bn_split((size_t)M, L, &chunk, &G);
    cl_mem ws;
    SN_TRY(sn_workspace(ctx, 2 * (size_t)C * (size_t)G * sizeof(cl_float), &ws));

    /* The sums read dy before dx (which may be dy) is written. */
    size_t global[2] = {L * (size_t)G, (size_t)C}, group[2] = {L, 1};
    SN_TRY(SN_ENQUEUE(ctx, "sn_bn_grad_partial", 2, global, group, SN_ARG_INT(N), SN_ARG_INT(C),
                      SN_ARG_INT(HW), SN_ARG_INT(chunk), SN_ARG_INT(G), SN_ARG_MEM(dy->buffer),
                      SN_ARG_MEM(x->buffer), SN_ARG_MEM(running_mean->buffer), SN_ARG_MEM(ws),
                      SN_ARG_LOCAL(L * sizeof(cl_float)), SN_ARG_LOCAL(L * sizeof(cl_float))));
    size_t channels = (size_t)C;
    SN_TRY(SN_ENQUEUE(ctx, "sn_bn_eval_grad_finalize", 1, &channels, NULL, SN_ARG_INT(C),
                      SN_ARG_INT(G), SN_ARG_INT(accumulate_params ? 1 : 0), SN_ARG_FLOAT(eps),
                      SN_ARG_MEM(ws), SN_ARG_MEM(running_var->buffer),
                      SN_ARG_MEM(dgamma->buffer), SN_ARG_MEM(dbeta->buffer)));
    size_t pixels[2] = {(size_t)HW, (size_t)N * (size_t)C};
    return SN_ENQUEUE(ctx, "sn_bn_eval_backward_data", 2, pixels, NULL, SN_ARG_INT(C),
                      SN_ARG_INT(HW), SN_ARG_INT(N * C), SN_ARG_INT(accumulate_dx ? 1 : 0),
                      SN_ARG_FLOAT(eps), SN_ARG_MEM(dy->buffer), SN_ARG_MEM(gamma->buffer),
                      SN_ARG_MEM(running_var->buffer), SN_ARG_MEM(dx->buffer));
}

sn_status sn_batchnorm_backward_eval(sn_context *ctx, const sn_tensor *dy, const sn_tensor *x,
                                     const sn_tensor *gamma, const sn_tensor *running_mean,
                                     const sn_tensor *running_var, float eps, sn_tensor *dx,
                                     int accumulate_dx, sn_tensor *dgamma, sn_tensor *dbeta,
                                     int accumulate_params)
{
    return sn_batchnorm_backward_eval_local(ctx, dy, x, gamma, running_mean, running_var, eps, dx,
                                            accumulate_dx, dgamma, dbeta, accumulate_params, 0);
}
