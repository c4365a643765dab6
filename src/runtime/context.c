/* Contexts: device, OpenCL context, in-order queue, programs and kernels. */
#include "runtime/runtime_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double sn_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

sn_status sn_cl_fail(cl_int err, const char *what)
{
    sn_status st = (err == CL_OUT_OF_RESOURCES || err == CL_OUT_OF_HOST_MEMORY ||
                    err == CL_MEM_OBJECT_ALLOCATION_FAILURE)
                       ? SN_ERR_OUT_OF_MEMORY
                       : SN_ERR_OPENCL;
    return sn_fail(st, "%s failed: %s", what, sn_cl_error_name(err));
}

void sn_context_options_default(sn_context_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->use_cache = -1;
    opts->tune = -1;
}

/* Live contexts, and what to release when the last one is freed. */
#define MAX_LAST_FREE_HOOKS 4
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static int live_contexts;
static void (*last_free_hooks[MAX_LAST_FREE_HOOKS])(void);
static int n_last_free_hooks;

void sn_context_on_last_free(void (*hook)(void))
{
    pthread_mutex_lock(&live_lock);
    int known = 0;
    for (int i = 0; i < n_last_free_hooks; i++)
        known |= last_free_hooks[i] == hook;
    if (!known && n_last_free_hooks < MAX_LAST_FREE_HOOKS)
        last_free_hooks[n_last_free_hooks++] = hook;
    pthread_mutex_unlock(&live_lock);
}

/* ctx->conv_algo and ctx->tune from the options or, where they defer, the
 * environment (read here once, not at every op). */
static sn_status conv_options(sn_context *ctx, const sn_context_options *opts)
{
    const char *algo = opts->conv_algo ? opts->conv_algo : getenv("SN_CONV_ALGO");
    static const char *const names[] = SN_CONV_ALGO_NAMES;
    ctx->conv_algo = -1;
    ctx->forced_algo = -1;
    if (algo && *algo && strcmp(algo, "auto") != 0) {
        for (int a = 0; a < SN_CONV_ALGO_NAME_COUNT; a++)
            if (!strcmp(algo, names[a]))
                ctx->conv_algo = a;
        if (ctx->conv_algo < 0)
            return sn_fail(SN_ERR_INVALID_ARG,
                           "%sconv algorithm '%s' is not one of auto, gemm, direct, winograd, "
                           "clblast",
                           opts->conv_algo ? "" : "SN_CONV_ALGO: ", algo);
    }
    if (opts->tune < -1 || opts->tune > SN_TUNE_STORED)
        return sn_fail(SN_ERR_INVALID_ARG, "tune must be -1, 0, 1 or 2, not %d", opts->tune);
    const char *tune = getenv("SN_TUNE");
    ctx->tune = opts->tune >= 0 ? opts->tune
                : tune && *tune ? (strcmp(tune, "0") ? SN_TUNE_TIME : SN_TUNE_DEFAULTS)
                                : -1; /* the device decides (tune_policy) */
    return SN_OK;
}

/* Where neither the options nor SN_TUNE say: CPUs never time (their
 * defaults are good untimed, and timing there takes seconds a shape);
 * GPUs and accelerators time new shapes (milliseconds, and CLBlast, the
 * direct kernels and Winograd trade places by shape). */
static void tune_policy(sn_context *ctx)
{
    if (ctx->tune < 0)
        ctx->tune = ctx->info.type == SN_DEVICE_CPU ? SN_TUNE_STORED : SN_TUNE_TIME;
}

/* What a new context does about its program. */
enum program_mode {
    PROGRAM_LOAD,    /* sn_program_load: an offline binary, or families on first use */
    PROGRAM_COMPILE, /* compile-kernels: from source, even on an accelerator */
    PROGRAM_NONE     /* device only: wrapping a vendor binary for it */
};

static sn_status context_create(const sn_context_options *opts, enum program_mode mode,
                                sn_context **out)
{
    sn_context_options defaults;
    if (!opts) {
        sn_context_options_default(&defaults);
        opts = &defaults;
    }
    *out = NULL;
    sn_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "out of host memory creating a context");
    ctx->offline_build = mode == PROGRAM_COMPILE;
    ctx->notice = opts->notice;
    ctx->notice_user = opts->notice_user;
    sn_status st = conv_options(ctx, opts);
    if (st != SN_OK)
        goto fail;
    st = sn_device_open(opts->device, &ctx->info, &ctx->platform, &ctx->device);
    if (st != SN_OK)
        goto fail;
    sn_device_params_for(&ctx->info, &ctx->params);
    tune_policy(ctx);
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->platform, 0};
    ctx->cl = clCreateContext(props, 1, &ctx->device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        st = sn_cl_fail(err, "clCreateContext");
        goto fail;
    }
    cl_command_queue_properties qp = opts->profiling ? CL_QUEUE_PROFILING_ENABLE : 0;
    /* clCreateCommandQueue is deprecated in 2.0 but is the 1.2 entry point we
     * target; every ICD still exports it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    ctx->queue = clCreateCommandQueue(ctx->cl, ctx->device, qp, &err);
#pragma GCC diagnostic pop
    if (err != CL_SUCCESS) {
        st = sn_cl_fail(err, "clCreateCommandQueue");
        goto fail;
    }
    sn_cache_dir(opts, ctx->cache_dir, sizeof ctx->cache_dir);
    st = mode == PROGRAM_NONE ? SN_OK : sn_program_load(ctx, opts);
    if (st != SN_OK)
        goto fail;
    pthread_mutex_lock(&live_lock);
    live_contexts++;
    ctx->live = 1;
    pthread_mutex_unlock(&live_lock);
    *out = ctx;
    return SN_OK;
fail:
    sn_context_free(ctx);
    return st;
}

sn_status sn_context_create(const sn_context_options *opts, sn_context **out)
{
    return context_create(opts, PROGRAM_LOAD, out);
}

void sn_context_free(sn_context *ctx)
{
    if (!ctx)
        return;
    pthread_mutex_lock(&live_lock);
    const int last = ctx->live && --live_contexts == 0;
    pthread_mutex_unlock(&live_lock);
    if (ctx->queue)
        clFinish(ctx->queue);
    sn_profile_discard(ctx);
    for (int i = 0; i < ctx->n_kernels; i++)
        clReleaseKernel(ctx->kernels[i].kernel);
    sn_buffer_release(ctx, ctx->workspace, ctx->workspace_bytes, SN_MEM_WORKSPACE);
    sn_buffer_release(ctx, ctx->gemm_temp, ctx->gemm_temp_bytes, SN_MEM_WORKSPACE);
    if (ctx->program)
        clReleaseProgram(ctx->program);
    for (int f = 0; ctx->families && f < sn_kernel_family_count; f++)
        if (ctx->families[f])
            clReleaseProgram(ctx->families[f]);
    free(ctx->families);
    if (ctx->queue)
        clReleaseCommandQueue(ctx->queue);
    if (ctx->cl)
        clReleaseContext(ctx->cl);
    free(ctx);
    /* Hooks run outside the lock: they may call into OpenCL for a while. */
    for (int i = 0; last && i < n_last_free_hooks; i++)
        last_free_hooks[i]();
}

const sn_device_info *sn_context_device(const sn_context *ctx) { return &ctx->info; }

sn_program_origin sn_context_program_origin(const sn_context *ctx)
{
    if (ctx->program)
        return ctx->origin;
    return ctx->families_compiled ? SN_PROGRAM_COMPILED
           : ctx->families_cached ? SN_PROGRAM_FROM_CACHE
                                  : SN_PROGRAM_NOT_BUILT;
}

double sn_context_program_seconds(const sn_context *ctx) { return ctx->program_seconds; }

int sn_context_runtime_compile(const sn_context *ctx) { return ctx->runtime_compile; }

sn_status sn_context_build_kernels(sn_context *ctx)
{
    cl_program unused;
    for (int f = 0; f < sn_kernel_family_count; f++)
        SN_TRY(sn_program_family(ctx, f, &unused));
    return SN_OK;
}

sn_status sn_context_finish(sn_context *ctx)
{
    SN_CL_TRY(clFinish(ctx->queue), "clFinish");
    return SN_OK;
}

sn_status sn_kernel_get(sn_context *ctx, const char *name, cl_kernel *out)
{
    for (int i = 0; i < ctx->n_kernels; i++) {
        if (!strcmp(ctx->kernels[i].name, name)) {
            *out = ctx->kernels[i].kernel;
            return SN_OK;
        }
    }
    if (ctx->n_kernels == SN_MAX_KERNELS)
        return sn_fail(SN_ERR_INTERNAL, "kernel table full (raise SN_MAX_KERNELS)");
    cl_program program;
    SN_TRY(sn_program_for_kernel(ctx, name, &program));
    cl_int err;
    cl_kernel k = clCreateKernel(program, name, &err);
    if (err != CL_SUCCESS)
        return sn_fail(SN_ERR_OPENCL, "kernel '%s' not found in the program for %s: %s", name,
                       ctx->info.name, sn_cl_error_name(err));
    sn_kernel_entry *e = &ctx->kernels[ctx->n_kernels++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->kernel = k;
    *out = k;
    return SN_OK;
}

sn_status sn_enqueue(sn_context *ctx, const char *name, int dims, const size_t *global,
                     const size_t *local, int nargs, const sn_karg *args)
{
    cl_kernel k;
    SN_TRY(sn_kernel_get(ctx, name, &k));
    for (int i = 0; i < nargs; i++) {
        cl_int err = clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].value);
        if (err != CL_SUCCESS)
            return sn_fail(SN_ERR_OPENCL, "kernel '%s': clSetKernelArg(%d) failed: %s", name, i,
                           sn_cl_error_name(err));
    }
    size_t g[3];
    for (int d = 0; d < dims; d++) {
        g[d] = global[d] ? global[d] : 1;
        if (local && local[d])
            g[d] = (g[d] + local[d] - 1) / local[d] * local[d];
    }
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, k, (cl_uint)dims, NULL, g, local, 0, NULL,
                                        sn_profile_slot(ctx, name));
    if (err != CL_SUCCESS)
        return sn_fail(err == CL_OUT_OF_RESOURCES || err == CL_MEM_OBJECT_ALLOCATION_FAILURE
                           ? SN_ERR_OUT_OF_MEMORY
                           : SN_ERR_OPENCL,
                       "kernel '%s' (global %zu x %zu x %zu) failed to enqueue: %s", name, g[0],
                       dims > 1 ? g[1] : 1, dims > 2 ? g[2] : 1, sn_cl_error_name(err));
    return SN_OK;
}

sn_status sn_compile_kernels(const char *selector, const char *path)
{
    sn_context_options opts;
    sn_context_options_default(&opts);
    opts.device = selector;
    opts.kernel_binary = ""; /* never load: always compile from source */
    opts.use_cache = 0;
    sn_context *ctx;
    SN_TRY(context_create(&opts, PROGRAM_COMPILE, &ctx));
    char options[1024], key[4096];
    /* Same options and key as sn_program_load uses for this device. */
    sn_program_options(ctx, options, sizeof options);
    sn_program_key(ctx, options, key, sizeof key);
    unsigned char *binary = NULL;
    size_t size = 0;
    sn_status st = sn_program_get_binary(ctx, ctx->program, &binary, &size);
    if (st == SN_OK)
        st = sn_program_binary_write(path, key, binary, size, SN_FILE_EXPORT);
    free(binary);
    sn_context_free(ctx);
    return st;
}

typedef struct source_file {
    const char *options;
} source_file;

/* The -D options as #defines, so a vendor compiler needs no options. */
static int write_source(FILE *f, void *user)
{
    const source_file *s = user;
    int ok = fprintf(f, "/* sharesnet kernel program for an offline compiler. Build options\n"
                        " * of this device, already defined below:\n"
                        " *   %s */\n",
                     s->options) > 0;
    for (const char *p = s->options; ok && (p = strstr(p, "-D")) != NULL;) {
        p += 2;
        size_t len = strcspn(p, " ");
        const char *eq = memchr(p, '=', len);
        ok = eq ? fprintf(f, "#define %.*s %.*s\n", (int)(eq - p), p, (int)(len - (size_t)(eq - p) - 1),
                          eq + 1) > 0
                : fprintf(f, "#define %.*s 1\n", (int)len, p) > 0;
        p += len;
    }
    return ok && fwrite(sn_kernel_source, 1, sn_kernel_source_len, f) == sn_kernel_source_len;
}

sn_status sn_kernel_source_write(const char *selector, const char *path)
{
    sn_context_options opts;
    sn_context_options_default(&opts);
    opts.device = selector;
    sn_context *ctx;
    SN_TRY(context_create(&opts, PROGRAM_NONE, &ctx));
    char options[1024];
    sn_program_options(ctx, options, sizeof options);
    source_file s = {options};
    sn_status st = sn_file_write_atomic(path, "kernel source", SN_FILE_EXPORT, write_source, &s);
    sn_context_free(ctx);
    return st;
}

sn_status sn_wrap_kernels(const char *selector, const char *vendor_path, const char *path)
{
    unsigned char *binary = NULL;
    size_t size = 0;
    SN_TRY(sn_file_read_all(vendor_path, "vendor program binary", &binary, &size));
    if (size == 0) {
        free(binary);
        return sn_fail(SN_ERR_FORMAT, "vendor program binary '%s' is empty", vendor_path);
    }
    sn_context_options opts;
    sn_context_options_default(&opts);
    opts.device = selector;
    sn_context *ctx;
    sn_status st = context_create(&opts, PROGRAM_NONE, &ctx);
    if (st == SN_OK) {
        char options[1024], key[4096];
        sn_program_options(ctx, options, sizeof options);
        sn_program_key(ctx, options, key, sizeof key);
        st = sn_program_binary_write(path, key, binary, size, SN_FILE_EXPORT);
        sn_context_free(ctx);
    }
    free(binary);
    return st;
}
