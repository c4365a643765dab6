/* Single-precision GEMM on the context's queue: our own kernel
 * (kernels/gemm.cl, every device, offline binaries included) or CLBlast
 * (where the context may compile at run time), with failures turned into
 * an sn_status and a message. */
#ifndef SN_GEMM_H
#define SN_GEMM_H

#include "runtime/runtime_internal.h"

/* One row-major operand: element (r, c) of the stored matrix is
 * buffer[offset + r * ld + c], in floats. `trans` uses it transposed. */
typedef struct sn_gemm_operand {
    cl_mem buffer;
    size_t offset, ld;
    int trans;
} sn_gemm_operand;

/* C [m,n] = alpha * op(A) [m,k] * op(B) [k,n] + beta * C, row-major, with
 * our own kernel.
 * beta == 0 overwrites C: its old content, NaN included, never leaks in.
 * m, n, k > 0.
 * `op` names the calling op for the error message, e.g. "conv2d_forward". */
sn_status sn_gemm(sn_context *ctx, const char *op, size_t m, size_t n, size_t k, float alpha,
                  sn_gemm_operand a, sn_gemm_operand b, float beta, sn_gemm_operand c);

/* `batch` independent GEMMs of the same sizes: GEMM b reads A, B and C
 * `a_stride`, `b_stride` and `c_stride` floats further than GEMM b-1. */
sn_status sn_gemm_batched(sn_context *ctx, const char *op, size_t m, size_t n, size_t k,
                          float alpha, sn_gemm_operand a, size_t a_stride, sn_gemm_operand b,
                          size_t b_stride, float beta, sn_gemm_operand c, size_t c_stride,
                          size_t batch);

/* sn_gemm through CLBlast (SN_ERR_UNSUPPORTED when ctx->runtime_compile is
 * 0: CLBlast compiles its kernels at run time). Its temporary buffer comes
 * from the context's accounted memory (sn_gemm_temp). */
sn_status sn_gemm_clblast(sn_context *ctx, const char *op, size_t m, size_t n, size_t k,
                          float alpha, sn_gemm_operand a, sn_gemm_operand b, float beta,
                          sn_gemm_operand c);

/* Name of a CLBlast status code (its own codes and the OpenCL ones). */
const char *sn_clblast_status_name(int status);

#endif
