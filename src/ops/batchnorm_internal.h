/* Batch norm's kernel families and work-group sizes, which tests choose on
 * their context so that every path runs on any device. */
#ifndef SN_BATCHNORM_INTERNAL_H
#define SN_BATCHNORM_INTERNAL_H

#include "runtime/runtime_internal.h"
#include "sharesnet/ops.h"

/* Kernel family of the reductions and the element-wise passes: AUTO picks
 * PLANE (one work-item per (n, c) plane, vector loops, no barriers) on CPUs
 * and GROUP (work-groups with local-memory trees) elsewhere. Tests force
 * one on their context (ctx->test.bn_path), so that both families run on
 * any device. */
typedef enum { SN_BN_PATH_AUTO, SN_BN_PATH_GROUP, SN_BN_PATH_PLANE } sn_bn_path;

/* Largest work-group size every batch-norm reduction kernel of the family
 * in use accepts on this device (kernel and device work-group limits, local
 * memory): the bound of ctx->test.bn_local, the work-group size of the
 * per-channel reductions (work-items over a chunk of a channel in the GROUP
 * family, planes per work-group in the PLANE one; 0: the default). A size
 * the kernel cannot run with fails the op with SN_ERR_INVALID_ARG. */
sn_status sn_batchnorm_local_limit(sn_context *ctx, size_t *limit);

#endif
