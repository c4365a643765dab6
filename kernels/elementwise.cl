/* Element-wise kernels (ReLU, residual add) and the option-A shortcut.
 * Gradient outputs take `acc`: 0 stores (the old value, even NaN, is never
 * read), 1 adds. */

/* y = max(x, 0) (NaN gives 0, as the reference); y may be x. */
__kernel void sn_relu_forward(const int n, __global const float *x, __global float *y)
{
    const int i = get_global_id(0);
    if (i < n) {
        const float v = x[i];
        y[i] = v > 0.0f ? v : 0.0f;
    }
}

/* dx = y > 0 ? dy : 0 from the forward output y. */
__kernel void sn_relu_backward(const int n, const int acc, __global const float *dy,
                               __global const float *y, __global float *dx)
{
    const int i = get_global_id(0);
    if (i < n) {
        const float v = y[i] > 0.0f ? dy[i] : 0.0f;
        if (acc)
            dx[i] += v;
        else
            dx[i] = v;
    }
}

/* y = a + b. */
__kernel void sn_add_forward(const int n, __global const float *a, __global const float *b,
                             __global float *y)
{
    const int i = get_global_id(0);
    if (i < n)
        y[i] = a[i] + b[i];
}

/* x [N,C,H,W] -> y [N,OC,OH,OW]: y[n, off + c, oh, ow] = x[n, c, oh*s, ow*s],
 * zero in the other channels. Global (OH*OW, N*OC). */
__kernel void sn_shortcut_a_forward(const int C, const int H, const int W, const int OC,
                                    const int OH, const int OW, const int NOC, const int stride,
                                    const int off, __global const float *x, __global float *y)
{
    const int p = get_global_id(0), noc = get_global_id(1);
    if (p >= OH * OW || noc >= NOC)
        return;
    const int n = noc / OC, c = noc - n * OC - off;
    const int oh = p / OW, ow = p - oh * OW;
    float v = 0.0f;
    if (c >= 0 && c < C)
        v = x[((n * C + c) * H + oh * stride) * W + ow * stride];
    y[noc * OH * OW + p] = v;
}

/* dy [N,OC,OH,OW] -> dx [N,C,H,W]: the subsampled pixels take dy of their
 * channel off + c, the skipped ones zero. Global (H*W, N*C). */
__kernel void sn_shortcut_a_backward(const int C, const int H, const int W, const int OC,
                                     const int OH, const int OW, const int NC, const int stride,
                                     const int off, const int acc, __global const float *dy,
                                     __global float *dx)
{
    const int p = get_global_id(0), nc = get_global_id(1);
    if (p >= H * W || nc >= NC)
        return;
    const int n = nc / C, c = nc - n * C;
    const int h = p / W, w = p - h * W;
    float v = 0.0f;
    if (h % stride == 0 && w % stride == 0)
        v = dy[((n * OC + c + off) * OH + h / stride) * OW + w / stride];
    const int k = nc * H * W + p;
    if (acc)
        dx[k] += v;
    else
        dx[k] = v;
}
