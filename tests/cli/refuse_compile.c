/* An OpenCL "driver without a compiler", for the tests of the offline
 * binary path: preloaded (LD_PRELOAD) in front of the ICD loader, it makes
 * every entry point that compiles OpenCL C fail, for the library and for
 * CLBlast alike, as on an FPGA whose runtime only loads binaries. Programs
 * from binaries still build (clBuildProgram on a binary links, it does not
 * compile source). Each refusal is counted in the file named by
 * $SN_REFUSED_LOG (one line per call), so a test can tell that nothing
 * tried. */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdio.h>
#include <stdlib.h>

/* The project builds with hidden visibility; these must be exported to
 * interpose on the ICD loader's entry points. */
#define EXPORTED __attribute__((visibility("default")))

static void record(const char *call)
{
    const char *log = getenv("SN_REFUSED_LOG");
    FILE *f = log && *log ? fopen(log, "a") : NULL;
    if (f) {
        fprintf(f, "%s\n", call);
        fclose(f);
    }
}

EXPORTED CL_API_ENTRY cl_program CL_API_CALL clCreateProgramWithSource(cl_context context, cl_uint count,
                                                             const char **strings,
                                                             const size_t *lengths,
                                                             cl_int *errcode_ret)
{
    (void)context;
    (void)count;
    (void)strings;
    (void)lengths;
    record("clCreateProgramWithSource");
    if (errcode_ret)
        *errcode_ret = CL_COMPILER_NOT_AVAILABLE;
    return NULL;
}

EXPORTED CL_API_ENTRY cl_int CL_API_CALL clCompileProgram(cl_program program, cl_uint num_devices,
                                                 const cl_device_id *device_list,
                                                 const char *options, cl_uint num_headers,
                                                 const cl_program *headers,
                                                 const char **header_names,
                                                 void(CL_CALLBACK *notify)(cl_program, void *),
                                                 void *user_data)
{
    (void)program;
    (void)num_devices;
    (void)device_list;
    (void)options;
    (void)num_headers;
    (void)headers;
    (void)header_names;
    (void)notify;
    (void)user_data;
    record("clCompileProgram");
    return CL_COMPILER_NOT_AVAILABLE;
}
