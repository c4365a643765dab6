/* Internal knobs of the conv2d ops (tests and benchmarks). */
#ifndef SN_CONV2D_H
#define SN_CONV2D_H

#include <stddef.h>

/* The conv2d ops lower a chunk of the batch at a time into im2col columns;
 * a chunk's columns and permuted output ((C*K*K + OC) * images * OH*OW
 * floats) stay within this many floats, except that a chunk holds at least
 * one image. (Backward weights adds its small partial sums on top.)
 * Process-wide; 0 restores the default. Set it before ops run. */
void sn_conv2d_set_workspace_limit(size_t floats);
size_t sn_conv2d_workspace_limit(void);

#endif
