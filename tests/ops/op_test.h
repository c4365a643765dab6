/* Helpers for device op tests: a context per test (Criterion forks), tensors
 * made from double reference data, NaN-poisoned outputs, and comparison
 * against the double reference. */
#ifndef SN_OP_TEST_H
#define SN_OP_TEST_H

#include <stddef.h>

#include "ref_ops.h"
#include "sharesnet.h"
#include "ops/conv_algo.h"
#include "sharesnet/ops.h"

/* Context on POCL's CPU device (or $SN_TEST_DEVICE); asserts on failure. */
sn_context *op_test_context(void);

/* The contexts op_test_context makes from now on cap a conv chunk's
 * workspace at `floats` (their ctx->test.conv_workspace_floats; 0: the
 * library's default), so that a test's helpers run many small chunks. */
void op_test_set_workspace_limit(size_t floats);

/* $SN_TEST_SMALL set (not "0"): tests that loop over shapes skip the large
 * ones (tens of thousands of elements), which a kernel interpreter such as
 * Oclgrind runs for minutes; the normal suite runs them all. */
int op_test_small(void);

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

/* ---- small helpers shared by the op tests ------------------------------- */

/* Assert an op returned SN_OK; the message names the call. */
void op_expect_ok(sn_status st, const char *what);

/* n zeroed doubles (at least one, so n = 0 is not NULL). Caller frees. */
double *op_doubles(size_t n);

/* k * a as a new array. Caller frees. */
double *op_scaled(const double *a, size_t n, double k);

/* Element-wise a += b. */
void op_add_into(double *a, const double *b, size_t n);

/* sn_tensor_release on each of n tensors. */
void op_release_all(sn_tensor *const *t, size_t n);

/* A call that writes one gradient output, with accumulate 0 or 1. */
typedef sn_status (*op_grad_call)(void *args, int accumulate);

/* The accumulate contract of one gradient output `out`: the first call
 * (accumulate = 0) must give want whatever out held (callers poison it with
 * NaN first), two more with accumulate = 1 must give 3 * want. The second
 * check's rtol is at least 1e-6: float sums of three terms round even where
 * one term is exact. */
void op_expect_gradient(const char *what, op_grad_call call, void *args, const sn_tensor *out,
                        const double *want, double rtol, double atol);

/* ---- batch norm ---------------------------------------------------------- */

/* The outputs of a batch-norm backward, for op_bn_grad_call. */
enum { OP_BN_DX, OP_BN_PARAMS, OP_BN_SHORTCUT };

/* A descriptor whose backward op_expect_gradient checks one output of:
 * `which` output's accumulate flag follows the call's, the others are 0
 * (overwritten), so the output under test sees its flag alone. */
typedef struct op_bn_grad_args {
    sn_context *ctx;
    sn_bn_desc d;
    int which; /* OP_BN_DX, OP_BN_PARAMS (dgamma, dbeta) or OP_BN_SHORTCUT */
} op_bn_grad_args;

/* An op_grad_call: sn_batchnorm_backward of an op_bn_grad_args. */
sn_status op_bn_grad_call(void *args, int accumulate);

/* ---- convolution ------------------------------------------------------- */

/* One convolution: x [N,C,H,W], w [OC,C,K,K]. */
typedef struct op_conv_case {
    int N, C, H, W, OC, K, stride, pad;
} op_conv_case;

/* Tolerance of a convolution's result against the double reference: rtol,
 * and an absolute part of atol_unit * sqrt(terms) for sums of `terms`
 * products of values in [-1, 1) (rounding errors grow like a random walk).
 * The algorithms' tests differ only in these numbers. */
typedef struct op_conv_tol {
    double rtol, atol_unit;
} op_conv_tol;

double op_conv_atol(op_conv_tol tol, size_t terms);

/* Fill the context's scratch buffer (16 MiB, reused by the ops of these
 * small cases) with NaN: a kernel or GEMM that reads workspace it did not
 * write (C with beta = 0, a slice of columns left unwritten) shows up as NaN
 * in the results. */
void op_poison_workspace(sn_context *ctx);

/* The three passes of one algorithm, with the signatures of the public
 * sn_conv2d_forward / _backward_data / _backward_weights (the direct
 * algorithm's entry points have the same). */
typedef struct op_conv_ops {
    const char *name; /* prefix of the failure messages */
    sn_status (*forward)(sn_context *ctx, const sn_conv2d_desc *d, const sn_tensor *x,
                         const sn_tensor *w, sn_tensor *y);
    sn_status (*backward_data)(sn_context *ctx, const sn_conv2d_desc *d, const sn_tensor *dy,
                               const sn_tensor *w, sn_tensor *dx, int accumulate);
    sn_status (*backward_weights)(sn_context *ctx, const sn_conv2d_desc *d, const sn_tensor *x,
                                  const sn_tensor *dy, sn_tensor *dw, int accumulate);
} op_conv_ops;

/* The public ops (which pick, or are forced to, an algorithm). */
extern const op_conv_ops op_conv_public;

/* Called on the test's context before any tensor is made: the assertions
 * that the case runs the algorithm the test means (NULL: none). */
typedef void (*op_conv_precheck)(sn_context *ctx, op_conv_case cs);

/* Assert `algo` takes all three passes of the case (else a test forcing it
 * would silently test another algorithm). */
void op_expect_conv_algo_supported(sn_context *ctx, sn_conv_algo algo, op_conv_case cs);

/* Forward, backward data and backward weights of one case on random x, w
 * and two dy in [-1, 1) (drawn from `seed` in that order), against the
 * double reference: each pass first with accumulate = 0 into a NaN-poisoned
 * output (and workspace), then backward data and weights with accumulate = 1
 * and the second dy into the same buffer (must equal the sum of both
 * references). */
void op_check_conv(op_conv_case cs, unsigned long long seed, const op_conv_ops *ops,
                   op_conv_tol tol, op_conv_precheck precheck);

/* Gradients added into buffers holding earlier (random) values through the
 * public ops: two accumulate = 1 calls with two dy must give old + ref(dy) +
 * ref(dy2). atol_dx, atol_dw: the bounds for dx and dw. */
void op_check_conv_accumulate_into_existing(op_conv_case cs, unsigned long long seed,
                                            double rtol, double atol_dx, double atol_dw);

/* ---- the conv forward's fused epilogue ---------------------------------- */

/* Epilogue steps of one call. OP_RES_IN_Y: the residual is y itself (y
 * holds the residual before the call). */
enum { OP_AFFINE = 1, OP_RES = 2, OP_RELU = 4, OP_RES_IN_Y = 8 };

/* sn_conv2d_direct_forward_affine and sn_conv2d_winograd_forward_affine. */
typedef sn_status (*op_conv_affine_fn)(sn_context *ctx, const sn_conv2d_desc *d,
                                       const sn_tensor *x, const sn_tensor *w,
                                       const sn_tensor *scale, const sn_tensor *shift,
                                       const sn_tensor *residual, int relu, sn_tensor *y);

/* One algorithm's forward with the epilogue, called directly (no fallback
 * can run): `algo` must support the forward of every case. The bound is
 * scale_bound * op_conv_atol(tol, C*K*K) + 1e-6: the conv's error times the
 * largest |scale| the test draws (below 1.5) or more, plus the shift's and
 * the residual's rounding. */
typedef struct op_conv_affine_algo {
    const char *name;
    op_conv_affine_fn fn;
    sn_conv_algo algo;
    op_conv_tol tol;
    double scale_bound;
} op_conv_affine_algo;

/* The forward with the epilogue `steps` against the reference conv followed
 * by the epilogue in double: x, w, scale in [-1.5, 1.5) (both signs, so that
 * the ReLU cuts), shift and residual drawn from `seed`; y NaN-poisoned (or
 * holding the residual), the workspace NaN-poisoned. */
void op_check_conv_affine(const op_conv_affine_algo *a, op_conv_case cs, int steps,
                          unsigned long long seed);

/* op_check_conv_affine with every combination of the steps, and the
 * residual in y with and without the affine step and the ReLU (step i
 * seeded seed + i). */
void op_check_conv_affine_steps(const op_conv_affine_algo *a, op_conv_case cs,
                                unsigned long long seed);

/* Scale without shift (or the reverse) and wrongly sized scale, shift or
 * residual fail (SN_ERR_INVALID_ARG, SN_ERR_SHAPE) before anything is
 * enqueued: y keeps its poison. */
void op_expect_conv_affine_argument_errors(op_conv_affine_fn fn);

/* Assert every element of t is still NaN (a failed call wrote nothing). */
void op_expect_poisoned(const char *what, const sn_tensor *t);

#endif
