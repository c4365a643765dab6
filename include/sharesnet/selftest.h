/* sharesnet — device self-test: kernels run on random data and compared
 * with the host, case by case, so a new device or driver can be checked. */
#ifndef SHARESNET_SELFTEST_H
#define SHARESNET_SELFTEST_H

#include <stddef.h>

#include "sharesnet/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sn_selftest_case {
    const char *name;
    /* Runs one check; SN_OK when the device agrees with the host. `detail`
     * receives a short summary (e.g. the largest error seen). */
    sn_status (*run)(sn_context *ctx, char *detail, size_t detail_size);
} sn_selftest_case;

/* Runtime checks (kernel launch, tensors) and op checks (conv2d, linear
 * through CLBlast), each terminated by an entry whose name is NULL. */
extern const sn_selftest_case sn_selftest_cases[];
extern const sn_selftest_case sn_selftest_ops_cases[];

/* Monotonic clock in seconds (for timing around library calls). */
SN_API double sn_now_seconds(void);

#ifdef __cplusplus
}
#endif
#endif
