/* Helpers for device op tests (see op_test.h). */
#include "op_test.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/conv_tune.h"
#include "runtime/runtime_internal.h"

/* Applied to every context op_test_context makes (see op_test.h). */
static size_t workspace_floats;

void op_test_set_workspace_limit(size_t floats) { workspace_floats = floats; }

sn_context *op_test_context(void)
{
    sn_context_options o;
    sn_context_options_default(&o);
    const char *dev = getenv("SN_TEST_DEVICE");
    o.device = dev && *dev ? dev : "cpu";
    sn_context *ctx = NULL;
    sn_status st = sn_context_create(&o, &ctx);
    cr_assert_eq(st, SN_OK, "cannot create a context: %s", sn_last_error());
    ctx->test.conv_workspace_floats = workspace_floats;
    return ctx;
}

sn_status op_bn_grad_call(void *args, int accumulate)
{
    const op_bn_grad_args *a = args;
    sn_bn_desc d = a->d;
    d.accumulate_dx = a->which == OP_BN_DX ? accumulate : 0;
    d.accumulate_params = a->which == OP_BN_PARAMS ? accumulate : 0;
    d.accumulate_shortcut = a->which == OP_BN_SHORTCUT ? accumulate : 0;
    return sn_batchnorm_backward(a->ctx, &d);
}

int op_test_small(void)
{
    const char *v = getenv("SN_TEST_SMALL");
    return v && *v && strcmp(v, "0") != 0;
}

double *op_random(ref_rng *rng, size_t n, double lo, double hi)
{
    double *x = malloc((n ? n : 1) * sizeof *x);
    cr_assert_not_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = (double)(float)ref_rng_uniform(rng, lo, hi);
    return x;
}

void op_tensor_from(sn_context *ctx, sn_tensor *t, int ndim, const int *shape,
                    const double *values)
{
    sn_status st = sn_tensor_alloc(ctx, t, ndim, shape, SN_MEM_OTHER);
    cr_assert_eq(st, SN_OK, "alloc: %s", sn_last_error());
    float *f = malloc(t->count * sizeof *f);
    cr_assert_not_null(f);
    for (size_t i = 0; i < t->count; i++)
        f[i] = (float)values[i];
    st = sn_tensor_upload(t, f, t->count);
    cr_assert_eq(st, SN_OK, "upload: %s", sn_last_error());
    free(f);
}

void op_tensor_poisoned(sn_context *ctx, sn_tensor *t, int ndim, const int *shape)
{
    sn_status st = sn_tensor_alloc(ctx, t, ndim, shape, SN_MEM_OTHER);
    cr_assert_eq(st, SN_OK, "alloc: %s", sn_last_error());
    st = sn_tensor_fill(t, NAN);
    cr_assert_eq(st, SN_OK, "poison: %s", sn_last_error());
}

double *op_download(const sn_tensor *t)
{
    float *f = malloc(t->count * sizeof *f);
    double *d = malloc(t->count * sizeof *d);
    cr_assert(f && d);
    sn_status st = sn_tensor_download(t, f, t->count);
    cr_assert_eq(st, SN_OK, "download: %s", sn_last_error());
    for (size_t i = 0; i < t->count; i++)
        d[i] = f[i];
    free(f);
    return d;
}

void op_expect_close(const char *what, const sn_tensor *t, const double *want, double rtol,
                     double atol)
{
    float *f = malloc(t->count * sizeof *f);
    cr_assert_not_null(f);
    sn_status st = sn_tensor_download(t, f, t->count);
    cr_assert_eq(st, SN_OK, "%s: download: %s", what, sn_last_error());
    char msg[512];
    long bad = ref_check_close(f, want, t->count, rtol, atol, msg, sizeof msg);
    cr_expect_eq(bad, -1, "%s: %s", what, msg);
    free(f);
}

void op_expect_poisoned(const char *what, const sn_tensor *t)
{
    double *v = op_download(t);
    for (size_t i = 0; i < t->count; i++)
        cr_expect(isnan(v[i]), "%s[%zu] written by a failed call", what, i);
    free(v);
}

/* ---- small helpers ------------------------------------------------------- */

void op_expect_ok(sn_status st, const char *what)
{
    cr_assert_eq(st, SN_OK, "%s: %s (%s)", what, sn_status_name(st), sn_last_error());
}

double *op_doubles(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof *p);
    cr_assert_not_null(p);
    return p;
}

double *op_scaled(const double *a, size_t n, double k)
{
    double *p = op_doubles(n);
    for (size_t i = 0; i < n; i++)
        p[i] = k * a[i];
    return p;
}

void op_add_into(double *a, const double *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        a[i] += b[i];
}

void op_release_all(sn_tensor *const *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sn_tensor_release(t[i]);
}

void op_expect_gradient(const char *what, op_grad_call call, void *args, const sn_tensor *out,
                        const double *want, double rtol, double atol)
{
    op_expect_ok(call(args, 0), what);
    op_expect_close(what, out, want, rtol, atol);
    op_expect_ok(call(args, 1), what);
    op_expect_ok(call(args, 1), what);
    double *three = op_scaled(want, out->count, 3.0);
    char label[160];
    snprintf(label, sizeof label, "%s (accumulate x2)", what);
    op_expect_close(label, out, three, rtol > 1e-6 ? rtol : 1e-6, 3 * atol);
    free(three);
}

/* ---- convolution --------------------------------------------------------- */

double op_conv_atol(op_conv_tol tol, size_t terms)
{
    return tol.atol_unit * sqrt((double)(terms ? terms : 1));
}

void op_poison_workspace(sn_context *ctx)
{
    const size_t bytes = (size_t)16 << 20;
    cl_mem ws;
    cr_assert_eq(sn_workspace(ctx, bytes, &ws), SN_OK, "%s", sn_last_error());
    /* One host write of the whole buffer rather than clEnqueueFillBuffer:
     * Oclgrind's --uninitialized records a fill (and any write of part of a
     * buffer) as a buffer of one element, and then reports everything the
     * kernels later store there as uninitialised (see
     * tests/oclgrind/shadow_reuse.c). */
    const size_t n = bytes / sizeof(cl_float);
    cl_float *nan = malloc(bytes);
    cr_assert_not_null(nan);
    for (size_t i = 0; i < n; i++)
        nan[i] = NAN;
    cr_assert_eq(clEnqueueWriteBuffer(ctx->queue, ws, CL_TRUE, 0, bytes, nan, 0, NULL, NULL),
                 CL_SUCCESS);
    free(nan);
}

const op_conv_ops op_conv_public = {"conv2d", sn_conv2d_forward, sn_conv2d_backward_data,
                                    sn_conv2d_backward_weights};

void op_expect_conv_algo_supported(sn_context *ctx, sn_conv_algo algo, op_conv_case cs)
{
    for (int pass = SN_CONV_FORWARD; pass <= SN_CONV_BACKWARD_WEIGHTS; pass++)
        cr_assert(sn_conv_algo_supported(ctx, algo, (sn_conv_pass)pass, cs.N, cs.C, cs.H, cs.W,
                                         cs.OC, cs.K, cs.stride, cs.pad),
                  "%s conv does not support pass %d", sn_conv_algo_name(algo), pass);
}

/* Shapes of one case's tensors. */
typedef struct conv_shapes {
    int OH, OW;
    size_t nx, nw, ny;
    int sx[4], sw[4], sy[4];
    sn_conv2d_desc d;
} conv_shapes;

static conv_shapes conv_shapes_of(op_conv_case cs)
{
    conv_shapes s;
    s.OH = ref_out_size(cs.H, cs.K, cs.stride, cs.pad);
    s.OW = ref_out_size(cs.W, cs.K, cs.stride, cs.pad);
    s.nx = (size_t)cs.N * cs.C * cs.H * cs.W;
    s.nw = (size_t)cs.OC * cs.C * cs.K * cs.K;
    s.ny = (size_t)cs.N * cs.OC * s.OH * s.OW;
    const int sx[4] = {cs.N, cs.C, cs.H, cs.W}, sw[4] = {cs.OC, cs.C, cs.K, cs.K},
              sy[4] = {cs.N, cs.OC, s.OH, s.OW};
    memcpy(s.sx, sx, sizeof sx);
    memcpy(s.sw, sw, sizeof sw);
    memcpy(s.sy, sy, sizeof sy);
    s.d = (sn_conv2d_desc){cs.K, cs.stride, cs.pad};
    return s;
}

/* The reference's backward data and weights of one dy into fresh arrays. */
static void ref_conv_backward(op_conv_case cs, const conv_shapes *s, const double *x,
                              const double *w, const double *dy, double **dx, double **dw)
{
    *dx = op_doubles(s->nx);
    *dw = op_doubles(s->nw);
    ref_conv2d_backward_data(dy, cs.N, cs.C, cs.H, cs.W, w, cs.OC, cs.K, cs.stride, cs.pad, *dx);
    ref_conv2d_backward_weights(x, cs.N, cs.C, cs.H, cs.W, dy, cs.OC, cs.K, cs.stride, cs.pad,
                                *dw, 0);
}

void op_check_conv(op_conv_case cs, unsigned long long seed, const op_conv_ops *ops,
                   op_conv_tol tol, op_conv_precheck precheck)
{
    const conv_shapes s = conv_shapes_of(cs);
    ref_rng rng;
    ref_rng_seed(&rng, seed);
    double *x = op_random(&rng, s.nx, -1, 1), *w = op_random(&rng, s.nw, -1, 1);
    double *dy = op_random(&rng, s.ny, -1, 1), *dy2 = op_random(&rng, s.ny, -1, 1);
    double *want_y = op_doubles(s.ny), *want_dx, *want_dx2, *want_dw, *want_dw2;
    ref_conv2d_forward(x, cs.N, cs.C, cs.H, cs.W, w, cs.OC, cs.K, cs.stride, cs.pad, want_y);
    ref_conv_backward(cs, &s, x, w, dy, &want_dx, &want_dw);
    ref_conv_backward(cs, &s, x, w, dy2, &want_dx2, &want_dw2);

    sn_context *ctx = op_test_context();
    if (precheck)
        precheck(ctx, cs);
    sn_tensor tx, tw, tdy, tdy2, ty, tdx, tdw;
    op_tensor_from(ctx, &tx, 4, s.sx, x);
    op_tensor_from(ctx, &tw, 4, s.sw, w);
    op_tensor_from(ctx, &tdy, 4, s.sy, dy);
    op_tensor_from(ctx, &tdy2, 4, s.sy, dy2);
    op_tensor_poisoned(ctx, &ty, 4, s.sy);
    op_tensor_poisoned(ctx, &tdx, 4, s.sx);
    op_tensor_poisoned(ctx, &tdw, 4, s.sw);
    op_poison_workspace(ctx);

    /* The gradients' bounds cover the accumulated sum of two references. */
    const double atol_y = op_conv_atol(tol, (size_t)cs.C * cs.K * cs.K);
    const double atol_dx = op_conv_atol(tol, (size_t)2 * cs.OC * cs.K * cs.K);
    const double atol_dw = op_conv_atol(tol, (size_t)2 * cs.N * s.OH * s.OW);
    char what[128];

    cr_assert_eq(ops->forward(ctx, &s.d, &tx, &tw, &ty), SN_OK, "%s", sn_last_error());
    snprintf(what, sizeof what, "%s forward y", ops->name);
    op_expect_close(what, &ty, want_y, tol.rtol, atol_y);

    cr_assert_eq(ops->backward_data(ctx, &s.d, &tdy, &tw, &tdx, 0), SN_OK, "%s", sn_last_error());
    snprintf(what, sizeof what, "%s backward_data dx (accumulate 0)", ops->name);
    op_expect_close(what, &tdx, want_dx, tol.rtol, atol_dx);
    cr_assert_eq(ops->backward_data(ctx, &s.d, &tdy2, &tw, &tdx, 1), SN_OK, "%s",
                 sn_last_error());
    op_add_into(want_dx, want_dx2, s.nx);
    snprintf(what, sizeof what, "%s backward_data dx (accumulate 1)", ops->name);
    op_expect_close(what, &tdx, want_dx, tol.rtol, atol_dx);

    cr_assert_eq(ops->backward_weights(ctx, &s.d, &tx, &tdy, &tdw, 0), SN_OK, "%s",
                 sn_last_error());
    snprintf(what, sizeof what, "%s backward_weights dw (accumulate 0)", ops->name);
    op_expect_close(what, &tdw, want_dw, tol.rtol, atol_dw);
    cr_assert_eq(ops->backward_weights(ctx, &s.d, &tx, &tdy2, &tdw, 1), SN_OK, "%s",
                 sn_last_error());
    op_add_into(want_dw, want_dw2, s.nw);
    snprintf(what, sizeof what, "%s backward_weights dw (accumulate 1)", ops->name);
    op_expect_close(what, &tdw, want_dw, tol.rtol, atol_dw);

    sn_tensor *all[] = {&tx, &tw, &tdy, &tdy2, &ty, &tdx, &tdw};
    op_release_all(all, sizeof all / sizeof *all);
    sn_context_free(ctx);
    double *bufs[] = {x, w, dy, dy2, want_y, want_dx, want_dx2, want_dw, want_dw2};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
}

void op_check_conv_accumulate_into_existing(op_conv_case cs, unsigned long long seed,
                                            double rtol, double atol_dx, double atol_dw)
{
    const conv_shapes s = conv_shapes_of(cs);
    ref_rng rng;
    ref_rng_seed(&rng, seed);
    double *x = op_random(&rng, s.nx, -1, 1), *w = op_random(&rng, s.nw, -1, 1);
    double *dy[2] = {op_random(&rng, s.ny, -1, 1), op_random(&rng, s.ny, -1, 1)};
    /* The buffers' earlier values, to which both gradients are added. */
    double *want_dx = op_random(&rng, s.nx, -1, 1), *want_dw = op_random(&rng, s.nw, -1, 1);

    sn_context *ctx = op_test_context();
    sn_tensor tx, tw, tdy[2], tdx, tdw;
    op_tensor_from(ctx, &tx, 4, s.sx, x);
    op_tensor_from(ctx, &tw, 4, s.sw, w);
    op_tensor_from(ctx, &tdx, 4, s.sx, want_dx);
    op_tensor_from(ctx, &tdw, 4, s.sw, want_dw);
    for (int k = 0; k < 2; k++) {
        op_tensor_from(ctx, &tdy[k], 4, s.sy, dy[k]);
        double *part_dx, *part_dw;
        ref_conv_backward(cs, &s, x, w, dy[k], &part_dx, &part_dw);
        op_add_into(want_dx, part_dx, s.nx);
        op_add_into(want_dw, part_dw, s.nw);
        free(part_dx);
        free(part_dw);
        cr_assert_eq(sn_conv2d_backward_data(ctx, &s.d, &tdy[k], &tw, &tdx, 1), SN_OK, "%s",
                     sn_last_error());
        cr_assert_eq(sn_conv2d_backward_weights(ctx, &s.d, &tx, &tdy[k], &tdw, 1), SN_OK, "%s",
                     sn_last_error());
    }
    op_expect_close("dx old + two uses", &tdx, want_dx, rtol, atol_dx);
    op_expect_close("dw old + two uses", &tdw, want_dw, rtol, atol_dw);

    sn_tensor *all[] = {&tx, &tw, &tdy[0], &tdy[1], &tdx, &tdw};
    op_release_all(all, sizeof all / sizeof *all);
    sn_context_free(ctx);
    double *bufs[] = {x, w, dy[0], dy[1], want_dx, want_dw};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
}

/* ---- the conv forward's fused epilogue ------------------------------------ */

void op_check_conv_affine(const op_conv_affine_algo *a, op_conv_case cs, int steps,
                          unsigned long long seed)
{
    const conv_shapes s = conv_shapes_of(cs);
    const size_t plane = (size_t)s.OH * s.OW;
    const int sc[1] = {cs.OC};

    ref_rng rng;
    ref_rng_seed(&rng, seed);
    double *x = op_random(&rng, s.nx, -1, 1), *w = op_random(&rng, s.nw, -1, 1);
    double *scale = op_random(&rng, (size_t)cs.OC, -1.5, 1.5);
    double *shift = op_random(&rng, (size_t)cs.OC, -1, 1);
    double *res = op_random(&rng, s.ny, -1, 1);
    double *want = op_doubles(s.ny);
    ref_conv2d_forward(x, cs.N, cs.C, cs.H, cs.W, w, cs.OC, cs.K, cs.stride, cs.pad, want);
    for (size_t i = 0; i < s.ny; i++) {
        const size_t oc = i / plane % (size_t)cs.OC;
        double v = want[i];
        if (steps & OP_AFFINE)
            v = v * scale[oc] + shift[oc];
        if (steps & (OP_RES | OP_RES_IN_Y))
            v += res[i];
        if (steps & OP_RELU)
            v = v > 0.0 ? v : 0.0;
        want[i] = v;
    }

    sn_context *ctx = op_test_context();
    cr_assert(sn_conv_algo_supported(ctx, a->algo, SN_CONV_FORWARD, cs.N, cs.C, cs.H, cs.W,
                                     cs.OC, cs.K, cs.stride, cs.pad),
              "%s forward does not support this case", a->name);
    sn_tensor tx, tw, tscale, tshift, tres, ty;
    op_tensor_from(ctx, &tx, 4, s.sx, x);
    op_tensor_from(ctx, &tw, 4, s.sw, w);
    op_tensor_from(ctx, &tscale, 1, sc, scale);
    op_tensor_from(ctx, &tshift, 1, sc, shift);
    op_tensor_from(ctx, &tres, 4, s.sy, res);
    if (steps & OP_RES_IN_Y)
        op_tensor_from(ctx, &ty, 4, s.sy, res);
    else
        op_tensor_poisoned(ctx, &ty, 4, s.sy);
    op_poison_workspace(ctx);

    const sn_tensor *r = steps & OP_RES_IN_Y ? &ty : steps & OP_RES ? &tres : NULL;
    const int affine = (steps & OP_AFFINE) != 0;
    cr_assert_eq(a->fn(ctx, &s.d, &tx, &tw, affine ? &tscale : NULL, affine ? &tshift : NULL, r,
                       (steps & OP_RELU) != 0, &ty),
                 SN_OK, "%s", sn_last_error());
    char what[192];
    snprintf(what, sizeof what,
             "%s affine [%d,%d,%d,%d] oc %d k %d stride %d pad %d (affine %d, residual %d%s, "
             "relu %d)",
             a->name, cs.N, cs.C, cs.H, cs.W, cs.OC, cs.K, cs.stride, cs.pad, affine,
             (steps & (OP_RES | OP_RES_IN_Y)) != 0, steps & OP_RES_IN_Y ? " = y" : "",
             (steps & OP_RELU) != 0);
    const double atol =
        a->scale_bound * op_conv_atol(a->tol, (size_t)cs.C * cs.K * cs.K) + 1e-6;
    op_expect_close(what, &ty, want, a->tol.rtol, atol);

    sn_tensor *all[] = {&tx, &tw, &tscale, &tshift, &tres, &ty};
    op_release_all(all, sizeof all / sizeof *all);
    sn_context_free(ctx);
    double *bufs[] = {x, w, scale, shift, res, want};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
}

void op_check_conv_affine_steps(const op_conv_affine_algo *a, op_conv_case cs,
                                unsigned long long seed)
{
    const int steps[] = {0,
                         OP_AFFINE,
                         OP_RES,
                         OP_RELU,
                         OP_AFFINE | OP_RES,
                         OP_AFFINE | OP_RELU,
                         OP_RES | OP_RELU,
                         OP_AFFINE | OP_RES | OP_RELU,
                         OP_RES_IN_Y,
                         OP_RES_IN_Y | OP_RELU,
                         OP_AFFINE | OP_RES_IN_Y,
                         OP_AFFINE | OP_RES_IN_Y | OP_RELU};
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
        op_check_conv_affine(a, cs, steps[i], seed + i);
}

void op_expect_conv_affine_argument_errors(op_conv_affine_fn fn)
{
    sn_context *ctx = op_test_context();
    const sn_conv2d_desc d = {3, 1, 1};
    const int sx[4] = {1, 2, 4, 4}, sw[4] = {3, 2, 3, 3}, sy[4] = {1, 3, 4, 4}, s3[1] = {3},
              s4[1] = {4}, sr[4] = {1, 3, 4, 3};
    sn_tensor tx, tw, ty, ts, tt, t4, tr;
    op_tensor_poisoned(ctx, &tx, 4, sx);
    op_tensor_poisoned(ctx, &tw, 4, sw);
    op_tensor_poisoned(ctx, &ty, 4, sy);
    op_tensor_poisoned(ctx, &ts, 1, s3);
    op_tensor_poisoned(ctx, &tt, 1, s3);
    op_tensor_poisoned(ctx, &t4, 1, s4);
    op_tensor_poisoned(ctx, &tr, 4, sr);
    cr_expect_eq(fn(ctx, &d, &tx, &tw, &ts, NULL, NULL, 0, &ty), SN_ERR_INVALID_ARG);
    cr_expect_eq(fn(ctx, &d, &tx, &tw, NULL, &tt, NULL, 0, &ty), SN_ERR_INVALID_ARG);
    cr_expect_eq(fn(ctx, &d, &tx, &tw, &ts, &t4, NULL, 0, &ty), SN_ERR_SHAPE);
    cr_expect_eq(fn(ctx, &d, &tx, &tw, &t4, &ts, NULL, 0, &ty), SN_ERR_SHAPE);
    cr_expect_eq(fn(ctx, &d, &tx, &tw, &ts, &tt, &tr, 1, &ty), SN_ERR_SHAPE);
    op_expect_poisoned("y", &ty);
    sn_tensor *all[] = {&tx, &tw, &ty, &ts, &tt, &t4, &tr};
    op_release_all(all, sizeof all / sizeof *all);
    sn_context_free(ctx);
}
