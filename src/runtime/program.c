/* The library's kernel programs for one device.
 *
 * Without an offline binary each kernel family (one kernels/<name>.cl file)
 * is a program of its own, built when one of its kernels is first needed:
 * loaded from the on-disk cache, or compiled from the embedded source and
 * then cached. A run so builds only what it uses (predict never builds the
 * backward or Winograd kernels), and a kernel change rebuilds only its
 * family. An offline binary, which a device without a compiler needs whole,
 * and compile-kernels, which writes one, hold every family in one program. */
#include "runtime/runtime_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *sn_program_origin_name(sn_program_origin origin)
{
    switch (origin) {
    case SN_PROGRAM_COMPILED: return "compiled from source";
    case SN_PROGRAM_FROM_CACHE: return "loaded from cache";
    case SN_PROGRAM_FROM_BINARY: return "loaded from offline binary";
    case SN_PROGRAM_NOT_BUILT: return "not built yet";
    }
    return "?";
}

/* The device-class option lets kernels pick work-group shapes per class;
 * the device parameter table (device_params.c) sets every tile size. */
void sn_program_options(const sn_context *ctx, char *out, size_t size)
{
    char params[512];
    sn_device_params_options(&ctx->params, params, sizeof params);
    snprintf(out, size, "-cl-std=CL1.2 -DSN_DEVICE_%s=1 %s",
             ctx->info.type == SN_DEVICE_GPU ? "GPU"
             : ctx->info.type == SN_DEVICE_CPU ? "CPU"
                                               : "ACCELERATOR",
             params);
}

static sn_status build_failure(sn_context *ctx, cl_program program, cl_int err, const char *options)
{
    size_t log_size = 0;
    clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &log_size);
    char *log = malloc(log_size + 1);
    if (log) {
        log[0] = '\0';
        clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, log_size, log, NULL);
        log[log_size] = '\0';
    }
    sn_status st = sn_fail(SN_ERR_BUILD, "kernel build failed on %s (options '%s'): %s\n%s",
                           ctx->info.name, options, sn_cl_error_name(err),
                           log ? log : "(no build log)");
    free(log);
    return st;
}

static sn_status build_source(sn_context *ctx, const char *text, size_t length,
                              const char *options, cl_program *out)
{
    cl_int err;
    *out = NULL;
    cl_program program = clCreateProgramWithSource(ctx->cl, 1, &text, &length, &err);
    if (err != CL_SUCCESS)
        return sn_cl_fail(err, "clCreateProgramWithSource");
    err = clBuildProgram(program, 1, &ctx->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        sn_status st = build_failure(ctx, program, err, options);
        clReleaseProgram(program);
        return st;
    }
    *out = program;
    return SN_OK;
}

sn_status sn_program_build_source(sn_context *ctx, const char *source, const char *options,
                                  cl_program *out)
{
    return build_source(ctx, source, strlen(source), options, out);
}

static sn_status build_from_binary(sn_context *ctx, const unsigned char *binary, size_t size,
                                   const char *options, const char *path, cl_program *out)
{
    cl_int err, binary_status = CL_SUCCESS;
    *out = NULL;
    cl_program program = clCreateProgramWithBinary(ctx->cl, 1, &ctx->device, &size, &binary,
                                                   &binary_status, &err);
    if (err != CL_SUCCESS || binary_status != CL_SUCCESS) {
        if (program)
            clReleaseProgram(program);
        return sn_fail(SN_ERR_INVALID_ARG, "program binary '%s' rejected by %s: %s", path,
                       ctx->info.name, sn_cl_error_name(err != CL_SUCCESS ? err : binary_status));
    }
    err = clBuildProgram(program, 1, &ctx->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        sn_status st = build_failure(ctx, program, err, options);
        clReleaseProgram(program);
        return sn_fail_context(st, "loading program binary '%s'", path);
    }
    *out = program;
    return SN_OK;
}

sn_status sn_program_get_binary(sn_context *ctx, cl_program program, unsigned char **binary,
                                size_t *size)
{
    (void)ctx;
    *binary = NULL;
    *size = 0;
    size_t n = 0;
    SN_CL_TRY(clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof n, &n, NULL),
              "clGetProgramInfo(CL_PROGRAM_BINARY_SIZES)");
    if (n == 0)
        return sn_fail(SN_ERR_UNSUPPORTED, "the driver returned an empty program binary");
    unsigned char *data = malloc(n);
    if (!data)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "program binary: out of host memory (%zu bytes)", n);
    cl_int err = clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof data, &data, NULL);
    if (err != CL_SUCCESS) {
        free(data);
        return sn_cl_fail(err, "clGetProgramInfo(CL_PROGRAM_BINARIES)");
    }
    *binary = data;
    *size = n;
    return SN_OK;
}

/* An offline binary: our own file format only (sharesnet compile-kernels,
 * or a vendor's binary wrapped by compile-kernels --wrap), so a truncated,
 * corrupt or foreign file is refused by its lengths, checksum and key before
 * any byte of it reaches the driver. */
static sn_status load_offline(sn_context *ctx, const char *path, const char *key,
                              const char *options)
{
    unsigned char *binary = NULL;
    size_t size = 0;
    SN_TRY(sn_program_binary_read(path, key, &binary, &size));
    sn_status st = build_from_binary(ctx, binary, size, options, path, &ctx->program);
    free(binary);
    if (st == SN_OK)
        ctx->origin = SN_PROGRAM_FROM_BINARY;
    return st;
}

/* 1 when the cache held a usable binary (or, where it keeps no binaries,
 * a valid note: then *out stays NULL); a bad entry is ignored (rebuilt). */
static int load_cached(sn_context *ctx, const char *path, const char *key, const char *options,
                       cl_program *out)
{
    unsigned char *binary = NULL;
    size_t size = 0;
    *out = NULL;
    if (sn_program_binary_read(path, key, &binary, &size) != SN_OK) {
        sn_clear_error();
        return 0;
    }
    if (!sn_cache_keeps_binaries(ctx)) {
        free(binary);
        return 1;
    }
    sn_status st = build_from_binary(ctx, binary, size, options, path, out);
    free(binary);
    if (st != SN_OK)
        sn_clear_error();
    return st == SN_OK;
}

/* Keep a compiled program in the cache, or where the cache keeps no
 * binaries the note that it was built. A cache that cannot be written
 * (read-only home, full disk) costs only the next start-up time, so it is
 * not an error. */
static void store(sn_context *ctx, cl_program program, const char *path, const char *key)
{
    static const char note[] = "built from source; the driver keeps the build\n";
    if (!sn_cache_keeps_binaries(ctx)) {
        sn_program_binary_write(path, key, (const unsigned char *)note, sizeof note - 1,
                                SN_FILE_CACHE);
        sn_clear_error();
        return;
    }
    unsigned char *binary = NULL;
    size_t size = 0;
    if (sn_program_get_binary(ctx, program, &binary, &size) == SN_OK)
        sn_program_binary_write(path, key, binary, size, SN_FILE_CACHE);
    free(binary);
    sn_clear_error();
}

/* 0 when nothing may compile OpenCL C at run time for this context. */
static int may_compile(const sn_context *ctx, const sn_context_options *opts)
{
    if (ctx->offline_build) /* compile-kernels: compiling is the point */
        return 1;
    const char *env = getenv("SN_NO_RUNTIME_COMPILE");
    if (opts->no_runtime_compile || (env && *env && strcmp(env, "0") != 0))
        return 0;
    return ctx->info.type != SN_DEVICE_ACCELERATOR;
}

static sn_status no_compiler(const sn_context *ctx, const char *family)
{
    return sn_fail(SN_ERR_UNSUPPORTED,
                   "device '%s' may not compile OpenCL C at run time (%s) and the kernel cache "
                   "has no %s kernels for it%s: build the kernels offline (sharesnet "
                   "compile-kernels --device %d:%d -o kernels.bin on a machine that can, or "
                   "your vendor's offline compiler followed by sharesnet compile-kernels "
                   "--wrap) and pass the file with SN_KERNEL_BINARY=FILE or "
                   "sn_context_options.kernel_binary",
                   ctx->info.name,
                   ctx->info.type == SN_DEVICE_ACCELERATOR ? "an accelerator"
                                                           : "run-time compilation is off",
                   family,
                   sn_cache_keeps_binaries(ctx) ? ""
                                                : " (it keeps no binaries for this driver, "
                                                  "which caches its own builds)",
                   ctx->info.platform_index, ctx->info.device_index);
}

/* 1 when the cache holds a file for family f (not yet read: it may still
 * turn out damaged, which the first use reports). */
static int family_cached(const sn_context *ctx, const sn_kernel_family *family)
{
    char options[1024], key[4096], path[4200];
    sn_program_options(ctx, options, sizeof options);
    sn_family_key(ctx, family, options, key, sizeof key);
    sn_cache_path(ctx, key, path, sizeof path);
    return path[0] && sn_cache_keeps_binaries(ctx) && access(path, R_OK) == 0;
}

sn_status sn_program_load(sn_context *ctx, const sn_context_options *opts)
{
    double start = sn_now();
    ctx->runtime_compile = 0;
    const char *binary_path = opts->kernel_binary;
    if (!binary_path)
        binary_path = getenv("SN_KERNEL_BINARY");
    if ((binary_path && *binary_path) || ctx->offline_build) {
        char options[1024], key[4096];
        sn_program_options(ctx, options, sizeof options);
        sn_program_key(ctx, options, key, sizeof key);
        if (ctx->offline_build) { /* compile-kernels: the whole program from source */
            SN_TRY(build_source(ctx, sn_kernel_source, sn_kernel_source_len, options,
                                &ctx->program));
            ctx->origin = SN_PROGRAM_COMPILED;
            ctx->runtime_compile = 1;
        } else {
            /* An offline binary stands for a device without a compiler: no
             * op may need one (CLBlast included), so the binary alone is
             * tested. */
            SN_TRY(load_offline(ctx, binary_path, key, options));
        }
        ctx->program_seconds = sn_now() - start;
        return SN_OK;
    }
    ctx->families = calloc((size_t)sn_kernel_family_count, sizeof *ctx->families);
    if (!ctx->families)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "out of host memory creating a context");
    ctx->runtime_compile = may_compile(ctx, opts);
    /* Where nothing may compile, say so now rather than at some later op:
     * every family must then be in the cache. */
    for (int f = 0; !ctx->runtime_compile && f < sn_kernel_family_count; f++)
        if (!family_cached(ctx, &sn_kernel_families[f]))
            return no_compiler(ctx, sn_kernel_families[f].name);
    return SN_OK;
}

int sn_kernel_family_of(const char *name)
{
    for (int f = 0; f < sn_kernel_family_count; f++)
        for (const char *k = sn_kernel_families[f].kernels; *k; k += strlen(k) + 1)
            if (!strcmp(k, name))
                return f;
    return -1;
}

sn_status sn_program_family(sn_context *ctx, int f, cl_program *out)
{
    *out = ctx->program; /* the whole program holds every family */
    if (*out)
        return SN_OK;
    if (ctx->families[f]) {
        *out = ctx->families[f];
        return SN_OK;
    }
    const sn_kernel_family *family = &sn_kernel_families[f];
    char options[1024], key[4096], path[4200];
    sn_program_options(ctx, options, sizeof options);
    sn_family_key(ctx, family, options, key, sizeof key);
    sn_cache_path(ctx, key, path, sizeof path);
    const double start = sn_now();
    cl_program program = NULL;
    /* known: the cache has the family, as a binary or (no binaries kept)
     * as the note that the driver's own cache has its build */
    const int known = path[0] && load_cached(ctx, path, key, options, &program);
    if (!program && !ctx->runtime_compile)
        return no_compiler(ctx, family->name);
    if (!program) {
        if (!known && ctx->notice) { /* seconds of one-time work: the caller may say so */
            sn_notice n = {SN_NOTICE_COMPILE, ctx->info.name, family->name, 0, ctx->cache_dir};
            ctx->notice(&n, ctx->notice_user);
        }
        sn_status st = build_source(ctx, sn_kernel_source + family->offset, family->length,
                                    options, &program);
        if (st != SN_OK)
            return sn_fail_context(st, "building the %s kernels", family->name);
        if (!known && path[0])
            store(ctx, program, path, key);
    }
    if (known)
        ctx->families_cached++;
    else
        ctx->families_compiled++;
    ctx->families[f] = program;
    ctx->program_seconds += sn_now() - start;
    *out = program;
    return SN_OK;
}

sn_status sn_program_for_kernel(sn_context *ctx, const char *name, cl_program *out)
{
    *out = ctx->program;
    if (*out)
        return SN_OK;
    const int f = sn_kernel_family_of(name);
    if (f < 0)
        return sn_fail(SN_ERR_INTERNAL, "kernel '%s' is in no kernels/*.cl file", name);
    return sn_program_family(ctx, f, out);
}
