/* sharesnet — the layers of a ResNet on OpenCL, forward and backward.
 *
 * float32 tensors in NCHW order. Each op checks its shapes and returns
 * SN_ERR_SHAPE naming the op and the shapes when they do not fit. Ops only
 * enqueue work on the context's in-order queue; nothing blocks unless the
 * comment says so.
 *
 * The accumulation contract: every output that is a gradient takes an
 * `accumulate` flag. 0 overwrites the buffer (its old content, even NaN, is
 * ignored); 1 adds into it. Weight sharing (one gradient buffer summed over
 * every use of a shared weight), activations consumed by two layers, and
 * micro-batch gradient accumulation all rest on this one mechanism.
 */
#ifndef SHARESNET_OPS_H
#define SHARESNET_OPS_H

#include "sharesnet/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- convolution (no bias, groups 1) ---------------------------------- */

/* x [N,C,H,W], w [OC,C,K,K], y [N,OC,OH,OW], OH = (H + 2*pad - K)/stride + 1. */
typedef struct sn_conv2d_desc {
    int kernel, stride, pad;
} sn_conv2d_desc;

SN_API sn_status sn_conv2d_forward(sn_context *ctx, const sn_conv2d_desc *d, const sn_tensor *x,
                            const sn_tensor *w, sn_tensor *y);
/* dx [N,C,H,W] from dy [N,OC,OH,OW] and w. */
SN_API sn_status sn_conv2d_backward_data(sn_context *ctx, const sn_conv2d_desc *d, const sn_tensor *dy,
                                  const sn_tensor *w, sn_tensor *dx, int accumulate);
/* dw [OC,C,K,K] from x and dy. */
SN_API sn_status sn_conv2d_backward_weights(sn_context *ctx, const sn_conv2d_desc *d,
                                     const sn_tensor *x, const sn_tensor *dy, sn_tensor *dw,
                                     int accumulate);

/* ---- batch norm 2d ------------------------------------------------------ */

/* Training mode: batch statistics (biased variance to normalise), running
 * statistics updated as PyTorch does (unbiased variance, `momentum` = 0.1
 * typically). x, y [N,C,H,W]; gamma, beta, running_*, save_* [C]. save_mean
 * and save_invstd keep what backward needs. */
SN_API sn_status sn_batchnorm_forward_train(sn_context *ctx, const sn_tensor *x, const sn_tensor *gamma,
                                     const sn_tensor *beta, sn_tensor *running_mean,
                                     sn_tensor *running_var, float momentum, float eps,
                                     sn_tensor *y, sn_tensor *save_mean, sn_tensor *save_invstd);
/* Eval mode: running statistics. */
SN_API sn_status sn_batchnorm_forward_eval(sn_context *ctx, const sn_tensor *x, const sn_tensor *gamma,
                                    const sn_tensor *beta, const sn_tensor *running_mean,
                                    const sn_tensor *running_var, float eps, sn_tensor *y);
/* Backward of the training forward: dx, dgamma, dbeta. */
SN_API sn_status sn_batchnorm_backward(sn_context *ctx, const sn_tensor *dy, const sn_tensor *x,
                                const sn_tensor *gamma, const sn_tensor *save_mean,
                                const sn_tensor *save_invstd, sn_tensor *dx, int accumulate_dx,
                                sn_tensor *dgamma, sn_tensor *dbeta, int accumulate_params);
/* Backward of the eval forward, for frozen batch norm (fine-tuning, tiny
 * micro-batches): the running statistics are constants, so with invstd =
 * 1/sqrt(running_var + eps) and xhat = (x - running_mean) * invstd,
 *   dx = dy * gamma * invstd,  dgamma = sum dy * xhat,  dbeta = sum dy
 * (sums over N, H, W). Accumulate flags as sn_batchnorm_backward; dx may be dy. */
SN_API sn_status sn_batchnorm_backward_eval(sn_context *ctx, const sn_tensor *dy, const sn_tensor *x,
                                     const sn_tensor *gamma, const sn_tensor *running_mean,
                                     const sn_tensor *running_var, float eps, sn_tensor *dx,
                                     int accumulate_dx, sn_tensor *dgamma, sn_tensor *dbeta,
                                     int accumulate_params);

/* Batch norm fused with the ReLU that follows it: one pass less over memory
 * in each direction, same results as the two ops in sequence.
 * Forward: y = max(bn(x), 0) (NaN gives 0, as sn_relu_forward); arguments as
 * sn_batchnorm_forward_train / _eval; y may be x. */
SN_API sn_status sn_batchnorm_relu_forward_train(sn_context *ctx, const sn_tensor *x,
                                          const sn_tensor *gamma, const sn_tensor *beta,
                                          sn_tensor *running_mean, sn_tensor *running_var,
                                          float momentum, float eps, sn_tensor *y,
                                          sn_tensor *save_mean, sn_tensor *save_invstd);
SN_API sn_status sn_batchnorm_relu_forward_eval(sn_context *ctx, const sn_tensor *x,
                                         const sn_tensor *gamma, const sn_tensor *beta,
                                         const sn_tensor *running_mean,
                                         const sn_tensor *running_var, float eps, sn_tensor *y);
/* Backward: dy (the gradient of y) masked by y > 0, y the fused forward's
 * output, then sn_batchnorm_backward / _backward_eval on x. Accumulate flags
 * as those; dx may be dy. */
SN_API sn_status sn_batchnorm_relu_backward(sn_context *ctx, const sn_tensor *dy, const sn_tensor *y,
                                     const sn_tensor *x, const sn_tensor *gamma,
                                     const sn_tensor *save_mean, const sn_tensor *save_invstd,
                                     sn_tensor *dx, int accumulate_dx, sn_tensor *dgamma,
                                     sn_tensor *dbeta, int accumulate_params);
SN_API sn_status sn_batchnorm_relu_backward_eval(sn_context *ctx, const sn_tensor *dy,
                                          const sn_tensor *y, const sn_tensor *x,
                                          const sn_tensor *gamma, const sn_tensor *running_mean,
                                          const sn_tensor *running_var, float eps, sn_tensor *dx,
                                          int accumulate_dx, sn_tensor *dgamma, sn_tensor *dbeta,
                                          int accumulate_params);

/* Batch norm, residual add and ReLU fused: the tail of a post-activation
 * residual block, y = max(bn(x) + shortcut, 0) (NaN gives 0), one pass over
 * memory where BN, ADD and ReLU take three. Arguments as
 * sn_batchnorm_forward_train / _eval; shortcut has x's shape; y may be x or
 * shortcut. */
SN_API sn_status sn_batchnorm_add_relu_forward_train(sn_context *ctx, const sn_tensor *x,
                                              const sn_tensor *shortcut, const sn_tensor *gamma,
                                              const sn_tensor *beta, sn_tensor *running_mean,
                                              sn_tensor *running_var, float momentum, float eps,
                                              sn_tensor *y, sn_tensor *save_mean,
                                              sn_tensor *save_invstd);
SN_API sn_status sn_batchnorm_add_relu_forward_eval(sn_context *ctx, const sn_tensor *x,
                                             const sn_tensor *shortcut, const sn_tensor *gamma,
                                             const sn_tensor *beta, const sn_tensor *running_mean,
                                             const sn_tensor *running_var, float eps,
                                             sn_tensor *y);
/* Backward: g = dy masked by y > 0 (y the fused forward's output) is the
 * gradient of both inputs of the add; one pass feeds g to the batch-norm
 * backward (dx, dgamma, dbeta as sn_batchnorm_backward / _backward_eval) and
 * writes it to dshortcut (accumulate_shortcut: 0 stores, 1 adds), so the add
 * needs no copies. dshortcut NULL: the shortcut needs no gradient (e.g. it is
 * the input image). dx or dshortcut (not both) may be dy. */
SN_API sn_status sn_batchnorm_add_relu_backward(sn_context *ctx, const sn_tensor *dy,
                                         const sn_tensor *y, const sn_tensor *x,
                                         const sn_tensor *gamma, const sn_tensor *save_mean,
                                         const sn_tensor *save_invstd, sn_tensor *dx,
                                         int accumulate_dx, sn_tensor *dshortcut,
                                         int accumulate_shortcut, sn_tensor *dgamma,
                                         sn_tensor *dbeta, int accumulate_params);
SN_API sn_status sn_batchnorm_add_relu_backward_eval(
    sn_context *ctx, const sn_tensor *dy, const sn_tensor *y, const sn_tensor *x,
    const sn_tensor *gamma, const sn_tensor *running_mean, const sn_tensor *running_var,
    float eps, sn_tensor *dx, int accumulate_dx, sn_tensor *dshortcut, int accumulate_shortcut,
    sn_tensor *dgamma, sn_tensor *dbeta, int accumulate_params);

/* Eval-mode batch norm as a per-channel affine map y = x * scale + shift:
 * scale = gamma / sqrt(running_var + eps), shift = beta - running_mean * scale.
 * All [C]. The scale stays per channel rather than being multiplied into the
 * conv weight, so a shared weight keeps one buffer (see
 * sn_conv2d_forward_affine). */
SN_API sn_status sn_batchnorm_fold(sn_context *ctx, const sn_tensor *gamma, const sn_tensor *beta,
                            const sn_tensor *running_mean, const sn_tensor *running_var,
                            float eps, sn_tensor *scale, sn_tensor *shift);

/* A convolution whose store applies an eval-mode batch norm folded by
 * sn_batchnorm_fold, then a residual add and a ReLU:
 *   y[n,oc] = act(conv(x, w)[n,oc] * scale[oc] + shift[oc] (+ residual[n,oc]))
 * x, w, y as sn_conv2d_forward; scale, shift [OC], both or neither (NULL: no
 * affine step); residual NULL or y's shape; relu 0 or 1 (NaN gives 0). y
 * must not share a buffer with x, w or residual. Runs the fused direct
 * kernel when the tuner picks the direct forward for this shape, else the
 * conv then one element-wise pass. */
SN_API sn_status sn_conv2d_forward_affine(sn_context *ctx, const sn_conv2d_desc *d, const sn_tensor *x,
                                   const sn_tensor *w, const sn_tensor *scale,
                                   const sn_tensor *shift, const sn_tensor *residual, int relu,
                                   sn_tensor *y);

/* ---- element-wise --------------------------------------------------------- */

/* y = max(x, 0); y may be x. */
SN_API sn_status sn_relu_forward(sn_context *ctx, const sn_tensor *x, sn_tensor *y);
/* dx = y > 0 ? dy : 0, from the forward output y. */
SN_API sn_status sn_relu_backward(sn_context *ctx, const sn_tensor *dy, const sn_tensor *y,
                           sn_tensor *dx, int accumulate);
/* y = a + b (residual add); same shapes. Its backward is the identity: use
 * sn_axpy / accumulate flags of the producers. */
SN_API sn_status sn_add_forward(sn_context *ctx, const sn_tensor *a, const sn_tensor *b, sn_tensor *y);

/* Option-A shortcut (He et al. CIFAR): y[:, off:off+C] = x[:, :, ::s, ::s], zero
 * elsewhere, off = (OC - C) / 2. x [N,C,H,W], y [N,OC,ceil(H/s),ceil(W/s)]. */
SN_API sn_status sn_shortcut_a_forward(sn_context *ctx, const sn_tensor *x, int stride, sn_tensor *y);
SN_API sn_status sn_shortcut_a_backward(sn_context *ctx, const sn_tensor *dy, int stride, sn_tensor *dx,
                                 int accumulate);

/* ---- pooling ---------------------------------------------------------------- */

/* x [N,C,H,W] -> y [N,C] (or [N,C,1,1]). */
SN_API sn_status sn_gap_forward(sn_context *ctx, const sn_tensor *x, sn_tensor *y);
SN_API sn_status sn_gap_backward(sn_context *ctx, const sn_tensor *dy, sn_tensor *dx, int accumulate);

/* Max pool KxK with stride and padding (padding never wins, as in PyTorch).
 * Backward recomputes the winners from x (the first maximum of a window), so
 * no index buffer is kept. */
SN_API sn_status sn_maxpool_forward(sn_context *ctx, const sn_tensor *x, int kernel, int stride, int pad,
                             sn_tensor *y);
SN_API sn_status sn_maxpool_backward(sn_context *ctx, const sn_tensor *x, const sn_tensor *dy, int kernel,
                              int stride, int pad, sn_tensor *dx, int accumulate);

/* ---- linear ------------------------------------------------------------------ */

/* x [N,IN] (any shape with N first and IN elements per sample), w [OUT,IN],
 * b [OUT], y [N,OUT] = x w^T + b. */
SN_API sn_status sn_linear_forward(sn_context *ctx, const sn_tensor *x, const sn_tensor *w,
                            const sn_tensor *b, sn_tensor *y);
/* dx = dy w. */
SN_API sn_status sn_linear_backward_data(sn_context *ctx, const sn_tensor *dy, const sn_tensor *w,
                                  sn_tensor *dx, int accumulate);
/* dw = dy^T x, db = sum over the batch of dy. */
SN_API sn_status sn_linear_backward_params(sn_context *ctx, const sn_tensor *dy, const sn_tensor *x,
                                    sn_tensor *dw, sn_tensor *db, int accumulate);

/* ---- loss -------------------------------------------------------------------- */

/* Softmax cross-entropy. logits [N,K]; labels [N] hold class indices as
 * floats (exact below 2^24). per_sample [N,2] receives (loss, rank) where
 * rank = number of classes with a logit strictly greater than the label's. */
SN_API sn_status sn_softmax_ce_forward(sn_context *ctx, const sn_tensor *logits, const sn_tensor *labels,
                                sn_tensor *per_sample);
/* dlogits = (softmax(logits) - onehot(label)) * scale; scale = 1/N gives the
 * gradient of the batch mean (1/(N*micro_batches) under accumulation). */
SN_API sn_status sn_softmax_ce_backward(sn_context *ctx, const sn_tensor *logits,
                                 const sn_tensor *labels, float scale, sn_tensor *dlogits,
                                 int accumulate);
/* Blocking: reads per_sample back once and reduces it: mean loss, and the
 * number of samples with rank 0 (top-1) and rank < 5 (top-5). */
SN_API sn_status sn_softmax_ce_summary(sn_context *ctx, const sn_tensor *per_sample, double *mean_loss,
                                int *top1, int *top5);

/* ---- optimizer and small utilities ----------------------------------------- */

/* torch.optim.SGD step (dampening 0; momentum buffer starts at zero):
 *   g = grad + weight_decay * p;  buf = momentum * buf + g
 *   g = nesterov ? g + momentum * buf : buf;  p -= lr * g */
SN_API sn_status sn_sgd_step(sn_context *ctx, sn_tensor *param, const sn_tensor *grad,
                      sn_tensor *momentum_buf, float lr, float momentum, float weight_decay,
                      int nesterov);
/* x *= alpha */
SN_API sn_status sn_scale(sn_context *ctx, sn_tensor *x, float alpha);
/* y += alpha * x (same element count) */
SN_API sn_status sn_axpy(sn_context *ctx, float alpha, const sn_tensor *x, sn_tensor *y);
/* y = x (same element count) */
SN_API sn_status sn_copy(sn_context *ctx, const sn_tensor *x, sn_tensor *y);

#ifdef __cplusplus
}
#endif
#endif
