/* Convolution as GEMM (im2col, col2im and the layout permutes around the
 * GEMM) and the bias kernels of the linear layer.
 *
 * A chunk of `n` images starting at image n0 of the batch is lowered into
 * columns [C*K*K, n*OH*OW]: row r = (c*K + kh)*K + kw, column
 * j = i*OH*OW + oh*OW + ow for image i of the chunk. The GEMM output for the
 * chunk is [OC, n*OH*OW] ("CN" layout); NCHW tensors are "NC" layout. */

/* col [C*K*K, n*OHW] from x [N,C,H,W], images n0 .. n0+n-1; zero padding.
 * One work item writes one output row (OW floats) of one column row: on
 * CPUs (POCL) this runs ~10x faster than one work item per element, whose
 * per-item index divisions dominate. global (OH, n*C*K*K)
 * Index math stays in int: every index is below the size of its buffer. */
__kernel void sn_im2col(const int n, const int C, const int H, const int W, const int K,
                        const int stride, const int pad, const int OH, const int OW,
                        const int n0, __global const float *x, __global float *col)
{
    const int oh = get_global_id(0), z = get_global_id(1);
    const int CKK = C * K * K;
    if (oh >= OH || z >= n * CKK)
        return;
    const int i = z / CKK, r = z - i * CKK;
    const int c = r / (K * K), khw = r - c * K * K;
    const int kh = khw / K, kw = khw - kh * K;
    const int ih = oh * stride - pad + kh;
    __global float *out = col + r * (n * OH * OW) + (i * OH + oh) * OW;
    if (ih < 0 || ih >= H) {
        for (int ow = 0; ow < OW; ow++)
            out[ow] = 0.0f;
        return;
    }
    __global const float *in = x + (((n0 + i) * C + c) * H + ih) * W;
    for (int ow = 0; ow < OW; ow++) {
        const int iw = ow * stride - pad + kw;
        out[ow] = (iw >= 0 && iw < W) ? in[iw] : 0.0f;
    }
}

/* First output index o whose window [o*stride - pad, o*stride - pad + K)
 * covers input index h, and the last one (clipped to [0, O)). */
static int sn_conv_first_window(int h, int K, int stride, int pad)
{
    const int t = h + pad - K + 1; /* o*stride >= t */
    return t <= 0 ? 0 : (t + stride - 1) / stride;
}

static int sn_conv_last_window(int h, int stride, int pad, int O)
{
    const int o = (h + pad) / stride; /* o*stride <= h + pad */
    return o < O - 1 ? o : O - 1;
}

/* dx [N,C,H,W] (images n0 .. n0+n-1) from dcol [C*K*K, n*OHW]: each input
 * element gathers every column entry im2col copied it to, so no two work
 * items write the same element (no atomics). accumulate: dx += sum, else
 * dx = sum (old dx never read, so NaN there does not leak). One work item
 * per input row, as im2col. global (H, n*C) */
__kernel void sn_col2im(const int n, const int C, const int H, const int W, const int K,
                        const int stride, const int pad, const int OH, const int OW,
                        const int n0, const int accumulate, __global const float *dcol,
                        __global float *dx)
{
    const int h = get_global_id(0), z = get_global_id(1);
    if (h >= H || z >= n * C)
        return;
    const int i = z / C, c = z - i * C;
    const int ncols = n * OH * OW;
    const int oh0 = sn_conv_first_window(h, K, stride, pad);
    const int oh1 = sn_conv_last_window(h, stride, pad, OH);
    __global float *out = dx + (((n0 + i) * C + c) * H + h) * W;
    for (int w = 0; w < W; w++) {
        const int ow0 = sn_conv_first_window(w, K, stride, pad);
        const int ow1 = sn_conv_last_window(w, stride, pad, OW);
        float sum = 0.0f;
        for (int oh = oh0; oh <= oh1; oh++) {
            const int kh = h + pad - oh * stride;
            __global const float *row = dcol + (c * K + kh) * K * ncols + (i * OH + oh) * OW;
            for (int ow = ow0; ow <= ow1; ow++)
                sum += row[(w + pad - ow * stride) * ncols + ow];
        }
        out[w] = accumulate ? out[w] + sum : sum;
    }
}

/* nc [N,OC,HW] (images n0 .. n0+n-1) = cn [OC, n*HW], which starts at
 * element cn_off of its buffer. global (HW, OC, n) */
__kernel void sn_conv_cn_to_nc(const int n, const int OC, const int HW, const int n0,
                               const int cn_off, __global const float *cn, __global float *nc)
{
    const int p = get_global_id(0), oc = get_global_id(1), i = get_global_id(2);
    if (p >= HW || oc >= OC || i >= n)
        return;
    nc[((n0 + i) * OC + oc) * HW + p] = cn[cn_off + (oc * n + i) * HW + p];
}

/* cn [OC, n*HW] at element cn_off = nc [N,OC,HW] (images n0 .. n0+n-1).
 * global (HW, OC, n) */
__kernel void sn_conv_nc_to_cn(const int n, const int OC, const int HW, const int n0,
                               const int cn_off, __global const float *nc, __global float *cn)
{
    const int p = get_global_id(0), oc = get_global_id(1), i = get_global_id(2);
    if (p >= HW || oc >= OC || i >= n)
        return;
    cn[cn_off + (oc * n + i) * HW + p] = nc[((n0 + i) * OC + oc) * HW + p];
}

/* dw [count] (+)= sum of `splits` partials [splits, count] that start at
 * element part_off of ws (old dw never read unless accumulate).
 * global (count) */
__kernel void sn_conv_sum_partials(const int count, const int splits, const int accumulate,
                                   const int part_off, __global const float *ws,
                                   __global float *dw)
{
    const int e = get_global_id(0);
    if (e >= count)
        return;
    float sum = 0.0f;
    for (int s = 0; s < splits; s++)
        sum += ws[part_off + s * count + e];
    dw[e] = accumulate ? dw[e] + sum : sum;
}

/* y [N,OUT] = b broadcast over the rows (the GEMM then adds x w^T).
 * global (OUT, N) */
__kernel void sn_bias_rows(const int N, const int OUT, __global const float *b,
                           __global float *y)
{
    const int o = get_global_id(0), row = get_global_id(1);
    if (o >= OUT || row >= N)
        return;
    y[row * OUT + o] = b[o];
}

/* db [OUT] = sum over rows of dy [N,OUT] (+= when accumulate; old db never
 * read otherwise). global (OUT) */
__kernel void sn_bias_grad(const int N, const int OUT, const int accumulate,
                           __global const float *dy, __global float *db)
{
    const int o = get_global_id(0);
    if (o >= OUT)
        return;
    float sum = 0.0f;
    for (int row = 0; row < N; row++)
        sum += dy[row * OUT + o];
    db[o] = accumulate ? db[o] + sum : sum;
}

