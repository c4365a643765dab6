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
 * SN_CONVD_PB pixels); the host takes "b" when the lane channels fill two
 * vectors. src/ops/conv_direct.c mirrors these defaults (keep them equal). */

#ifndef SN_CONVD_V
#ifdef SN_DEVICE_CPU
#define SN_CONVD_V 16
#else
#define SN_CONVD_V 4
#endif
#endif
#ifndef SN_CONVD_PA
#ifdef SN_DEVICE_CPU
#define SN_CONVD_PA 12
#else
#define SN_CONVD_PA 4
#endif
#endif
#ifndef SN_CONVD_PB
#ifdef SN_DEVICE_CPU
#define SN_CONVD_PB 8
#else
#define SN_CONVD_PB 4
#endif
#endif

#if SN_CONVD_V == 16
#define SN_FLOATV float16
#define SN_VLOAD vload16
#define SN_VSTORE vstore16
#elif SN_CONVD_V == 8
#define SN_FLOATV float8
#define SN_VLOAD vload8
#define SN_VSTORE vstore8
#elif SN_CONVD_V == 4
#define SN_FLOATV float4
#define SN_VLOAD vload4
#define SN_VSTORE vstore4
#else
#error "SN_CONVD_V must be 4, 8 or 16"
#endif

/* out [n, C, Ho, Wo] = in [n0 + n, C, Hi, Wi] shifted by (top, left), zero
 * outside (negative top/left crop). One work item per output row, in one
 * flat dimension: POCL pays per work-group, and a (Wo, Ho, n*C) grid of
 * small rows would make thousands of tiny ones. global (n*C*Ho) */
__kernel void sn_convd_pad(const int C, const int Hi, const int Wi, const int Ho, const int Wo,
                           const int top, const int left, const int n0, const int n,
                           __global const float *in, const int out_off, __global float *out)
{
    const int row = get_global_id(0);
    if (row >= n * C * Ho)
        return;
    const int z = row / Ho, i = row - z * Ho, si = i - top;
    __global float *o = out + out_off + row * Wo;
    if (si < 0 || si >= Hi) {
        for (int j = 0; j < Wo; j++)
            o[j] = 0.0f;
        return;
    }
    __global const float *src = in + ((n0 * C + z) * Hi + si) * Wi;
    for (int j = 0; j < Wo; j++) {
        const int sj = j - left;
        o[j] = sj >= 0 && sj < Wi ? src[sj] : 0.0f;
    }
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
 * A[oc][u][v][c] = w[oc][c][kh0 + s*u][kw0 + s*v], zero for c >= C.
 * global (Cp, Th*Tw, OC) */
__kernel void sn_convd_weights_bwd(const int OC, const int C, const int K, const int Cp,
                                   const int s, const int kh0, const int kw0, const int Th,
                                   const int Tw, __global const float *w, const int a_off,
                                   __global float *a)
{
    const int c = get_global_id(0), t = get_global_id(1), oc = get_global_id(2);
    if (c >= Cp || t >= Th * Tw || oc >= OC)
        return;
    const int u = t / Tw, v = t - u * Tw;
    const int kh = kh0 + s * u, kw = kw0 + s * v;
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

/* The product of forward and backward data, one tile of OB*V lanes by P
 * pixels per work item. Pixels q in [0, Q) of a grid Qw wide: q = i*Qw + j
 * reads B at b_off + image*b_img + i*b_rs + j*b_cs + r*b_plane + tap offset
 * and writes Y at y_off + image*y_img + lane*y_plane + i*y_rs + j*y_cs.
 * Taps: u in [0, Th), v in [0, Tw), offset t0 + u*du + v*dv; A holds
 * [R][Th*Tw][VOp] at a_off. Lanes >= VO and pixels >= Q are computed on
 * clamped (valid) addresses and not stored. accumulate: Y += sum, else
 * Y = sum (old Y never read). global (ceil(Q/P), VOp/(OB*V), images), or
 * with lanes_first (VOp/(OB*V), ceil(Q/P), images): the order in which
 * POCL walks the work-groups (dimension 0 fastest) decides whether A (the
 * weights) or B stays in cache while the other streams. */
#define SN_CONVD_GATHER(NAME, OB, P)                                                          \
    __kernel void NAME(                                                                       \
        const int R, const int Th, const int Tw, const int t0, const int du, const int dv,   \
        const int VO, const int VOp, const int Q, const int Qw, const int b_rs,              \
        const int b_cs, const int b_plane, const int b_img, const int y_rs, const int y_cs,  \
        const int y_plane, const int y_img, const int accumulate, const int lanes_first,     \
        const int a_off,                                                                      \
        __global const float *A, const int b_off, __global const float *B, const int y_off,  \
        __global float *Y)                                                                    \
    {                                                                                         \
        const int g0 = get_global_id(0), g1 = get_global_id(1);                               \
        const int q0 = (lanes_first ? g1 : g0) * (P);                                         \
        const int vo0 = (lanes_first ? g0 : g1) * ((OB) * SN_CONVD_V);                        \
        const int img = get_global_id(2);                                                     \
        if (q0 >= Q || vo0 >= VOp)                                                            \
            return;                                                                           \
        int base[P];                                                                          \
        _Pragma("unroll") for (int p = 0; p < (P); p++)                                      \
        {                                                                                     \
            const int q = q0 + p < Q ? q0 + p : Q - 1;                                        \
            const int i = q / Qw, j = q - i * Qw;                                             \
            base[p] = b_off + img * b_img + i * b_rs + j * b_cs + t0;                         \
        }                                                                                     \
        SN_FLOATV acc[OB][P];                                                                 \
        _Pragma("unroll") for (int ob = 0; ob < (OB); ob++)                                  \
            _Pragma("unroll") for (int p = 0; p < (P); p++) acc[ob][p] = (SN_FLOATV)(0.0f);  \
        __global const float *a = A + a_off + vo0;                                            \
        if (Th == 1 && Tw == 1) { /* 1x1: one tap per channel */                              \
            for (int r = 0; r < R; r++) {                                                     \
                __global const float *b = B + r * b_plane;                                    \
                SN_FLOATV wv[OB];                                                             \
                _Pragma("unroll") for (int ob = 0; ob < (OB); ob++) wv[ob] =                 \
                    SN_VLOAD(0, a + ob * SN_CONVD_V);                                         \
                _Pragma("unroll") for (int p = 0; p < (P); p++)                              \
                {                                                                             \
                    const SN_FLOATV xv = (SN_FLOATV)(b[base[p]]);                             \
                    _Pragma("unroll") for (int ob = 0; ob < (OB); ob++) acc[ob][p] =         \
                        fma(wv[ob], xv, acc[ob][p]);                                          \
                }                                                                             \
                a += VOp;                                                                     \
            }                                                                                 \
        } else                                                                                \
        for (int r = 0; r < R; r++) {                                                         \
            __global const float *b = B + r * b_plane;                                        \
            for (int u = 0; u < Th; u++) {                                                    \
                for (int v = 0; v < Tw; v++) {                                                \
                    const int off = u * du + v * dv;                                          \
                    SN_FLOATV wv[OB];                                                         \
                    _Pragma("unroll") for (int ob = 0; ob < (OB); ob++) wv[ob] =             \
                        SN_VLOAD(0, a + ob * SN_CONVD_V);                                     \
                    _Pragma("unroll") for (int p = 0; p < (P); p++)                          \
                    {                                                                         \
                        const SN_FLOATV xv = (SN_FLOATV)(b[base[p] + off]);                   \
                        _Pragma("unroll") for (int ob = 0; ob < (OB); ob++) acc[ob][p] =     \
                            fma(wv[ob], xv, acc[ob][p]);                                      \
                    }                                                                         \
                    a += VOp;                                                                 \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
        _Pragma("unroll") for (int p = 0; p < (P); p++)                                      \
        {                                                                                     \
            if (q0 + p >= Q)                                                                  \
                break;                                                                        \
            const int q = q0 + p, i = q / Qw, j = q - i * Qw;                                 \
            __global float *y = Y + y_off + img * y_img + i * y_rs + j * y_cs;                \
            _Pragma("unroll") for (int ob = 0; ob < (OB); ob++)                              \
            {                                                                                 \
                float lane[SN_CONVD_V];                                                       \
                SN_VSTORE(acc[ob][p], 0, lane);                                               \
                const int c0 = vo0 + ob * SN_CONVD_V;                                         \
                const int nl = VO - c0 < SN_CONVD_V ? VO - c0 : SN_CONVD_V;                   \
                if (accumulate) {                                                             \
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
                SN_FLOATV dv[OB];                                                             \
                _Pragma("unroll") for (int ob = 0; ob < (OB); ob++) dv[ob] =                 \
                    SN_VLOAD(0, a + ob * SN_CONVD_V);                                         \
                _Pragma("unroll") for (int p = 0; p < (P); p++)                              \
                {                                                                             \
                    const SN_FLOATV xv = (SN_FLOATV)(b[off[p]]);                              \
                    _Pragma("unroll") for (int ob = 0; ob < (OB); ob++) acc[ob][p] =         \
                        fma(dv[ob], xv, acc[ob][p]);                                          \
                }                                                                             \
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
SN_CONVD_WGRAD(sn_convd_wgrad_b, 2, SN_CONVD_PB)

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
