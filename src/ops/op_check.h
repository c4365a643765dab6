/* Shape checks shared by the ops: one message format everywhere, e.g.
 * "conv2d_forward: w [16, 3, 3, 3] has 3 input channels, x [8, 5, 32, 32] has 5". */
#ifndef SN_OP_CHECK_H
#define SN_OP_CHECK_H

#include "runtime/runtime_internal.h"
#include "sharesnet/ops.h" /* every op file defines public ops (SN_API) */

/* SN_ERR_INVALID_ARG unless t is allocated on ctx. */
sn_status sn_check_tensor(sn_context *ctx, const char *op, const char *name, const sn_tensor *t);

/* Dims of t viewed as 4-D NCHW (missing trailing dims are 1). */
void sn_dims4(const sn_tensor *t, int *n, int *c, int *h, int *w);

/* SN_ERR_SHAPE unless t has exactly `count` elements. */
sn_status sn_check_count(const char *op, const char *name, const sn_tensor *t, size_t count);

/* SN_ERR_SHAPE unless t, viewed as 4-D, is [n,c,h,w]. */
sn_status sn_check_dims(const char *op, const char *name, const sn_tensor *t, int n, int c, int h,
                        int w);

/* Global size for a 1-D element-wise launch. */
static inline size_t sn_global_1d(size_t count) { return count ? count : 1; }

#endif
