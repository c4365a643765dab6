/* Direct (implicit-GEMM) convolution: no im2col buffer. Host side in
 * src/ops/conv_direct.c.
 *
 * Every pass is one register-tiled product "vector x broadcast":
 *   acc[ob][p] += A[r][t][vo + ob*V .. +V]  *  B[base_p + off(r, t)]
 * A work item owns a tile of OB*V channels (the vector lanes: a uniform,
 * contiguous vector load) by P pixels (one scalar broadcast each), and sums
 * over r (channels of the other side) and t (kernel taps). On CPUs each
 * work item is explicit SIMD (floatV is one AVX-512 register for V = 16):
 * POCL need not vectorise across work items, and a tap costs OB vector loads
 * and OB*P FMAs with a broadcast memory operand. No local memory, no
 * barriers.
 *   forward            lanes: output channels; r: input channels; t: (kh, kw);
 *                      B: x, zero-padded (a copy in the workspace when pad > 0).
 *   backward data      lanes: input channels; r: output channels; one launch
 *                      per phase (ih mod s, iw mod s) of dx, whose taps
 *                      (kh = (ih+pad) mod s + s*u) are a stride-1 gather from
 *                      dy zero-padded by margins.
 *   backward weights   lanes: output channels; r: pixels (n, oh, ow) of a
 *                      slice of the reduction; the P columns of a tile are
 *                      (c, kh, kw) entries of dw; A: dy transposed to
 *                      [pixel][OC]; partial sums per slice, summed by
 *                      sn_convd_sum_partials (deterministic, no atomics).
 *
 * Tile sizes are build-time parameters: SN_CONVD_V (4, 8 or 16), and two
 * tile variants "a" (OB = 1, SN_CONVD_PA pixels) and "b" (OB = 2,
 * SN_CONVD_PB pixels, SN_CONVD_PBW columns for the weight gradient); the
 * host takes "b" when the lane channels fill two vectors.
 * src/ops/conv_direct.c mirrors these defaults (keep them equal).
 *
 * CPUs also run the transposed tiling, pixels in the lanes and channels
 * broadcast, where the rows of the image fill vectors (the host decides per
 * pass and shape, conv_direct.c: choose_rows, choose_wrows):
 *   sn_convd_rows_*    forward and backward data: M channels by PV vectors
 *                      of consecutive pixels of a row (contiguous loads of B
 *                      and stores of Y); at a stride the forward reads x
 *                      from a column-split copy (sn_convd_pad).
 *   sn_convd_rows2_*   backward data at stride 2, both column phases of a
 *                      dx row in one work item, stored as whole vectors.
 *   sn_convd_wrows_*   weight gradient with the reduction's ow in the
 *                      lanes: dy read as it lies, no transposed copy. */

/* Tile sizes: SN_CONVD_V (4, 8 or 16), SN_CONVD_PA, SN_CONVD_PB and
 * SN_CONVD_PBW come from the host's device parameter table
 * (runtime/device_params.c, with the measurements behind them). */
#if !defined(SN_CONVD_V) || !defined(SN_CONVD_PA) || !defined(SN_CONVD_PB) || \
    !defined(SN_CONVD_PBW)
#error "SN_CONVD_V, _PA, _PB and _PBW come from the host's device parameter table"
#endif

#if SN_CONVD_V == 16
#define SN_FLOATV float16
#define SN_INTV int16
#define SN_LANE_IDS ((int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#define SN_INTERLEAVE_LO ((uint16)(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23))
#define SN_INTERLEAVE_HI ((uint16)(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31))
#define SN_VLOAD vload16
#define SN_VSTORE vstore16
#elif SN_CONVD_V == 8
#define SN_FLOATV float8
#define SN_INTV int8
#define SN_LANE_IDS ((int8)(0, 1, 2, 3, 4, 5, 6, 7))
#define SN_INTERLEAVE_LO ((uint8)(0, 8, 1, 9, 2, 10, 3, 11))
#define SN_INTERLEAVE_HI ((uint8)(4, 12, 5, 13, 6, 14, 7, 15))
#define SN_VLOAD vload8
#define SN_VSTORE vstore8
#elif SN_CONVD_V == 4
#define SN_FLOATV float4
#define SN_INTV int4
#define SN_LANE_IDS ((int4)(0, 1, 2, 3))
#define SN_INTERLEAVE_LO ((uint4)(0, 4, 1, 5))
#define SN_INTERLEAVE_HI ((uint4)(2, 6, 3, 7))
#define SN_VLOAD vload4
#define SN_VSTORE vstore4
#else
#error "SN_CONVD_V must be 4, 8 or 16"
#endif

/* out [n, C, Ho, Wo] = in [n0 + n, C, Hi, Wi] shifted by (top, left), zero
 * outside (negative top/left crop). With split > 1 (strided passes of the
 * pixel-lane kernels) each output row is stored column-split: `split`
 * segments of Wq floats, segment b holding columns b, b + split, ... (zero
 * past Wo), so that a strided tap reads consecutive floats. One work item
 * per output row, in one flat dimension: POCL pays per work-group, and a
 * (Wo, Ho, n*C) grid of small rows would make thousands of tiny ones.
 * global (n*C*Ho) */
__kernel void sn_convd_pad(const int C, const int Hi, const int Wi, const int Ho, const int Wo,
                           const int top, const int left, const int split, const int Wq,
                           const int n0, const int n, __global const float *in,
                           const int out_off, __global float *out)
{
    const int row = get_global_id(0);
    if (row >= n * C * Ho)
        return;
    const int z = row / Ho, i = row - z * Ho, si = i - top;
    const int RW = split > 1 ? split * Wq : Wo;
    __global float *o = out + out_off + row * RW;
    if (si < 0 || si >= Hi) {
        for (int j = 0; j < RW; j++)
            o[j] = 0.0f;
        return;
    }
    __global const float *src = in + ((n0 * C + z) * Hi + si) * Wi;
    if (split > 1) {
        /* Segment b: zeros, then q with q*split + b - left inside the
         * source row and q*split + b < Wo (branch-free loops), zeros. */
        for (int b = 0; b < split; b++) {
            __global float *ob = o + b * Wq;
            int qlo = left - b > 0 ? (left - b + split - 1) / split : 0;
            int qhi = (Wi - 1 + left - b) / split + 1, qwo = (Wo - 1 - b) / split + 1;
            qhi = qhi < qwo ? qhi : qwo;
            qhi = qhi < Wq ? qhi : Wq;
            qlo = qlo < qhi ? qlo : qhi;
            int q = 0;
            for (; q < qlo; q++)
                ob[q] = 0.0f;
            __global const float *sb = src + b - left;
            for (; q < qhi; q++)
                ob[q] = sb[q * split];
            for (; q < Wq; q++)
                ob[q] = 0.0f;
        }
        return;
    }
    /* Zeros, the row's copy in whole vectors (a scalar loop over a row per
     * work item is what POCL would otherwise run), zeros. */
    const int j0 = left > 0 ? left : 0, j1 = left + Wi < Wo ? left + Wi : Wo;
    int j = 0;
    for (; j < j0; j++)
        o[j] = 0.0f;
    for (; j + SN_CONVD_V <= j1; j += SN_CONVD_V)
        SN_VSTORE(SN_VLOAD(0, src + (j - left)), 0, o + j);
    for (; j < j1; j++)
        o[j] = src[j - left];
    for (; j < Wo; j++)
        o[j] = 0.0f;
}

/* Forward weights: A [C*K*K][OCp] = w [OC][C*K*K] transposed, zero for
 * oc >= OC. global (OCp, CKK) */
__kernel void sn_convd_weights_fwd(const int OC, const int CKK, const int OCp,
                                   __global const float *w, const int a_off, __global float *a)
{
    const int oc = get_global_id(0), r = get_global_id(1);
    if (oc >= OCp || r >= CKK)
        return;
    a[a_off + r * OCp + oc] = oc < OC ? w[oc * CKK + r] : 0.0f;
}

/* Backward-data weights of one phase: A [OC][Th][Tw][Cp] with
 * A[oc][u][v][c] = w[oc][c][kh0 + s*u][kw0 + sw*v], zero for c >= C (sw:
 * s, or 1 for the column-paired kernel's every kw). global (Cp, Th*Tw, OC) */
__kernel void sn_convd_weights_bwd(const int OC, const int C, const int K, const int Cp,
                                   const int s, const int sw, const int kh0, const int kw0,
                                   const int Th, const int Tw, __global const float *w,
                                   const int a_off, __global float *a)
{
    const int c = get_global_id(0), t = get_global_id(1), oc = get_global_id(2);
    if (c >= Cp || t >= Th * Tw || oc >= OC)
        return;
    const int u = t / Tw, v = t - u * Tw;
    const int kh = kh0 + s * u, kw = kw0 + sw * v;
    a[a_off + (oc * Th * Tw + t) * Cp + c] = c < C ? w[((oc * C + c) * K + kh) * K + kw] : 0.0f;
}

/* dyT [n][OH*OW][OCp] = dy [n0 + n][OC][OH*OW], zero for oc >= OC. One
 * work item per pixel, flat (see sn_convd_pad). global (n*OHW) */
__kernel void sn_convd_transpose_dy(const int OC, const int OHW, const int OCp, const int n0,
                                    const int n, __global const float *dy, const int out_off,
                                    __global float *out)
{
    const int pix = get_global_id(0);
    if (pix >= n * OHW)
        return;
    const int i = pix / OHW, q = pix - i * OHW;
    __global float *o = out + out_off + pix * OCp;
    __global const float *src = dy + (n0 + i) * OC * OHW + q;
    for (int oc = 0; oc < OC; oc++)
        o[oc] = src[oc * OHW];
    for (int oc = OC; oc < OCp; oc++)
        o[oc] = 0.0f;
}

/* The forward's fused epilogue (sn_conv2d_direct_forward_affine), bits of
 * `epi`: SN_CONVD_EPI_AFFINE v*scale[c] + shift[c], SN_CONVD_EPI_RES
 * + res[i] (i: the element's index in Y; res may be Y itself: read before
 * the store by the same work item), SN_CONVD_EPI_RELU max(v, 0). Zero: the
 * plain store, and none of the pointers is read. Keep the bits equal to
 * src/ops/conv_direct.c. */
#define SN_CONVD_EPI_AFFINE 1
#define SN_CONVD_EPI_RES 2
#define SN_CONVD_EPI_RELU 4
static float sn_convd_epilogue(float v, const int epi, const int c, const int i,
                               __global const float *scale, __global const float *shift,
                               __global const float *res)
{
    if (epi & SN_CONVD_EPI_AFFINE)
        v = fma(v, scale[c], shift[c]);
    if (epi & SN_CONVD_EPI_RES)
        v += res[i];
    if (epi & SN_CONVD_EPI_RELU)
        v = v > 0.0f ? v : 0.0f;
    return v;
}

/* The step every channel-lane kernel repeats: acc[ob][p] += (OB vectors
 * at a) x (one scalar per pixel p, broadcast). SCALAR is the expression of
 * pixel p's scalar and reads the loop variable p. */
#define SN_CONVD_OUTER(OB, P, acc, a, SCALAR)                                                 \
    do {                                                                                      \
        SN_FLOATV av_[OB];                                                                    \
        _Pragma("unroll") for (int ob = 0; ob < (OB); ob++) av_[ob] =                        \
            SN_VLOAD(0, (a) + ob * SN_CONVD_V);                                               \
        _Pragma("unroll") for (int p = 0; p < (P); p++)                                      \
        {                                                                                     \
            const SN_FLOATV xv_ = (SN_FLOATV)(SCALAR);                                        \
            _Pragma("unroll") for (int ob = 0; ob < (OB); ob++) acc[ob][p] =                 \
                fma(av_[ob], xv_, acc[ob][p]);                                                \
        }                                                                                     \
    } while (0)

/* The product of forward and backward data, one tile of OB*V lanes by P
 * pixels per work item. Pixels q in [0, Q) of a grid Qw wide: q = i*Qw + j
 * reads B at b_off + image*b_img + i*b_rs + j*b_cs + r*b_plane + tap offset
 * and writes Y at y_off + image*y_img + lane*y_plane + i*y_rs + j*y_cs.
 * Pixels of all `images` form one sequence (tiles may span two images:
 * small images of many channels then leave no tile slots idle, and a tile
 * of A stays in cache across every image). Taps: u in [0, Th), v in
 * [0, Tw), offset t0 + u*du + v*dv; A holds [R][Th*Tw][VOp] at a_off.
 * Lanes >= VO and pixels past the last image are computed on clamped
 * (valid) addresses and not stored. accumulate: Y += sum, else Y = sum (old
 * Y never read); epi != 0 (forward only, accumulate 0): Y =
 * sn_convd_epilogue(sum), lane = channel. global (ceil(Q*images/P),
 * VOp/(OB*V)), or with lanes_first (VOp/(OB*V), ceil(Q*images/P)): the order
 * in which POCL walks the work-groups (dimension 0 fastest) decides whether
 * A (the weights) or B stays in cache while the other streams. */
#define SN_CONVD_GATHER(NAME, OB, P)                                                          \
    __kernel void NAME(                                                                       \
        const int R, const int Th, const int Tw, const int t0, const int du, const int dv,   \
        const int VO, const int VOp, const int Q, const int Qw, const int images,            \
        const int b_rs, const int b_cs, const int b_plane, const int b_img, const int y_rs,  \
        const int y_cs,                                                                       \
        const int y_plane, const int y_img, const int accumulate, const int lanes_first,     \
        const int a_off,                                                                      \
        __global const float *A, const int b_off, __global const float *B, const int y_off,  \
        __global float *Y, const int epi, __global const float *scale,                       \
        __global const float *shift, __global const float *res)                              \
    {                                                                                         \
        const int g0 = get_global_id(0), g1 = get_global_id(1);                               \
        const int q0 = (lanes_first ? g1 : g0) * (P);                                         \
        const int vo0 = (lanes_first ? g0 : g1) * ((OB) * SN_CONVD_V);                        \
        const int QN = Q * images;                                                            \
        if (q0 >= QN || vo0 >= VOp)                                                           \
            return;                                                                           \
        int base[P];                                                                          \
        _Pragma("unroll") for (int p = 0; p < (P); p++)                                      \
        {                                                                                     \
            const int qa = q0 + p < QN ? q0 + p : QN - 1;                                     \
            const int img = qa / Q, q = qa - img * Q, i = q / Qw, j = q - i * Qw;             \
            base[p] = b_off + img * b_img + i * b_rs + j * b_cs + t0;                         \
        }                                                                                     \
        SN_FLOATV acc[OB][P];                                                                 \
        _Pragma("unroll") for (int ob = 0; ob < (OB); ob++)                                  \
            _Pragma("unroll") for (int p = 0; p < (P); p++) acc[ob][p] = (SN_FLOATV)(0.0f);  \
        __global const float *a = A + a_off + vo0;                                            \
        if (Th == 1 && Tw == 1) { /* 1x1: one tap per channel */                              \
            for (int r = 0; r < R; r++) {                                                     \
                __global const float *b = B + r * b_plane;                                    \
                SN_CONVD_OUTER(OB, P, acc, a, b[base[p]]);                                    \
                a += VOp;                                                                     \
            }                                                                                 \
        } else                                                                                \
        for (int r = 0; r < R; r++) {                                                         \
            __global const float *b = B + r * b_plane;                                        \
            for (int u = 0; u < Th; u++) {                                                    \
                for (int v = 0; v < Tw; v++) {                                                \
                    const int off = u * du + v * dv;                                          \
                    SN_CONVD_OUTER(OB, P, acc, a, b[base[p] + off]);                          \
                    a += VOp;                                                                 \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
        _Pragma("unroll") for (int p = 0; p < (P); p++)                                      \
        {                                                                                     \
            if (q0 + p >= QN)                                                                 \
                break;                                                                        \
            const int img = (q0 + p) / Q, q = q0 + p - img * Q, i = q / Qw, j = q - i * Qw;   \
            const int yi = y_off + img * y_img + i * y_rs + j * y_cs;                         \
            __global float *y = Y + yi;                                                       \
            _Pragma("unroll") for (int ob = 0; ob < (OB); ob++)                              \
            {                                                                                 \
                float lane[SN_CONVD_V];                                                       \
                SN_VSTORE(acc[ob][p], 0, lane);                                               \
                const int c0 = vo0 + ob * SN_CONVD_V;                                         \
                const int nl = VO - c0 < SN_CONVD_V ? VO - c0 : SN_CONVD_V;                   \
                if (epi) {                                                                    \
                    for (int l = 0; l < nl; l++)                                              \
                        y[(c0 + l) * y_plane] = sn_convd_epilogue(                            \
                            lane[l], epi, c0 + l, yi + (c0 + l) * y_plane, scale, shift, res); \
                } else if (accumulate) {                                                      \
                    for (int l = 0; l < nl; l++)                                              \
                        y[(c0 + l) * y_plane] += lane[l];                                     \
                } else {                                                                      \
                    for (int l = 0; l < nl; l++)                                              \
                        y[(c0 + l) * y_plane] = lane[l];                                      \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    }

SN_CONVD_GATHER(sn_convd_gather_a, 1, SN_CONVD_PA)
SN_CONVD_GATHER(sn_convd_gather_b, 2, SN_CONVD_PB)

/* The epilogue of sn_convd_epilogue on a whole vector of pixels of channel
 * c: res_at points at the vector's first element in res. */
static SN_FLOATV sn_convd_epilogue_v(SN_FLOATV v, const int epi, const int c,
                                     __global const float *scale, __global const float *shift,
                                     __global const float *res_at)
{
    if (epi & SN_CONVD_EPI_AFFINE)
        v = fma(v, (SN_FLOATV)(scale[c]), (SN_FLOATV)(shift[c]));
    if (epi & SN_CONVD_EPI_RES)
        v += SN_VLOAD(0, res_at);
    if (epi & SN_CONVD_EPI_RELU)
        v = fmax(v, (SN_FLOATV)(0.0f));
    return v;
}

/* The same product as the gather with the tile transposed: pixels in the
 * vector lanes, channels broadcast. The gather stores one scalar per lane
 * and pixel (lanes are channels, y_plane apart) and broadcasts pixels that
 * lie a plane apart for every r; with few lane channels (the ResNet-20 stem
 * and its 16-channel layers) or many r (1x1 reductions) that costs more than
 * its FMAs. Here a work item owns M consecutive channels o (scalars of A,
 * broadcast) by PV vectors of V consecutive pixels of a row of B
 * (contiguous loads) and of Y (contiguous stores when y_cs is 1):
 *   acc[m][pv] += A[r][t][o0 + m] * B[pixels j .. j+V-1 of the vector + off(r, t)]
 * Pixel (i, j) of the Qh x Qw grid reads B at b_off + image*b_img + i*b_rs +
 * j + t0 + r*b_plane + u*du + (v / cs)*dv + (v mod cs)*seg (unit column
 * stride; cs > 1: B's rows are column-split, see sn_convd_pad, and tap v of
 * a stride-cs convolution lies in segment v mod cs; the host takes this
 * kernel only when Qw >= V) and writes Y as the gather does.
 * A holds [R][Th*Tw][VOp] at a_off with VOp a multiple of M. Vectors: VPR =
 * ceil(Qw/V) per row, vector k of an image covers row k / VPR from column
 * (k mod VPR)*V, the last of a row moved back to end at Qw (it recomputes
 * columns of its neighbour and stores only its own); the vectors of all
 * `images` form one sequence, a tile is PV consecutive vectors of it (rows
 * and images may change inside a tile), and vectors past the last image
 * repeat the last one without storing. accumulate, epi: as the gather.
 * global (ceil(images*Qh*VPR/PV), ceil(VO/M)), or with chan_first
 * (ceil(VO/M), ceil(images*Qh*VPR/PV)): the work items that share a tile of
 * B run back to back. */
/* One tap of the rows kernel: acc[m][pv] += A[m] * B vector pv. Two loop
 * orders, so that LLVM keeps every accumulator in a register (AVX-512: 32):
 * pixels outer holds the M broadcasts across the PV vectors (M*PV + M + 1
 * registers), channels outer holds the PV vectors across the M channels
 * (M*PV + PV + 1). */
#define SN_CONVD_ROWS_TAP_PO(M, PV, a, bp, off)                                               \
    _Pragma("unroll") for (int pv = 0; pv < (PV); pv++)                                      \
    {                                                                                         \
        const SN_FLOATV xv = SN_VLOAD(0, (bp) + boff[pv] + (off));                            \
        _Pragma("unroll") for (int m = 0; m < (M); m++) acc[m][pv] =                         \
            fma((SN_FLOATV)((a)[m]), xv, acc[m][pv]);                                         \
    }
#define SN_CONVD_ROWS_TAP_MO(M, PV, a, bp, off)                                               \
    {                                                                                         \
        SN_FLOATV xv[PV];                                                                     \
        _Pragma("unroll") for (int pv = 0; pv < (PV); pv++) xv[pv] =                         \
            SN_VLOAD(0, (bp) + boff[pv] + (off));                                             \
        _Pragma("unroll") for (int m = 0; m < (M); m++)                                      \
        {                                                                                     \
            const SN_FLOATV wv = (SN_FLOATV)((a)[m]);                                         \
            _Pragma("unroll") for (int pv = 0; pv < (PV); pv++) acc[m][pv] =                 \
                fma(wv, xv[pv], acc[m][pv]);                                                  \
        }                                                                                     \
    }

#define SN_CONVD_ROWS(NAME, M, PV, TAP)                                                       \
    __kernel void NAME(                                                                       \
        const int R, const int Th, const int Tw, const int t0, const int du, const int dv,   \
        const int cs, const int seg, const int VO, const int VOp, const int Qh,              \
        const int Qw, const int images, const int b_rs, const int b_plane, const int b_img,  \
        const int y_rs, const int y_cs,                                                       \
        const int y_plane, const int y_img, const int accumulate, const int chan_first,      \
        const int a_off, __global const float *A, const int b_off, __global const float *B,  \
        const int y_off, __global float *Y, const int epi, __global const float *scale,      \
        __global const float *shift, __global const float *res)                              \
    {                                                                                         \
        const int g0 = get_global_id(0), g1 = get_global_id(1);                               \
        const int VPR = (Qw + SN_CONVD_V - 1) / SN_CONVD_V, nvec = Qh * VPR;                  \
        const int k0 = (chan_first ? g1 : g0) * (PV), o0 = (chan_first ? g0 : g1) * (M);      \
        const int kn = nvec * images;                                                         \
        if (k0 >= kn || o0 >= VO)                                                             \
            return;                                                                           \
        int boff[PV], yoff[PV], own[PV]; /* own: first lane this vector stores */             \
        _Pragma("unroll") for (int pv = 0; pv < (PV); pv++)                                  \
        {                                                                                     \
            const int ka = k0 + pv < kn ? k0 + pv : kn - 1;                                   \
            const int img = ka / nvec, k = ka - img * nvec;                                   \
            const int i = k / VPR, c = (k - i * VPR) * SN_CONVD_V;                            \
            const int j = c + SN_CONVD_V <= Qw ? c : Qw - SN_CONVD_V;                         \
            boff[pv] = b_off + img * b_img + i * b_rs + j + t0;                               \
            yoff[pv] = y_off + img * y_img + i * y_rs + j * y_cs;                             \
            own[pv] = k0 + pv < kn ? c - j : SN_CONVD_V;                                      \
        }                                                                                     \
        SN_FLOATV acc[M][PV];                                                                 \
        _Pragma("unroll") for (int m = 0; m < (M); m++)                                      \
            _Pragma("unroll") for (int pv = 0; pv < (PV); pv++) acc[m][pv] =                 \
                (SN_FLOATV)(0.0f);                                                            \
        __global const float *a = A + a_off + o0;                                             \
        if (Th == 1 && Tw == 1) { /* 1x1: one tap per channel */                              \
            for (int r = 0; r < R; r++) {                                                     \
                TAP(M, PV, a, B + r * b_plane, 0)                                             \
                a += VOp;                                                                     \
            }                                                                                 \
        } else                                                                                \
            for (int r = 0; r < R; r++) {                                                     \
                __global const float *b = B + r * b_plane;                                    \
                for (int u = 0; u < Th; u++) {                                                \
                    /* tap v at (v / cs)*dv + (v mod cs)*seg, counted up */                   \
                    int vq = 0, vb = 0;                                                       \
                    for (int v = 0; v < Tw; v++) {                                            \
                        TAP(M, PV, a, b, u * du + vq * dv + vb * seg)                         \
                        a += VOp;                                                             \
                        if (++vb == cs) {                                                     \
                            vb = 0;                                                           \
                            vq++;                                                             \
                        }                                                                     \
                    }                                                                         \
                }                                                                             \
            }                                                                                 \
        _Pragma("unroll") for (int pv = 0; pv < (PV); pv++)                                  \
        {                                                                                     \
            if (own[pv] >= SN_CONVD_V)                                                        \
                break;                                                                        \
            _Pragma("unroll") for (int m = 0; m < (M); m++)                                  \
            {                                                                                 \
                const int o = o0 + m;                                                         \
                if (o >= VO)                                                                  \
                    break;                                                                    \
                const int yi = yoff[pv] + o * y_plane;                                        \
                __global float *y = Y + yi;                                                   \
                if (own[pv] == 0 && y_cs == 1) {                                              \
                    SN_FLOATV v = acc[m][pv];                                                 \
                    if (epi)                                                                  \
                        v = sn_convd_epilogue_v(v, epi, o, scale, shift, res + yi);           \
                    else if (accumulate)                                                      \
                        v += SN_VLOAD(0, y);                                                  \
                    SN_VSTORE(v, 0, y);                                                       \
                } else {                                                                      \
                    float lane[SN_CONVD_V];                                                   \
                    SN_VSTORE(acc[m][pv], 0, lane);                                           \
                    for (int l = own[pv]; l < SN_CONVD_V; l++) {                              \
                        const int e = yi + l * y_cs;                                          \
                        Y[e] = epi ? sn_convd_epilogue(lane[l], epi, o, e, scale, shift, res) \
                               : accumulate ? Y[e] + lane[l]                                  \
                                            : lane[l];                                        \
                    }                                                                         \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    }

/* The host's choice (conv_direct.c: choose_rows): 8 x 3 on 3x3s, 6 x 4 on
 * 1x1s, 3 x 8 and 4 x 6 for the stems' 3 channels. */
SN_CONVD_ROWS(sn_convd_rows_8x3, 8, 3, SN_CONVD_ROWS_TAP_MO)
SN_CONVD_ROWS(sn_convd_rows_6x4, 6, 4, SN_CONVD_ROWS_TAP_PO)
SN_CONVD_ROWS(sn_convd_rows_4x6, 4, 6, SN_CONVD_ROWS_TAP_PO)
SN_CONVD_ROWS(sn_convd_rows_3x8, 3, 8, SN_CONVD_ROWS_TAP_PO)

/* Weight-gradient partials of one slice of the reduction: for columns
 * col = (c*K + kh)*K + kw of dw (P per work item) and OB*V output channels,
 *   part[slice][col][oc] = sum over rows (n, oh) of the slice, ow < OW of
 *                          dyT[n][oh*OW + ow][oc] * xp[n][c][oh*s + kh][ow*s + kw]
 * with xp [n][C][Hp][Wp] at xp_off (padded x, or x itself when pad is 0)
 * and dyT at a_off. A slice is `rows` consecutive rows (n, oh) of the
 * chunk's n*OH. global (ceil(CKK/P), OCp/(OB*V), slices) */
#define SN_CONVD_WGRAD(NAME, OB, P)                                                           \
    __kernel void NAME(const int C, const int K, const int s, const int Hp, const int Wp,     \
                       const int OH, const int OW, const int OCp, const int nrows,           \
                       const int rows, const int a_off, __global const float *A,             \
                       const int b_off, __global const float *B, const int part_off,         \
                       __global float *part)                                                  \
    {                                                                                         \
        const int col0 = get_global_id(0) * (P);                                              \
        const int vo0 = get_global_id(1) * ((OB) * SN_CONVD_V);                               \
        const int slice = get_global_id(2);                                                   \
        const int KK = K * K, CKK = C * KK;                                                   \
        if (col0 >= CKK || vo0 >= OCp)                                                        \
            return;                                                                           \
        int off[P];                                                                           \
        _Pragma("unroll") for (int p = 0; p < (P); p++)                                      \
        {                                                                                     \
            const int col = col0 + p < CKK ? col0 + p : CKK - 1;                              \
            const int c = col / KK, khw = col - c * KK, kh = khw / K, kw = khw - kh * K;      \
            off[p] = b_off + (c * Hp + kh) * Wp + kw;                                         \
        }                                                                                     \
        SN_FLOATV acc[OB][P];                                                                 \
        _Pragma("unroll") for (int ob = 0; ob < (OB); ob++)                                  \
            _Pragma("unroll") for (int p = 0; p < (P); p++) acc[ob][p] = (SN_FLOATV)(0.0f);  \
        const int r0 = slice * rows;                                                          \
        const int r1 = r0 + rows < nrows ? r0 + rows : nrows;                                 \
        const int img_floats = C * Hp * Wp;                                                   \
        for (int row = r0; row < r1; row++) {                                                 \
            const int n = row / OH, oh = row - n * OH;                                        \
            __global const float *a = A + a_off + row * OW * OCp + vo0;                       \
            __global const float *b = B + n * img_floats + oh * s * Wp;                       \
            for (int ow = 0; ow < OW; ow++) {                                                 \
                SN_CONVD_OUTER(OB, P, acc, a, b[off[p]]);                                     \
                a += OCp;                                                                     \
                b += s;                                                                       \
            }                                                                                 \
        }                                                                                     \
        __global float *out = part + part_off + (slice * CKK) * OCp + vo0;                   \
        _Pragma("unroll") for (int p = 0; p < (P); p++)                                      \
        {                                                                                     \
            if (col0 + p < CKK) {                                                             \
                _Pragma("unroll") for (int ob = 0; ob < (OB); ob++)                          \
                    SN_VSTORE(acc[ob][p], 0, out + (col0 + p) * OCp + ob * SN_CONVD_V);       \
            }                                                                                 \
        }                                                                                     \
    }

SN_CONVD_WGRAD(sn_convd_wgrad_a, 1, SN_CONVD_PA)
SN_CONVD_WGRAD(sn_convd_wgrad_b, 2, SN_CONVD_PBW)

/* Backward data at stride 2 with the two column phases of a dx row in one
 * work item (CPUs, pixel lanes): the rows kernel on one phase stores every
 * other float of dx, one scalar per lane (a third of its time); here the
 * lanes j of a vector hold dx columns 2j and 2j + 1 in two accumulators,
 * interleaved at the store into two whole vectors. For the row phase a
 * (dx rows a + 2i, taps u < Th as the rows kernel), every kw contributes to
 * column phase b = (kw + pad) mod 2 from dy column j + (b + pad - kw) / 2:
 *   acc[b][m][pv] += A[r][u][kw][o0 + m] * dy[row tap u][cols j.. + off(kw)]
 * B: dy zero-padded by margins, pixel (i, j) at b_off + image*b_img +
 * i*b_rs + j + t0 + r*b_plane + u*du; Y: dx, row i at y_off + image*y_img +
 * i*y_rs, column phase b of pixel j at 2j + b (< W). Qw = columns of phase
 * 0 (ceil(W/2)); vectors and tiles as the rows kernel.
 * global (ceil(images*Qh*VPR/PV), ceil(VO/M)) or chan_first swapped */
#define SN_CONVD_ROWS2(NAME, M, PV)                                                           \
    __kernel void NAME(                                                                       \
        const int R, const int Th, const int K, const int pad, const int t0, const int du,   \
        const int VO, const int VOp, const int Qh, const int Qw, const int W,                \
        const int images, const int b_rs, const int b_plane, const int b_img,                \
        const int y_rs, const int y_plane, const int y_img, const int accumulate,            \
        const int chan_first, const int a_off, __global const float *A, const int b_off,     \
        __global const float *B, const int y_off, __global float *Y)                          \
    {                                                                                         \
        const int g0 = get_global_id(0), g1 = get_global_id(1);                               \
        const int VPR = (Qw + SN_CONVD_V - 1) / SN_CONVD_V, nvec = Qh * VPR;                  \
        const int k0 = (chan_first ? g1 : g0) * (PV), o0 = (chan_first ? g0 : g1) * (M);      \
        const int kn = nvec * images;                                                         \
        if (k0 >= kn || o0 >= VO)                                                             \
            return;                                                                           \
        int boff[PV], yoff[PV], jv[PV], own[PV];                                              \
        _Pragma("unroll") for (int pv = 0; pv < (PV); pv++)                                  \
        {                                                                                     \
            const int ka = k0 + pv < kn ? k0 + pv : kn - 1;                                   \
            const int img = ka / nvec, k = ka - img * nvec;                                   \
            const int i = k / VPR, c = (k - i * VPR) * SN_CONVD_V;                            \
            const int j = c + SN_CONVD_V <= Qw ? c : Qw - SN_CONVD_V;                         \
            boff[pv] = b_off + img * b_img + i * b_rs + j + t0;                               \
            yoff[pv] = y_off + img * y_img + i * y_rs;                                        \
            jv[pv] = j;                                                                       \
            own[pv] = k0 + pv < kn ? c - j : SN_CONVD_V;                                      \
        }                                                                                     \
        SN_FLOATV acc0[M][PV], acc1[M][PV];                                                   \
        _Pragma("unroll") for (int m = 0; m < (M); m++)                                      \
            _Pragma("unroll") for (int pv = 0; pv < (PV); pv++)                              \
        {                                                                                     \
            acc0[m][pv] = (SN_FLOATV)(0.0f);                                                  \
            acc1[m][pv] = (SN_FLOATV)(0.0f);                                                  \
        }                                                                                     \
        __global const float *a = A + a_off + o0;                                             \
        for (int r = 0; r < R; r++) {                                                         \
            __global const float *b = B + r * b_plane;                                        \
            for (int u = 0; u < Th; u++) {                                                    \
                for (int kw = 0; kw < K; kw++) {                                              \
                    const int ph = (kw + pad) & 1, off = u * du + (ph + pad - kw) / 2;        \
                    _Pragma("unroll") for (int pv = 0; pv < (PV); pv++)                      \
                    {                                                                         \
                        const SN_FLOATV xv = SN_VLOAD(0, b + boff[pv] + off);                 \
                        if (ph) {                                                             \
                            _Pragma("unroll") for (int m = 0; m < (M); m++) acc1[m][pv] =    \
                                fma((SN_FLOATV)(a[m]), xv, acc1[m][pv]);                      \
                        } else {                                                              \
                            _Pragma("unroll") for (int m = 0; m < (M); m++) acc0[m][pv] =    \
                                fma((SN_FLOATV)(a[m]), xv, acc0[m][pv]);                      \
                        }                                                                     \
                    }                                                                         \
                    a += VOp;                                                                 \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
        _Pragma("unroll") for (int pv = 0; pv < (PV); pv++)                                  \
        {                                                                                     \
            if (own[pv] >= SN_CONVD_V)                                                        \
                break;                                                                        \
            const int x0 = 2 * jv[pv];                                                        \
            _Pragma("unroll") for (int m = 0; m < (M); m++)                                  \
            {                                                                                 \
                const int o = o0 + m;                                                         \
                if (o >= VO)                                                                  \
                    break;                                                                    \
                __global float *y = Y + yoff[pv] + o * y_plane + x0;                          \
                const SN_FLOATV lo = shuffle2(acc0[m][pv], acc1[m][pv], SN_INTERLEAVE_LO);    \
                const SN_FLOATV hi = shuffle2(acc0[m][pv], acc1[m][pv], SN_INTERLEAVE_HI);    \
                if (own[pv] == 0 && x0 + 2 * SN_CONVD_V <= W) {                               \
                    SN_VSTORE(accumulate ? lo + SN_VLOAD(0, y) : lo, 0, y);                   \
                    SN_VSTORE(accumulate ? hi + SN_VLOAD(0, y + SN_CONVD_V) : hi, 0,          \
                              y + SN_CONVD_V);                                                \
                } else {                                                                      \
                    float v[2 * SN_CONVD_V];                                                  \
                    SN_VSTORE(lo, 0, v);                                                      \
                    SN_VSTORE(hi, 0, v + SN_CONVD_V);                                         \
                    for (int e = 2 * own[pv]; e < 2 * SN_CONVD_V && x0 + e < W; e++)          \
                        y[e] = accumulate ? y[e] + v[e] : v[e];                               \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    }

SN_CONVD_ROWS2(sn_convd_rows2_4x3, 4, 3)
SN_CONVD_ROWS2(sn_convd_rows2_3x4, 3, 4)

/* Sum of the lanes of a vector. */
static float sn_convd_hsum(const SN_FLOATV v)
{
#if SN_CONVD_V == 16
    const float8 h = v.lo + v.hi;
    const float4 q = h.lo + h.hi;
#elif SN_CONVD_V == 8
    const float4 q = v.lo + v.hi;
#else
    const float4 q = v;
#endif
    const float2 d = q.lo + q.hi;
    return dot(d, (float2)(1.0f)); /* not d.x + d.y: see sn_wino_hsum */
}

/* Weight-gradient partials with pixels in the lanes (CPUs, OW >= V; the
 * transpose of sn_convd_wgrad_*'s tiling): the reduction's ow runs in the
 * vector lanes, so dy is read as it lies (no transposed copy) and x as
 * contiguous vectors, and each sum is reduced across its lanes once at the
 * end. A work item owns M output channels by P columns col = (c*K + kh)*K +
 * kw of dw:
 *   part[slice][col][o] = sum over rows (n, oh) of the slice, ow < OW of
 *                         dy[n][o][oh][ow] * xs(n, c, oh*s + kh, ow*s + kw)
 * with xs [n][C][Hp][RW] at b_off: x zero-padded, its rows column-split
 * into s segments of Wq floats when s > 1 (sn_convd_pad), or x itself when
 * it needs neither; dy at dy_off (the chunk's first image). A row runs
 * ceil(OW/V) vectors, the last moved back to end at OW with the lanes of its
 * neighbour zeroed in dy. Channels o >= OC and columns >= CKK are computed
 * on clamped addresses and not stored. global (ceil(CKK/P), ceil(OC/M),
 * slices) */
#define SN_CONVD_WROWS(NAME, M, P)                                                            \
    __kernel void NAME(const int C, const int K, const int s, const int Hp, const int RW,     \
                       const int Wq, const int OH, const int OW, const int OC, const int OCp, \
                       const int nrows, const int rows, const int dy_off,                     \
                       __global const float *dy, const int b_off, __global const float *B,   \
                       const int part_off, __global float *part)                              \
    {                                                                                         \
        const int col0 = get_global_id(0) * (P), o0 = get_global_id(1) * (M);                 \
        const int slice = get_global_id(2);                                                   \
        const int KK = K * K, CKK = C * KK, OHW = OH * OW;                                    \
        if (col0 >= CKK || o0 >= OC)                                                          \
            return;                                                                           \
        int off[P], doff[M];                                                                  \
        _Pragma("unroll") for (int p = 0; p < (P); p++)                                      \
        {                                                                                     \
            const int col = col0 + p < CKK ? col0 + p : CKK - 1;                              \
            const int c = col / KK, khw = col - c * KK, kh = khw / K, kw = khw - kh * K;      \
            const int kq = kw / s; /* kw mod s as below: see sn_shortcut_a_rows_backward */  \
            off[p] = b_off + (c * Hp + kh) * RW + (kw - kq * s) * Wq + kq;                    \
        }                                                                                     \
        _Pragma("unroll") for (int m = 0; m < (M); m++) doff[m] =                            \
            dy_off + (o0 + m < OC ? o0 + m : OC - 1) * OHW;                                   \
        SN_FLOATV acc[M][P];                                                                  \
        _Pragma("unroll") for (int m = 0; m < (M); m++)                                      \
            _Pragma("unroll") for (int p = 0; p < (P); p++) acc[m][p] = (SN_FLOATV)(0.0f);   \
        const int r0 = slice * rows;                                                          \
        const int r1 = r0 + rows < nrows ? r0 + rows : nrows;                                 \
        const int img_floats = C * Hp * RW, VPR = (OW + SN_CONVD_V - 1) / SN_CONVD_V;         \
        /* Row (n, oh) of dy and of B, stepped without a division per row. */                 \
        int n = r0 / OH, oh = r0 - n * OH;                                                    \
        __global const float *d = dy + n * OC * OHW + oh * OW;                                \
        __global const float *b = B + n * img_floats + oh * s * RW;                           \
        for (int row = r0; row < r1; row++) {                                                 \
            for (int k = 0; k < VPR; k++) {                                                   \
                const int c = k * SN_CONVD_V;                                                 \
                const int j = c + SN_CONVD_V <= OW ? c : OW - SN_CONVD_V;                     \
                SN_FLOATV dv[M];                                                              \
                _Pragma("unroll") for (int m = 0; m < (M); m++) dv[m] =                      \
                    SN_VLOAD(0, d + doff[m] + j);                                             \
                if (c != j) {                                                                 \
                    const SN_INTV mine = SN_LANE_IDS >= (SN_INTV)(c - j);                     \
                    _Pragma("unroll") for (int m = 0; m < (M); m++) dv[m] =                  \
                        select((SN_FLOATV)(0.0f), dv[m], mine);                               \
                }                                                                             \
                _Pragma("unroll") for (int p = 0; p < (P); p++)                              \
                {                                                                             \
                    const SN_FLOATV xv = SN_VLOAD(0, b + off[p] + j);                         \
                    _Pragma("unroll") for (int m = 0; m < (M); m++) acc[m][p] =              \
                        fma(dv[m], xv, acc[m][p]);                                            \
                }                                                                             \
            }                                                                                 \
            d += OW;                                                                          \
            b += s * RW;                                                                      \
            if (++oh == OH) {                                                                 \
                oh = 0;                                                                       \
                d += (OC - 1) * OHW;                                                          \
                b += img_floats - OH * s * RW;                                                \
            }                                                                                 \
        }                                                                                     \
        __global float *out = part + part_off + slice * CKK * OCp;                            \
        _Pragma("unroll") for (int p = 0; p < (P); p++)                                      \
        {                                                                                     \
            if (col0 + p < CKK) {                                                             \
                _Pragma("unroll") for (int m = 0; m < (M); m++) if (o0 + m < OC)             \
                    out[(col0 + p) * OCp + o0 + m] = sn_convd_hsum(acc[m][p]);                \
            }                                                                                 \
        }                                                                                     \
    }

SN_CONVD_WROWS(sn_convd_wrows_4x6, 4, 6)

/* dw [OC][CKK] (+)= sum over slices of part [slices][CKK][OCp] (old dw never
 * read unless accumulate): a work item sums and transposes a block of 16
 * columns by V channels, so that it reads and writes whole vectors.
 * global (ceil(CKK/16), OCp/V) */
__kernel void sn_convd_sum_partials(const int OC, const int CKK, const int OCp,
                                    const int slices, const int accumulate, const int part_off,
                                    __global const float *part, __global float *dw)
{
    const int col0 = get_global_id(0) * 16, oc0 = get_global_id(1) * SN_CONVD_V;
    if (col0 >= CKK || oc0 >= OC)
        return;
    const int ncol = CKK - col0 < 16 ? CKK - col0 : 16;
    SN_FLOATV blk[16];
#pragma unroll
    for (int j = 0; j < 16; j++)
        blk[j] = (SN_FLOATV)(0.0f);
    for (int sl = 0; sl < slices; sl++) {
        __global const float *src = part + part_off + (sl * CKK + col0) * OCp + oc0;
#pragma unroll
        for (int j = 0; j < 16; j++)
            if (j < ncol)
                blk[j] += SN_VLOAD(0, src + j * OCp);
    }
    float t[16][SN_CONVD_V];
#pragma unroll
    for (int j = 0; j < 16; j++)
        SN_VSTORE(blk[j], 0, t[j]);
    const int nl = OC - oc0 < SN_CONVD_V ? OC - oc0 : SN_CONVD_V;
    for (int l = 0; l < nl; l++) {
        __global float *d = dw + (oc0 + l) * CKK + col0;
        if (accumulate) {
            for (int j = 0; j < ncol; j++)
                d[j] += t[j][l];
        } else {
            for (int j = 0; j < ncol; j++)
                d[j] = t[j][l];
        }
    }
}
