/* Winograd F(2x2, 3x3) convolution (Lavin & Gray 2016) for 3x3 stride-1
 * convolutions. Host side in src/ops/conv_winograd.c.
 *
 * Output tiles of 2x2 pixels; tile (ty, tx) of an image reads the 4x4 input
 * patch at rows 2ty-pad .. 2ty-pad+3 (zero outside). Per tile and channel:
 *   V = B^T d B     (input transform, d the 4x4 patch)
 *   U = G g G^T     (filter transform, g the 3x3 filter)
 *   M = sum over input channels of U (.) V      (16 element-wise products:
 *                                                16 independent GEMMs)
 *   Y = A^T M A     (output transform: the 2x2 output tile)
 * with
 *   B^T = | 1  0 -1  0 |   G = | 1    0    0   |   A^T = | 1  1  1  0 |
 *         | 0  1  1  0 |       | 1/2  1/2  1/2 |         | 0  1 -1 -1 |
 *         | 0 -1  1  0 |       | 1/2 -1/2  1/2 |
 *         | 0  1  0 -1 |       | 0    0    1   |
 * xi = 4*i + j indexes the 16 entries of a transformed 4x4 tile.
 *
 *   forward          R = C channels reduced, VO = OC:  M[xi] = U[xi]^T V[xi]
 *   backward data    the forward of dy with the filter flipped and
 *                    transposed (VO = C, R = OC) and pad 2 - pad
 *   backward weights dM = A dY A^T per tile (dY: the tile of dy, zero past
 *                    the edge), dU[xi][c][oc] = sum over tiles of
 *                    V[xi][c][tile] dM[xi][oc][tile] (partial sums per slice
 *                    of the tiles, then summed: no atomics), dg = G^T dU G.
 *
 * Every kernel is explicit SIMD in one work item, like kernels/conv_direct.cl
 * (on CPUs floatV is one AVX-512 register for V = 16; no local memory, no
 * barriers), with tiles along the vector lanes: V consecutive tiles of the
 * batch (a "block", which may cross tile rows and images: each tile row it
 * covers is loaded or stored as whole vectors with lanes masked).
 * Workspace layouts (host side allocates and chunks the batch's tiles so
 * that a chunk's transforms stay in cache; npad: the chunk's tiles rounded
 * up to whole GEMM blocks, the padding tiles zero):
 *   U   [16][R][VOp]       transformed filters (VOp: VO rounded up to V)
 *   V   [16][R][npad]      transformed input
 *   M   [16][VO][npad]     GEMM result
 *   dM  [16][OC][npad]     transformed output gradient
 *   partials [slices][16][C][OCp] of the weight gradient
 * The forward GEMM is "vector of OB*V tiles x P broadcast channels"
 * (OB = 1: "a", SN_WINO_PA channels, for batches of few tiles; OB =
 * SN_WINO_OB: "b", SN_WINO_PB channels). The weight gradient's GEMM reduces
 * over tiles, so it is "WC x WO dot products along the tiles" (vectors of
 * both operands, a horizontal sum at the end).
 *
 * Build-time tile sizes (-D): SN_WINO_V (4, 8 or 16), SN_WINO_PA,
 * SN_WINO_OB, SN_WINO_PB, SN_WINO_WC, SN_WINO_WO, from the host's device
 * parameter table (runtime/device_params.c, with the measurements behind
 * them); the host sizes its launches from the same table. */
#if !defined(SN_WINO_V) || !defined(SN_WINO_PA) || !defined(SN_WINO_OB) || \
    !defined(SN_WINO_PB) || !defined(SN_WINO_WC) || !defined(SN_WINO_WO)
#error "SN_WINO_V, _PA, _OB, _PB, _WC and _WO come from the host's device parameter table"
#endif


#if SN_WINO_V == 16
#define SN_WFLOATV float16
#define SN_WVLOAD vload16
#define SN_WVSTORE vstore16
#elif SN_WINO_V == 8
#define SN_WFLOATV float8
#define SN_WVLOAD vload8
#define SN_WVSTORE vstore8
#elif SN_WINO_V == 4
#define SN_WFLOATV float4
#define SN_WVLOAD vload4
#define SN_WVSTORE vstore4
#else
#error "SN_WINO_V must be 4, 8 or 16"
#endif

/* U [16][R][VOp] at u_off = G g G^T of the filter of lane vo and reduced
 * channel r; zero for lanes >= VO. flip = 0 (forward): g = w[vo][r], w
 * [VO][R][3][3]. flip = 1 (backward data): g = w[r][vo] rotated by 180
 * degrees, w [R][VO][3][3]. A work item transforms V lanes at once (vector
 * stores into U). global (VOp/V, R) */
__kernel void sn_wino_filter(const int R, const int VO, const int VOp, const int flip,
                             __global const float *w, const int u_off, __global float *U)
{
    const int vo0 = get_global_id(0) * SN_WINO_V, r = get_global_id(1);
    if (vo0 >= VOp || r >= R)
        return;
    float g[9][SN_WINO_V];
    for (int l = 0; l < SN_WINO_V; l++) {
        const int vo = vo0 + l;
        if (vo >= VO) {
            for (int k = 0; k < 9; k++)
                g[k][l] = 0.0f;
        } else if (flip) {
            __global const float *src = w + (r * VO + vo) * 9;
            for (int k = 0; k < 9; k++)
                g[k][l] = src[8 - k];
        } else {
            __global const float *src = w + (vo * R + r) * 9;
            for (int k = 0; k < 9; k++)
                g[k][l] = src[k];
        }
    }
    SN_WFLOATV t[4][3]; /* G g: rows */
#pragma unroll
    for (int j = 0; j < 3; j++) {
        const SN_WFLOATV g0 = SN_WVLOAD(0, g[j]), g1 = SN_WVLOAD(0, g[3 + j]),
                         g2 = SN_WVLOAD(0, g[6 + j]);
        t[0][j] = g0;
        t[1][j] = 0.5f * (g0 + g1 + g2);
        t[2][j] = 0.5f * (g0 - g1 + g2);
        t[3][j] = g2;
    }
    __global float *u = U + u_off + r * VOp + vo0;
    const int xs = R * VOp;
#pragma unroll
    for (int i = 0; i < 4; i++) { /* (G g) G^T: columns */
        SN_WVSTORE(t[i][0], 0, u + (4 * i + 0) * xs);
        SN_WVSTORE(0.5f * (t[i][0] + t[i][1] + t[i][2]), 0, u + (4 * i + 1) * xs);
        SN_WVSTORE(0.5f * (t[i][0] - t[i][1] + t[i][2]), 0, u + (4 * i + 2) * xs);
        SN_WVSTORE(t[i][2], 0, u + (4 * i + 3) * xs);
    }
}

/* V = B^T d B of a block of SN_WINO_V consecutive tiles per work item (one
 * vector lane each: the transform is vector arithmetic). Tile q of the chunk
 * is tile p0 + q of the batch (image (p0+q) / (TH*TW), then row-major tiles
 * TW wide) of in [N][C][H][W]; tile (ty, tx) reads rows 2ty-pad .. 2ty-pad+3
 * and columns 2tx-pad .. 2tx-pad+3, zero outside. A block covers one or
 * more tile rows ("parts"); each part is loaded as whole vectors: lane t's
 * column 2tx+j-pad is element 2t+j of a window of 2V+2 floats, split into
 * even and odd elements, and lanes of other parts or outside the image are
 * masked out. Windows that would reach outside the buffer (its first and
 * last rows; `total` = N*C*H*W) are read element by element.
 * Output V[xi][c][q] at v_off (xi stride C*npad); tiles np <= q < npad
 * (padding for the GEMM's tile blocks) are zero. global (npad/V, C) */
#if SN_WINO_V == 16
#define SN_WINTV int16
#define SN_WIOTA ((int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#elif SN_WINO_V == 8
#define SN_WINTV int8
#define SN_WIOTA ((int8)(0, 1, 2, 3, 4, 5, 6, 7))
#else
#define SN_WINTV int4
#define SN_WIOTA ((int4)(0, 1, 2, 3))
#endif
#define SN_WEVEN(a, b) ((SN_WFLOATV)((a).even, (b).even))
#define SN_WODD(a, b) ((SN_WFLOATV)((a).odd, (b).odd))
__kernel void sn_wino_input(const int C, const int H, const int W, const int pad, const int TH,
                            const int TW, const int p0, const int np, const int npad,
                            const int total, __global const float *in, const int v_off,
                            __global float *V)
{
    const int q0 = get_global_id(0) * SN_WINO_V, c = get_global_id(1);
    if (q0 >= npad || c >= C)
        return;
    const SN_WINTV lane = SN_WIOTA;
    SN_WFLOATV d[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
            d[i][j] = (SN_WFLOATV)(0.0f);
    const int last = np - q0 < SN_WINO_V ? np - q0 : SN_WINO_V; /* lanes holding tiles */
    for (int t = 0; t < last;) {
        /* The part: lanes t .. t_end-1 hold tiles tx .. of tile row (img, ty). */
        const int g = p0 + q0 + t, img = g / (TH * TW), rest = g - img * (TH * TW);
        const int ty = rest / TW, tx = rest - ty * TW;
        const int t_end = t + (TW - tx) < last ? t + (TW - tx) : last;
        const int off = 2 * (tx - t) - pad; /* column of window element 0 */
        const SN_WINTV in_part = (lane >= t) & (lane < t_end);
        SN_WINTV mask[4];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const SN_WINTV col = off + 2 * lane + j;
            mask[j] = in_part & (col >= 0) & (col < W);
        }
        for (int i = 0; i < 4; i++) {
            const int iy = 2 * ty - pad + i;
            if (iy < 0 || iy >= H)
                continue;
            const int base = ((img * C + c) * H + iy) * W + off;
            SN_WFLOATV a0, a1, b0, b1;
            if (base >= 0 && base + 2 * SN_WINO_V + 2 <= total) {
                a0 = SN_WVLOAD(0, in + base);
                a1 = SN_WVLOAD(0, in + base + SN_WINO_V);
                b0 = SN_WVLOAD(0, in + base + 2);
                b1 = SN_WVLOAD(0, in + base + 2 + SN_WINO_V);
            } else {
                float win[2 * SN_WINO_V + 2];
                for (int k = 0; k < 2 * SN_WINO_V + 2; k++)
                    win[k] = base + k >= 0 && base + k < total ? in[base + k] : 0.0f;
                a0 = SN_WVLOAD(0, win);
                a1 = SN_WVLOAD(0, win + SN_WINO_V);
                b0 = SN_WVLOAD(0, win + 2);
                b1 = SN_WVLOAD(0, win + 2 + SN_WINO_V);
            }
            d[i][0] = select(d[i][0], SN_WEVEN(a0, a1), mask[0]);
            d[i][1] = select(d[i][1], SN_WODD(a0, a1), mask[1]);
            d[i][2] = select(d[i][2], SN_WEVEN(b0, b1), mask[2]);
            d[i][3] = select(d[i][3], SN_WODD(b0, b1), mask[3]);
        }
        t = t_end;
    }
    SN_WFLOATV tr[4][4]; /* B^T d: rows */
#pragma unroll
    for (int j = 0; j < 4; j++) {
        tr[0][j] = d[0][j] - d[2][j];
        tr[1][j] = d[1][j] + d[2][j];
        tr[2][j] = d[2][j] - d[1][j];
        tr[3][j] = d[1][j] - d[3][j];
    }
    __global float *dst = V + v_off + c * npad + q0;
    const int xs = C * npad;
#pragma unroll
    for (int i = 0; i < 4; i++) { /* (B^T d) B: columns */
        SN_WVSTORE(tr[i][0] - tr[i][2], 0, dst + (4 * i + 0) * xs);
        SN_WVSTORE(tr[i][1] + tr[i][2], 0, dst + (4 * i + 1) * xs);
        SN_WVSTORE(tr[i][2] - tr[i][1], 0, dst + (4 * i + 2) * xs);
        SN_WVSTORE(tr[i][1] - tr[i][3], 0, dst + (4 * i + 3) * xs);
    }
}

/* The 16 GEMMs of the forward machinery, OB*V tiles (vector lanes) by P
 * output channels (scalar broadcasts) per work item:
 *   M[xi][vo][q] = sum over r < R of U[xi][r][vo] * V[xi][r][q]
 * U at u_off ([16][R][VOp]), V at v_off ([16][R][npad]), M at m_off
 * ([16][VO][npad]); channels vo >= VO are computed on a valid row and not
 * stored. global (npad/(OB*V), ceil(VO/P), 16): POCL walks work-groups
 * dimension 0 fastest, so a channel block's U column ([R][P], small) stays
 * in cache while the tiles stream past it. */
#define SN_WINO_GEMM(NAME, OB, P)                                                             \
    __kernel void NAME(const int R, const int VO, const int VOp, const int npad,             \
                       const int u_off, __global const float *U, const int v_off,            \
                       __global const float *V, const int m_off, __global float *M)          \
    {                                                                                         \
        const int q0 = get_global_id(0) * ((OB) * SN_WINO_V), vo0 = get_global_id(1) * (P);  \
        const int xi = get_global_id(2);                                                      \
        if (q0 >= npad || vo0 >= VO)                                                          \
            return;                                                                           \
        int col[P]; /* clamped: a valid column of U */                                        \
        _Pragma("unroll") for (int j = 0; j < (P); j++) col[j] =                             \
            u_off + xi * R * VOp + (vo0 + j < VO ? vo0 + j : VO - 1);                         \
        __global const float *v = V + v_off + xi * R * npad + q0;                             \
        SN_WFLOATV acc[OB][P];                                                                \
        _Pragma("unroll") for (int ob = 0; ob < (OB); ob++)                                  \
            _Pragma("unroll") for (int j = 0; j < (P); j++) acc[ob][j] = (SN_WFLOATV)(0.0f); \
        for (int r = 0; r < R; r++) {                                                         \
            SN_WFLOATV xv[OB];                                                                \
            _Pragma("unroll") for (int ob = 0; ob < (OB); ob++) xv[ob] =                     \
                SN_WVLOAD(0, v + ob * SN_WINO_V);                                             \
            _Pragma("unroll") for (int j = 0; j < (P); j++)                                  \
            {                                                                                 \
                const SN_WFLOATV wv = (SN_WFLOATV)(U[col[j] + r * VOp]);                      \
                _Pragma("unroll") for (int ob = 0; ob < (OB); ob++) acc[ob][j] =             \
                    fma(xv[ob], wv, acc[ob][j]);                                              \
            }                                                                                 \
            v += npad;                                                                        \
        }                                                                                     \
        __global float *m = M + m_off + (xi * VO + vo0) * npad + q0;                          \
        _Pragma("unroll") for (int j = 0; j < (P); j++)                                      \
        {                                                                                     \
            if (vo0 + j < VO) {                                                               \
                _Pragma("unroll") for (int ob = 0; ob < (OB); ob++)                          \
                    SN_WVSTORE(acc[ob][j], 0, m + j * npad + ob * SN_WINO_V);                 \
            }                                                                                 \
        }                                                                                     \
    }

SN_WINO_GEMM(sn_wino_gemm_a, 1, SN_WINO_PA)
SN_WINO_GEMM(sn_wino_gemm_b, SN_WINO_OB, SN_WINO_PB)

/* The forward's fused epilogue (sn_conv2d_winograd_forward_affine), bits of
 * sn_wino_output's `epi`: SN_WINO_EPI_AFFINE v = fma(v, scale[vo],
 * shift[vo]), SN_WINO_EPI_RES v += res[i] (i: the element's index in out;
 * res may be out itself: each element is read once, by the work item that
 * then writes it), SN_WINO_EPI_RELU max(v, 0) last. Zero: the plain store,
 * and none of the pointers is read. Keep the bits equal to
 * src/ops/conv_winograd.c. */
#define SN_WINO_EPI_AFFINE 1
#define SN_WINO_EPI_RES 2
#define SN_WINO_EPI_RELU 4

/* Y = A^T M A of a block of V consecutive tiles (vector lanes) of one output
 * channel vo (M [16][VO][npad] at m_off) into out [N][VO][OH][OW]. Tile q
 * of the chunk is tile p0 + q of the batch. The block's tiles of one tile
 * row ("part": lanes t .. t_end-1) cover 2*(t_end-t) consecutive outputs of
 * two output rows: lane t's Y[i][0], Y[i][1] interleaved. Outputs past OH or
 * OW (the clipped half of an edge tile) are not written. accumulate:
 * out += Y, else out = epilogue(Y) (old out never read unless res is out);
 * epi (the bits above) is 0 when accumulate is 1. The affine step (one
 * channel per work item) and, without a residual, the ReLU run on the
 * vectors; a residual is added, and the ReLU after it applied, in the
 * store. global (npad/V, VO) */
__kernel void sn_wino_output(const int VO, const int OH, const int OW, const int TH,
                             const int TW, const int p0, const int np, const int npad,
                             const int accumulate, const int epi, const int m_off,
                             __global const float *M, __global const float *scale,
                             __global const float *shift, __global const float *res,
                             __global float *out)
{
    const int q0 = get_global_id(0) * SN_WINO_V, vo = get_global_id(1);
    if (q0 >= np || vo >= VO)
        return;
    SN_WFLOATV m[16];
    __global const float *src = M + m_off + vo * npad + q0;
#pragma unroll
    for (int xi = 0; xi < 16; xi++)
        m[xi] = SN_WVLOAD(0, src + xi * VO * npad);
    SN_WFLOATV s[2][4]; /* A^T M: rows */
#pragma unroll
    for (int j = 0; j < 4; j++) {
        s[0][j] = m[j] + m[4 + j] + m[8 + j];
        s[1][j] = m[4 + j] - m[8 + j] - m[12 + j];
    }
    /* the vector part of the epilogue */
    const int affine = epi & SN_WINO_EPI_AFFINE, add = epi & SN_WINO_EPI_RES;
    const int relu_v = (epi & SN_WINO_EPI_RELU) && !add, relu_s = (epi & SN_WINO_EPI_RELU) && add;
    const SN_WFLOATV sc = (SN_WFLOATV)(affine ? scale[vo] : 1.0f),
                     sh = (SN_WFLOATV)(affine ? shift[vo] : 0.0f);
    /* (A^T M) A, row i as 2V floats: lane t's pair at 2t, 2t+1 */
    float y[2][2 * SN_WINO_V];
#pragma unroll
    for (int i = 0; i < 2; i++) {
        SN_WFLOATV e = s[i][0] + s[i][1] + s[i][2], o = s[i][1] - s[i][2] - s[i][3];
        if (affine) {
            e = fma(e, sc, sh);
            o = fma(o, sc, sh);
        }
        if (relu_v) {
            e = fmax(e, (SN_WFLOATV)(0.0f));
            o = fmax(o, (SN_WFLOATV)(0.0f));
        }
#if SN_WINO_V == 16
        SN_WVSTORE((SN_WFLOATV)(e.s0, o.s0, e.s1, o.s1, e.s2, o.s2, e.s3, o.s3, e.s4, o.s4, e.s5,
                                o.s5, e.s6, o.s6, e.s7, o.s7),
                   0, y[i]);
        SN_WVSTORE((SN_WFLOATV)(e.s8, o.s8, e.s9, o.s9, e.sa, o.sa, e.sb, o.sb, e.sc, o.sc, e.sd,
                                o.sd, e.se, o.se, e.sf, o.sf),
                   1, y[i]);
#elif SN_WINO_V == 8
        SN_WVSTORE((SN_WFLOATV)(e.s0, o.s0, e.s1, o.s1, e.s2, o.s2, e.s3, o.s3), 0, y[i]);
        SN_WVSTORE((SN_WFLOATV)(e.s4, o.s4, e.s5, o.s5, e.s6, o.s6, e.s7, o.s7), 1, y[i]);
#else
        SN_WVSTORE((SN_WFLOATV)(e.s0, o.s0, e.s1, o.s1), 0, y[i]);
        SN_WVSTORE((SN_WFLOATV)(e.s2, o.s2, e.s3, o.s3), 1, y[i]);
#endif
    }
    const int last = np - q0 < SN_WINO_V ? np - q0 : SN_WINO_V;
    for (int t = 0; t < last;) {
        const int g = p0 + q0 + t, img = g / (TH * TW), rest = g - img * (TH * TW);
        const int ty = rest / TW, tx = rest - ty * TW;
        const int t_end = t + (TW - tx) < last ? t + (TW - tx) : last;
        const int ox = 2 * tx, oy = 2 * ty;
        /* outputs ox .. ox+n-1 of the part, clipped at OW */
        const int n = 2 * (t_end - t) < OW - ox ? 2 * (t_end - t) : OW - ox;
        for (int i = 0; i < 2 && oy + i < OH; i++) {
            const int at = ((img * VO + vo) * OH + oy + i) * OW + ox;
            __global float *dst = out + at;
            const float *from = y[i] + 2 * t;
            if (accumulate) {
                for (int k = 0; k < n; k++)
                    dst[k] += from[k];
            } else if (add) {
                /* the part's own outputs only (res may be out): fours of
                 * them as vectors, then the rest */
                __global const float *r = res + at;
                int k = 0;
                for (; k + 4 <= n; k += 4) {
                    float4 v = vload4(0, from + k) + vload4(0, r + k);
                    if (relu_s)
                        v = fmax(v, (float4)(0.0f));
                    vstore4(v, 0, dst + k);
                }
                for (; k < n; k++) {
                    const float v = from[k] + r[k];
                    dst[k] = relu_s ? fmax(v, 0.0f) : v;
                }
            } else {
                for (int k = 0; k < n; k++)
                    dst[k] = from[k];
            }
        }
        t = t_end;
    }
}

/* dM = A dY A^T of a block of V consecutive tiles (vector lanes) of one
 * output channel oc of dy [N][OC][OH][OW] (dY the tile's 2x2 outputs, zero
 * past OH or OW and for tiles np <= q < npad), into dM [16][OC][npad] at
 * m_off. Tile q of the chunk is tile p0 + q of the batch. The block's tiles
 * of one tile row ("part", lanes t .. t_end-1) read 2V consecutive outputs
 * of each of two rows, split into even (dY[i][0]) and odd (dY[i][1])
 * columns; windows that would reach outside dy (`total` = N*OC*OH*OW
 * floats) are read element by element. global (npad/V, OC) */
__kernel void sn_wino_dy(const int OC, const int OH, const int OW, const int TH, const int TW,
                         const int p0, const int np, const int npad, const int total,
                         __global const float *dy, const int m_off, __global float *dM)
{
    const int q0 = get_global_id(0) * SN_WINO_V, oc = get_global_id(1);
    if (q0 >= npad || oc >= OC)
        return;
    const SN_WINTV lane = SN_WIOTA;
    SN_WFLOATV y[2][2];
#pragma unroll
    for (int i = 0; i < 2; i++)
        y[i][0] = y[i][1] = (SN_WFLOATV)(0.0f);
    const int last = np - q0 < SN_WINO_V ? np - q0 : SN_WINO_V;
    for (int t = 0; t < last;) {
        const int g = p0 + q0 + t, img = g / (TH * TW), rest = g - img * (TH * TW);
        const int ty = rest / TW, tx = rest - ty * TW;
        const int t_end = t + (TW - tx) < last ? t + (TW - tx) : last;
        const int off = 2 * (tx - t); /* output column of window element 0 */
        const SN_WINTV in_part = (lane >= t) & (lane < t_end);
        const SN_WINTV col = off + 2 * lane;
        const SN_WINTV mask0 = in_part & (col < OW), mask1 = in_part & (col + 1 < OW);
        for (int i = 0; i < 2 && 2 * ty + i < OH; i++) {
            const int base = ((img * OC + oc) * OH + 2 * ty + i) * OW + off;
            SN_WFLOATV a0, a1;
            if (base >= 0 && base + 2 * SN_WINO_V <= total) {
                a0 = SN_WVLOAD(0, dy + base);
                a1 = SN_WVLOAD(0, dy + base + SN_WINO_V);
            } else {
                float win[2 * SN_WINO_V];
                for (int k = 0; k < 2 * SN_WINO_V; k++)
                    win[k] = base + k >= 0 && base + k < total ? dy[base + k] : 0.0f;
                a0 = SN_WVLOAD(0, win);
                a1 = SN_WVLOAD(0, win + SN_WINO_V);
            }
            y[i][0] = select(y[i][0], SN_WEVEN(a0, a1), mask0);
            y[i][1] = select(y[i][1], SN_WODD(a0, a1), mask1);
        }
        t = t_end;
    }
    SN_WFLOATV q[4][2]; /* A dY: rows */
#pragma unroll
    for (int j = 0; j < 2; j++) {
        q[0][j] = y[0][j];
        q[1][j] = y[0][j] + y[1][j];
        q[2][j] = y[0][j] - y[1][j];
        q[3][j] = -y[1][j];
    }
    __global float *dst = dM + m_off + oc * npad + q0;
    const int xs = OC * npad;
#pragma unroll
    for (int i = 0; i < 4; i++) { /* (A dY) A^T: columns */
        SN_WVSTORE(q[i][0], 0, dst + (4 * i + 0) * xs);
        SN_WVSTORE(q[i][0] + q[i][1], 0, dst + (4 * i + 1) * xs);
        SN_WVSTORE(q[i][0] - q[i][1], 0, dst + (4 * i + 2) * xs);
        SN_WVSTORE(-q[i][1], 0, dst + (4 * i + 3) * xs);
    }
}

/* Sum of the lanes of a vector. */
static inline float sn_wino_hsum(SN_WFLOATV a)
{
#if SN_WINO_V == 16
    const float8 b = a.lo + a.hi;
    const float4 c = b.lo + b.hi;
#elif SN_WINO_V == 8
    const float4 c = a.lo + a.hi;
#else
    const float4 c = a;
#endif
    const float2 d = c.lo + c.hi;
    /* dot(d, 1) is d.x + d.y exactly (products by 1 are exact). Written
     * as d.x + d.y, LLVM turns it into a shuffle with an undefined lane
     * that crashes Oclgrind (its shufflevector handler indexes the undef
     * lane, -1, as a lane: segfault). */
    return dot(d, (float2)(1.0f));
}

/* Weight-gradient partials of one slice of the tiles, WC input channels by
 * WO output channels per work item, vectors along the tiles:
 *   part[slice][xi][c][oc] = sum over tiles q of the slice of
 *                            V[xi][c][q] * dM[xi][oc][q]
 * V [16][C][npad] at v_off, dM [16][OC][npad] at m_off (padding tiles are
 * zero in both), part [slices][16][C][OCp] at part_off (lanes OC .. OCp-1
 * not written). A slice is `rows` consecutive tiles (a multiple of V).
 * Channels past C or OC are computed on valid rows and not stored.
 * global (ceil(C/WC), ceil(OC/WO), slices*16) */
#define SN_WINO_WGRAD(NAME, WC, WO)                                                           \
    __kernel void NAME(const int C, const int OC, const int OCp, const int npad,             \
                       const int rows, const int v_off, __global const float *V,             \
                       const int m_off, __global const float *dM, const int part_off,        \
                       __global float *part)                                                  \
    {                                                                                         \
        const int c0 = get_global_id(0) * (WC), oc0 = get_global_id(1) * (WO);               \
        const int z = get_global_id(2), slice = z / 16, xi = z - slice * 16;                  \
        if (c0 >= C || oc0 >= OC)                                                             \
            return;                                                                           \
        const int q_begin = slice * rows;                                                     \
        const int q_end = q_begin + rows < npad ? q_begin + rows : npad;                      \
        int vrow[WC], mrow[WO];                                                               \
        _Pragma("unroll") for (int a = 0; a < (WC); a++) vrow[a] =                           \
            v_off + (xi * C + (c0 + a < C ? c0 + a : C - 1)) * npad;                          \
        _Pragma("unroll") for (int b = 0; b < (WO); b++) mrow[b] =                           \
            m_off + (xi * OC + (oc0 + b < OC ? oc0 + b : OC - 1)) * npad;                     \
        SN_WFLOATV acc[WC][WO];                                                               \
        _Pragma("unroll") for (int a = 0; a < (WC); a++)                                     \
            _Pragma("unroll") for (int b = 0; b < (WO); b++) acc[a][b] = (SN_WFLOATV)(0.0f); \
        for (int q = q_begin; q < q_end; q += SN_WINO_V) {                                    \
            SN_WFLOATV vv[WC], mv[WO];                                                        \
            _Pragma("unroll") for (int a = 0; a < (WC); a++) vv[a] =                         \
                SN_WVLOAD(0, V + vrow[a] + q);                                                \
            _Pragma("unroll") for (int b = 0; b < (WO); b++) mv[b] =                         \
                SN_WVLOAD(0, dM + mrow[b] + q);                                               \
            _Pragma("unroll") for (int a = 0; a < (WC); a++)                                 \
                _Pragma("unroll") for (int b = 0; b < (WO); b++) acc[a][b] =                 \
                    fma(vv[a], mv[b], acc[a][b]);                                             \
        }                                                                                     \
        __global float *out = part + part_off + (z * C + c0) * OCp + oc0;                     \
        _Pragma("unroll") for (int a = 0; a < (WC); a++)                                     \
            _Pragma("unroll") for (int b = 0; b < (WO); b++) if (c0 + a < C && oc0 + b < OC) \
                out[a * OCp + b] = sn_wino_hsum(acc[a][b]);                                   \
    }

SN_WINO_WGRAD(sn_wino_wgrad, SN_WINO_WC, SN_WINO_WO)

/* dw [OC][C][3][3] (+)= G^T dU G with dU[xi] = sum over slices of
 * part[slice][xi][c][oc] (old dw never read unless accumulate), V output
 * channels per work item. global (C, OCp/V) */
__kernel void sn_wino_wgrad_sum(const int OC, const int C, const int OCp, const int slices,
                                const int accumulate, const int part_off,
                                __global const float *part, __global float *dw)
{
    const int c = get_global_id(0), oc0 = get_global_id(1) * SN_WINO_V;
    if (c >= C || oc0 >= OC)
        return;
    SN_WFLOATV u[16];
#pragma unroll
    for (int xi = 0; xi < 16; xi++)
        u[xi] = (SN_WFLOATV)(0.0f);
    for (int s = 0; s < slices; s++) {
        __global const float *src = part + part_off + (s * 16 * C + c) * OCp + oc0;
#pragma unroll
        for (int xi = 0; xi < 16; xi++)
            u[xi] += SN_WVLOAD(0, src + xi * C * OCp);
    }
    SN_WFLOATV h[3][4]; /* G^T dU: rows */
#pragma unroll
    for (int k = 0; k < 4; k++) {
        h[0][k] = u[k] + 0.5f * (u[4 + k] + u[8 + k]);
        h[1][k] = 0.5f * (u[4 + k] - u[8 + k]);
        h[2][k] = 0.5f * (u[4 + k] + u[8 + k]) + u[12 + k];
    }
    float g[9][SN_WINO_V]; /* (G^T dU) G, as lanes */
#pragma unroll
    for (int i = 0; i < 3; i++) {
        SN_WVSTORE(h[i][0] + 0.5f * (h[i][1] + h[i][2]), 0, g[3 * i + 0]);
        SN_WVSTORE(0.5f * (h[i][1] - h[i][2]), 0, g[3 * i + 1]);
        SN_WVSTORE(0.5f * (h[i][1] + h[i][2]) + h[i][3], 0, g[3 * i + 2]);
    }
    const int nl = OC - oc0 < SN_WINO_V ? OC - oc0 : SN_WINO_V;
    for (int l = 0; l < nl; l++) {
        __global float *d = dw + ((oc0 + l) * C + c) * 9;
        if (accumulate) {
            for (int k = 0; k < 9; k++)
                d[k] += g[k][l];
        } else {
            for (int k = 0; k < 9; k++)
                d[k] = g[k][l];
        }
    }
}
