/* Our own SGEMM: the GEMM of every op on devices where CLBlast cannot run
 * (no run-time compiler: FPGAs, offline binaries), and the conv "gemm"
 * algorithm and linear layer everywhere.
 *
 *   C [M,N] = alpha * op(A) [M,K] x op(B) [K,N] + beta * C      (row-major)
 *
 * op(A)(i,k) = A[i*lda + k], or A[k*lda + i] when transposed; likewise B.
 * The third global dimension is the batch: GEMM b reads A, B and C
 * a_stride, b_stride and c_stride floats further than GEMM b-1.
 * beta == 0 overwrites C without reading it (NaN there never leaks in).
 *
 * Two tilings, chosen by the device parameter table (SN_GEMM_LOCAL):
 *
 * SN_GEMM_LOCAL = 1 (GPUs): a work-group of SN_GEMM_WN x SN_GEMM_WM work
 * items computes a block of BM = WM*TM rows by BN = WN*TN columns of C. Each step of the
 * k loop copies a TK-deep slice of op(A) and op(B) into local memory
 * (transposes and the zero padding at the matrix edges are resolved in
 * that copy, so the product loop has no branches), then every work item
 * accumulates its TM x TN register tile: rows ty + m*WM and columns
 * tx + n*WN, so that neighbouring work items touch neighbouring columns
 * (coalesced stores on GPUs, vectorised work-group loops on POCL).
 *
 * global = (ceil(N/BN)*WN, ceil(M/BM)*WM, batch), local = (WN, WM, 1).
 *
 * SN_GEMM_LOCAL = 0 (CPUs): explicit SIMD in one work item, like the direct
 * convolution kernels (no local memory, no barriers: POCL runs a work-group
 * as a loop, and the caches do what local memory does on a GPU). A work
 * item computes TM rows by TN = SN_GEMM_V columns (one vector each), the k
 * loop broadcasting one element of op(A) per row into fma's with a row of
 * op(B) loaded as one vector (gathered where B is transposed). Tiles at the
 * right or bottom edge clamp their indices to the matrix (the extra lanes
 * and rows compute garbage that is never stored), so the loop has no
 * branches. global = (ceil(N/V), ceil(M/TM), batch), local chosen by the
 * host.
 *
 * The tile sizes come from the host's device parameter table
 * (runtime/device_params.c) as -D options; the kernels keep no defaults.
 * Indices are int: the host checks that every operand's extent is below
 * 2^31 floats. */

#if !defined(SN_GEMM_LOCAL) || !defined(SN_GEMM_TM) || !defined(SN_GEMM_TN) || \
    !defined(SN_GEMM_WM) || !defined(SN_GEMM_WN) || !defined(SN_GEMM_TK)
#error "SN_GEMM_LOCAL, _TM, _TN, _WM, _WN and _TK come from the host's device parameter table"
#endif

/* op(A)(i,k) and op(B)(k,j) for the four transpose cases. */
#define SN_GEMM_A_N(i, k) A[(i) * lda + (k)]
#define SN_GEMM_A_T(i, k) A[(k) * lda + (i)]
#define SN_GEMM_B_N(k, j) B[(k) * ldb + (j)]
#define SN_GEMM_B_T(k, j) B[(j) * ldb + (k)]

#if SN_GEMM_LOCAL

#define SN_GEMM_BM (SN_GEMM_WM * SN_GEMM_TM)
#define SN_GEMM_BN (SN_GEMM_WN * SN_GEMM_TN)
#define SN_GEMM_THREADS (SN_GEMM_WM * SN_GEMM_WN)

/* The copy of one k-slice into local memory walks the operand in its
 * memory order (consecutive work items read consecutive addresses): along k
 * for an untransposed A, along i for a transposed one; B the other way.
 * The remainders are written as e - q * d, not e % d next to e / d, which
 * LLVM turns into a 'freeze' that Oclgrind cannot run. */
#define SN_GEMM_LOAD_A_N                                                      \
    for (int e = tid; e < SN_GEMM_TK * SN_GEMM_BM; e += SN_GEMM_THREADS) {  \
        const int ii = e / SN_GEMM_TK, kk = e - ii * SN_GEMM_TK;             \
        const int gi = bi + ii, gk = k0 + kk;                                \
        As[kk][ii] = (gi < M && gk < K) ? SN_GEMM_A_N(gi, gk) : 0.0f;        \
    }
#define SN_GEMM_LOAD_A_T                                                      \
    for (int e = tid; e < SN_GEMM_TK * SN_GEMM_BM; e += SN_GEMM_THREADS) {  \
        const int kk = e / SN_GEMM_BM, ii = e - kk * SN_GEMM_BM;             \
        const int gi = bi + ii, gk = k0 + kk;                                \
        As[kk][ii] = (gi < M && gk < K) ? SN_GEMM_A_T(gi, gk) : 0.0f;        \
    }
#define SN_GEMM_LOAD_B_N                                                      \
    for (int e = tid; e < SN_GEMM_TK * SN_GEMM_BN; e += SN_GEMM_THREADS) {  \
        const int kk = e / SN_GEMM_BN, jj = e - kk * SN_GEMM_BN;             \
        const int gj = bj + jj, gk = k0 + kk;                                \
        Bs[kk][jj] = (gj < N && gk < K) ? SN_GEMM_B_N(gk, gj) : 0.0f;        \
    }
#define SN_GEMM_LOAD_B_T                                                      \
    for (int e = tid; e < SN_GEMM_TK * SN_GEMM_BN; e += SN_GEMM_THREADS) {  \
        const int jj = e / SN_GEMM_TK, kk = e - jj * SN_GEMM_TK;             \
        const int gj = bj + jj, gk = k0 + kk;                                \
        Bs[kk][jj] = (gj < N && gk < K) ? SN_GEMM_B_T(gk, gj) : 0.0f;        \
    }

#define SN_GEMM_KERNEL(NAME, LOAD_A, LOAD_B)                                                 \
    __kernel __attribute__((reqd_work_group_size(SN_GEMM_WN, SN_GEMM_WM, 1))) void NAME(      \
        const int M, const int N, const int K, const float alpha, const float beta,          \
        __global const float *A, const int a_off, const int lda, const int a_stride,         \
        __global const float *B, const int b_off, const int ldb, const int b_stride,         \
        __global float *C, const int c_off, const int ldc, const int c_stride)               \
    {                                                                                         \
        __local float As[SN_GEMM_TK][SN_GEMM_BM];                                             \
        __local float Bs[SN_GEMM_TK][SN_GEMM_BN];                                             \
        const int tx = get_local_id(0), ty = get_local_id(1);                                 \
        const int tid = ty * SN_GEMM_WN + tx;                                                 \
        const int bj = get_group_id(0) * SN_GEMM_BN, bi = get_group_id(1) * SN_GEMM_BM;       \
        const int batch = get_global_id(2);                                                   \
        A += a_off + batch * a_stride;                                                        \
        B += b_off + batch * b_stride;                                                        \
        C += c_off + batch * c_stride;                                                        \
        float acc[SN_GEMM_TM][SN_GEMM_TN];                                                    \
        for (int m = 0; m < SN_GEMM_TM; m++)                                                  \
            for (int n = 0; n < SN_GEMM_TN; n++)                                              \
                acc[m][n] = 0.0f;                                                             \
        for (int k0 = 0; k0 < K; k0 += SN_GEMM_TK) {                                          \
            LOAD_A                                                                            \
            LOAD_B                                                                            \
            barrier(CLK_LOCAL_MEM_FENCE);                                                     \
            for (int kk = 0; kk < SN_GEMM_TK; kk++) {                                         \
                float a[SN_GEMM_TM], b[SN_GEMM_TN];                                           \
                for (int m = 0; m < SN_GEMM_TM; m++)                                          \
                    a[m] = As[kk][ty + m * SN_GEMM_WM];                                       \
                for (int n = 0; n < SN_GEMM_TN; n++)                                          \
                    b[n] = Bs[kk][tx + n * SN_GEMM_WN];                                       \
                for (int m = 0; m < SN_GEMM_TM; m++)                                          \
                    for (int n = 0; n < SN_GEMM_TN; n++)                                      \
                        acc[m][n] = fma(a[m], b[n], acc[m][n]);                               \
            }                                                                                 \
            barrier(CLK_LOCAL_MEM_FENCE);                                                     \
        }                                                                                     \
        for (int m = 0; m < SN_GEMM_TM; m++) {                                                \
            const int i = bi + ty + m * SN_GEMM_WM;                                           \
            if (i >= M)                                                                       \
                break;                                                                        \
            for (int n = 0; n < SN_GEMM_TN; n++) {                                            \
                const int j = bj + tx + n * SN_GEMM_WN;                                       \
                if (j < N) {                                                                  \
                    __global float *c = C + i * ldc + j;                                      \
                    *c = beta == 0.0f ? alpha * acc[m][n] : fma(beta, *c, alpha * acc[m][n]); \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    }

SN_GEMM_KERNEL(sn_gemm_nn, SN_GEMM_LOAD_A_N, SN_GEMM_LOAD_B_N)
SN_GEMM_KERNEL(sn_gemm_nt, SN_GEMM_LOAD_A_N, SN_GEMM_LOAD_B_T)
SN_GEMM_KERNEL(sn_gemm_tn, SN_GEMM_LOAD_A_T, SN_GEMM_LOAD_B_N)
SN_GEMM_KERNEL(sn_gemm_tt, SN_GEMM_LOAD_A_T, SN_GEMM_LOAD_B_T)

#else /* SN_GEMM_LOCAL == 0: explicit SIMD per work item */

#if SN_GEMM_TN == 16
#define SN_GFLOATV float16
#define SN_GVLOAD vload16
#define SN_GVSTORE vstore16
#define SN_GLANES ((int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#define SN_GINTV int16
#elif SN_GEMM_TN == 8
#define SN_GFLOATV float8
#define SN_GVLOAD vload8
#define SN_GVSTORE vstore8
#define SN_GLANES ((int8)(0, 1, 2, 3, 4, 5, 6, 7))
#define SN_GINTV int8
#elif SN_GEMM_TN == 4
#define SN_GFLOATV float4
#define SN_GVLOAD vload4
#define SN_GVSTORE vstore4
#define SN_GLANES ((int4)(0, 1, 2, 3))
#define SN_GINTV int4
#else
#error "SN_GEMM_TN must be 4, 8 or 16 when SN_GEMM_LOCAL is 0"
#endif

/* Row k of op(B), lanes j0 .. j0+TN-1 (column indices clamped into the
 * matrix by `cols`, the clamped index vector, where the tile overhangs). */
#define SN_GEMM_ROW_B_N(k, full) \
    ((full) ? SN_GVLOAD(0, B + (k) * ldb + j0) : gather_b_n(B, (k) * ldb, cols))
#define SN_GEMM_ROW_B_T(k, full) gather_b_t(B, (k), cols, ldb)

/* Lanes of a row of B gathered at column indices `cols`. */
static inline SN_GFLOATV gather_b_n(__global const float *B, const int row, const SN_GINTV cols)
{
    SN_GFLOATV v;
    for (int l = 0; l < SN_GEMM_TN; l++)
        ((float *)&v)[l] = B[row + ((const int *)&cols)[l]];
    return v;
}

/* op(B)(k, cols[l]) = B[cols[l]*ldb + k] for a transposed B. */
static inline SN_GFLOATV gather_b_t(__global const float *B, const int k, const SN_GINTV cols,
                                    const int ldb)
{
    SN_GFLOATV v;
    for (int l = 0; l < SN_GEMM_TN; l++)
        ((float *)&v)[l] = B[((const int *)&cols)[l] * ldb + k];
    return v;
}

#define SN_GEMM_VKERNEL(NAME, A_AT, ROW_B)                                                    \
    __kernel void NAME(const int M, const int N, const int K, const float alpha,              \
                       const float beta, __global const float *A, const int a_off,            \
                       const int lda, const int a_stride, __global const float *B,            \
                       const int b_off, const int ldb, const int b_stride, __global float *C, \
                       const int c_off, const int ldc, const int c_stride)                    \
    {                                                                                         \
        const int j0 = get_global_id(0) * SN_GEMM_TN, i0 = get_global_id(1) * SN_GEMM_TM;    \
        const int batch = get_global_id(2);                                                   \
        if (j0 >= N || i0 >= M)                                                               \
            return;                                                                           \
        A += a_off + batch * a_stride;                                                        \
        B += b_off + batch * b_stride;                                                        \
        C += c_off + batch * c_stride;                                                        \
        const int full = j0 + SN_GEMM_TN <= N;                                                \
        const SN_GINTV cols = min(j0 + SN_GLANES, N - 1);                                     \
        int rows[SN_GEMM_TM];                                                                 \
        for (int m = 0; m < SN_GEMM_TM; m++)                                                  \
            rows[m] = min(i0 + m, M - 1);                                                     \
        SN_GFLOATV acc[SN_GEMM_TM];                                                           \
        for (int m = 0; m < SN_GEMM_TM; m++)                                                  \
            acc[m] = 0.0f;                                                                    \
        for (int k = 0; k < K; k++) {                                                         \
            const SN_GFLOATV b = ROW_B(k, full);                                              \
            for (int m = 0; m < SN_GEMM_TM; m++)                                              \
                acc[m] = fma((SN_GFLOATV)(A_AT(rows[m], k)), b, acc[m]);                      \
        }                                                                                     \
        for (int m = 0; m < SN_GEMM_TM && i0 + m < M; m++) {                                  \
            __global float *c = C + (i0 + m) * ldc + j0;                                      \
            if (full) {                                                                       \
                const SN_GFLOATV v = alpha * acc[m];                                          \
                SN_GVSTORE(beta == 0.0f ? v : fma((SN_GFLOATV)(beta), SN_GVLOAD(0, c), v), 0, \
                           c);                                                                \
            } else {                                                                          \
                for (int l = 0; l < N - j0; l++) {                                            \
                    const float v = alpha * ((float *)&acc[m])[l];                            \
                    c[l] = beta == 0.0f ? v : fma(beta, c[l], v);                             \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    }

SN_GEMM_VKERNEL(sn_gemm_nn, SN_GEMM_A_N, SN_GEMM_ROW_B_N)
SN_GEMM_VKERNEL(sn_gemm_tn, SN_GEMM_A_T, SN_GEMM_ROW_B_N)
SN_GEMM_VKERNEL(sn_gemm_tt, SN_GEMM_A_T, SN_GEMM_ROW_B_T)

/* A x B^T with both operands along k in memory (the weight gradients:
 * dy x col^T, and the linear forward x w^T): gathering columns of B would
 * read TN rows of it element by element, so this one computes DM x DN
 * dot products instead, vectors of TN consecutive k of both operands, and
 * sums the lanes at the end. global = (ceil(N/DN), ceil(M/DM), batch). */
#if !defined(SN_GEMM_DM) || !defined(SN_GEMM_DN)
#error "SN_GEMM_DM and _DN come from the host's device parameter table"
#endif

static inline float sn_gemm_lane_sum(const SN_GFLOATV v)
{
    float s = 0.0f;
    for (int l = 0; l < SN_GEMM_TN; l++)
        s += ((const float *)&v)[l];
    return s;
}

__kernel void sn_gemm_nt(const int M, const int N, const int K, const float alpha,
                         const float beta, __global const float *A, const int a_off,
                         const int lda, const int a_stride, __global const float *B,
                         const int b_off, const int ldb, const int b_stride, __global float *C,
                         const int c_off, const int ldc, const int c_stride)
{
    const int j0 = get_global_id(0) * SN_GEMM_DN, i0 = get_global_id(1) * SN_GEMM_DM;
    const int batch = get_global_id(2);
    if (j0 >= N || i0 >= M)
        return;
    A += a_off + batch * a_stride;
    B += b_off + batch * b_stride;
    C += c_off + batch * c_stride;
    __global const float *a[SN_GEMM_DM], *b[SN_GEMM_DN];
    for (int m = 0; m < SN_GEMM_DM; m++)
        a[m] = A + min(i0 + m, M - 1) * lda;
    for (int n = 0; n < SN_GEMM_DN; n++)
        b[n] = B + min(j0 + n, N - 1) * ldb;
    SN_GFLOATV acc[SN_GEMM_DM][SN_GEMM_DN];
    for (int m = 0; m < SN_GEMM_DM; m++)
        for (int n = 0; n < SN_GEMM_DN; n++)
            acc[m][n] = 0.0f;
    const int kv = K / SN_GEMM_TN * SN_GEMM_TN;
    for (int k = 0; k < kv; k += SN_GEMM_TN) {
        SN_GFLOATV av[SN_GEMM_DM], bv[SN_GEMM_DN];
        for (int m = 0; m < SN_GEMM_DM; m++)
            av[m] = SN_GVLOAD(0, a[m] + k);
        for (int n = 0; n < SN_GEMM_DN; n++)
            bv[n] = SN_GVLOAD(0, b[n] + k);
        for (int m = 0; m < SN_GEMM_DM; m++)
            for (int n = 0; n < SN_GEMM_DN; n++)
                acc[m][n] = fma(av[m], bv[n], acc[m][n]);
    }
    for (int m = 0; m < SN_GEMM_DM && i0 + m < M; m++)
        for (int n = 0; n < SN_GEMM_DN && j0 + n < N; n++) {
            float sum = sn_gemm_lane_sum(acc[m][n]);
            for (int k = kv; k < K; k++)
                sum = fma(a[m][k], b[n][k], sum);
            __global float *c = C + (i0 + m) * ldc + j0 + n;
            *c = beta == 0.0f ? alpha * sum : fma(beta, *c, alpha * sum);
        }
}

#endif
