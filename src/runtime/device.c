/* Device discovery through the ICD loader and device selection. */
#include "runtime/runtime_internal.h"

#include <ctype.h>

/* From cl_ext.h (cl_khr_icd); defined here to avoid pulling all extensions. */
#ifndef CL_PLATFORM_NOT_FOUND_KHR
#define CL_PLATFORM_NOT_FOUND_KHR -1001
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *sn_device_type_name(sn_device_type type)
{
    switch (type) {
    case SN_DEVICE_GPU: return "GPU";
    case SN_DEVICE_CPU: return "CPU";
    case SN_DEVICE_ACCELERATOR: return "accelerator";
    case SN_DEVICE_OTHER: break;
    }
    return "other";
}

static void info_string(cl_device_id d, cl_device_info what, char *out, size_t size)
{
    out[0] = '\0';
    if (clGetDeviceInfo(d, what, size, out, NULL) != CL_SUCCESS)
        snprintf(out, size, "?");
    out[size - 1] = '\0';
}

/* A numeric property of a device. A failed query is an error: read as 0 it
 * would pass for a device with no memory or no compute units. */
static sn_status info_value(cl_device_id d, const sn_device_info *info, cl_device_info what,
                            const char *what_name, size_t size, void *out)
{
    memset(out, 0, size);
    cl_int err = clGetDeviceInfo(d, what, size, out, NULL);
    if (err != CL_SUCCESS)
        return sn_fail(SN_ERR_OPENCL, "device %d:%d (%s): clGetDeviceInfo(%s) failed: %s",
                       info->platform_index, info->device_index, info->name, what_name,
                       sn_cl_error_name(err));
    return SN_OK;
}
#define INFO_VALUE(d, info, what, out) info_value(d, info, what, #what, sizeof *(out), out)

static sn_status fill_info(cl_platform_id p, cl_device_id d, int pi, int di, sn_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->platform_index = pi;
    info->device_index = di;
    if (clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof info->platform, info->platform, NULL) != CL_SUCCESS)
        snprintf(info->platform, sizeof info->platform, "?");
    if (clGetPlatformInfo(p, CL_PLATFORM_VERSION, sizeof info->platform_version,
                          info->platform_version, NULL) != CL_SUCCESS)
        snprintf(info->platform_version, sizeof info->platform_version, "?");
    info_string(d, CL_DEVICE_NAME, info->name, sizeof info->name);
    info_string(d, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    info_string(d, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    info_string(d, CL_DEVICE_VERSION, info->device_version, sizeof info->device_version);
    info_string(d, CL_DEVICE_OPENCL_C_VERSION, info->c_version, sizeof info->c_version);

    cl_device_type type;
    SN_TRY(INFO_VALUE(d, info, CL_DEVICE_TYPE, &type));
    info->type = (type & CL_DEVICE_TYPE_GPU) ? SN_DEVICE_GPU
               : (type & CL_DEVICE_TYPE_ACCELERATOR) ? SN_DEVICE_ACCELERATOR
               : (type & CL_DEVICE_TYPE_CPU) ? SN_DEVICE_CPU
               : SN_DEVICE_OTHER;

    cl_uint u;
    SN_TRY(INFO_VALUE(d, info, CL_DEVICE_MAX_COMPUTE_UNITS, &u));
    info->compute_units = u;
    SN_TRY(INFO_VALUE(d, info, CL_DEVICE_MAX_CLOCK_FREQUENCY, &u));
    info->clock_mhz = u;
    cl_ulong l;
    SN_TRY(INFO_VALUE(d, info, CL_DEVICE_GLOBAL_MEM_SIZE, &l));
    info->global_mem_bytes = l;
    SN_TRY(INFO_VALUE(d, info, CL_DEVICE_LOCAL_MEM_SIZE, &l));
    info->local_mem_bytes = l;
    SN_TRY(INFO_VALUE(d, info, CL_DEVICE_MAX_MEM_ALLOC_SIZE, &l));
    info->max_alloc_bytes = l;
    size_t wg;
    SN_TRY(INFO_VALUE(d, info, CL_DEVICE_MAX_WORK_GROUP_SIZE, &wg));
    info->max_work_group_size = wg;

    char ext[8192] = "";
    clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, sizeof ext - 1, ext, NULL); /* none on failure */
    ext[sizeof ext - 1] = '\0';
    info->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
    info->fp64 = strstr(ext, "cl_khr_fp64") != NULL;
    return SN_OK;
}

/* Visit every device; `visit` returns 1 to stop. Returns the number seen. */
typedef int (*device_visitor)(cl_platform_id, cl_device_id, const sn_device_info *, void *);

static sn_status for_each_device(device_visitor visit, void *user, int *seen)
{
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    *seen = 0;
    if (err == CL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && np == 0))
        return sn_fail(SN_ERR_NO_DEVICE,
                       "no OpenCL platform found through the ICD loader "
                       "(install a driver, e.g. pocl-opencl-icd for CPUs)");
    if (err != CL_SUCCESS)
        return sn_fail(SN_ERR_OPENCL, "clGetPlatformIDs failed: %s", sn_cl_error_name(err));
    cl_platform_id *platforms = calloc(np, sizeof *platforms);
    if (!platforms)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "out of host memory listing platforms");
    if ((err = clGetPlatformIDs(np, platforms, NULL)) != CL_SUCCESS) {
        free(platforms);
        return sn_fail(SN_ERR_OPENCL, "clGetPlatformIDs failed: %s", sn_cl_error_name(err));
    }
    int stop = 0;
    sn_status st = SN_OK;
    for (cl_uint p = 0; p < np && !stop; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0)
            continue;
        cl_device_id *devices = calloc(nd, sizeof *devices);
        if (!devices) {
            free(platforms);
            return sn_fail(SN_ERR_OUT_OF_MEMORY, "out of host memory listing devices");
        }
        /* A platform that listed devices but cannot return them is skipped,
         * like one that has none. */
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, nd, devices, NULL) != CL_SUCCESS)
            nd = 0;
        for (cl_uint d = 0; d < nd && !stop; d++) {
            sn_device_info info;
            if ((st = fill_info(platforms[p], devices[d], (int)p, (int)d, &info)) != SN_OK)
                break;
            (*seen)++;
            stop = visit(platforms[p], devices[d], &info, user);
        }
        free(devices);
        if (st != SN_OK)
            break;
    }
    free(platforms);
    if (st != SN_OK)
        return st;
    if (*seen == 0)
        return sn_fail(SN_ERR_NO_DEVICE, "OpenCL platforms found, but no device");
    return SN_OK;
}

typedef struct list_state {
    sn_device_info *items;
    int count, capacity;
    int failed;
} list_state;

static int collect(cl_platform_id p, cl_device_id d, const sn_device_info *info, void *user)
{
    (void)p;
    (void)d;
    list_state *s = user;
    if (s->count == s->capacity) {
        int cap = s->capacity ? 2 * s->capacity : 8;
        sn_device_info *grown = realloc(s->items, (size_t)cap * sizeof *grown);
        if (!grown) {
            s->failed = 1;
            return 1;
        }
        s->items = grown;
        s->capacity = cap;
    }
    s->items[s->count++] = *info;
    return 0;
}

sn_status sn_devices_list(sn_device_info **devices, int *count)
{
    list_state s = {0};
    int seen = 0;
    *devices = NULL;
    *count = 0;
    sn_status st = for_each_device(collect, &s, &seen);
    if (st == SN_OK && s.failed)
        st = sn_fail(SN_ERR_OUT_OF_MEMORY, "out of host memory listing devices");
    if (st != SN_OK) {
        free(s.items);
        return st;
    }
    *devices = s.items;
    *count = s.count;
    return SN_OK;
}

/* ---- selection ---- */

typedef enum { MATCH_INDEX, MATCH_TYPE, MATCH_NAME, MATCH_DEFAULT } match_kind;

typedef struct select_state {
    match_kind kind;
    int platform, device;
    sn_device_type type;
    const char *name;
    /* best match so far */
    int found, found_rank;
    sn_device_info info;
    cl_platform_id p;
    cl_device_id d;
} select_state;

int sn_contains_nocase(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *h = haystack; *h; h++) {
        size_t i = 0;
        while (i < n && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return n == 0;
}

static int default_rank(sn_device_type t)
{
    return t == SN_DEVICE_GPU ? 0 : t == SN_DEVICE_ACCELERATOR ? 1 : t == SN_DEVICE_CPU ? 2 : 3;
}

static int pick(cl_platform_id p, cl_device_id d, const sn_device_info *info, void *user)
{
    select_state *s = user;
    int match = 0, rank = 0;
    switch (s->kind) {
    case MATCH_INDEX: match = info->platform_index == s->platform && info->device_index == s->device; break;
    case MATCH_TYPE: match = info->type == s->type; break;
    case MATCH_NAME: match = sn_contains_nocase(info->name, s->name); break;
    case MATCH_DEFAULT: match = 1; rank = default_rank(info->type); break;
    }
    if (match && (!s->found || rank < s->found_rank)) {
        s->found = 1;
        s->found_rank = rank;
        s->info = *info;
        s->p = p;
        s->d = d;
        return s->kind != MATCH_DEFAULT || rank == 0; /* first match wins */
    }
    return 0;
}

static sn_status parse_selector(const char *sel, select_state *s)
{
    memset(s, 0, sizeof *s);
    if (!sel || !*sel) {
        s->kind = MATCH_DEFAULT;
        return SN_OK;
    }
    int p, d, used = 0;
    if (sscanf(sel, "%d:%d%n", &p, &d, &used) == 2 && sel[used] == '\0') {
        if (p < 0 || d < 0)
            return sn_fail(SN_ERR_INVALID_ARG, "device selector '%s': indices must be >= 0", sel);
        s->kind = MATCH_INDEX;
        s->platform = p;
        s->device = d;
        return SN_OK;
    }
    if (strchr(sel, ':') && isdigit((unsigned char)sel[0]))
        return sn_fail(SN_ERR_INVALID_ARG,
                       "device selector '%s' is malformed: expected P:D (e.g. 0:0), "
                       "gpu, cpu, accelerator, or part of a device name", sel);
    s->kind = MATCH_TYPE;
    if (!strcasecmp(sel, "gpu"))
        s->type = SN_DEVICE_GPU;
    else if (!strcasecmp(sel, "cpu"))
        s->type = SN_DEVICE_CPU;
    else if (!strcasecmp(sel, "accelerator") || !strcasecmp(sel, "fpga"))
        s->type = SN_DEVICE_ACCELERATOR;
    else {
        s->kind = MATCH_NAME;
        s->name = sel;
    }
    return SN_OK;
}

/* "  0:0  CPU  pthread-... (Portable Computing Language)\n" for each device. */
static void list_devices_into(char *buf, size_t size)
{
    sn_device_info *all = NULL;
    int n = 0;
    buf[0] = '\0';
    if (sn_devices_list(&all, &n) != SN_OK) {
        snprintf(buf, size, " (none)");
        return;
    }
    size_t used = 0;
    for (int i = 0; i < n && used < size; i++) {
        int w = snprintf(buf + used, size - used, "\n  %d:%d  %-11s %s (%s)", all[i].platform_index,
                         all[i].device_index, sn_device_type_name(all[i].type), all[i].name,
                         all[i].platform);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    free(all);
}

sn_status sn_device_open(const char *selector, sn_device_info *info,
                         cl_platform_id *platform, cl_device_id *device)
{
    const char *origin = "selector";
    if (!selector || !*selector) {
        const char *env = getenv("SN_DEVICE");
        if (env && *env) {
            selector = env;
            origin = "SN_DEVICE";
        }
    }
    select_state s;
    SN_TRY(parse_selector(selector, &s));
    int seen = 0;
    SN_TRY(for_each_device(pick, &s, &seen));
    if (!s.found) {
        char devices[2048];
        list_devices_into(devices, sizeof devices);
        return sn_fail(SN_ERR_NO_DEVICE, "device %s '%s' matches no device; devices present:%s",
                       origin, selector, devices);
    }
    *info = s.info;
    if (platform)
        *platform = s.p;
    if (device)
        *device = s.d;
    return SN_OK;
}

sn_status sn_device_select(const char *selector, sn_device_info *out)
{
    return sn_device_open(selector, out, NULL, NULL);
}
