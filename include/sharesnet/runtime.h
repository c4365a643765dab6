/* sharesnet — OpenCL devices, contexts, device tensors and memory accounting.
 *
 * A context owns one OpenCL device, one in-order command queue and the
 * kernel programs of the library, built for that device (or loaded from the
 * on-disk cache or from an offline binary). Use one context per thread.
 */
#ifndef SHARESNET_RUNTIME_H
#define SHARESNET_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "sharesnet/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Devices ---------------------------------------------------------- */

typedef enum sn_device_type {
    SN_DEVICE_GPU,
    SN_DEVICE_CPU,
    SN_DEVICE_ACCELERATOR, /* FPGAs and others: need an offline binary */
    SN_DEVICE_OTHER
} sn_device_type;

typedef struct sn_device_info {
    int platform_index, device_index; /* the "P:D" selector of this device */
    char platform[128];
    char platform_version[128];
    char name[128];
    char vendor[128];
    char driver_version[128];
    char device_version[128];   /* "OpenCL 3.0 ..." */
    char c_version[128];        /* "OpenCL C 1.2 ..." */
    sn_device_type type;
    unsigned compute_units;
    unsigned clock_mhz;
    uint64_t global_mem_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes;
    size_t max_work_group_size;
    int fp16, fp64;             /* 1 when supported */
} sn_device_info;

SN_API const char *sn_device_type_name(sn_device_type type); /* "GPU", "CPU", ... */

/* Every device of every platform found through the ICD loader. Free the
 * array with free(). An empty system is SN_ERR_NO_DEVICE. */
SN_API sn_status sn_devices_list(sn_device_info **devices, int *count);

/* Pick a device. `selector` is "P:D" (platform and device index), a type
 * ("gpu", "cpu", "accelerator"), or a case-insensitive substring of the
 * device name. NULL or "" means the environment variable SN_DEVICE, and when
 * that is unset the default: the first GPU, else accelerator, else CPU.
 * A selector that matches nothing is SN_ERR_NO_DEVICE with a message that
 * lists the devices present. */
SN_API sn_status sn_device_select(const char *selector, sn_device_info *out);

/* ---- Contexts ----------------------------------------------------------- */

typedef struct sn_context sn_context;

/* One-time work a run is about to do, whose result is kept for later runs:
 * for a tool to announce it (sn_context_options.notice) rather than look
 * hung for seconds. */
typedef enum sn_notice_kind {
    SN_NOTICE_COMPILE, /* compiling a kernel family from OpenCL C (then cached) */
    SN_NOTICE_TUNE     /* timing convolution algorithms (sn_model_prepare) */
} sn_notice_kind;

typedef struct sn_notice {
    sn_notice_kind kind;
    const char *device;  /* the device's name */
    const char *what;    /* COMPILE: the kernel family, e.g. "conv_direct"
                            (kernels/conv_direct.cl); TUNE: "" */
    int count;           /* TUNE: conv shapes about to be timed; COMPILE: 0 */
    const char *kept_in; /* COMPILE: the cache directory; TUNE: the tuning
                            file; "" when caching is off */
} sn_notice;

typedef struct sn_context_options {
    const char *device;         /* selector, as sn_device_select() */
    const char *kernel_binary;  /* offline program binary; NULL: $SN_KERNEL_BINARY */
    const char *cache_dir;      /* NULL: $SN_CACHE_DIR, $XDG_CACHE_HOME/sharesnet, ~/.cache/sharesnet */
    int use_cache;              /* -1: on unless $SN_CACHE=0; 0 off; 1 on */
    int profiling;              /* 1: queue with profiling (for benchmarks) */
    /* 1: never compile OpenCL C at run time, as on a device that cannot
     * (FPGAs): the program must come from kernel_binary or the cache, and
     * every op runs from the library's own program (CLBlast, which compiles
     * its kernels at run time, is never called). 0: the same applies when
     * $SN_NO_RUNTIME_COMPILE=1, the device is an accelerator or the program
     * is an offline binary. */
    int no_runtime_compile;
    /* Convolution algorithm: NULL reads $SN_CONV_ALGO once, here; "" or
     * "auto": the tuner's choice; "gemm", "direct", "winograd" or "clblast"
     * forces it wherever it supports the shape (our GEMM elsewhere).
     * Anything else fails sn_context_create. */
    const char *conv_algo;
    /* Convolution tuning. 1: time the candidates of a conv shape that the
     * tuning file does not decide yet (sn_model_prepare does it before the
     * first step); 2: the tuning file's decisions where it has them, the
     * device-class default elsewhere, never timing; 0: the device-class
     * default only (no timing, no file). -1 (the default): $SN_TUNE decides
     * ("0": 0, another value: 1); unset, the device class does: 2 on CPUs,
     * whose defaults are good untimed (bench/RESULTS.md), 1 elsewhere. */
    int tune;
    /* Called just before one-time work that later runs reuse: a kernel
     * family compiled from source (kernels are built when first used) or
     * conv shapes timed. NULL: no calls. The library itself never prints. */
    void (*notice)(const sn_notice *notice, void *user);
    void *notice_user;
} sn_context_options;

SN_API void sn_context_options_default(sn_context_options *opts);

/* How the kernels of a context came to be. Without an offline binary the
 * library's kernels are built family by family (one per kernel file)
 * when one of a family's kernels is first used, each loaded from the cache
 * when it holds the family, else compiled from source and cached. */
typedef enum sn_program_origin {
    SN_PROGRAM_COMPILED,     /* some family compiled from the embedded OpenCL C */
    SN_PROGRAM_FROM_CACHE,   /* every family so far loaded from the on-disk cache */
    SN_PROGRAM_FROM_BINARY,  /* the whole program from an offline binary (no compile) */
    SN_PROGRAM_NOT_BUILT     /* no kernel needed yet */
} sn_program_origin;

SN_API const char *sn_program_origin_name(sn_program_origin origin);

SN_API sn_status sn_context_create(const sn_context_options *opts, sn_context **out);
SN_API void sn_context_free(sn_context *ctx);

SN_API const sn_device_info *sn_context_device(const sn_context *ctx);
SN_API sn_program_origin sn_context_program_origin(const sn_context *ctx);
/* Seconds this context has spent building or loading kernel programs. */
SN_API double sn_context_program_seconds(const sn_context *ctx);
/* 1 when the context may compile OpenCL C at run time (and so use CLBlast);
 * 0 on accelerators, with an offline binary or no_runtime_compile. */
SN_API int sn_context_runtime_compile(const sn_context *ctx);

/* Build (or load from the cache) every kernel family now instead of when
 * first used: for a self-test, or to pay every one-time compile up front.
 * Nothing to do with an offline binary. */
SN_API sn_status sn_context_build_kernels(sn_context *ctx);

/* Wait until every command enqueued on the context has finished. */
SN_API sn_status sn_context_finish(sn_context *ctx);

/* Build the library's program for the selected device and write it to
 * `path` as an offline binary, loadable later with SN_KERNEL_BINARY. The
 * file holds a header (magic with the format version, the device key:
 * platform, device, driver, source hash and build options; the payload
 * size) and a checksum: a truncated, corrupt or foreign file is refused
 * before any byte reaches the driver. */
SN_API sn_status sn_compile_kernels(const char *device_selector, const char *path);

/* Write the library's OpenCL C program for the selected device to `path`,
 * its build options (tile sizes of the device parameter table) defined at
 * the top: the input of a vendor's offline compiler (FPGAs). */
SN_API sn_status sn_kernel_source_write(const char *device_selector, const char *path);

/* Wrap a binary built by a vendor's offline compiler from that source into
 * our offline binary format for the selected device (its key, the payload
 * size and checksum recorded), loadable with SN_KERNEL_BINARY. Only the
 * driver can tell whether the payload itself is valid. */
SN_API sn_status sn_wrap_kernels(const char *device_selector, const char *vendor_path,
                          const char *path);

/* ---- Memory accounting ------------------------------------------------- */

/* Every device allocation belongs to one category; the context tracks the
 * bytes in use per category and the peak of their sum. */
typedef enum sn_mem_category {
    SN_MEM_PARAM,       /* parameter values */
    SN_MEM_GRAD,        /* parameter gradients */
    SN_MEM_OPTIM,       /* optimizer state (momentum) */
    SN_MEM_ACTIVATION,  /* activations kept for backward and their gradients */
    SN_MEM_WORKSPACE,   /* scratch of ops (im2col columns, ...) */
    SN_MEM_OTHER,       /* inputs, labels, statistics, ... */
    SN_MEM_CATEGORIES
} sn_mem_category;

typedef struct sn_mem_stats {
    size_t bytes[SN_MEM_CATEGORIES]; /* in use now */
    size_t total;                    /* sum of bytes[] */
    size_t peak;                     /* highest total seen */
    size_t allocations;              /* live device buffers */
} sn_mem_stats;

SN_API const char *sn_mem_category_name(sn_mem_category category);
SN_API void sn_context_mem_stats(const sn_context *ctx, sn_mem_stats *stats);
SN_API void sn_context_reset_peak(sn_context *ctx);

/* ---- Kernel profile (benchmarks) --------------------------------------- */

/* Device time per kernel, summed over the launches of a recording. CLBlast's
 * GEMMs count as "clblast_sgemm" / "clblast_sgemm_batched". */
typedef struct sn_kernel_time {
    char name[64];
    long launches;
    double ms;       /* device time (profiling start to end), all launches */
} sn_kernel_time;

/* Record the device time of every kernel enqueued from now on. The context
 * must have been created with `profiling = 1` (SN_ERR_INVALID_ARG otherwise
 * or when already recording). Recording adds an event per launch. */
SN_API sn_status sn_profile_start(sn_context *ctx);
/* Wait for the queue, stop recording and return the totals per kernel,
 * most time first, in *out (free() it; NULL when count is 0). */
SN_API sn_status sn_profile_stop(sn_context *ctx, sn_kernel_time **out, int *count);

/* ---- Tensors ------------------------------------------------------------ */

/* A float32 device tensor of up to 4 dimensions (NCHW order). Value type:
 * the struct can be copied to pass it around; sn_tensor_release() once. */
typedef struct sn_tensor {
    int ndim;
    int shape[4];
    size_t count;            /* product of shape */
    void *buffer;            /* cl_mem */
    sn_mem_category category;
    sn_context *ctx;
    int view;                /* 1: a region of another tensor's buffer (e.g. a
                                model's parameter arena): its memory is the
                                parent's, releasing it frees no accounted bytes */
} sn_tensor;

/* Allocate an uninitialised tensor. Dimensions must be positive. */
SN_API sn_status sn_tensor_alloc(sn_context *ctx, sn_tensor *t, int ndim,
                          const int *shape, sn_mem_category category);
SN_API void sn_tensor_release(sn_tensor *t);

/* Blocking copies between host and device; count must equal t->count. */
SN_API sn_status sn_tensor_upload(sn_tensor *t, const float *host, size_t count);
SN_API sn_status sn_tensor_download(const sn_tensor *t, float *host, size_t count);

/* Fill every element with a value (on the device). */
SN_API sn_status sn_tensor_fill(sn_tensor *t, float value);

/* "[128, 16, 32, 32]" into buf (for messages). */
SN_API const char *sn_shape_string(const sn_tensor *t, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
