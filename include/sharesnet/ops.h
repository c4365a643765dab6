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

/* What a batch-norm call computes besides the normalisation: nothing, the
 * ReLU that follows it, or a residual add and a ReLU (the tail of a
 * post-activation residual block), fused into its passes: one pass over
 * memory each way where the separate ops take two or three, same results.
 * The ReLU maps NaN to 0, as sn_relu_forward. */
typedef enum sn_bn_ops {
    SN_BN_PLAIN,   /* y = bn(x) */
    SN_BN_RELU,    /* y = max(bn(x), 0) */
    SN_BN_ADD_RELU /* y = max(bn(x) + shortcut, 0) */
} sn_bn_ops;

/* Which statistics normalise. */
typedef enum sn_bn_mode {
    /* Batch statistics (biased variance). The forward updates the running
     * statistics as PyTorch does (unbiased variance, `momentum`) and keeps
     * save_mean and save_invstd for the backward. */
    SN_BN_TRAIN,
    /* The running statistics, as constants: eval, and frozen batch norm
     * (fine-tuning, tiny micro-batches), whose backward is, with
     * invstd = 1/sqrt(running_var + eps), xhat = (x - running_mean) * invstd,
     *   dx = dy * gamma * invstd,  dgamma = sum dy * xhat,  dbeta = sum dy
     * (sums over N, H, W). */
    SN_BN_EVAL
} sn_bn_mode;

/* One batch norm, forward or backward. x, y, shortcut, dy, dx, dshortcut
 * [N,C,H,W] (any tensor viewed as 4-D: [N,C] is batch norm 1d); gamma, beta,
 * running_*, save_*, dgamma, dbeta [C]. A pass ignores the fields it does
 * not read (noted per field), so one descriptor can serve a layer's forward
 * and backward; but shortcut and dshortcut belong to ADD_RELU, and either
 * one set with other ops fails (SN_ERR_INVALID_ARG). Messages name the call
 * as "batchnorm_forward (train, relu)" and the like. */
typedef struct sn_bn_desc {
    sn_bn_ops ops;
    sn_bn_mode mode;
    float momentum; /* TRAIN forward: the batch's weight in the running statistics (0.1) */
    float eps;      /* added to the variance, >= 0 (not read by the TRAIN backward) */

    const sn_tensor *x;        /* the forward's input; both passes read it */
    const sn_tensor *shortcut; /* ADD_RELU forward: the residual input */
    /* Forward: the output (may be x, or the shortcut). Backward with RELU or
     * ADD_RELU: that forward's output, whose y > 0 masks dy. */
    sn_tensor *y;
    const sn_tensor *gamma;
    const sn_tensor *beta;                 /* forward only */
    sn_tensor *running_mean, *running_var; /* TRAIN forward updates them, EVAL reads them */
    sn_tensor *save_mean, *save_invstd;    /* TRAIN: the forward writes, the backward reads */

    /* Backward (the accumulation contract above). */
    const sn_tensor *dy; /* gradient of y */
    sn_tensor *dx;       /* may be dy */
    int accumulate_dx;
    sn_tensor *dgamma, *dbeta;
    int accumulate_params;
    /* ADD_RELU: the masked dy is the gradient of both inputs of the add; the
     * pass that computes dx also stores (or adds) it here, so the add needs
     * no copies. NULL: the shortcut needs no gradient (e.g. it is the input
     * image). dx or dshortcut, not both, may be dy. */
    sn_tensor *dshortcut;
    int accumulate_shortcut;
} sn_bn_desc;

SN_API sn_status sn_batchnorm_forward(sn_context *ctx, const sn_bn_desc *d);
SN_API sn_status sn_batchnorm_backward(sn_context *ctx, const sn_bn_desc *d);

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
