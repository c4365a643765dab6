/* Global average pooling and max pooling. Gradient outputs take `acc`: 0
 * stores (the old value, even NaN, is never read), 1 adds. */

/* x [N,C,H,W] -> y [N*C]: mean over HW, one work-item per (n, c), summed
 * with Kahan compensation. */
__kernel void sn_gap_forward(const int NC, const int HW, __global const float *x,
                             __global float *y)
{
    const int nc = get_global_id(0);
    if (nc >= NC)
        return;
    __global const float *p = x + nc * HW;
    float sum = 0.0f, comp = 0.0f;
    for (int i = 0; i < HW; i++) {
        const float t = p[i] - comp;
        const float s = sum + t;
        comp = (s - sum) - t;
        sum = s;
    }
    y[nc] = sum / (float)HW;
}

/* dy [N*C] -> dx [N,C,H,W] = dy / HW. Global (HW, N*C). */
__kernel void sn_gap_backward(const int NC, const int HW, const int acc,
                              __global const float *dy, __global float *dx)
{
    const int i = get_global_id(0), nc = get_global_id(1);
    if (i >= HW || nc >= NC)
        return;
    const float v = dy[nc] / (float)HW;
    const int k = nc * HW + i;
    if (acc)
        dx[k] += v;
    else
        dx[k] = v;
}

/* Flat index ih*W + iw of the winner of window (oh, ow) in one plane: the
 * first maximum in row-major window order; padding never wins; -1 when the
 * window holds no pixel. Forward and backward share it, so both see the
 * same winners. */
static int sn_maxpool_winner(__global const float *plane, const int H, const int W,
                             const int K, const int stride, const int pad, const int oh,
                             const int ow, float *best_out)
{
    float best = -INFINITY;
    int best_idx = -1;
    const int h0 = oh * stride - pad, w0 = ow * stride - pad;
    for (int kh = 0; kh < K; kh++) {
        const int ih = h0 + kh;
        if (ih < 0 || ih >= H)
            continue;
        for (int kw = 0; kw < K; kw++) {
            const int iw = w0 + kw;
            if (iw < 0 || iw >= W)
                continue;
            const float v = plane[ih * W + iw];
            if (best_idx < 0 || v > best) {
                best = v;
                best_idx = ih * W + iw;
            }
        }
    }
    *best_out = best;
    return best_idx;
}

/* x [N,C,H,W] -> y [N,C,OH,OW]. Global (OH*OW, N*C). */
__kernel void sn_maxpool_forward(const int NC, const int H, const int W, const int OH,
                                 const int OW, const int K, const int stride, const int pad,
                                 __global const float *x, __global float *y)
{
    const int p = get_global_id(0), nc = get_global_id(1);
    if (p >= OH * OW || nc >= NC)
        return;
    const int oh = p / OW, ow = p - oh * OW;
    float best;
    sn_maxpool_winner(x + nc * H * W, H, W, K, stride, pad, oh, ow, &best);
    y[nc * OH * OW + p] = best;
}

/* x [N,C,H,W], dy [N,C,OH,OW] -> dx [N,C,H,W]. Each input pixel gathers dy
 * from the windows that contain it and whose winner it is, in row-major
 * window order: deterministic, no atomics. Global (H*W, N*C). */
__kernel void sn_maxpool_backward(const int NC, const int H, const int W, const int OH,
                                  const int OW, const int K, const int stride, const int pad,
                                  const int acc, __global const float *x,
                                  __global const float *dy, __global float *dx)
{
    const int p = get_global_id(0), nc = get_global_id(1);
    if (p >= H * W || nc >= NC)
        return;
    const int ih = p / W, iw = p - ih * W;
    /* Windows oh with oh*stride - pad <= ih <= oh*stride - pad + K - 1. */
    const int lo_h = ih + pad - K + 1, lo_w = iw + pad - K + 1;
    const int oh0 = lo_h <= 0 ? 0 : (lo_h + stride - 1) / stride;
    const int ow0 = lo_w <= 0 ? 0 : (lo_w + stride - 1) / stride;
    const int oh1 = min((ih + pad) / stride, OH - 1);
    const int ow1 = min((iw + pad) / stride, OW - 1);
    __global const float *plane = x + nc * H * W;
    __global const float *grad = dy + nc * OH * OW;
    float sum = 0.0f;
    for (int oh = oh0; oh <= oh1; oh++)
        for (int ow = ow0; ow <= ow1; ow++) {
            float best;
            if (sn_maxpool_winner(plane, H, W, K, stride, pad, oh, ow, &best) == p)
                sum += grad[oh * OW + ow];
        }
    const int k = nc * H * W + p;
    if (acc)
        dx[k] += sum;
    else
        dx[k] = sum;
}
