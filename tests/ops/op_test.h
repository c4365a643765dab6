/* Helpers for device op tests: a context per test (Criterion forks), tensors
 * made from double reference data, NaN-poisoned outputs, and comparison
 * against the double reference. */
#ifndef SN_OP_TEST_H
#define SN_OP_TEST_H

#include <stddef.h>

#include "ref_ops.h"
#include "sharesnet.h"
#include "sharesnet/ops.h"

/* Context on POCL's CPU device (or $SN_TEST_DEVICE); asserts on failure. */
sn_context *op_test_context(void);

/* Random values in [lo, hi) rounded to float, so the double reference sees
 * exactly the numbers the device sees. Caller frees. */
double *op_random(ref_rng *rng, size_t n, double lo, double hi);

/* Tensor holding `values` (converted to float). */
void op_tensor_from(sn_context *ctx, sn_tensor *t, int ndim, const int *shape,
                    const double *values);
/* Tensor whose every element is NaN: an element a kernel fails to write
 * shows up in the comparison. */
void op_tensor_poisoned(sn_context *ctx, sn_tensor *t, int ndim, const int *shape);

/* Download t and assert every element is within atol + rtol*|want|. */
void op_expect_close(const char *what, const sn_tensor *t, const double *want, double rtol,
                     double atol);

/* Download into a new double array (caller frees). */
double *op_download(const sn_tensor *t);

#endif
