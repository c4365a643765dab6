/* Internal view of a context: the OpenCL objects, the kernel table and the
 * helpers every op uses to allocate buffers and enqueue kernels. */
#ifndef SN_RUNTIME_INTERNAL_H
#define SN_RUNTIME_INTERNAL_H

#include <CL/cl.h>
#include <stdio.h>

#include "runtime/error_internal.h"
#include "runtime/file_atomic.h"
#include "sharesnet/runtime.h"

#define SN_MAX_KERNELS 128

typedef struct sn_kernel_entry {
    char name[64];
    cl_kernel kernel;
} sn_kernel_entry;

/* Names of the convolution algorithms, in the order of sn_conv_algo
 * (ops/conv_algo.h): what SN_CONV_ALGO and the tuning file say. */
#define SN_CONV_ALGO_NAMES {"gemm", "direct", "winograd", "clblast"}
#define SN_CONV_ALGO_NAME_COUNT 4

/* How a conv shape's algorithm is decided where nothing forces one
 * (ctx->tune, sn_context_options.tune; ops/conv_tune.c). */
typedef enum sn_tune_mode {
    SN_TUNE_DEFAULTS = 0, /* the device-class default: no timing, no file */
    SN_TUNE_TIME = 1,     /* remembered or stored decisions, else time now */
    SN_TUNE_STORED = 2    /* remembered or stored decisions, else the default */
} sn_tune_mode;

/* ---- device parameters (device_params.c) ---- */
/* Tile sizes and vector widths of the kernels for one device: the one
 * table the kernels' -D options and the host's launch sizes both read. */
typedef struct sn_device_params {
    const char *name;                              /* row of the table, for messages */
    int convd_v, convd_pa, convd_pb, convd_pbw;    /* conv_direct.cl */
    int wino_v, wino_pa, wino_ob, wino_pb, wino_wc, wino_wo; /* conv_winograd.cl */
    int gemm_local, gemm_tm, gemm_tn, gemm_wm, gemm_wn, gemm_tk; /* gemm.cl ... */
    int gemm_dm, gemm_dn; /* ... its A x B^T dot-product tiles (gemm_local 0) */
} sn_device_params;

/* The table's row for this device (first match of class and vendor). */
void sn_device_params_for(const sn_device_info *info, sn_device_params *out);
/* The -D options that hand `p` to the kernels. */
void sn_device_params_options(const sn_device_params *p, char *out, size_t size);

struct sn_context {
    sn_device_info info;
    sn_device_params params; /* kernel tile sizes (device_params.c) */
    /* 0: nothing may compile OpenCL C at run time (accelerators, offline
     * binaries, sn_context_options.no_runtime_compile): every op runs from
     * the library's own program and CLBlast is never called. */
    int runtime_compile;
    /* Convolution algorithm options, read once at creation (ops/conv_tune.c
     * applies them): conv_algo is an index into SN_CONV_ALGO_NAMES or -1
     * for the tuner's choice; tune an sn_tune_mode.
     * tune_batch: the largest batch a model on this context runs (set by
     * sn_model_create); decisions for smaller batches (a partial last batch,
     * a smaller eval batch) are those of this batch, so they never retune. */
    int conv_algo, tune, tune_batch;
    /* Algorithm forced over all of the above by sn_conv_force_algo (the
     * tuner timing each candidate, tests, benchmarks); -1: none. */
    int forced_algo;
    cl_platform_id platform;
    cl_device_id device;
    cl_context cl;
    cl_command_queue queue;
    /* The whole program, every family in one: an offline binary's (origin
     * FROM_BINARY) or compile-kernels' (COMPILED). NULL otherwise: then each
     * family is built when one of its kernels is first needed (program.c). */
    cl_program program;
    sn_program_origin origin;    /* of `program` */
    cl_program *families;        /* [sn_kernel_family_count], NULL until built */
    int families_compiled, families_cached;
    double program_seconds;      /* building and loading, all programs */
    int offline_build; /* building for compile-kernels: accelerators may compile */
    char cache_dir[4096]; /* resolved cache directory; "" when caching is off */
    /* sn_context_options.notice: one-time work about to start */
    void (*notice)(const sn_notice *notice, void *user);
    void *notice_user;

    sn_kernel_entry kernels[SN_MAX_KERNELS];
    int n_kernels;

    sn_mem_stats mem;

    /* Scratch buffer shared by ops (one op runs at a time on the queue). */
    cl_mem workspace;
    size_t workspace_bytes;
    /* CLBlast's temporary buffer (used while an op also holds the workspace). */
    cl_mem gemm_temp;
    size_t gemm_temp_bytes;

    /* Kernel profile being recorded (profile.c); NULL when not recording. */
    struct sn_profile *profile;

    int live; /* counted among the live contexts (sn_context_on_last_free) */

    /* Test knobs. Nothing in the public API sets them: a test sets them on
     * its own context to reach a path the device would not take by itself,
     * and 0 (calloc) leaves each choice to the library. Per context, so
     * that no test state is global to the process. */
    struct {
        /* floats of a conv chunk's workspace (ops/conv2d.h); 0: default */
        size_t conv_workspace_floats;
        /* batch norm's kernel family, an sn_bn_path (ops/batchnorm_internal.h) */
        int bn_path;
        /* work-group size of batch norm's reductions (see bn_path); 0: default */
        size_t bn_local;
        /* where checkpoint writes of models on this context fail */
        sn_file_failpoint file_failpoint;
    } test;
};

/* Run `hook` whenever the last live context of the process is freed (once
 * per such moment; registering the same hook again is a no-op). For state
 * that libraries keep per process and must release while the OpenCL
 * runtime is still whole: CLBlast's program cache, left to its static
 * destructor, calls clReleaseProgram after exit() has torn down the
 * runtime's thread-local state (Oclgrind: heap corruption at exit). */
void sn_context_on_last_free(void (*hook)(void));

/* ---- devices (device.c) ---- */
/* Resolve a selector to OpenCL handles and the filled info. */
sn_status sn_device_open(const char *selector, sn_device_info *info,
                         cl_platform_id *platform, cl_device_id *device);
/* 1 when `needle` occurs in `haystack`, ignoring case ("" always does). */
int sn_contains_nocase(const char *haystack, const char *needle);


/* ---- kernel families (generated by tools/embed_kernels.py) ---- */
/* One kernels/<name>.cl file: a program of its own at run time. */
typedef struct sn_kernel_family {
    const char *name;
    size_t offset, length; /* its text within sn_kernel_source */
    const char *kernels;   /* its kernel names, each ending in '\0'; "" ends the list */
} sn_kernel_family;

/* Every family's text in order: the whole program of offline binaries. */
extern const char sn_kernel_source[];
extern const size_t sn_kernel_source_len;
extern const sn_kernel_family sn_kernel_families[];
extern const int sn_kernel_family_count;

/* ---- program (program.c) ---- */
/* Build options of the library's programs for this context's device. */
void sn_program_options(const sn_context *ctx, char *out, size_t size);
/* Build `source` for the context's device; on failure SN_ERR_BUILD with the
 * full build log in the message. */
sn_status sn_program_build_source(sn_context *ctx, const char *source,
                                  const char *options, cl_program *out);
/* At context creation: decide ctx->runtime_compile and, with an offline
 * binary (or for compile-kernels), set up the whole program ctx->program.
 * Otherwise nothing is built yet (sn_program_for_kernel). */
sn_status sn_program_load(sn_context *ctx, const sn_context_options *opts);
/* Index of the family that holds kernel `name`, -1 when none does. */
int sn_kernel_family_of(const char *name);
/* The program holding kernel `name`: the whole program, else the kernel's
 * family, loaded from the cache or compiled from source (and cached) the
 * first time. */
sn_status sn_program_for_kernel(sn_context *ctx, const char *name, cl_program *out);
/* The program holding family f (f < sn_kernel_family_count): the whole
 * program, else the family's, built now if it is not yet. */
sn_status sn_program_family(sn_context *ctx, int f, cl_program *out);

/* ---- program binaries and the on-disk cache (program_cache.c) ---- */
/* Text that identifies device, driver, source and options: equal text means
 * a binary can be reused. sn_program_key: the whole program (offline
 * binaries; the tuning file's header); sn_family_key: one family. */
void sn_program_key(const sn_context *ctx, const char *options, char *key, size_t size);
void sn_family_key(const sn_context *ctx, const sn_kernel_family *family, const char *options,
                   char *key, size_t size);
/* 0 when the cache keeps no program binaries for this device, only a note
 * that a family was built (POCL, which keeps its builds itself: see
 * program_cache.c); then nothing can run from the cache without compiling. */
int sn_cache_keeps_binaries(const sn_context *ctx);
/* Where the cache keeps the binary of `key` ("" when caching is off). */
void sn_cache_path(const sn_context *ctx, const char *key, char *path, size_t size);
/* Directory of the cache for these options, or "" when caching is off. */
void sn_cache_dir(const sn_context_options *opts, char *dir, size_t size);
/* Read a binary file written by sn_program_binary_write; SN_ERR_FORMAT when it
 * is corrupt or truncated, SN_ERR_INVALID_ARG when it was built for another
 * device/source (message says which). Caller frees *binary. */
sn_status sn_program_binary_read(const char *path, const char *expected_key,
                                 unsigned char **binary, size_t *size);
/* The whole of a file into *data (caller frees); `what` names it in messages. */
sn_status sn_file_read_all(const char *path, const char *what, unsigned char **data,
                           size_t *size);
/* Write atomically with `policy` (SN_FILE_CACHE for the cache). */
sn_status sn_program_binary_write(const char *path, const char *key,
                                  const unsigned char *binary, size_t size,
                                  sn_file_policy policy);
/* Program binary of a built program. Caller frees. */
sn_status sn_program_get_binary(sn_context *ctx, cl_program program,
                                unsigned char **binary, size_t *size);


/* ---- hashing (hash.c) ---- */
uint64_t sn_hash64(const void *data, size_t size, uint64_t seed);

/* ---- memory (memory.c) ---- */
sn_status sn_buffer_alloc(sn_context *ctx, size_t bytes, sn_mem_category cat,
                          const char *what, cl_mem *out);
void sn_buffer_release(sn_context *ctx, cl_mem buffer, size_t bytes,
                       sn_mem_category cat);
/* Scratch of at least `bytes` bytes, grown on demand, valid until the next
 * call. Ops use it for temporaries such as im2col columns. */
sn_status sn_workspace(sn_context *ctx, size_t bytes, cl_mem *out);
/* Scratch of at least `bytes` bytes for CLBlast's temporaries, accounted as
 * workspace, grown on demand, valid until the next call. */
sn_status sn_gemm_temp(sn_context *ctx, size_t bytes, cl_mem *out);

/* ---- tensor views (tensor.c) ---- */
/* Floats a view's offset must be a multiple of (the device's sub-buffer
 * alignment). */
size_t sn_view_align_floats(const sn_context *ctx);
/* `out` = floats [offset, offset + prod(shape)) of `parent` as a tensor of
 * its own (an OpenCL sub-buffer): kernels see it as any tensor. Release it
 * before the parent; it frees no accounted memory. */
sn_status sn_tensor_view(const sn_tensor *parent, size_t offset, int ndim, const int *shape,
                         sn_tensor *out);

/* ---- kernels (context.c) ---- */
sn_status sn_kernel_get(sn_context *ctx, const char *name, cl_kernel *out);

typedef struct sn_karg {
    size_t size;
    const void *value; /* NULL: __local memory of `size` bytes */
} sn_karg;

#define SN_ARG_MEM(m) ((sn_karg){sizeof(cl_mem), &(cl_mem){(cl_mem)(m)}})
#define SN_ARG_INT(v) ((sn_karg){sizeof(cl_int), &(cl_int){(cl_int)(v)}})
#define SN_ARG_FLOAT(v) ((sn_karg){sizeof(cl_float), &(cl_float){(cl_float)(v)}})
#define SN_ARG_LOCAL(bytes) ((sn_karg){(bytes), NULL})

/* Set the arguments of a kernel and enqueue it. `global` is rounded up to a
 * multiple of `local` (when local is not NULL); kernels check bounds. */
sn_status sn_enqueue(sn_context *ctx, const char *kernel, int dims,
                     const size_t *global, const size_t *local, int nargs,
                     const sn_karg *args);

#define SN_ENQUEUE(ctx, kernel, dims, global, local, ...)                    \
    sn_enqueue((ctx), (kernel), (dims), (global), (local),                   \
               (int)(sizeof((sn_karg[]){__VA_ARGS__}) / sizeof(sn_karg)),    \
               (sn_karg[]){__VA_ARGS__})

/* ---- kernel profile (profile.c) ---- */
/* Where an enqueue of kernel `name` should store its event while a profile
 * is recorded (sn_profile_start), NULL otherwise: pass it as the `event`
 * argument of clEnqueueNDRangeKernel / CLBlast (the name is copied). A full
 * event list is folded into the totals first (which waits for the queue). */
cl_event *sn_profile_slot(sn_context *ctx, const char *name);
/* Free a recording (sn_context_free). */
void sn_profile_discard(sn_context *ctx);

/* Turn a failing OpenCL return code into an SN status with a message. */
sn_status sn_cl_fail(cl_int err, const char *what);
#define SN_CL_TRY(call, what)                      \
    do {                                           \
        cl_int sn_cl_err_ = (call);                \
        if (sn_cl_err_ != CL_SUCCESS)              \
            return sn_cl_fail(sn_cl_err_, (what)); \
    } while (0)

/* Deterministic pseudo-random floats in [-1, 1) for the self-test cases. */
void sn_selftest_random_fill(float *x, size_t n, unsigned seed);

/* Monotonic seconds. */
double sn_now(void);

#endif
