/* Reference 2-D convolution (no bias, groups 1): forward, backward data and
 * backward weights. Direct loops over the definition
 *   y[n,oc,oh,ow] = sum_{c,kh,kw} w[oc,c,kh,kw] * x[n,c, oh*s-p+kh, ow*s-p+kw]
 * where reads outside the input are zero (zero padding). */
#include "ref_ops.h"

#include <string.h>

/* x [N,C,H,W], w [OC,C,K,K] -> y [N,OC,OH,OW]. */
void ref_conv2d_forward(const double *x, int N, int C, int H, int W,
                        const double *w, int OC, int K, int stride, int pad,
                        double *y)
{
    const int OH = ref_out_size(H, K, stride, pad);
    const int OW = ref_out_size(W, K, stride, pad);

    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < OC; oc++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    double sum = 0.0;
                    for (int c = 0; c < C; c++)
                        for (int kh = 0; kh < K; kh++)
                            for (int kw = 0; kw < K; kw++) {
                                const int ih = oh * stride - pad + kh;
                                const int iw = ow * stride - pad + kw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                    continue;
                                sum += w[((size_t)(oc * C + c) * K + kh) * K + kw]
                                     * x[((size_t)(n * C + c) * H + ih) * W + iw];
                            }
                    y[((size_t)(n * OC + oc) * OH + oh) * OW + ow] = sum;
                }
}

/* dy [N,OC,OH,OW], w [OC,C,K,K] -> dx [N,C,H,W] (overwritten).
 * Every input pixel receives the weight of each output it was read by;
 * pixels never read (stride skips them) get exactly zero. */
void ref_conv2d_backward_data(const double *dy, int N, int C, int H, int W,
                              const double *w, int OC, int K, int stride, int pad,
                              double *dx)
{
    const int OH = ref_out_size(H, K, stride, pad);
    const int OW = ref_out_size(W, K, stride, pad);

    memset(dx, 0, sizeof(double) * (size_t)N * C * H * W);
    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < OC; oc++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    const double g = dy[((size_t)(n * OC + oc) * OH + oh) * OW + ow];
                    for (int c = 0; c < C; c++)
                        for (int kh = 0; kh < K; kh++)
                            for (int kw = 0; kw < K; kw++) {
                                const int ih = oh * stride - pad + kh;
                                const int iw = ow * stride - pad + kw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                    continue;
                                dx[((size_t)(n * C + c) * H + ih) * W + iw] +=
                                    w[((size_t)(oc * C + c) * K + kh) * K + kw] * g;
                            }
                }
}

/* x [N,C,H,W], dy [N,OC,OH,OW] -> dw [OC,C,K,K] (+= when accumulate). */
void ref_conv2d_backward_weights(const double *x, int N, int C, int H, int W,
                                 const double *dy, int OC, int K, int stride,
                                 int pad, double *dw, int accumulate)
{
    const int OH = ref_out_size(H, K, stride, pad);
    const int OW = ref_out_size(W, K, stride, pad);

    for (int oc = 0; oc < OC; oc++)
        for (int c = 0; c < C; c++)
            for (int kh = 0; kh < K; kh++)
                for (int kw = 0; kw < K; kw++) {
                    double sum = 0.0;
                    for (int n = 0; n < N; n++)
                        for (int oh = 0; oh < OH; oh++)
                            for (int ow = 0; ow < OW; ow++) {
                                const int ih = oh * stride - pad + kh;
                                const int iw = ow * stride - pad + kw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                    continue;
                                sum += x[((size_t)(n * C + c) * H + ih) * W + iw]
                                     * dy[((size_t)(n * OC + oc) * OH + oh) * OW + ow];
                            }
                    double *out = &dw[((size_t)(oc * C + c) * K + kh) * K + kw];
                    *out = accumulate ? *out + sum : sum;
                }
}
