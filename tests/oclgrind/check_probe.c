/* A kernel that does what tools/oclgrind_check.sh must catch, and one that
 * does not: the permanent test of the check itself (test_oclgrind_check.sh).
 *
 *   check_probe clean   every access in bounds, every value defined
 *   check_probe oob     reads one float past the end of its input buffer
 *   check_probe uninit  stores a value read from local memory nobody wrote
 *   check_probe race    two work items write one global float, unordered
 *
 * Plain OpenCL (the first device of the first platform, Oclgrind's under
 * oclgrind), no sharesnet code: the test proves the checker, not the
 * library. Exit status 0 whenever the kernel ran; a real device does not
 * notice the bugs, Oclgrind must. */
#define PROBE_NAME "check_probe"
#include "probe_setup.h"

#include <stdio.h>
#include <string.h>

#define N 64

static const char *source =
    "__kernel void clean(__global const float *in, __global float *out, const int n)\n"
    "{\n"
    "    const int i = get_global_id(0);\n"
    "    if (i < n)\n"
    "        out[i] = 2.0f * in[i];\n"
    "}\n"
    /* The off-by-one of a stencil: i + 1 == n reads in[n]. */
    "__kernel void oob(__global const float *in, __global float *out, const int n)\n"
    "{\n"
    "    const int i = get_global_id(0);\n"
    "    if (i < n)\n"
    "        out[i] = in[i] + in[i + 1];\n"
    "}\n"
    /* A local tile where only even work items store, every one loads. */
    "__kernel void uninit(__global const float *in, __global float *out, const int n)\n"
    "{\n"
    "    __local float tile[64];\n"
    "    const int i = get_global_id(0), l = get_local_id(0);\n"
    "    if ((l & 1) == 0)\n"
    "        tile[l] = in[i];\n"
    "    barrier(CLK_LOCAL_MEM_FENCE);\n"
    "    if (i < n)\n"
    "        out[i] = tile[l];\n"
    "}\n"
    /* Every work item adds into out[0] without an atomic. */
    "__kernel void race(__global const float *in, __global float *out, const int n)\n"
    "{\n"
    "    const int i = get_global_id(0);\n"
    "    if (i < n)\n"
    "        out[0] += in[i];\n"
    "}\n";

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "clean") && strcmp(mode, "oob") && strcmp(mode, "uninit") &&
        strcmp(mode, "race")) {
        fprintf(stderr, "usage: check_probe clean|oob|uninit|race\n");
        return 2;
    }
    probe pr;
    if (probe_setup(&pr, source))
        return 2;
    cl_context ctx = pr.ctx;
    cl_command_queue queue = pr.queue;
    cl_program program = pr.program;
    cl_int err;
    cl_kernel kernel = clCreateKernel(program, mode, &err);
    CHECK(err);

    float host[N];
    for (int i = 0; i < N; i++)
        host[i] = (float)i;
    /* Exactly N floats: the oob kernel's in[N] lies past the end. */
    cl_mem in = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof host, host,
                               &err);
    CHECK(err);
    cl_mem out = clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof host, host,
                                &err);
    CHECK(err);
    const int n = N;
    CHECK(clSetKernelArg(kernel, 0, sizeof in, &in));
    CHECK(clSetKernelArg(kernel, 1, sizeof out, &out));
    CHECK(clSetKernelArg(kernel, 2, sizeof n, &n));
    const size_t global = N, local = N;
    CHECK(clEnqueueNDRangeKernel(queue, kernel, 1, NULL, &global, &local, 0, NULL, NULL));
    CHECK(clEnqueueReadBuffer(queue, out, CL_TRUE, 0, sizeof host, host, 0, NULL, NULL));
    printf("check_probe %s: ran, out[1] = %g\n", mode, (double)host[1]);

    clReleaseMemObject(in);
    clReleaseMemObject(out);
    clReleaseKernel(kernel);
    clReleaseProgram(program);
    clReleaseCommandQueue(queue);
    clReleaseContext(ctx);
    return 0;
}
