/* Device discovery when the OpenCL queries fail. This program defines
 * clGetDeviceInfo and clGetPlatformIDs itself: the library's calls reach
 * these wrappers, which pass through to the ICD loader unless a test arms a
 * failure. A failed query must be an error naming it, never a device with 0
 * bytes of memory or 0 compute units. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime_internal.h"

static cl_device_info fail_device_info; /* 0: none */
static int fail_platform_list;          /* the second clGetPlatformIDs call */

CL_API_ENTRY cl_int CL_API_CALL clGetDeviceInfo(cl_device_id d, cl_device_info what, size_t size,
                                                void *value, size_t *size_ret)
{
    typedef cl_int (*fn)(cl_device_id, cl_device_info, size_t, void *, size_t *);
    static fn real;
    if (!real)
        real = (fn)dlsym(RTLD_NEXT, "clGetDeviceInfo");
    if (fail_device_info && what == fail_device_info)
        return CL_OUT_OF_HOST_MEMORY;
    return real(d, what, size, value, size_ret);
}

CL_API_ENTRY cl_int CL_API_CALL clGetPlatformIDs(cl_uint n, cl_platform_id *platforms,
                                                 cl_uint *count)
{
    typedef cl_int (*fn)(cl_uint, cl_platform_id *, cl_uint *);
    static fn real;
    if (!real)
        real = (fn)dlsym(RTLD_NEXT, "clGetPlatformIDs");
    if (fail_platform_list && platforms)
        return CL_OUT_OF_HOST_MEMORY;
    return real(n, platforms, count);
}

static void expect_listing_fails(const char *mention)
{
    sn_device_info *all = NULL;
    int n = -1;
    sn_status st = sn_devices_list(&all, &n);
    cr_expect_eq(st, SN_ERR_OPENCL, "got %s (%s); first device memory %llu bytes",
                 sn_status_name(st), sn_last_error(),
                 all && n > 0 ? (unsigned long long)all[0].global_mem_bytes : 0ULL);
    cr_expect(strstr(sn_last_error(), mention) != NULL, "'%s' does not name %s", sn_last_error(),
              mention);
    cr_expect(all == NULL && n == 0);
    free(all);
    sn_device_info info;
    cr_expect_eq(sn_device_select("cpu", &info), SN_ERR_OPENCL);
}

Test(device_faults, queries_pass_through_unarmed)
{
    sn_device_info *all = NULL;
    int n = 0;
    cr_assert_eq(sn_devices_list(&all, &n), SN_OK, "%s", sn_last_error());
    cr_expect(n > 0 && all[0].global_mem_bytes > 0 && all[0].compute_units > 0);
    free(all);
}

Test(device_faults, failed_memory_query_is_an_error)
{
    fail_device_info = CL_DEVICE_GLOBAL_MEM_SIZE;
    expect_listing_fails("CL_DEVICE_GLOBAL_MEM_SIZE");
}

Test(device_faults, failed_compute_unit_query_is_an_error)
{
    fail_device_info = CL_DEVICE_MAX_COMPUTE_UNITS;
    expect_listing_fails("CL_DEVICE_MAX_COMPUTE_UNITS");
}

Test(device_faults, failed_platform_list_is_an_error)
{
    fail_platform_list = 1;
    expect_listing_fails("clGetPlatformIDs");
}
