/* Batch norm with an explicit work-group size for its reductions, so tests
 * can check that every size the device allows gives the same result. */
#ifndef SN_BATCHNORM_INTERNAL_H
#define SN_BATCHNORM_INTERNAL_H

#include "runtime/runtime_internal.h"
#include "sharesnet/ops.h"

/* As sn_batchnorm_forward_train / _backward / _backward_eval; `local` is
 * the work-group size of the per-channel reductions (work-items over a chunk
 * of a channel in the GROUP family, planes per work-group in the PLANE one;
 * see sn_batchnorm_force_path), 0 for the default. A size the kernel cannot
 * run with is SN_ERR_INVALID_ARG. */
sn_status sn_batchnorm_forward_train_local(sn_context *ctx, const sn_tensor *x,
                                           const sn_tensor *gamma, const sn_tensor *beta,
                                           sn_tensor *running_mean, sn_tensor *running_var,
                                           float momentum, float eps, sn_tensor *y,
                                           sn_tensor *save_mean, sn_tensor *save_invstd,
                                           size_t local);
sn_status sn_batchnorm_backward_local(sn_context *ctx, const sn_tensor *dy, const sn_tensor *x,
                                      const sn_tensor *gamma, const sn_tensor *save_mean,
                                      const sn_tensor *save_invstd, sn_tensor *dx,
                                      int accumulate_dx, sn_tensor *dgamma, sn_tensor *dbeta,
                                      int accumulate_params, size_t local);
sn_status sn_batchnorm_backward_eval_local(sn_context *ctx, const sn_tensor *dy,
                                           const sn_tensor *x, const sn_tensor *gamma,
                                           const sn_tensor *running_mean,
                                           const sn_tensor *running_var, float eps,
                                           sn_tensor *dx, int accumulate_dx, sn_tensor *dgamma,
                                           sn_tensor *dbeta, int accumulate_params, size_t local);

/* The same for the fused BN + ReLU ops. */
sn_status sn_batchnorm_relu_forward_train_local(sn_context *ctx, const sn_tensor *x,
                                                const sn_tensor *gamma, const sn_tensor *beta,
                                                sn_tensor *running_mean, sn_tensor *running_var,
                                                float momentum, float eps, sn_tensor *y,
                                                sn_tensor *save_mean, sn_tensor *save_invstd,
                                                size_t local);
sn_status sn_batchnorm_relu_backward_local(sn_context *ctx, const sn_tensor *dy,
                                           const sn_tensor *y, const sn_tensor *x,
                                           const sn_tensor *gamma, const sn_tensor *save_mean,
                                           const sn_tensor *save_invstd, sn_tensor *dx,
                                           int accumulate_dx, sn_tensor *dgamma,
                                           sn_tensor *dbeta, int accumulate_params, size_t local);
sn_status sn_batchnorm_relu_backward_eval_local(sn_context *ctx, const sn_tensor *dy,
                                                const sn_tensor *y, const sn_tensor *x,
                                                const sn_tensor *gamma,
                                                const sn_tensor *running_mean,
                                                const sn_tensor *running_var, float eps,
                                                sn_tensor *dx, int accumulate_dx,
                                                sn_tensor *dgamma, sn_tensor *dbeta,
                                                int accumulate_params, size_t local);

/* The same for the fused BN + add + ReLU ops. */
sn_status sn_batchnorm_add_relu_forward_train_local(
    sn_context *ctx, const sn_tensor *x, const sn_tensor *shortcut, const sn_tensor *gamma,
    const sn_tensor *beta, sn_tensor *running_mean, sn_tensor *running_var, float momentum,
    float eps, sn_tensor *y, sn_tensor *save_mean, sn_tensor *save_invstd, size_t local);
sn_status sn_batchnorm_add_relu_backward_local(
    sn_context *ctx, const sn_tensor *dy, const sn_tensor *y, const sn_tensor *x,
    const sn_tensor *gamma, const sn_tensor *save_mean, const sn_tensor *save_invstd,
    sn_tensor *dx, int accumulate_dx, sn_tensor *dshortcut, int accumulate_shortcut,
    sn_tensor *dgamma, sn_tensor *dbeta, int accumulate_params, size_t local);
sn_status sn_batchnorm_add_relu_backward_eval_local(
    sn_context *ctx, const sn_tensor *dy, const sn_tensor *y, const sn_tensor *x,
    const sn_tensor *gamma, const sn_tensor *running_mean, const sn_tensor *running_var,
    float eps, sn_tensor *dx, int accumulate_dx, sn_tensor *dshortcut, int accumulate_shortcut,
    sn_tensor *dgamma, sn_tensor *dbeta, int accumulate_params, size_t local);

/* Largest `local` every batch-norm reduction kernel of the family in use
 * accepts on this device (kernel and device work-group limits, local
 * memory). */
sn_status sn_batchnorm_local_limit(sn_context *ctx, size_t *limit);

/* Kernel family of the reductions and the element-wise passes: AUTO picks
 * PLANE (one work-item per (n, c) plane, vector loops, no barriers) on CPUs
 * and GROUP (work-groups with local-memory trees) elsewhere. Tests force
 * one on their context (ctx->test.bn_path), so that both families run on
 * any device. */
typedef enum { SN_BN_PATH_AUTO, SN_BN_PATH_GROUP, SN_BN_PATH_PLANE } sn_bn_path;

#endif
