/* sharesnet — status codes and the per-thread last error message.
 *
 * Every public call returns an sn_status. On failure the library stores a
 * message for the calling thread (OpenCL error name, operation, file, shapes,
 * or a kernel build log) that sn_last_error() returns until the next failure.
 * The library never prints and never exits.
 */
#ifndef SHARESNET_ERROR_H
#define SHARESNET_ERROR_H

/* Marks the public API: the library is built with hidden visibility, so
 * only functions declared with SN_API are exported from the shared object
 * (internal helpers and test hooks are not). */
#if defined(__GNUC__) || defined(__clang__)
#define SN_API __attribute__((visibility("default")))
#else
#define SN_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sn_status {
    SN_OK = 0,
    SN_ERR_INVALID_ARG,  /* a bad argument, option or selector          */
    SN_ERR_SHAPE,        /* tensor shapes do not fit the operation      */
    SN_ERR_NO_DEVICE,    /* no OpenCL platform/device matches           */
    SN_ERR_OPENCL,       /* an OpenCL call failed (name in the message) */
    SN_ERR_BUILD,        /* kernel program build failed (log in message)*/
    SN_ERR_OUT_OF_MEMORY,/* host or device allocation failed            */
    SN_ERR_IO,           /* a file could not be read or written         */
    SN_ERR_FORMAT,       /* a file's content is corrupt or unexpected   */
    SN_ERR_NUMERIC,      /* NaN or Inf where a finite value is required */
    SN_ERR_UNSUPPORTED,  /* valid request the device/build cannot serve */
    SN_ERR_INTERNAL      /* a bug in sharesnet: please report it        */
} sn_status;

/* Short stable name of a status, e.g. "SN_ERR_SHAPE". */
SN_API const char *sn_status_name(sn_status status);

/* Message of the last failure on this thread ("" when none). */
SN_API const char *sn_last_error(void);

/* Forget the last error message of this thread. */
SN_API void sn_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
