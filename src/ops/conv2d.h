/* Internal limits of the conv2d ops. */
#ifndef SN_CONV2D_H
#define SN_CONV2D_H

#include "runtime/runtime_internal.h"

/* The conv2d ops lower a chunk of the batch at a time into im2col columns;
 * a chunk's columns and permuted output ((C*K*K + OC) * images * OH*OW
 * floats) stay within this many floats, except that a chunk holds at least
 * one image. (Backward weights adds its small partial sums on top.) Tests
 * lower it with ctx->test.conv_workspace_floats to force many chunks. */
size_t sn_conv2d_workspace_limit(const sn_context *ctx);

#endif
