/* Convolution algorithms: the internal interface between the conv2d ops
 * (src/ops/conv2d.c: shape checks, then dispatch), the algorithms
 * (GEMM: im2col + our own SGEMM kernel in conv2d.c; CLBLAST: the same with
 * CLBlast's tuned SGEMM, where the device may compile at run time; DIRECT: implicit-GEMM kernels in
 * conv_direct.c / kernels/conv_direct.cl; WINOGRAD: F(2x2, 3x3) for 3x3
 * stride-1 convolutions in conv_winograd.c / kernels/conv_winograd.cl) and
 * the auto-tuner that picks one per pass and shape (src/ops/conv_tune.c).
 *
 * Environment override: SN_CONV_ALGO=gemm|direct|winograd|clblast forces that
 * algorithm for every pass and shape it supports (unset, empty or "auto":
 * the tuner's choice). A forced algorithm that does not support a shape
 * falls back to GEMM, which supports every valid shape.
 */
#ifndef SN_CONV_ALGO_H
#define SN_CONV_ALGO_H

#include "runtime/runtime_internal.h"
#include "sharesnet/ops.h"

typedef enum {
    SN_CONV_ALGO_GEMM = 0,
    SN_CONV_ALGO_DIRECT = 1,
    SN_CONV_ALGO_WINOGRAD = 2,
    SN_CONV_ALGO_CLBLAST = 3, /* im2col + CLBlast: only where the context may
                                 compile at run time (ctx->runtime_compile) */
    SN_CONV_ALGO_COUNT
} sn_conv_algo;

typedef enum { SN_CONV_FORWARD, SN_CONV_BACKWARD_DATA, SN_CONV_BACKWARD_WEIGHTS } sn_conv_pass;

/* 1 when x [N,C,H,W], w [OC,C,K,K], stride, pad is a valid convolution
 * (positive sizes, padded input at least the kernel) and ctx exists. */
int sn_conv_shape_valid(const sn_context *ctx, int N, int C, int H, int W, int OC, int K,
                        int stride, int pad);

/* 1 when `algo` supports this pass and shape on ctx's device, else 0
 * (sn_conv_impls[algo].supported). */
int sn_conv_algo_supported(sn_context *ctx, sn_conv_algo algo, sn_conv_pass pass, int N, int C,
                           int H, int W, int OC, int K, int stride, int pad);

/* ---- the implementations (conv_impls.c) ---------------------------------
 * One row per algorithm: the dispatcher (conv2d.c), the affine path
 * (conv_affine.c) and the tuner (conv_tune.c) iterate this table, so a new
 * algorithm is a row here, its entry points and a name in
 * SN_CONV_ALGO_NAMES (runtime/runtime_internal.h). Entry points are called
 * after the public op validated every tensor: x/dx [N,C,H,W], w/dw
 * [OC,C,K,K], y/dy [N,OC,OH,OW]; same contracts as the public ops
 * (accumulate: 0 overwrites, even NaN; 1 adds). */
typedef int (*sn_conv_supported_fn)(sn_context *ctx, sn_conv_pass pass, int N, int C, int H,
                                    int W, int OC, int K, int stride, int pad);
typedef sn_status (*sn_conv_forward_fn)(sn_context *ctx, const sn_conv2d_desc *d,
                                        const sn_tensor *x, const sn_tensor *w, sn_tensor *y);
/* y = act(conv * scale[oc] + shift[oc] (+ residual)): see
 * sn_conv2d_winograd_forward_affine. */
typedef sn_status (*sn_conv_forward_affine_fn)(sn_context *ctx, const sn_conv2d_desc *d,
                                               const sn_tensor *x, const sn_tensor *w,
                                               const sn_tensor *scale, const sn_tensor *shift,
                                               const sn_tensor *residual, int relu, sn_tensor *y);
typedef sn_status (*sn_conv_backward_data_fn)(sn_context *ctx, const sn_conv2d_desc *d,
                                              const sn_tensor *dy, const sn_tensor *w,
                                              sn_tensor *dx, int accumulate);
typedef sn_status (*sn_conv_backward_weights_fn)(sn_context *ctx, const sn_conv2d_desc *d,
                                                 const sn_tensor *x, const sn_tensor *dy,
                                                 sn_tensor *dw, int accumulate);

typedef struct sn_conv_impl {
    sn_conv_supported_fn supported;
    sn_conv_forward_fn forward;
    sn_conv_forward_affine_fn forward_affine; /* NULL: forward, then one epilogue pass */
    sn_conv_backward_data_fn backward_data;
    sn_conv_backward_weights_fn backward_weights;
} sn_conv_impl;

extern const sn_conv_impl sn_conv_impls[SN_CONV_ALGO_COUNT];

/* im2col + our SGEMM (GEMM) or CLBlast's (CLBLAST): conv2d.c. */
sn_status sn_conv2d_gemm_forward(sn_context *ctx, const sn_conv2d_desc *d, const sn_tensor *x,
                                 const sn_tensor *w, sn_tensor *y);
sn_status sn_conv2d_gemm_backward_data(sn_context *ctx, const sn_conv2d_desc *d,
                                       const sn_tensor *dy, const sn_tensor *w, sn_tensor *dx,
                                       int accumulate);
sn_status sn_conv2d_gemm_backward_weights(sn_context *ctx, const sn_conv2d_desc *d,
                                          const sn_tensor *x, const sn_tensor *dy, sn_tensor *dw,
                                          int accumulate);
sn_status sn_conv2d_clblast_forward(sn_context *ctx, const sn_conv2d_desc *d, const sn_tensor *x,
                                    const sn_tensor *w, sn_tensor *y);
sn_status sn_conv2d_clblast_backward_data(sn_context *ctx, const sn_conv2d_desc *d,
                                          const sn_tensor *dy, const sn_tensor *w, sn_tensor *dx,
                                          int accumulate);
sn_status sn_conv2d_clblast_backward_weights(sn_context *ctx, const sn_conv2d_desc *d,
                                             const sn_tensor *x, const sn_tensor *dy,
                                             sn_tensor *dw, int accumulate);

/* 1 when the direct kernels support this pass and shape: every index they
 * form stays below 2^31 and one image's workspace fits the device's largest
 * allocation (conv_direct.c). */
int sn_conv_direct_supported(sn_context *ctx, sn_conv_pass pass, int N, int C, int H, int W,
                             int OC, int K, int stride, int pad);

/* 1 when the Winograd algorithm supports this pass and shape on ctx's
 * device: K = 3, stride 1, pad 0..2, and a workspace for one chunk of tiles
 * that fits the device's largest allocation. */
int sn_conv_winograd_supported(sn_context *ctx, sn_conv_pass pass, int N, int C, int H, int W,
                               int OC, int K, int stride, int pad);

/* The algorithm to run for this pass and shape (always one that supports
 * it). Honours SN_CONV_ALGO. Implemented by the tuner (src/ops/conv_tune.c). */
sn_conv_algo sn_conv_choose(sn_context *ctx, sn_conv_pass pass, int N, int C, int H, int W,
                            int OC, int K, int stride, int pad);

/* The direct (implicit-GEMM, no im2col buffer) algorithm (conv_direct.c). */
sn_status sn_conv2d_direct_forward(sn_context *ctx, const sn_conv2d_desc *d, const sn_tensor *x,
                                   const sn_tensor *w, sn_tensor *y);
sn_status sn_conv2d_direct_backward_data(sn_context *ctx, const sn_conv2d_desc *d,
                                         const sn_tensor *dy, const sn_tensor *w, sn_tensor *dx,
                                         int accumulate);
sn_status sn_conv2d_direct_backward_weights(sn_context *ctx, const sn_conv2d_desc *d,
                                            const sn_tensor *x, const sn_tensor *dy,
                                            sn_tensor *dw, int accumulate);

/* The Winograd F(2x2, 3x3) algorithm (conv_winograd.c), same contracts as
 * the direct entry points above, for shapes sn_conv_winograd_supported
 * accepts. */
sn_status sn_conv2d_winograd_forward(sn_context *ctx, const sn_conv2d_desc *d, const sn_tensor *x,
                                     const sn_tensor *w, sn_tensor *y);
/* The Winograd forward with the epilogue of sn_conv2d_direct_forward_affine
 * (ops/conv_direct.h), same contract, fused into the output transform's
 * store:
 *   y[n,oc,:,:] = act(conv(x, w)[n,oc,:,:] * scale[oc] + shift[oc] (+ residual[n,oc,:,:]))
 * as v = fma(conv, scale, shift); v += residual; max(v, 0) last. scale,
 * shift: [OC] (any shape with OC elements), both or neither. residual: NULL,
 * or laid out like y; it may be y itself (every element of y is read once,
 * before it is written, by the work item that writes it), no other tensor
 * may share y's buffer. y is overwritten (its old value never read unless
 * residual is y). A shape sn_conv_winograd_supported declines fails with
 * SN_ERR_UNSUPPORTED. With every step off it is sn_conv2d_winograd_forward. */
sn_status sn_conv2d_winograd_forward_affine(sn_context *ctx, const sn_conv2d_desc *d,
                                            const sn_tensor *x, const sn_tensor *w,
                                            const sn_tensor *scale, const sn_tensor *shift,
                                            const sn_tensor *residual, int relu, sn_tensor *y);
sn_status sn_conv2d_winograd_backward_data(sn_context *ctx, const sn_conv2d_desc *d,
                                           const sn_tensor *dy, const sn_tensor *w,
                                           sn_tensor *dx, int accumulate);
sn_status sn_conv2d_winograd_backward_weights(sn_context *ctx, const sn_conv2d_desc *d,
                                              const sn_tensor *x, const sn_tensor *dy,
                                              sn_tensor *dw, int accumulate);

#endif
