/* A convolution with batch norm (eval mode), a residual add and a ReLU
 * folded into its store: y = act(conv(x, w) * scale[oc] + shift[oc] (+ r)).
 *
 * Why the scale stays in the epilogue instead of being multiplied into the
 * weight (the usual "fold BN into the conv"): a ShaResNet keeps one device
 * buffer per shared weight, and each use of that weight is followed by a BN
 * of its own. Folded weights would need a copy of the weight per use, which
 * is exactly the memory sharing saves; per-use [OC] scale and shift
 * (sn_batchnorm_fold) cost nothing next to it.
 *
 * The direct kernels take the epilogue in their store (conv_direct.c), the
 * Winograd forward in its output transform's store (conv_winograd.c); GEMM
 * runs the plain conv and then one element-wise pass (kernels/
 * elementwise.cl: sn_channel_affine), which still replaces the separate BN,
 * add and ReLU passes. */
#include "ops/conv_algo.h"
#include "ops/conv_direct.h"
#include "ops/op_check.h"

/* x [N,C,H,W], w [OC,C,K,K], y [N,OC,OH,OW], scale/shift [OC], residual as y:
 * every tensor allocated on ctx and of the right shape, y apart from the
 * inputs. *N.. receive the conv's sizes. */
static sn_status affine_check(sn_context *ctx, const char *op, const sn_conv2d_desc *d,
                              const sn_tensor *x, const sn_tensor *w, const sn_tensor *scale,
                              const sn_tensor *shift, const sn_tensor *residual,
                              const sn_tensor *y, int *N, int *C, int *H, int *W, int *OC)
{
    if (!ctx)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: no context", op);
    if (!d || d->kernel <= 0 || d->stride <= 0 || d->pad < 0)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: bad convolution descriptor", op);
    SN_TRY(sn_check_tensor(ctx, op, "x", x));
    SN_TRY(sn_check_tensor(ctx, op, "w", w));
    SN_TRY(sn_check_tensor(ctx, op, "y", y));
    if (!scale != !shift)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: scale and shift go together", op);
    sn_dims4(x, N, C, H, W);
    int wo, wc, wh, ww;
    sn_dims4(w, &wo, &wc, &wh, &ww);
    *OC = wo;
    char sx[64], sw[64];
    if (wc != *C || wh != d->kernel || ww != d->kernel)
        return sn_fail(SN_ERR_SHAPE, "%s: w %s does not fit x %s with kernel %d", op,
                       sn_shape_string(w, sw, sizeof sw), sn_shape_string(x, sx, sizeof sx),
                       d->kernel);
    const int ph = *H + 2 * d->pad, pw = *W + 2 * d->pad;
    if (ph < d->kernel || pw < d->kernel)
        return sn_fail(SN_ERR_SHAPE, "%s: kernel %d is larger than x %s padded by %d", op,
                       d->kernel, sn_shape_string(x, sx, sizeof sx), d->pad);
    const int OH = (ph - d->kernel) / d->stride + 1, OW = (pw - d->kernel) / d->stride + 1;
    SN_TRY(sn_check_dims(op, "y", y, *N, wo, OH, OW));
    if (scale) {
        SN_TRY(sn_check_tensor(ctx, op, "scale", scale));
        SN_TRY(sn_check_tensor(ctx, op, "shift", shift));
        SN_TRY(sn_check_count(op, "scale", scale, (size_t)wo));
        SN_TRY(sn_check_count(op, "shift", shift, (size_t)wo));
    }
    if (residual) {
        SN_TRY(sn_check_tensor(ctx, op, "residual", residual));
        SN_TRY(sn_check_dims(op, "residual", residual, *N, wo, OH, OW));
    }
    /* The conv writes y before the epilogue reads its inputs (fallback). */
    if (y->buffer == x->buffer || y->buffer == w->buffer ||
        (residual && y->buffer == residual->buffer))
        return sn_fail(SN_ERR_INVALID_ARG, "%s: y shares its buffer with an input", op);
    return SN_OK;
}

sn_status sn_conv2d_forward_affine(sn_context *ctx, const sn_conv2d_desc *d, const sn_tensor *x,
                                   const sn_tensor *w, const sn_tensor *scale,
                                   const sn_tensor *shift, const sn_tensor *residual, int relu,
                                   sn_tensor *y)
{
    static const char op[] = "conv2d_forward_affine";
    int N = 0, C = 0, H = 0, W = 0, OC = 0;
    SN_TRY(affine_check(ctx, op, d, x, w, scale, shift, residual, y, &N, &C, &H, &W, &OC));
    const sn_conv_algo algo =
        sn_conv_choose(ctx, SN_CONV_FORWARD, N, C, H, W, OC, d->kernel, d->stride, d->pad);
    /* sn_conv_choose picks only algorithms that support the shape */
    const sn_conv_impl *impl = &sn_conv_impls[algo];
    if (impl->forward_affine)
        return impl->forward_affine(ctx, d, x, w, scale, shift, residual, relu, y);

    SN_TRY(impl->forward(ctx, d, x, w, y));
    if (!scale && !residual && !relu)
        return SN_OK;
    int yn, yc, yh, yw;
    sn_dims4(y, &yn, &yc, &yh, &yw);
    const int HW = yh * yw, NC = yn * yc;
    size_t global[2] = {(size_t)HW, (size_t)NC};
    /* unused inputs get y's buffer: the kernel does not read them */
    return SN_ENQUEUE(ctx, "sn_channel_affine", 2, global, NULL, SN_ARG_INT(yc), SN_ARG_INT(HW),
                      SN_ARG_INT(NC), SN_ARG_INT(scale != NULL), SN_ARG_INT(residual != NULL),
                      SN_ARG_INT(relu ? 1 : 0), SN_ARG_MEM(scale ? scale->buffer : y->buffer),
                      SN_ARG_MEM(shift ? shift->buffer : y->buffer),
                      SN_ARG_MEM(residual ? residual->buffer : y->buffer),
                      SN_ARG_MEM(y->buffer));
}
