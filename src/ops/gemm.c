/* SGEMM through CLBlast, its failures turned into a status and a message.
 *
 * beta = 0: CLBlast's GEMM kernels (direct and indirect) branch on
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

/* C [m,n] = alpha * op(A) [m,k] op(B) [k,n] + beta * C, row-major. */
sn_status sn_gemm(sn_context *ctx, const char *op, size_t m, size_t n, size_t k, float alpha,
                  sn_gemm_operand a, sn_gemm_operand b, float beta, sn_gemm_operand c)
{
    if (m == 0 || n == 0 || k == 0 || c.trans)
        return sn_fail(SN_ERR_INTERNAL, "%s: SGEMM of sizes %zu x %zu x %zu%s", op, m, n, k,
                       c.trans ? " with a transposed C" : "");
    sn_context_on_last_free(clblast_release);
    CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor, transpose(a), transpose(b), m, n,
                                       k, alpha, a.buffer, a.offset, a.ld, b.buffer, b.offset,
                                       b.ld, beta, c.buffer, c.offset, c.ld, &ctx->queue,
                                       sn_profile_slot(ctx, "clblast_sgemm"));
    return s == CLBlastSuccess ? SN_OK : gemm_fail(s, op, m, n, k, a, b, beta, c, 1);
}

/* batch x (C [m,n] = alpha * op(A) op(B) + beta * C), operands strided. */
sn_status sn_gemm_batched(sn_context *ctx, const char *op, size_t m, size_t n, size_t k,
                          float alpha, sn_gemm_operand a, size_t a_stride, sn_gemm_operand b,
                          size_t b_stride, float beta, sn_gemm_operand c, size_t c_stride,
                          size_t batch)
{
    if (m == 0 || n == 0 || k == 0 || batch == 0 || c.trans)
        return sn_fail(SN_ERR_INTERNAL, "%s: batched SGEMM of sizes %zu x %zu x %zu x %zu%s", op,
                       batch, m, n, k, c.trans ? " with a transposed C" : "");
    sn_context_on_last_free(clblast_release);
    CLBlastStatusCode s = CLBlastSgemmStridedBatched(
        CLBlastLayoutRowMajor, transpose(a), transpose(b), m, n, k, alpha, a.buffer, a.offset,
        a.ld, a_stride, b.buffer, b.offset, b.ld, b_stride, beta, c.buffer, c.offset, c.ld,
        c_stride, batch, &ctx->queue, sn_profile_slot(ctx, "clblast_sgemm_batched"));
    return s == CLBlastSuccess ? SN_OK : gemm_fail(s, op, m, n, k, a, b, beta, c, batch);
}
