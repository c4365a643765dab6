/* The one place device buffers are allocated: it keeps bytes per category
 * and the peak, so models can report parameter, gradient, optimizer and
 * activation memory exactly. */
#include "runtime/runtime_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sn_mem_category_name(sn_mem_category c)
{
    static const char *names[SN_MEM_CATEGORIES] = {
        "parameters", "gradients", "optimizer", "activations", "workspace", "other"};
    return (unsigned)c < SN_MEM_CATEGORIES ? names[c] : "?";
}

/* Oclgrind 21.10's --uninitialized keeps one shadow (defined/undefined
 * map) per buffer *slot*, never drops it when the buffer is released, and
 * reuses released slots for new buffers: a new buffer inherits the shadow
 * of an old one, of the old one's size. Kernel stores past that size are
 * not recorded, so data a kernel wrote is later reported as uninitialised
 * ("Controlflow depends on uninitialized value", "Uninitialized value
 * written"), and a slot whose old shadow said "defined" hides real reads
 * of never-written memory. tests/oclgrind/shadow_reuse.c shows both with two
 * buffers and no sharesnet code. A host write of the whole buffer, at
 * offset 0, is the one thing that makes Oclgrind allocate a fresh shadow
 * of the right size; it marks the buffer defined, so what it writes is
 * NaN: a kernel that reads memory nobody wrote then produces NaN, which
 * the op tests (compared with the double reference) report. Oclgrind
 * only: on every other device a new buffer costs no transfer. */
static sn_status oclgrind_reset_shadow(sn_context *ctx, cl_mem m, size_t bytes, const char *what)
{
    const size_t n = bytes / sizeof(uint32_t) + 1;
    uint32_t *nan = malloc(n * sizeof *nan);
    if (!nan)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "%s: out of host memory (%zu bytes)", what, bytes);
    for (size_t i = 0; i < n; i++)
        nan[i] = 0x7fc00000u; /* quiet NaN */
    cl_int err = clEnqueueWriteBuffer(ctx->queue, m, CL_TRUE, 0, bytes, nan, 0, NULL, NULL);
    free(nan);
    if (err != CL_SUCCESS)
        return sn_fail(SN_ERR_OPENCL, "%s: clEnqueueWriteBuffer (Oclgrind shadow reset) failed: %s",
                       what, sn_cl_error_name(err));
    return SN_OK;
}

sn_status sn_buffer_alloc(sn_context *ctx, size_t bytes, sn_mem_category cat,
                          const char *what, cl_mem *out)
{
    *out = NULL;
    if (bytes == 0)
        return sn_fail(SN_ERR_SHAPE, "%s: cannot allocate an empty buffer", what);
    if ((unsigned)cat >= SN_MEM_CATEGORIES)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: bad memory category %d", what, (int)cat);
    if (bytes > ctx->info.max_alloc_bytes)
        return sn_fail(SN_ERR_OUT_OF_MEMORY,
                       "%s: %zu bytes exceed the device's largest allocation (%llu bytes) on %s",
                       what, bytes, (unsigned long long)ctx->info.max_alloc_bytes, ctx->info.name);
    if (ctx->mem.total + bytes > ctx->info.global_mem_bytes)
        return sn_fail(SN_ERR_OUT_OF_MEMORY,
                       "%s: %zu more bytes would exceed the device memory (%zu in use of %llu) on %s",
                       what, bytes, ctx->mem.total, (unsigned long long)ctx->info.global_mem_bytes,
                       ctx->info.name);
    cl_int err = CL_SUCCESS;
    cl_mem m = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        sn_status st = (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES ||
                        err == CL_OUT_OF_HOST_MEMORY || err == CL_INVALID_BUFFER_SIZE)
                           ? SN_ERR_OUT_OF_MEMORY
                           : SN_ERR_OPENCL;
        return sn_fail(st, "%s: clCreateBuffer(%zu bytes, %s) failed: %s", what, bytes,
                       sn_mem_category_name(cat), sn_cl_error_name(err));
    }
    if (ctx->queue && !strcmp(ctx->info.platform, "Oclgrind")) {
        sn_status st = oclgrind_reset_shadow(ctx, m, bytes, what);
        if (st != SN_OK) {
            clReleaseMemObject(m);
            return st;
        }
    }
    ctx->mem.bytes[cat] += bytes;
    ctx->mem.total += bytes;
    ctx->mem.allocations++;
    if (ctx->mem.total > ctx->mem.peak)
        ctx->mem.peak = ctx->mem.total;
    *out = m;
    return SN_OK;
}

void sn_buffer_release(sn_context *ctx, cl_mem buffer, size_t bytes, sn_mem_category cat)
{
    if (!buffer)
        return;
    clReleaseMemObject(buffer);
    ctx->mem.bytes[cat] -= bytes;
    ctx->mem.total -= bytes;
    ctx->mem.allocations--;
}

/* Grow a scratch slot (*buf of *have bytes) to at least `bytes`. The queue
 * is in order, so kernels still using the old buffer finish before it is
 * freed (OpenCL keeps it alive until then). */
static sn_status scratch(sn_context *ctx, cl_mem *buf, size_t *have, size_t bytes,
                         const char *what, cl_mem *out)
{
    if (bytes <= *have && *buf) {
        *out = *buf;
        return SN_OK;
    }
    sn_buffer_release(ctx, *buf, *have, SN_MEM_WORKSPACE);
    *buf = NULL;
    *have = 0;
    SN_TRY(sn_buffer_alloc(ctx, bytes, SN_MEM_WORKSPACE, what, buf));
    *have = bytes;
    *out = *buf;
    return SN_OK;
}

sn_status sn_workspace(sn_context *ctx, size_t bytes, cl_mem *out)
{
    return scratch(ctx, &ctx->workspace, &ctx->workspace_bytes, bytes, "workspace", out);
}

sn_status sn_gemm_temp(sn_context *ctx, size_t bytes, cl_mem *out)
{
    return scratch(ctx, &ctx->gemm_temp, &ctx->gemm_temp_bytes, bytes, "CLBlast temporary buffer",
                   out);
}

void sn_context_mem_stats(const sn_context *ctx, sn_mem_stats *stats) { *stats = ctx->mem; }

void sn_context_reset_peak(sn_context *ctx) { ctx->mem.peak = ctx->mem.total; }
