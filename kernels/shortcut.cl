/* Option-A shortcut of the He et al. CIFAR ResNets (host side: src/ops/shortcut.c):
 * subsample by `stride`, pad channels with zeros on both sides.
 *
 * One work item per row in one flat dimension: POCL pays per work-group, and
 * a 2D grid of single pixels left to its default work-group size cost ~10 ms
 * for one ResNet-20 backward (more than a convolution). */

/* x [N,C,H,W] -> y [N,OC,OH,OW]: output channel oc takes input channel
 * oc - off (zero outside [0, C)). Global (N*OC*OH). */
__kernel void sn_shortcut_a_rows_forward(const int C, const int H, const int W, const int OC,
                                         const int OH, const int OW, const int rows,
                                         const int stride, const int off,
                                         __global const float *x, __global float *y)
{
    const int row = get_global_id(0); /* (n, oc, oh) */
    if (row >= rows)
        return;
    const int noc = row / OH, oh = row - noc * OH;
    const int n = noc / OC, c = noc - n * OC - off;
    __global float *out = y + row * OW;
    if (c < 0 || c >= C) {
        for (int ow = 0; ow < OW; ow++)
            out[ow] = 0.0f;
        return;
    }
    __global const float *in = x + ((n * C + c) * H + oh * stride) * W;
    for (int ow = 0; ow < OW; ow++)
        out[ow] = in[ow * stride];
}

/* dy [N,OC,OH,OW] -> dx [N,C,H,W]: the subsampled pixels take dy of their
 * channel off + c, the skipped ones zero; acc = 1 adds into dx.
 * Global (N*C*H). */
__kernel void sn_shortcut_a_rows_backward(const int C, const int H, const int W, const int OC,
                                          const int OH, const int OW, const int rows,
                                          const int stride, const int off, const int acc,
                                          __global const float *dy, __global float *dx)
{
    const int row = get_global_id(0); /* (n, c, h) */
    if (row >= rows)
        return;
    const int nc = row / H, h = row - nc * H;
    const int n = nc / C, c = nc - n * C;
    __global float *out = dx + row * W;
    /* Remainders as x - (x / s) * s, never `%` next to `/` of the same
     * operands: LLVM then freezes the dividend (DivRemPairs), and Oclgrind's
     * --uninitialized cannot run a freeze instruction (fatal error). */
    const int hq = h / stride, hit = h - hq * stride == 0;
    __global const float *in = dy + ((n * OC + c + off) * OH + hq) * OW;
    for (int w = 0; w < W; w++) {
        const int wq = w / stride;
        const float v = hit && w - wq * stride == 0 ? in[wq] : 0.0f;
        out[w] = acc ? out[w] + v : v;
    }
}
