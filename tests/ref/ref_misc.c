/* Reference element-wise ops, option-A shortcut and pooling. */
#include "ref_ops.h"

#include <math.h>
#include <string.h>

/* x [n] -> y [n]. */
void ref_relu_forward(const double *x, size_t n, double *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0 ? x[i] : 0.0;
}

/* dy, y [n] -> dx [n] (overwritten). Uses the forward *output*: the gradient
 * at exactly 0 is 0, as in PyTorch. */
void ref_relu_backward(const double *dy, const double *y, size_t n, double *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = y[i] > 0.0 ? dy[i] : 0.0;
}

/* a, b [n] -> y [n]. */
void ref_add_forward(const double *a, const double *b, size_t n, double *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

/* x [N,C,H,W] -> y [N,OC,OH,OW], OH = ceil(H/stride).
 * y[n, off+c, oh, ow] = x[n, c, oh*stride, ow*stride], other channels zero. */
void ref_shortcut_a_forward(const double *x, int N, int C, int H, int W, int OC,
                            int stride, double *y)
{
    const int OH = (H + stride - 1) / stride;
    const int OW = (W + stride - 1) / stride;
    const int off = (OC - C) / 2;

    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < OC; oc++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    const int c = oc - off;
                    double v = 0.0;
                    if (c >= 0 && c < C)
                        v = x[((size_t)(n * C + c) * H + oh * stride) * W + ow * stride];
                    y[((size_t)(n * OC + oc) * OH + oh) * OW + ow] = v;
                }
}

/* dy [N,OC,OH,OW] -> dx [N,C,H,W] (overwritten); skipped pixels get zero. */
void ref_shortcut_a_backward(const double *dy, int N, int C, int H, int W,
                             int OC, int stride, double *dx)
{
    const int OH = (H + stride - 1) / stride;
    const int OW = (W + stride - 1) / stride;
    const int off = (OC - C) / 2;

    memset(dx, 0, sizeof(double) * (size_t)N * C * H * W);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++)
                    dx[((size_t)(n * C + c) * H + oh * stride) * W + ow * stride] =
                        dy[((size_t)(n * OC + c + off) * OH + oh) * OW + ow];
}

/* x [N,C,H,W] -> y [N,C]: mean over H*W. */
void ref_gap_forward(const double *x, int N, int C, int H, int W, double *y)
{
    const size_t HW = (size_t)H * W;

    for (size_t nc = 0; nc < (size_t)N * C; nc++) {
        double sum = 0.0;
        for (size_t i = 0; i < HW; i++)
            sum += x[nc * HW + i];
        y[nc] = sum / (double)HW;
    }
}

/* dy [N,C] -> dx [N,C,H,W] (overwritten): dy / (H*W) everywhere. */
void ref_gap_backward(const double *dy, int N, int C, int H, int W, double *dx)
{
    const size_t HW = (size_t)H * W;

    for (size_t nc = 0; nc < (size_t)N * C; nc++)
        for (size_t i = 0; i < HW; i++)
            dx[nc * HW + i] = dy[nc] / (double)HW;
}

/* x [N,C,H,W] -> y, argmax [N,C,OH,OW]. Padding never wins (it is -inf);
 * ties go to the first element in row-major window order (strict >).
 * PyTorch requires pad <= K/2 so every window holds an input pixel; a window
 * that would not gets y = -inf and argmax = -1. */
void ref_maxpool_forward(const double *x, int N, int C, int H, int W, int K,
                         int stride, int pad, double *y, int *argmax)
{
    const int OH = ref_out_size(H, K, stride, pad);
    const int OW = ref_out_size(W, K, stride, pad);

    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            const double *plane = x + ((size_t)n * C + c) * H * W;
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    double best = -INFINITY;
                    int best_idx = -1;
                    for (int kh = 0; kh < K; kh++)
                        for (int kw = 0; kw < K; kw++) {
                            const int ih = oh * stride - pad + kh;
                            const int iw = ow * stride - pad + kw;
                            if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                continue;
                            const double v = plane[ih * W + iw];
                            if (best_idx < 0 || v > best) {
                                best = v;
                                best_idx = ih * W + iw;
                            }
                        }
                    const size_t o = (((size_t)n * C + c) * OH + oh) * OW + ow;
                    y[o] = best;
                    argmax[o] = best_idx;
                }
        }
}

/* dy, argmax [N,C,OH,OW] -> dx [N,C,H,W] (overwritten). Overlapping windows
 * (stride < K) may pick the same winner: its gradients add up. */
void ref_maxpool_backward(const double *dy, const int *argmax, int N, int C,
                          int H, int W, int K, int stride, int pad, double *dx)
{
    const int OH = ref_out_size(H, K, stride, pad);
    const int OW = ref_out_size(W, K, stride, pad);
    const size_t HW = (size_t)H * W;

    memset(dx, 0, sizeof(double) * (size_t)N * C * HW);
    for (size_t nc = 0; nc < (size_t)N * C; nc++)
        for (size_t o = 0; o < (size_t)OH * OW; o++) {
            const int idx = argmax[nc * OH * OW + o];
            if (idx >= 0)
                dx[nc * HW + (size_t)idx] += dy[nc * OH * OW + o];
        }
}
