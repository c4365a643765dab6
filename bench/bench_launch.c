/* sharesnet-bench-launch: what one kernel launch costs on a device, and
 * whether replaying a recorded cl_khr_command_buffer saves any of it.
 *
 * A training step of ResNet-20 is ~400 small launches; this program tells
 * how much of a step is launch overhead (compare with the step time of
 * `sharesnet bench throughput`) and so whether recording the step once and
 * replaying it is worth its constraints (every kernel argument fixed at
 * record time, no CLBlast calls inside).
 *
 * It runs `--kernels` launches of a tiny kernel (y = a*y + b over `--size`
 * floats, in one in-order queue, each depending on the one before), three
 * ways, interleaved `--reps` times, and prints the median microseconds per
 * launch of each:
 *   enqueue   clEnqueueNDRangeKernel each time, one clFinish at the end
 *   replay    the same launches recorded once into a command buffer,
 *             clEnqueueCommandBufferKHR + clFinish (only where the device
 *             has cl_khr_command_buffer)
 *   one       one launch + clFinish (the round-trip latency of a sync)
 *
 *   sharesnet-bench-launch [--device cpu|gpu] [--kernels N] [--size N] [--reps N]
 */
/* meson defines CL_TARGET_OPENCL_VERSION=120 and _POSIX_C_SOURCE */
#include <CL/cl.h>
#include <CL/cl_ext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *source =
    "__kernel void axpb(__global float *y, const float a, const float b, const int n)\n"
    "{ int i = get_global_id(0); if (i < n) y[i] = a * y[i] + b; }\n";

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec * 1e-3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#define CHECK(call, what)                                                       \
    do {                                                                        \
        cl_int err_ = (call);                                                   \
        if (err_ != CL_SUCCESS) {                                               \
            fprintf(stderr, "sharesnet-bench-launch: %s failed (OpenCL %d)\n",  \
                    what, (int)err_);                                           \
            return 1;                                                           \
        }                                                                       \
    } while (0)

/* The first device of `type` on any platform. */
static int find_device(cl_device_type type, cl_platform_id *platform, cl_device_id *device)
{
    cl_platform_id ps[16];
    cl_uint np = 0;
    if (clGetPlatformIDs(16, ps, &np) != CL_SUCCESS)
        return 0;
    for (cl_uint i = 0; i < np && i < 16; i++)
        if (clGetDeviceIDs(ps[i], type, 1, device, NULL) == CL_SUCCESS) {
            *platform = ps[i];
            return 1;
        }
    return 0;
}

static int has_extension(cl_device_id device, const char *name)
{
    size_t size = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, 0, NULL, &size) != CL_SUCCESS)
        return 0;
    char *ext = malloc(size + 1);
    if (!ext)
        return 0;
    int found = clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, size, ext, NULL) == CL_SUCCESS &&
                strstr(ext, name) != NULL;
    free(ext);
    return found;
}

static int parse_int(const char *s, const char *flag, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "sharesnet-bench-launch: %s wants an integer in [%d, %d], got '%s'\n",
                flag, lo, hi, s);
        return 0;
    }
    *out = (int)v;
    return 1;
}

int main(int argc, char **argv)
{
    const char *device_name = "cpu";
    int kernels = 400, size = 1024, reps = 9;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--device") && v)
            device_name = argv[++i];
        else if (!strcmp(a, "--kernels") && v) {
            if (!parse_int(argv[++i], a, 1, 1000000, &kernels))
                return 2;
        } else if (!strcmp(a, "--size") && v) {
            if (!parse_int(argv[++i], a, 1, 1 << 26, &size))
                return 2;
        } else if (!strcmp(a, "--reps") && v) {
            if (!parse_int(argv[++i], a, 1, 1000, &reps))
                return 2;
        } else {
            fprintf(stderr, "usage: sharesnet-bench-launch [--device cpu|gpu] [--kernels N] "
                            "[--size N] [--reps N]\n");
            return 2;
        }
    }
    cl_device_type type = !strcmp(device_name, "gpu") ? CL_DEVICE_TYPE_GPU : CL_DEVICE_TYPE_CPU;
    if (strcmp(device_name, "gpu") && strcmp(device_name, "cpu")) {
        fprintf(stderr, "sharesnet-bench-launch: --device is cpu or gpu, got '%s'\n", device_name);
        return 2;
    }
    cl_platform_id platform;
    cl_device_id device;
    if (!find_device(type, &platform, &device)) {
        fprintf(stderr, "sharesnet-bench-launch: no OpenCL %s device\n", device_name);
        return 1;
    }
    char name[256] = "";
    clGetDeviceInfo(device, CL_DEVICE_NAME, sizeof name - 1, name, NULL);

    cl_int err;
    cl_context ctx = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    CHECK(err, "clCreateContext");
    cl_command_queue q = clCreateCommandQueue(ctx, device, 0, &err);
    CHECK(err, "clCreateCommandQueue");
    cl_program prog = clCreateProgramWithSource(ctx, 1, &source, NULL, &err);
    CHECK(err, "clCreateProgramWithSource");
    CHECK(clBuildProgram(prog, 1, &device, "", NULL, NULL), "clBuildProgram");
    cl_kernel k = clCreateKernel(prog, "axpb", &err);
    CHECK(err, "clCreateKernel");
    cl_mem y = clCreateBuffer(ctx, CL_MEM_READ_WRITE, (size_t)size * sizeof(float), NULL, &err);
    CHECK(err, "clCreateBuffer");
    const float zero = 0.0f, a = 0.5f, b = 1.0f;
    CHECK(clEnqueueFillBuffer(q, y, &zero, sizeof zero, 0, (size_t)size * sizeof(float), 0, NULL,
                              NULL),
          "clEnqueueFillBuffer");
    CHECK(clSetKernelArg(k, 0, sizeof y, &y), "clSetKernelArg");
    CHECK(clSetKernelArg(k, 1, sizeof a, &a), "clSetKernelArg");
    CHECK(clSetKernelArg(k, 2, sizeof b, &b), "clSetKernelArg");
    CHECK(clSetKernelArg(k, 3, sizeof size, &size), "clSetKernelArg");
    size_t global = (size_t)size;

    /* The command buffer, recorded once, where the device offers one. */
    clCreateCommandBufferKHR_fn create_cb = NULL;
    clCommandNDRangeKernelKHR_fn record = NULL;
    clFinalizeCommandBufferKHR_fn finalize = NULL;
    clEnqueueCommandBufferKHR_fn replay = NULL;
    clReleaseCommandBufferKHR_fn release_cb = NULL;
    cl_command_buffer_khr cb = NULL;
    if (has_extension(device, "cl_khr_command_buffer")) {
        create_cb = (clCreateCommandBufferKHR_fn)clGetExtensionFunctionAddressForPlatform(
            platform, "clCreateCommandBufferKHR");
        record = (clCommandNDRangeKernelKHR_fn)clGetExtensionFunctionAddressForPlatform(
            platform, "clCommandNDRangeKernelKHR");
        finalize = (clFinalizeCommandBufferKHR_fn)clGetExtensionFunctionAddressForPlatform(
            platform, "clFinalizeCommandBufferKHR");
        replay = (clEnqueueCommandBufferKHR_fn)clGetExtensionFunctionAddressForPlatform(
            platform, "clEnqueueCommandBufferKHR");
        release_cb = (clReleaseCommandBufferKHR_fn)clGetExtensionFunctionAddressForPlatform(
            platform, "clReleaseCommandBufferKHR");
    }
    if (create_cb && record && finalize && replay && release_cb) {
        cb = create_cb(1, &q, NULL, &err);
        CHECK(err, "clCreateCommandBufferKHR");
        for (int i = 0; i < kernels; i++)
            CHECK(record(cb, NULL, NULL, k, 1, NULL, &global, NULL, 0, NULL, NULL, NULL),
                  "clCommandNDRangeKernelKHR");
        CHECK(finalize(cb), "clFinalizeCommandBufferKHR");
    }

    double *t_enq = malloc(sizeof(double) * (size_t)reps);
    double *t_rep = malloc(sizeof(double) * (size_t)reps);
    double *t_one = malloc(sizeof(double) * (size_t)reps);
    if (!t_enq || !t_rep || !t_one) {
        fprintf(stderr, "sharesnet-bench-launch: out of host memory\n");
        return 1;
    }
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up, not kept */
        double t0 = now_us();
        for (int i = 0; i < kernels; i++)
            CHECK(clEnqueueNDRangeKernel(q, k, 1, NULL, &global, NULL, 0, NULL, NULL),
                  "clEnqueueNDRangeKernel");
        CHECK(clFinish(q), "clFinish");
        double t1 = now_us();
        if (cb) {
            CHECK(replay(1, &q, cb, 0, NULL, NULL), "clEnqueueCommandBufferKHR");
            CHECK(clFinish(q), "clFinish");
        }
        double t2 = now_us();
        CHECK(clEnqueueNDRangeKernel(q, k, 1, NULL, &global, NULL, 0, NULL, NULL),
              "clEnqueueNDRangeKernel");
        CHECK(clFinish(q), "clFinish");
        double t3 = now_us();
        if (r >= 0) {
            t_enq[r] = (t1 - t0) / kernels;
            t_rep[r] = (t2 - t1) / kernels;
            t_one[r] = t3 - t2;
        }
    }
    printf("device: %s\n", name);
    printf("launches per run: %d of %d floats, %d runs (medians)\n", kernels, size, reps);
    printf("enqueue  %8.2f us per launch\n", median(t_enq, reps));
    if (cb)
        printf("replay   %8.2f us per launch (cl_khr_command_buffer)\n", median(t_rep, reps));
    else
        printf("replay        n/a (no cl_khr_command_buffer)\n");
    printf("one      %8.2f us for one launch + clFinish\n", median(t_one, reps));

    if (cb)
        release_cb(cb);
    free(t_enq);
    free(t_rep);
    free(t_one);
    clReleaseMemObject(y);
    clReleaseKernel(k);
    clReleaseProgram(prog);
    clReleaseCommandQueue(q);
    clReleaseContext(ctx);
    return 0;
}
