/* The table of convolution algorithms (ops/conv_algo.h): who supports which
 * pass and shape, and the entry points of each. The dispatcher, the affine
 * path and the tuner read only this table. */
#include "ops/conv_algo.h"
#include "ops/conv_direct.h"

int sn_conv_shape_valid(const sn_context *ctx, int N, int C, int H, int W, int OC, int K,
                        int stride, int pad)
{
    return ctx && N > 0 && C > 0 && H > 0 && W > 0 && OC > 0 && K > 0 && stride > 0 &&
           pad >= 0 && (long long)H + 2LL * pad >= K && (long long)W + 2LL * pad >= K;
}

/* im2col + our SGEMM: every valid shape on every device. */
static int gemm_supported(sn_context *ctx, sn_conv_pass pass, int N, int C, int H, int W, int OC,
                          int K, int stride, int pad)
{
    (void)pass;
    return sn_conv_shape_valid(ctx, N, C, H, W, OC, K, stride, pad);
}

/* im2col + CLBlast: where the context may compile at run time. */
static int clblast_supported(sn_context *ctx, sn_conv_pass pass, int N, int C, int H, int W,
                             int OC, int K, int stride, int pad)
{
    return gemm_supported(ctx, pass, N, C, H, W, OC, K, stride, pad) && ctx->runtime_compile;
}

const sn_conv_impl sn_conv_impls[SN_CONV_ALGO_COUNT] = {
    [SN_CONV_ALGO_GEMM] = {gemm_supported, sn_conv2d_gemm_forward, NULL,
                           sn_conv2d_gemm_backward_data, sn_conv2d_gemm_backward_weights},
    [SN_CONV_ALGO_DIRECT] = {sn_conv_direct_supported, sn_conv2d_direct_forward,
                             sn_conv2d_direct_forward_affine, sn_conv2d_direct_backward_data,
                             sn_conv2d_direct_backward_weights},
    [SN_CONV_ALGO_WINOGRAD] = {sn_conv_winograd_supported, sn_conv2d_winograd_forward,
                               sn_conv2d_winograd_forward_affine,
                               sn_conv2d_winograd_backward_data,
                               sn_conv2d_winograd_backward_weights},
    [SN_CONV_ALGO_CLBLAST] = {clblast_supported, sn_conv2d_clblast_forward, NULL,
                              sn_conv2d_clblast_backward_data,
                              sn_conv2d_clblast_backward_weights},
};

int sn_conv_algo_supported(sn_context *ctx, sn_conv_algo algo, sn_conv_pass pass, int N, int C,
                           int H, int W, int OC, int K, int stride, int pad)
{
    return (unsigned)algo < SN_CONV_ALGO_COUNT &&
           sn_conv_impls[algo].supported(ctx, pass, N, C, H, W, OC, K, stride, pad);
}
