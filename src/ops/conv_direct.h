/* Entry points of the direct convolution kernels (conv_direct.c) beyond the
 * three passes that ops/conv_algo.h declares. */
#ifndef SN_CONV_DIRECT_H
#define SN_CONV_DIRECT_H

#include "ops/conv_algo.h"
#include "runtime/runtime_internal.h"
#include "sharesnet/ops.h"

/* The direct forward with an epilogue fused into its store:
 *   y[n,oc,:,:] = act(conv(x, w)[n,oc,:,:] * scale[oc] + shift[oc] (+ residual[n,oc,:,:]))
 * This is batch norm in eval mode folded into the convolution's store.
 *
 * x [N,C,H,W], w [OC,C,K,K], y [N,OC,OH,OW] as for sn_conv2d_direct_forward
 * (the caller validated them and checked sn_conv_algo_supported for the
 * direct forward; an unsupported shape fails with SN_ERR_UNSUPPORTED).
 * scale, shift: [OC] (any shape with OC elements), both or neither; both
 * NULL: no affine step. residual: NULL, or OC*OH*OW*N elements laid out like
 * y; it may be y itself (y += ...: every element of y is read once, before
 * it is written, by the work item that writes it), but no other tensor may
 * share y's buffer. relu: 0 or 1 (max(v, 0) last). y is overwritten (its old
 * value never read unless residual is y). */
sn_status sn_conv2d_direct_forward_affine(sn_context *ctx, const sn_conv2d_desc *d,
                                          const sn_tensor *x, const sn_tensor *w,
                                          const sn_tensor *scale, const sn_tensor *shift,
                                          const sn_tensor *residual, int relu, sn_tensor *y);

/* The direct algorithm's plan for `pass` on this shape and ctx's device,
 * for tests that must run every variant. */
typedef struct sn_conv_direct_plan {
    const char *kernel; /* the product's kernel, e.g. "sn_convd_rows_8x3" */
    int split;          /* column split of the input copy it reads (1: none;
                           the stride when a pixel-lane kernel reads a
                           strided input) */
} sn_conv_direct_plan;

/* 1 and *plan filled, or 0 when the direct algorithm does not take the
 * shape. */
int sn_conv2d_direct_plan(sn_context *ctx, sn_conv_pass pass, int N, int C, int H, int W, int OC,
                          int K, int stride, int pad, sn_conv_direct_plan *plan);

#endif
