/* The OpenCL set-up the Oclgrind probes share: the first device of the
 * first platform (under oclgrind that is the simulator), a context, an
 * in-order queue and `source` built. Header-only: two small programs. */
#ifndef SN_PROBE_SETUP_H
#define SN_PROBE_SETUP_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdio.h>

#define CHECK(call)                                                                            \
    do {                                                                                       \
        cl_int err_ = (call);                                                                  \
        if (err_ != CL_SUCCESS) {                                                              \
            fprintf(stderr, "%s: %s failed: %d\n", PROBE_NAME, #call, (int)err_);             \
            return 2;                                                                          \
        }                                                                                      \
    } while (0)

typedef struct probe {
    cl_device_id device;
    cl_context ctx;
    cl_command_queue queue;
    cl_program program;
} probe;

/* 0, or 2 after printing which call failed. */
static int probe_setup(probe *p, const char *source)
{
    cl_platform_id platform;
    cl_int err;
    CHECK(clGetPlatformIDs(1, &platform, NULL));
    CHECK(clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &p->device, NULL));
    p->ctx = clCreateContext(NULL, 1, &p->device, NULL, NULL, &err);
    CHECK(err);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    p->queue = clCreateCommandQueue(p->ctx, p->device, 0, &err);
#pragma GCC diagnostic pop
    CHECK(err);
    p->program = clCreateProgramWithSource(p->ctx, 1, &source, NULL, &err);
    CHECK(err);
    CHECK(clBuildProgram(p->program, 1, &p->device, "", NULL, NULL));
    return 0;
}

#endif
