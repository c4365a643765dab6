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
    const int h0 = oh * stride - pad, w0 = ow * stride - pad;
    /* The window clipped to the plane: no per-pixel bounds branch. */
    const int ha = max(h0, 0), hb = min(h0 + K, H), wa = max(w0, 0), wb = min(w0 + K, W);
    if (ha >= hb || wa >= wb) {
        *best_out = -INFINITY;
        return -1;
    }
    float best = plane[ha * W + wa];
    int best_idx = ha * W + wa;
    for (int ih = ha; ih < hb; ih++)
        for (int iw = wa; iw < wb; iw++) {
            const float v = plane[ih * W + iw];
            /* strictly greater: the first maximum wins (a NaN never does,
             * unless it comes first) */
            const int better = v > best;
            best = better ? v : best;
            best_idx = better ? ih * W + iw : best_idx;
        }
    *best_out = best;
    return best_idx;
}

/* x [N,C,H,W] -> y [N,C,OH,OW]. One work item per output row (nc, oh):
 * POCL pays per work-group, and a 2D grid of single pixels left to its
 * default work-group size made millions of tiny ones. Global (N*C*OH). */
__kernel void sn_maxpool_forward(const int NC, const int H, const int W, const int OH,
                                 const int OW, const int K, const int stride, const int pad,
                                 __global const float *x, __global float *y)
{
    const int row = get_global_id(0);
    if (row >= NC * OH)
        return;
    const int nc = row / OH, oh = row - nc * OH;
    __global const float *plane = x + nc * H * W;
    for (int ow = 0; ow < OW; ow++) {
        float best;
        sn_maxpool_winner(plane, H, W, K, stride, pad, oh, ow, &best);
        y[row * OW + ow] = best;
    }
}

/* x [N,C,H,W], dy [N,C,OH,OW] -> dx [N,C,H,W]. One work item per plane
 * (n, c): it finds each window's winner once and adds the window's dy to
 * the winner's pixel. Windows are visited in row-major order, so each pixel
 * sums its windows in a fixed order: deterministic, no atomics. (A work
 * item per input pixel or row evaluated every window up to K*K or K times,
 * 60-100 ms for one ResNet-50 stem pool at batch 8 on 2 cores.)
 * Global (N*C). */
__kernel void sn_maxpool_backward(const int NC, const int H, const int W, const int OH,
                                  const int OW, const int K, const int stride, const int pad,
                                  const int acc, __global const float *x,
                                  __global const float *dy, __global float *dx)
{
    const int nc = get_global_id(0);
    if (nc >= NC)
        return;
    __global const float *plane = x + nc * H * W;
    __global const float *grad = dy + nc * OH * OW;
    __global float *out = dx + nc * H * W;
    if (!acc)
        for (int i = 0; i < H * W; i++)
            out[i] = 0.0f;
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            float best;
            const int p = sn_maxpool_winner(plane, H, W, K, stride, pad, oh, ow, &best);
            if (p >= 0)
                out[p] += grad[oh * OW + ow];
        }
}
