/* Convolution algorithms: the internal interface between the conv2d ops
 * (src/ops/conv2d.c: shape checks, then dispatch), the algorithms
 * (GEMM: im2col + CLBlast in conv2d.c; DIRECT: implicit-GEMM kernels in
 * conv_direct.c / kernels/conv_direct.cl) and the auto-tuner that picks one
 * per pass and shape (src/ops/conv_tune.c).
 *
 * Environment override: SN_CONV_ALGO=gemm|direct forces that algorithm for
 * every pass and shape it supports (unset, empty or "auto": the tuner's
 * choice). A forced algorithm that does not support a shape falls back to
 * GEMM, which supports every valid shape.
 */
#ifndef SN_CONV_ALGO_H
#define SN_CONV_ALGO_H

#include "runtime/runtime_internal.h"
#include "sharesnet/ops.h"

typedef enum { SN_CONV_ALGO_GEMM = 0, SN_CONV_ALGO_DIRECT = 1, SN_CONV_ALGO_COUNT } sn_conv_algo;

typedef enum { SN_CONV_FORWARD, SN_CONV_BACKWARD_DATA, SN_CONV_BACKWARD_WEIGHTS } sn_conv_pass;

/* Shape of one convolution: x [N,C,H,W], w [OC,C,K,K], stride, pad. */

/* 1 when `algo` supports this pass and shape on ctx's device, else 0. */
int sn_conv_algo_supported(sn_context *ctx, sn_conv_algo algo, sn_conv_pass pass, int N, int C,
                           int H, int W, int OC, int K, int stride, int pad);

/* The algorithm to run for this pass and shape (always one that
 * sn_conv_algo_supported accepts). Honours SN_CONV_ALGO. Implemented by the
 * tuner (src/ops/conv_tune.c). */
sn_conv_algo sn_conv_choose(sn_context *ctx, sn_conv_pass pass, int N, int C, int H, int W,
                            int OC, int K, int stride, int pad);

/* The direct (implicit-GEMM, no im2col buffer) algorithm. Called after the
 * public op validated every tensor: x/dx [N,C,H,W], w/dw [OC,C,K,K],
 * y/dy [N,OC,OH,OW]. Same contracts as the public ops (accumulate: 0
 * overwrites, even NaN; 1 adds). */
sn_status sn_conv2d_direct_forward(sn_context *ctx, const sn_conv2d_desc *d, const sn_tensor *x,
                                   const sn_tensor *w, sn_tensor *y);
sn_status sn_conv2d_direct_backward_data(sn_context *ctx, const sn_conv2d_desc *d,
                                         const sn_tensor *dy, const sn_tensor *w, sn_tensor *dx,
                                         int accumulate);
sn_status sn_conv2d_direct_backward_weights(sn_context *ctx, const sn_conv2d_desc *d,
                                            const sn_tensor *x, const sn_tensor *dy,
                                            sn_tensor *dw, int accumulate);

#endif
