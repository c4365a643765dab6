/* SGEMM: our own kernel (kernels/gemm.cl), which every device runs from the
 * library's program, and CLBlast, a tuned alternative where the device may
 * compile at run time; failures become a status and a message.
 *
 * beta = 0: our kernel branches on beta and never reads C then; CLBlast's GEMM kernels (direct and indirect) branch on
 * IsZero(beta) and store alpha*AB without reading C, so NaN in C never leaks
 * in. Checked on POCL for both paths and every transpose (tests poison C). */
#include "ops/gemm.h"

#include <clblast_c.h>

const char *sn_clblast_status_name(int status)
{
    switch (status) {
#define N(code) case code: return #code;
    N(CLBlastNotImplemented)
    N(CLBlastInvalidMatrixA)
    N(CLBlastInvalidMatrixB)
    N(CLBlastInvalidMatrixC)
    N(CLBlastInvalidVectorX)
    N(CLBlastInvalidVectorY)
    N(CLBlastInvalidDimension)
    N(CLBlastInvalidLeadDimA)
    N(CLBlastInvalidLeadDimB)
    N(CLBlastInvalidLeadDimC)
    N(CLBlastInvalidIncrementX)
    N(CLBlastInvalidIncrementY)
    N(CLBlastInsufficientMemoryA)
    N(CLBlastInsufficientMemoryB)
    N(CLBlastInsufficientMemoryC)
    N(CLBlastInsufficientMemoryX)
    N(CLBlastInsufficientMemoryY)
    N(CLBlastInsufficientMemoryTemp)
    N(CLBlastInvalidBatchCount)
    N(CLBlastInvalidOverrideKernel)
    N(CLBlastMissingOverrideParameter)
    N(CLBlastInvalidLocalMemUsage)
    N(CLBlastNoHalfPrecision)
    N(CLBlastNoDoublePrecision)
    N(CLBlastInvalidVectorScalar)
    N(CLBlastInsufficientMemoryScalar)
    N(CLBlastDatabaseError)
    N(CLBlastUnknownError)
    N(CLBlastUnexpectedError)
#undef N
    }
    /* The remaining codes are OpenCL's own. */
    return sn_cl_error_name(status);
}

/* Out-of-memory codes become SN_ERR_OUT_OF_MEMORY, the rest SN_ERR_OPENCL. */
static sn_status status_of(CLBlastStatusCode s)
{
    switch (s) {
    case CLBlastTempBufferAllocFailure:
    case CLBlastOpenCLOutOfResources:
    case CLBlastOpenCLOutOfHostMemory:
        return SN_ERR_OUT_OF_MEMORY;
    default:
        return SN_ERR_OPENCL;
    }
}

/* The failure message: op, sizes, and CLBlast's name for the status. */
static sn_status gemm_fail(CLBlastStatusCode s, const char *op, size_t m, size_t n, size_t k,
                           sn_gemm_operand a, sn_gemm_operand b, float beta, sn_gemm_operand c,
                           size_t batch)
{
    return sn_fail(status_of(s),
                   "%s: SGEMM C[%zu,%zu] = %sA[%zu,%zu] x %sB[%zu,%zu] (lda %zu, ldb %zu, "
                   "ldc %zu, beta %g, batch %zu) failed: %s (%d)",
                   op, m, n, a.trans ? "T" : "", a.trans ? k : m, a.trans ? m : k,
                   b.trans ? "T" : "", b.trans ? n : k, b.trans ? k : n, a.ld, b.ld, c.ld,
                   (double)beta, batch, sn_clblast_status_name(s), (int)s);
}

static CLBlastTranspose transpose(sn_gemm_operand x)
{
    return x.trans ? CLBlastTransposeYes : CLBlastTransposeNo;
}

/* CLBlast's compiled programs, released with the last context (see
 * sn_context_on_last_free), not by CLBlast's static destructor at exit. */
static void clblast_release(void) { CLBlastClearCache(); }

static sn_status check_sizes(const char *op, size_t m, size_t n, size_t k, size_t batch,
                             sn_gemm_operand c)
{
    if (m == 0 || n == 0 || k == 0 || batch == 0 || c.trans)
        return sn_fail(SN_ERR_INTERNAL, "%s: SGEMM of sizes %zu x %zu x %zu x %zu%s", op, batch,
                       m, n, k, c.trans ? " with a transposed C" : "");
    return SN_OK;
}

/* Floats from the start of x's buffer to one past the last element of
 * `batch` strided [rows, cols] operands (rows x cols as stored). */
static size_t extent(sn_gemm_operand x, size_t rows, size_t cols, size_t stride, size_t batch)
{
    return x.offset + (batch - 1) * stride + (rows - 1) * x.ld + cols;
}

/* Our kernel (kernels/gemm.cl): one launch for the whole batch. */
static sn_status own_gemm(sn_context *ctx, const char *op, size_t m, size_t n, size_t k,
                          float alpha, sn_gemm_operand a, size_t a_stride, sn_gemm_operand b,
                          size_t b_stride, float beta, sn_gemm_operand c, size_t c_stride,
                          size_t batch)
{
    SN_TRY(check_sizes(op, m, n, k, batch, c));
    /* The kernel indexes with int: every element it touches must be below 2^31. */
    const size_t limit = 0x7fffffff;
    if (extent(a, a.trans ? k : m, a.trans ? m : k, a_stride, batch) > limit ||
        extent(b, b.trans ? n : k, b.trans ? k : n, b_stride, batch) > limit ||
        extent(c, m, n, c_stride, batch) > limit || batch > 65535)
        return sn_fail(SN_ERR_UNSUPPORTED,
                       "%s: SGEMM %zu x %zu x %zu (batch %zu) reaches past 2^31 floats", op, m, n,
                       k, batch);
    static const char *const names[2][2] = {{"sn_gemm_nn", "sn_gemm_nt"},
                                            {"sn_gemm_tn", "sn_gemm_tt"}};
    /* kernels/gemm.cl: work-groups of WN x WM items of TM x TN tiles with
     * local memory, or (gemm_local 0) one TM x TN tile per work item, DM x
     * DN dot products for A x B^T. */
    const sn_device_params *p = &ctx->params;
    const int dots = !p->gemm_local && !a.trans && b.trans;
    const size_t bm = dots ? (size_t)p->gemm_dm : (size_t)(p->gemm_wm * p->gemm_tm),
                 bn = dots ? (size_t)p->gemm_dn : (size_t)(p->gemm_wn * p->gemm_tn);
    const size_t local[3] = {(size_t)p->gemm_wn, (size_t)p->gemm_wm, 1};
    const size_t global[3] = {(n + bn - 1) / bn * local[0], (m + bm - 1) / bm * local[1], batch};
    sn_status st = SN_ENQUEUE(
        ctx, names[a.trans != 0][b.trans != 0], 3, global, p->gemm_local ? local : NULL,
        SN_ARG_INT(m), SN_ARG_INT(n),
        SN_ARG_INT(k), SN_ARG_FLOAT(alpha), SN_ARG_FLOAT(beta), SN_ARG_MEM(a.buffer),
        SN_ARG_INT(a.offset), SN_ARG_INT(a.ld), SN_ARG_INT(a_stride), SN_ARG_MEM(b.buffer),
        SN_ARG_INT(b.offset), SN_ARG_INT(b.ld), SN_ARG_INT(b_stride), SN_ARG_MEM(c.buffer),
        SN_ARG_INT(c.offset), SN_ARG_INT(c.ld), SN_ARG_INT(c_stride));
    if (st != SN_OK)
        return sn_fail_context(st, "%s: SGEMM C[%zu,%zu] = %sA x %sB (k %zu, batch %zu)", op, m, n,
                               a.trans ? "T" : "", b.trans ? "T" : "", k, batch);
    return SN_OK;
}

sn_status sn_gemm(sn_context *ctx, const char *op, size_t m, size_t n, size_t k, float alpha,
                  sn_gemm_operand a, sn_gemm_operand b, float beta, sn_gemm_operand c)
{
    return own_gemm(ctx, op, m, n, k, alpha, a, 0, b, 0, beta, c, 0, 1);
}

sn_status sn_gemm_batched(sn_context *ctx, const char *op, size_t m, size_t n, size_t k,
                          float alpha, sn_gemm_operand a, size_t a_stride, sn_gemm_operand b,
                          size_t b_stride, float beta, sn_gemm_operand c, size_t c_stride,
                          size_t batch)
{
    return own_gemm(ctx, op, m, n, k, alpha, a, a_stride, b, b_stride, beta, c, c_stride, batch);
}

/* C [m,n] = alpha * op(A) [m,k] op(B) [k,n] + beta * C through CLBlast, its
 * temporary buffer taken from the context's accounted memory. */
sn_status sn_gemm_clblast(sn_context *ctx, const char *op, size_t m, size_t n, size_t k,
                          float alpha, sn_gemm_operand a, sn_gemm_operand b, float beta,
                          sn_gemm_operand c)
{
    SN_TRY(check_sizes(op, m, n, k, 1, c));
    if (!ctx->runtime_compile)
        return sn_fail(SN_ERR_UNSUPPORTED,
                       "%s: CLBlast compiles kernels at run time, which this context does not "
                       "allow (accelerator, offline binary or no_runtime_compile)",
                       op);
    sn_context_on_last_free(clblast_release); /* CLBlast caches programs from here on */
    size_t temp_bytes = 0;
    CLBlastStatusCode s = CLBlastSGemmTempBufferSize(
        CLBlastLayoutRowMajor, transpose(a), transpose(b), m, n, k, a.offset, a.ld, b.offset,
        b.ld, c.offset, c.ld, &ctx->queue, &temp_bytes);
    if (s != CLBlastSuccess)
        return gemm_fail(s, op, m, n, k, a, b, beta, c, 1);
    /* CLBlast reports bytes; a direct-kernel GEMM needs none, but the
     * buffer must be a valid object either way. */
    cl_mem temp;
    SN_TRY(sn_gemm_temp(ctx, temp_bytes < 64 ? 64 : temp_bytes, &temp));
    s = CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, transpose(a), transpose(b), m, n, k,
                                   alpha, a.buffer, a.offset, a.ld, b.buffer, b.offset, b.ld,
                                   beta, c.buffer, c.offset, c.ld, &ctx->queue,
                                   sn_profile_slot(ctx, "clblast_sgemm"), temp);
    return s == CLBlastSuccess ? SN_OK : gemm_fail(s, op, m, n, k, a, b, beta, c, 1);
}
