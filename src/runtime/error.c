/* Per-thread last error message and the names of status and OpenCL codes. */
#include "error_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Big enough for a typical kernel build log; longer messages are cut. */
#define SN_MESSAGE_MAX 16384

static _Thread_local char last_message[SN_MESSAGE_MAX];

const char *sn_last_error(void) { return last_message; }

void sn_clear_error(void) { last_message[0] = '\0'; }

sn_status sn_fail(sn_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    return status;
}

sn_status sn_fail_context(sn_status status, const char *fmt, ...)
{
    char previous[SN_MESSAGE_MAX];
    memcpy(previous, last_message, sizeof previous);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    /* Append ": <previous message>", cut at the buffer's end. */
    size_t used = n < 0 ? 0 : (size_t)n;
    if (used + 3 < sizeof last_message) {
        memcpy(last_message + used, ": ", 2);
        used += 2;
        size_t rest = strlen(previous);
        if (rest > sizeof last_message - used - 1)
            rest = sizeof last_message - used - 1;
        memcpy(last_message + used, previous, rest);
        last_message[used + rest] = '\0';
    }
    return status;
}

const char *sn_status_name(sn_status status)
{
    switch (status) {
    case SN_OK: return "SN_OK";
    case SN_ERR_INVALID_ARG: return "SN_ERR_INVALID_ARG";
    case SN_ERR_SHAPE: return "SN_ERR_SHAPE";
    case SN_ERR_NO_DEVICE: return "SN_ERR_NO_DEVICE";
    case SN_ERR_OPENCL: return "SN_ERR_OPENCL";
    case SN_ERR_BUILD: return "SN_ERR_BUILD";
    case SN_ERR_OUT_OF_MEMORY: return "SN_ERR_OUT_OF_MEMORY";
    case SN_ERR_IO: return "SN_ERR_IO";
    case SN_ERR_FORMAT: return "SN_ERR_FORMAT";
    case SN_ERR_NUMERIC: return "SN_ERR_NUMERIC";
    case SN_ERR_UNSUPPORTED: return "SN_ERR_UNSUPPORTED";
    case SN_ERR_INTERNAL: return "SN_ERR_INTERNAL";
    }
    return "SN_ERR_UNKNOWN";
}

const char *sn_cl_error_name(int e)
{
    switch (e) {
#define N(code, name) case code: return name;
    N(0, "CL_SUCCESS")
    N(-1, "CL_DEVICE_NOT_FOUND")
    N(-2, "CL_DEVICE_NOT_AVAILABLE")
    N(-3, "CL_COMPILER_NOT_AVAILABLE")
    N(-4, "CL_MEM_OBJECT_ALLOCATION_FAILURE")
    N(-5, "CL_OUT_OF_RESOURCES")
    N(-6, "CL_OUT_OF_HOST_MEMORY")
    N(-7, "CL_PROFILING_INFO_NOT_AVAILABLE")
    N(-8, "CL_MEM_COPY_OVERLAP")
    N(-9, "CL_IMAGE_FORMAT_MISMATCH")
    N(-10, "CL_IMAGE_FORMAT_NOT_SUPPORTED")
    N(-11, "CL_BUILD_PROGRAM_FAILURE")
    N(-12, "CL_MAP_FAILURE")
    N(-13, "CL_MISALIGNED_SUB_BUFFER_OFFSET")
    N(-14, "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST")
    N(-15, "CL_COMPILE_PROGRAM_FAILURE")
    N(-16, "CL_LINKER_NOT_AVAILABLE")
    N(-17, "CL_LINK_PROGRAM_FAILURE")
    N(-18, "CL_DEVICE_PARTITION_FAILED")
    N(-19, "CL_KERNEL_ARG_INFO_NOT_AVAILABLE")
    N(-30, "CL_INVALID_VALUE")
    N(-31, "CL_INVALID_DEVICE_TYPE")
    N(-32, "CL_INVALID_PLATFORM")
    N(-33, "CL_INVALID_DEVICE")
    N(-34, "CL_INVALID_CONTEXT")
    N(-35, "CL_INVALID_QUEUE_PROPERTIES")
    N(-36, "CL_INVALID_COMMAND_QUEUE")
    N(-37, "CL_INVALID_HOST_PTR")
    N(-38, "CL_INVALID_MEM_OBJECT")
    N(-39, "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR")
    N(-40, "CL_INVALID_IMAGE_SIZE")
    N(-41, "CL_INVALID_SAMPLER")
    N(-42, "CL_INVALID_BINARY")
    N(-43, "CL_INVALID_BUILD_OPTIONS")
    N(-44, "CL_INVALID_PROGRAM")
    N(-45, "CL_INVALID_PROGRAM_EXECUTABLE")
    N(-46, "CL_INVALID_KERNEL_NAME")
    N(-47, "CL_INVALID_KERNEL_DEFINITION")
    N(-48, "CL_INVALID_KERNEL")
    N(-49, "CL_INVALID_ARG_INDEX")
    N(-50, "CL_INVALID_ARG_VALUE")
    N(-51, "CL_INVALID_ARG_SIZE")
    N(-52, "CL_INVALID_KERNEL_ARGS")
    N(-53, "CL_INVALID_WORK_DIMENSION")
    N(-54, "CL_INVALID_WORK_GROUP_SIZE")
    N(-55, "CL_INVALID_WORK_ITEM_SIZE")
    N(-56, "CL_INVALID_GLOBAL_OFFSET")
    N(-57, "CL_INVALID_EVENT_WAIT_LIST")
    N(-58, "CL_INVALID_EVENT")
    N(-59, "CL_INVALID_OPERATION")
    N(-60, "CL_INVALID_GL_OBJECT")
    N(-61, "CL_INVALID_BUFFER_SIZE")
    N(-62, "CL_INVALID_MIP_LEVEL")
    N(-63, "CL_INVALID_GLOBAL_WORK_SIZE")
    N(-64, "CL_INVALID_PROPERTY")
    N(-65, "CL_INVALID_IMAGE_DESCRIPTOR")
    N(-66, "CL_INVALID_COMPILER_OPTIONS")
    N(-67, "CL_INVALID_LINKER_OPTIONS")
    N(-68, "CL_INVALID_DEVICE_PARTITION_COUNT")
    N(-1001, "CL_PLATFORM_NOT_FOUND_KHR")
#undef N
    }
    return "CL_UNKNOWN_ERROR";
}
