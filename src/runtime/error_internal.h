/* Internal helpers to record failures. Every failing path in the library
 * returns sn_fail(...) so the status and the message are set together. */
#ifndef SN_ERROR_INTERNAL_H
#define SN_ERROR_INTERNAL_H

#include "sharesnet/error.h"

#if defined(__GNUC__)
#define SN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SN_PRINTF(a, b)
#endif

/* Record a formatted message for this thread and return `status`. */
sn_status sn_fail(sn_status status, const char *fmt, ...) SN_PRINTF(2, 3);

/* Prepend context ("while loading X: ") to the current message, keep status. */
sn_status sn_fail_context(sn_status status, const char *fmt, ...) SN_PRINTF(2, 3);

/* Name of an OpenCL error code, e.g. "CL_OUT_OF_RESOURCES" (int to avoid
 * pulling CL headers into every file). */
const char *sn_cl_error_name(int cl_error);

/* Propagate a failing status from an expression. */
#define SN_TRY(expr)                         \
    do {                                     \
        sn_status sn_try_status_ = (expr);   \
        if (sn_try_status_ != SN_OK)         \
            return sn_try_status_;           \
    } while (0)

#endif
