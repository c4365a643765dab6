/* Double-precision CPU reference of every sharesnet op, forward and backward.
 *
 * Plain loops, no cleverness: this is the definition the OpenCL kernels are
 * tested against. All tensors are contiguous NCHW (or [N, features]).
 * Output sizes:
 *   conv / maxpool : OH = (H + 2*pad - K) / stride + 1   (floor), same for OW
 *   shortcut A     : OH = (H + stride - 1) / stride         (x[:, :, ::s, ::s])
 * `accumulate` = 0 overwrites the gradient output, 1 adds into it.
 */
#ifndef SN_REF_OPS_H
#define SN_REF_OPS_H

#include <stddef.h>

static inline int ref_out_size(int in, int k, int stride, int pad)
{
    return (in + 2 * pad - k) / stride + 1;
}

/* conv2d, no bias, groups 1. x [N,C,H,W], w [OC,C,K,K], y [N,OC,OH,OW]. */
void ref_conv2d_forward(const double *x, int N, int C, int H, int W,
                        const double *w, int OC, int K, int stride, int pad,
                        double *y);
void ref_conv2d_backward_data(const double *dy, int N, int C, int H, int W,
                              const double *w, int OC, int K, int stride, int pad,
                              double *dx);
void ref_conv2d_backward_weights(const double *x, int N, int C, int H, int W,
                                 const double *dy, int OC, int K, int stride,
                                 int pad, double *dw, int accumulate);

/* Batch norm 2d, training mode: batch statistics (biased variance for the
 * normalisation), running stats updated as PyTorch does:
 *   running_mean = (1-momentum)*running_mean + momentum*mean
 *   running_var  = (1-momentum)*running_var  + momentum*var*M/(M-1), M=N*H*W
 * save_mean/save_invstd [C] keep what backward needs. */
void ref_bn_forward_train(const double *x, int N, int C, int H, int W,
                          const double *gamma, const double *beta, double eps,
                          double momentum, double *running_mean,
                          double *running_var, double *y, double *save_mean,
                          double *save_invstd);
/* Eval mode: y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta. */
void ref_bn_forward_eval(const double *x, int N, int C, int H, int W,
                         const double *gamma, const double *beta, double eps,
                         const double *running_mean, const double *running_var,
                         double *y);
/* Backward of the training-mode forward. dgamma/dbeta honour `accumulate`;
 * dx is always overwritten. */
void ref_bn_backward(const double *dy, const double *x, int N, int C, int H,
                     int W, const double *gamma, const double *save_mean,
                     const double *save_invstd, double *dx, double *dgamma,
                     double *dbeta, int accumulate);
/* Backward of the eval-mode forward (frozen batch norm): the running
 * statistics are constants, invstd = 1/sqrt(running_var + eps),
 * xhat = (x - running_mean) * invstd:
 *   dx = dy * gamma * invstd, dgamma = sum dy * xhat, dbeta = sum dy.
 * dx and dgamma/dbeta honour their own accumulate flags. */
void ref_bn_backward_eval(const double *dy, const double *x, int N, int C, int H,
                          int W, const double *gamma, double eps,
                          const double *running_mean, const double *running_var,
                          double *dx, int accumulate_dx, double *dgamma,
                          double *dbeta, int accumulate_params);

/* Batch norm, residual add and ReLU fused (ref_fused.c): y = max(bn(x) +
 * shortcut, 0), the composition of the ops above. Backward: g = y > 0 ? dy :
 * 0 (y the forward output) goes through the bn backward into dx, dgamma and
 * dbeta and is the shortcut's gradient: dshortcut = g, or += g when
 * accumulate_shortcut (dshortcut NULL: not wanted). Other flags as the plain
 * bn backwards (the training one overwrites dx). Return -1 when out of
 * memory, else 0. */
void ref_bn_add_relu_forward_train(const double *x, const double *shortcut, int N, int C, int H,
                                   int W, const double *gamma, const double *beta, double eps,
                                   double momentum, double *running_mean, double *running_var,
                                   double *y, double *save_mean, double *save_invstd);
void ref_bn_add_relu_forward_eval(const double *x, const double *shortcut, int N, int C, int H,
                                  int W, const double *gamma, const double *beta, double eps,
                                  const double *running_mean, const double *running_var,
                                  double *y);
int ref_bn_add_relu_backward(const double *dy, const double *y, const double *x, int N, int C,
                             int H, int W, const double *gamma, const double *save_mean,
                             const double *save_invstd, double *dx, double *dshortcut,
                             int accumulate_shortcut, double *dgamma, double *dbeta,
                             int accumulate_params);
int ref_bn_add_relu_backward_eval(const double *dy, const double *y, const double *x, int N,
                                  int C, int H, int W, const double *gamma, double eps,
                                  const double *running_mean, const double *running_var,
                                  double *dx, int accumulate_dx, double *dshortcut,
                                  int accumulate_shortcut, double *dgamma, double *dbeta,
                                  int accumulate_params);

/* Eval-mode batch norm as a per-channel affine map (ref_fused.c):
 * scale = gamma / sqrt(running_var + eps), shift = beta - running_mean * scale. */
void ref_bn_fold(const double *gamma, const double *beta, const double *running_mean,
                 const double *running_var, int C, double eps, double *scale, double *shift);
/* Convolution with that map, a residual add and a ReLU in its store:
 * y[n,oc] = act(conv(x, w)[n,oc] * scale[oc] + shift[oc] (+ residual[n,oc])).
 * scale, shift NULL: no affine step; residual NULL: no add; relu 0 or 1. */
void ref_conv2d_forward_affine(const double *x, int N, int C, int H, int W, const double *w,
                               int OC, int K, int stride, int pad, const double *scale,
                               const double *shift, const double *residual, int relu, double *y);

/* ReLU: y = max(x, 0); backward uses the forward output: dx = y > 0 ? dy : 0. */
void ref_relu_forward(const double *x, size_t n, double *y);
void ref_relu_backward(const double *dy, const double *y, size_t n, double *dx);

/* Residual add: y = a + b (backward passes dy to both). */
void ref_add_forward(const double *a, const double *b, size_t n, double *y);

/* Option-A shortcut (He et al. CIFAR): y[:, off:off+C] = x[:, :, ::s, ::s],
 * zero elsewhere, off = (OC - C) / 2; OC >= C. */
void ref_shortcut_a_forward(const double *x, int N, int C, int H, int W, int OC,
                            int stride, double *y);
void ref_shortcut_a_backward(const double *dy, int N, int C, int H, int W,
                             int OC, int stride, double *dx);

/* Global average pool: x [N,C,H,W] -> y [N,C]. */
void ref_gap_forward(const double *x, int N, int C, int H, int W, double *y);
void ref_gap_backward(const double *dy, int N, int C, int H, int W, double *dx);

/* Max pool KxK, stride, zero-size padding treated as -inf (PyTorch). argmax
 * [N,C,OH,OW] stores the flat input index h*W+w of the winner (first max). */
void ref_maxpool_forward(const double *x, int N, int C, int H, int W, int K,
                         int stride, int pad, double *y, int *argmax);
void ref_maxpool_backward(const double *dy, const int *argmax, int N, int C,
                          int H, int W, int K, int stride, int pad, double *dx);

/* Linear with bias: x [N,IN], w [OUT,IN], b [OUT], y [N,OUT] = x w^T + b. */
void ref_linear_forward(const double *x, int N, int IN, const double *w,
                        const double *b, int OUT, double *y);
void ref_linear_backward(const double *dy, const double *x, int N, int IN,
                         const double *w, int OUT, double *dx, double *dw,
                         double *db, int accumulate);

/* Softmax cross-entropy, mean over the batch. logits [N,K], labels in [0,K).
 * A sample's rank = number of classes whose logit is strictly greater than
 * the label's; top1 counts rank == 0, top5 counts rank < 5.
 * Backward: dlogits = (softmax(logits) - onehot(label)) / N. */
void ref_softmax_ce_forward(const double *logits, const int *labels, int N,
                            int K, double *loss, int *top1, int *top5);
void ref_softmax_ce_backward(const double *logits, const int *labels, int N,
                             int K, double *dlogits);

/* SGD as torch.optim.SGD (dampening 0), momentum buffer starts at zero:
 *   g = grad + weight_decay * p
 *   buf = momentum * buf + g
 *   g = nesterov ? g + momentum * buf : buf
 *   p -= lr * g */
void ref_sgd_step(double *param, const double *grad, double *momentum_buf,
                  size_t n, double lr, double momentum, double weight_decay,
                  int nesterov);

/* Comparison helper for device tests: returns -1 when every element satisfies
 * |got - want| <= atol + rtol * |want| (NaN fails), else the index of the
 * worst element; writes a human-readable line to msg (may be NULL). */
long ref_check_close(const float *got, const double *want, size_t n,
                     double rtol, double atol, char *msg, size_t msg_size);

/* Deterministic random data for tests (xorshift, seeded): uniform [lo, hi). */
typedef struct ref_rng { unsigned long long state; } ref_rng;
void ref_rng_seed(ref_rng *rng, unsigned long long seed);
double ref_rng_uniform(ref_rng *rng, double lo, double hi);
void ref_fill_uniform(ref_rng *rng, double *x, size_t n, double lo, double hi);

#endif
