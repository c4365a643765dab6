/* Oclgrind 21.10's --uninitialized on buffers that are fully written by a
 * kernel before another kernel reads them: no report is right, yet it
 * reports every element past the first few when the buffer
 *
 *   reuse    takes the slot of a smaller buffer released before (the old
 *            shadow, of the old size, stays: Uninitialized has no
 *            memoryDeallocated, and Memory reuses released slots),
 *   fill     was filled with clEnqueueFillBuffer first, or
 *   partial  had part of it written from the host first
 *
 * (each host store allocates a new shadow of the store's size, so kernel
 * stores past it are not recorded). `fresh` is the same program without
 * that step: no report. This is why src/runtime/memory.c writes every new
 * buffer in full on Oclgrind and tests/ops/op_test.c poisons the workspace
 * with one whole write. test_oclgrind_check.sh runs it to say when a newer
 * Oclgrind no longer needs that. */
#define PROBE_NAME "shadow_reuse"
#include "probe_setup.h"

#include <stdio.h>
#include <string.h>

#define N 256

static const char *source =
    "__kernel void produce(__global float *b, const int n)\n"
    "{\n"
    "    const int i = get_global_id(0);\n"
    "    if (i < n)\n"
    "        b[i] = 1.0f;\n"
    "}\n"
    "__kernel void consume(__global const float *b, __global float *o, const int n)\n"
    "{\n"
    "    const int i = get_global_id(0);\n"
    "    if (i < n)\n"
    "        o[i] = b[i] > 0.5f ? 2.0f : 0.0f;\n"
    "}\n";

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "fresh") && strcmp(mode, "reuse") && strcmp(mode, "fill") &&
        strcmp(mode, "partial")) {
        fprintf(stderr, "usage: shadow_reuse fresh|reuse|fill|partial\n");
        return 2;
    }
    probe pr;
    if (probe_setup(&pr, source))
        return 2;
    cl_context ctx = pr.ctx;
    cl_command_queue queue = pr.queue;
    cl_program program = pr.program;
    cl_int err;
    cl_kernel produce = clCreateKernel(program, "produce", &err);
    CHECK(err);
    cl_kernel consume = clCreateKernel(program, "consume", &err);
    CHECK(err);

    float host[N] = {0};
    if (!strcmp(mode, "reuse")) {
        cl_mem small = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 16 * sizeof(float), NULL, &err);
        CHECK(err);
        CHECK(clEnqueueWriteBuffer(queue, small, CL_TRUE, 0, 16 * sizeof(float), host, 0, NULL,
                                   NULL));
        CHECK(clReleaseMemObject(small));
    }
    const int n = N;
    cl_mem b = clCreateBuffer(ctx, CL_MEM_READ_WRITE, sizeof host, NULL, &err);
    CHECK(err);
    cl_mem o = clCreateBuffer(ctx, CL_MEM_READ_WRITE, sizeof host, NULL, &err);
    CHECK(err);
    if (!strcmp(mode, "fill")) {
        const float zero = 0.0f;
        CHECK(clEnqueueFillBuffer(queue, b, &zero, sizeof zero, 0, sizeof host, 0, NULL, NULL));
    }
    if (!strcmp(mode, "partial"))
        CHECK(clEnqueueWriteBuffer(queue, b, CL_TRUE, 0, 16 * sizeof(float), host, 0, NULL,
                                   NULL));
    const size_t global = N;
    CHECK(clSetKernelArg(produce, 0, sizeof b, &b));
    CHECK(clSetKernelArg(produce, 1, sizeof n, &n));
    CHECK(clEnqueueNDRangeKernel(queue, produce, 1, NULL, &global, NULL, 0, NULL, NULL));
    CHECK(clSetKernelArg(consume, 0, sizeof b, &b));
    CHECK(clSetKernelArg(consume, 1, sizeof o, &o));
    CHECK(clSetKernelArg(consume, 2, sizeof n, &n));
    CHECK(clEnqueueNDRangeKernel(queue, consume, 1, NULL, &global, NULL, 0, NULL, NULL));
    CHECK(clEnqueueReadBuffer(queue, o, CL_TRUE, 0, sizeof host, host, 0, NULL, NULL));
    printf("shadow_reuse %s: ran, o[%d] = %g\n", mode, N - 1, (double)host[N - 1]);

    clReleaseMemObject(b);
    clReleaseMemObject(o);
    clReleaseKernel(produce);
    clReleaseKernel(consume);
    clReleaseProgram(program);
    clReleaseCommandQueue(queue);
    clReleaseContext(ctx);
    return 0;
}
