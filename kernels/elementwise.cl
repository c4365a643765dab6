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

/* Epilogue of a convolution run without a fused store (src/ops/conv_affine.c),
 * in place on its output y [N,C,H,W]: y = y * scale[c] + shift[c] (affine),
 * then + r (res, r like y), then max(., 0) (relu; NaN gives 0). The order of
 * the direct kernels' fused epilogue. Global (H*W, N*C). */
__kernel void sn_channel_affine(const int C, const int HW, const int NC, const int affine,
                                const int res, const int relu, __global const float *scale,
                                __global const float *shift, __global const float *r,
                                __global float *y)
{
    const int i = get_global_id(0), nc = get_global_id(1);
    if (i >= HW || nc >= NC)
        return;
    const int k = nc * HW + i;
    float v = y[k];
    if (affine) {
        const int c = nc % C;
        v = fma(v, scale[c], shift[c]);
    }
    if (res)
        v += r[k];
    y[k] = relu ? (v > 0.0f ? v : 0.0f) : v;
}
