/* Device tests of the fused ops against the double reference (tests/ref,
 * ref_fused.c):
 *  - batch norm + residual add + ReLU (sn_bn_desc ops SN_BN_ADD_RELU),
 *    training and eval forward, and both backwards, whose one pass feeds
 *    the BN backward and the shortcut's gradient;
 *  - the eval-mode fold of batch norm into a per-channel scale and shift
 *    (sn_batchnorm_fold) and the conv that applies it with a residual add
 *    and a ReLU in its store (sn_conv2d_forward_affine), under every conv
 *    algorithm, checking from a kernel profile that the direct and Winograd
 *    forwards take the epilogue in their store (no separate pass).
 * Random data over awkward shapes (batch 1, odd sizes, 1x1 spatial, C = 3,
 * 5, 17), in both BN kernel families, outputs poisoned with NaN first. Every
 * gradient output is checked with accumulate = 0 into NaN, then two calls
 * with accumulate = 1 (three times the gradient). */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op_test.h"
#include "ops/batchnorm_internal.h"
#include "ops/conv_algo.h"
#include "ops/conv_tune.h"

#define SHAPE(...) ((const int[]){__VA_ARGS__})

static const double RTOL = 1e-4;

#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f

static const sn_bn_path BN_PATHS[] = {SN_BN_PATH_GROUP, SN_BN_PATH_PLANE};
#define BN_N_PATHS (sizeof BN_PATHS / sizeof *BN_PATHS)

/* ---------------------------------------------------------------- helpers */

/* Rounded to float, as the device holds it. */
static void round_to_float(double *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        a[i] = (float)a[i];
}

static void expect_error(sn_status st, sn_status want, const char *op)
{
    cr_expect_eq(st, want, "%s: got %s (%s), expected %s", op, sn_status_name(st),
                 sn_last_error(), sn_status_name(want));
    cr_expect(strstr(sn_last_error(), op) != NULL, "message '%s' does not name %s",
              sn_last_error(), op);
}

/* The output poisoned with NaN anew, then op_expect_gradient: the caller
 * checks several outputs of one call in turn, so out holds the previous
 * check's result. */
static void expect_gradient(const char *what, op_grad_call call, void *args, sn_tensor *out,
                            const double *want, double atol)
{
    op_expect_ok(sn_tensor_fill(out, NAN), what);
    op_expect_gradient(what, call, args, out, want, RTOL, atol);
}

/* Upload values into an allocated tensor (restoring an input). */
static void reupload(sn_tensor *t, const double *values)
{
    float *f = malloc(t->count * sizeof *f);
    cr_assert_not_null(f);
    for (size_t i = 0; i < t->count; i++)
        f[i] = (float)values[i];
    op_expect_ok(sn_tensor_upload(t, f, t->count), "upload");
    free(f);
}

static const char *path_name(size_t p) { return BN_PATHS[p] == SN_BN_PATH_GROUP ? "group" : "plane"; }

/* ------------------------------------------- batch norm + add + ReLU forward */

/* Training (eval = 0) or eval forward of y = relu(bn(x) + shortcut) against
 * the reference, into a NaN-poisoned y, then in place on the shortcut and
 * on x. */
static void bn_add_forward_case(sn_context *ctx, int N, int C, int H, int W, int eval,
                                size_t local, unsigned long long seed)
{
    ref_rng rng;
    ref_rng_seed(&rng, seed);
    const size_t n = (size_t)N * C * H * W;
    double *x = op_random(&rng, n, -1.0, 3.0), *sc = op_random(&rng, n, -1.0, 1.0);
    double *gamma = op_random(&rng, (size_t)C, 0.5, 1.5);
    double *beta = op_random(&rng, (size_t)C, -0.5, 0.5);
    double *rmean = op_random(&rng, (size_t)C, -0.5, 1.5);
    double *rvar = op_random(&rng, (size_t)C, 0.2, 2.0);
    double *want = op_doubles(n), *want_mean = op_doubles(C), *want_invstd = op_doubles(C);
    double *want_rm = op_scaled(rmean, C, 1.0), *want_rv = op_scaled(rvar, C, 1.0);
    if (eval)
        ref_bn_add_relu_forward_eval(x, sc, N, C, H, W, gamma, beta, (double)BN_EPS, rmean,
                                     rvar, want);
    else
        ref_bn_add_relu_forward_train(x, sc, N, C, H, W, gamma, beta, (double)BN_EPS,
                                      (double)BN_MOMENTUM, want_rm, want_rv, want, want_mean,
                                      want_invstd);

    const int *s4 = SHAPE(N, C, H, W), *s1 = SHAPE(C);
    sn_tensor tx, tsc, tg, tb, trm, trv, ty, tsm, tsi;
    op_tensor_from(ctx, &tx, 4, s4, x);
    op_tensor_from(ctx, &tsc, 4, s4, sc);
    op_tensor_from(ctx, &tg, 1, s1, gamma);
    op_tensor_from(ctx, &tb, 1, s1, beta);
    op_tensor_from(ctx, &trm, 1, s1, rmean);
    op_tensor_from(ctx, &trv, 1, s1, rvar);
    op_tensor_poisoned(ctx, &ty, 4, s4);
    op_tensor_poisoned(ctx, &tsm, 1, s1);
    op_tensor_poisoned(ctx, &tsi, 1, s1);
    cr_log_info("bn+add+relu %s forward [%d,%d,%d,%d] local %zu", eval ? "eval" : "train", N, C,
                H, W, local);
    /* out: y, then the shortcut, then x (in place) */
    sn_tensor *outs[3] = {&ty, &tsc, &tx};
    ctx->test.bn_local = local;
    sn_bn_desc d = {.ops = SN_BN_ADD_RELU, .mode = eval ? SN_BN_EVAL : SN_BN_TRAIN,
                    .momentum = BN_MOMENTUM, .eps = BN_EPS, .x = &tx, .shortcut = &tsc,
                    .gamma = &tg, .beta = &tb, .running_mean = &trm, .running_var = &trv,
                    .save_mean = &tsm, .save_invstd = &tsi};
    for (int k = 0; k < 3; k++) {
        d.y = outs[k];
        if (eval) {
            op_expect_ok(sn_batchnorm_forward(ctx, &d), "batchnorm_forward eval add_relu");
        } else {
            /* each run updates the running statistics once from the start */
            reupload(&trm, rmean);
            reupload(&trv, rvar);
            op_expect_ok(sn_batchnorm_forward(ctx, &d), "batchnorm_forward train add_relu");
            op_expect_close("bn+add+relu save_mean", &tsm, want_mean, RTOL, 1e-5);
            op_expect_close("bn+add+relu save_invstd", &tsi, want_invstd, RTOL, 0);
            op_expect_close("bn+add+relu running_mean", &trm, want_rm, RTOL, 1e-6);
            op_expect_close("bn+add+relu running_var", &trv, want_rv, RTOL, 1e-6);
        }
        const char *what[3] = {"bn+add+relu y", "bn+add+relu y in place on shortcut",
                               "bn+add+relu y in place on x"};
        op_expect_close(what[k], outs[k], want, RTOL, 1e-5);
        if (k == 1) /* restore the shortcut for the next run */
            reupload(&tsc, sc);
    }

    sn_tensor *all[] = {&tx, &tsc, &tg, &tb, &trm, &trv, &ty, &tsm, &tsi};
    op_release_all(all, sizeof all / sizeof *all);
    free(x), free(sc), free(gamma), free(beta), free(rmean), free(rvar);
    free(want), free(want_mean), free(want_invstd), free(want_rm), free(want_rv);
}

Test(bn_add_relu, forward_awkward_shapes)
{
    sn_context *ctx = op_test_context();
    for (size_t p = 0; p < BN_N_PATHS; p++) {
        ctx->test.bn_path = BN_PATHS[p];
        cr_log_info("bn kernels: %s", path_name(p));
        for (int eval = 0; eval < 2; eval++) {
            bn_add_forward_case(ctx, 1, 3, 5, 5, eval, 0, 100 + eval);
            bn_add_forward_case(ctx, 3, 5, 7, 7, eval, 0, 102 + eval);
            bn_add_forward_case(ctx, 3, 17, 1, 1, eval, 0, 104 + eval);
            bn_add_forward_case(ctx, 1, 5, 9, 9, eval, 0, 106 + eval);
            if (!op_test_small())
                bn_add_forward_case(ctx, 2, 3, 33, 31, eval, 0, 108 + eval);
        }
        bn_add_forward_case(ctx, 3, 5, 7, 7, 0, 3, 110);
        if (!op_test_small())
            bn_add_forward_case(ctx, 8, 3, 64, 64, 0, 0, 111); /* several groups per channel */
    }
    sn_context_free(ctx);
}

/* ------------------------------------------ batch norm + add + ReLU backward */

static void bn_add_backward_case(sn_context *ctx, int N, int C, int H, int W, int eval,
                                 size_t local, unsigned long long seed)
{
    ref_rng rng;
    ref_rng_seed(&rng, seed);
    const size_t n = (size_t)N * C * H * W;
    double *x = op_random(&rng, n, -1.0, 2.0), *sc = op_random(&rng, n, -1.0, 1.0);
    double *dy = op_random(&rng, n, -1.0, 1.0);
    double *gamma = op_random(&rng, (size_t)C, 0.5, 1.5);
    double *beta = op_random(&rng, (size_t)C, -0.5, 0.5);
    double *rmean = op_random(&rng, (size_t)C, -0.5, 0.5);
    double *rvar = op_random(&rng, (size_t)C, 0.2, 2.0);
    double *y = op_doubles(n), *mean = op_doubles(C), *invstd = op_doubles(C);
    double *rm2 = op_scaled(rmean, C, 1.0), *rv2 = op_scaled(rvar, C, 1.0);
    if (eval)
        ref_bn_add_relu_forward_eval(x, sc, N, C, H, W, gamma, beta, (double)BN_EPS, rmean,
                                     rvar, y);
    else
        ref_bn_add_relu_forward_train(x, sc, N, C, H, W, gamma, beta, (double)BN_EPS,
                                      (double)BN_MOMENTUM, rm2, rv2, y, mean, invstd);
    /* both sides mask the same elements and see the same statistics */
    round_to_float(y, n);
    round_to_float(mean, C);
    round_to_float(invstd, C);
    double *want_dx = op_doubles(n), *want_dsc = op_doubles(n), *want_dg = op_doubles(C);
    double *want_db = op_doubles(C);
    if (eval)
        ref_bn_add_relu_backward_eval(dy, y, x, N, C, H, W, gamma, (double)BN_EPS, rmean, rvar,
                                      want_dx, 0, want_dsc, 0, want_dg, want_db, 0);
    else
        ref_bn_add_relu_backward(dy, y, x, N, C, H, W, gamma, mean, invstd, want_dx, want_dsc, 0,
                                 want_dg, want_db, 0);

    const int *s4 = SHAPE(N, C, H, W), *s1 = SHAPE(C);
    sn_tensor tx, tdy, ty, tg, ts1, ts2, tdx, tdsc, tdg, tdb;
    op_tensor_from(ctx, &tx, 4, s4, x);
    op_tensor_from(ctx, &tdy, 4, s4, dy);
    op_tensor_from(ctx, &ty, 4, s4, y);
    op_tensor_from(ctx, &tg, 1, s1, gamma);
    op_tensor_from(ctx, &ts1, 1, s1, eval ? rmean : mean);
    op_tensor_from(ctx, &ts2, 1, s1, eval ? rvar : invstd);
    op_tensor_poisoned(ctx, &tdx, 4, s4);
    op_tensor_poisoned(ctx, &tdsc, 4, s4);
    op_tensor_poisoned(ctx, &tdg, 1, s1);
    op_tensor_poisoned(ctx, &tdb, 1, s1);
    cr_log_info("bn+add+relu %s backward [%d,%d,%d,%d] local %zu", eval ? "eval" : "train", N, C,
                H, W, local);

    /* ts1, ts2: running mean and var (eval) or save mean and invstd */
    ctx->test.bn_local = local;
    /* the outputs not under test are overwritten (the training backward's
     * dx has no flag in the reference, so it only accumulates under test) */
    op_bn_grad_args args = {ctx,
                            {.ops = SN_BN_ADD_RELU, .mode = eval ? SN_BN_EVAL : SN_BN_TRAIN,
                             .eps = BN_EPS, .x = &tx, .y = &ty, .gamma = &tg,
                             .running_mean = &ts1, .running_var = &ts2, .save_mean = &ts1,
                             .save_invstd = &ts2, .dy = &tdy, .dx = &tdx, .dgamma = &tdg,
                             .dbeta = &tdb, .dshortcut = &tdsc},
                            OP_BN_DX};
    /* indexed by OP_BN_DX, OP_BN_PARAMS, OP_BN_SHORTCUT */
    sn_tensor *under_test[3] = {&tdx, &tdg, &tdsc};
    const double *wants[3] = {want_dx, want_dg, want_dsc};
    const char *names[3] = {"dx", "dgamma", "dshortcut"};
    for (int which = 0; which < 3; which++) {
        args.which = which;
        char what[96];
        snprintf(what, sizeof what, "bn+add+relu %s", names[which]);
        expect_gradient(what, op_bn_grad_call, &args, under_test[which], wants[which], 1e-5);
        /* the outputs not under test: one plain result each */
        for (int other = 0; other < 3; other++)
            if (other != which) {
                snprintf(what, sizeof what, "bn+add+relu %s (%s accumulating)", names[other],
                         names[which]);
                op_expect_close(what, under_test[other], wants[other], RTOL, 1e-5);
            }
        double *want_b = op_scaled(want_db, C, which == OP_BN_PARAMS ? 3.0 : 1.0);
        op_expect_close("bn+add+relu dbeta", &tdb, want_b, RTOL, 3e-5);
        free(want_b);
    }

    /* No shortcut gradient wanted: dx and the parameters unchanged. */
    sn_tensor_fill(&tdx, NAN);
    args.d.dshortcut = NULL;
    args.which = OP_BN_DX;
    op_expect_ok(op_bn_grad_call(&args, 0), "bn+add+relu backward without dshortcut");
    op_expect_close("bn+add+relu dx without dshortcut", &tdx, want_dx, RTOL, 1e-5);
    op_expect_close("bn+add+relu dgamma without dshortcut", &tdg, want_dg, RTOL, 1e-5);

    /* In place: the shortcut's gradient in dy's buffer, then (eval) dx. */
    args.d.dshortcut = &tdy;
    op_expect_ok(op_bn_grad_call(&args, 0), "bn+add+relu backward, dshortcut = dy");
    op_expect_close("bn+add+relu dshortcut in place", &tdy, want_dsc, RTOL, 1e-5);
    op_expect_close("bn+add+relu dx (dshortcut in place)", &tdx, want_dx, RTOL, 1e-5);
    reupload(&tdy, dy);
    args.d.dshortcut = &tdsc;
    args.d.dx = &tdy;
    op_expect_ok(op_bn_grad_call(&args, 0), "bn+add+relu backward, dx = dy");
    op_expect_close("bn+add+relu dx in place", &tdy, want_dx, RTOL, 1e-5);
    op_expect_close("bn+add+relu dshortcut (dx in place)", &tdsc, want_dsc, RTOL, 1e-5);

    sn_tensor *all[] = {&tx, &tdy, &ty, &tg, &ts1, &ts2, &tdx, &tdsc, &tdg, &tdb};
    op_release_all(all, sizeof all / sizeof *all);
    free(x), free(sc), free(dy), free(gamma), free(beta), free(rmean), free(rvar), free(y);
    free(mean), free(invstd), free(rm2), free(rv2), free(want_dx), free(want_dsc);
    free(want_dg), free(want_db);
}

Test(bn_add_relu, backward_awkward_shapes)
{
    sn_context *ctx = op_test_context();
    for (size_t p = 0; p < BN_N_PATHS; p++) {
        ctx->test.bn_path = BN_PATHS[p];
        cr_log_info("bn kernels: %s", path_name(p));
        for (int eval = 0; eval < 2; eval++) {
            bn_add_backward_case(ctx, 1, 3, 5, 5, eval, 0, 120 + eval);
            bn_add_backward_case(ctx, 3, 5, 7, 7, eval, 0, 122 + eval);
            bn_add_backward_case(ctx, 3, 17, 1, 1, eval, 0, 124 + eval);
            bn_add_backward_case(ctx, 1, 5, 9, 9, eval, 0, 126 + eval);
            if (!op_test_small())
                bn_add_backward_case(ctx, 2, 3, 33, 31, eval, 7, 128 + eval);
        }
        if (!op_test_small())
            bn_add_backward_case(ctx, 8, 3, 64, 64, 0, 0, 130);
    }
    sn_context_free(ctx);
}

Test(bn_add_relu, errors_name_the_op)
{
    sn_context *ctx = op_test_context();
    sn_tensor x, x2, bad, c3;
    op_tensor_poisoned(ctx, &x, 4, SHAPE(3, 3, 7, 7));
    op_tensor_poisoned(ctx, &x2, 4, SHAPE(3, 3, 7, 7));
    op_tensor_poisoned(ctx, &bad, 4, SHAPE(3, 3, 7, 6));
    op_tensor_poisoned(ctx, &c3, 1, SHAPE(3));
    sn_bn_desc ok = {.ops = SN_BN_ADD_RELU, .mode = SN_BN_TRAIN, .momentum = 0.1f,
                     .eps = 1e-5f, .x = &x, .shortcut = &x2, .y = &x2, .gamma = &c3,
                     .beta = &c3, .running_mean = &c3, .running_var = &c3, .save_mean = &c3,
                     .save_invstd = &c3, .dy = &x, .dx = &x2, .dgamma = &c3, .dbeta = &c3};
    for (int eval = 0; eval < 2; eval++) {
        ok.mode = eval ? SN_BN_EVAL : SN_BN_TRAIN;
        sn_bn_desc d = ok;
        d.shortcut = &bad;
        expect_error(sn_batchnorm_forward(ctx, &d), SN_ERR_SHAPE, "batchnorm_forward");
        d.shortcut = NULL;
        expect_error(sn_batchnorm_forward(ctx, &d), SN_ERR_INVALID_ARG, "batchnorm_forward");
        d = ok;
        d.dshortcut = &bad;
        expect_error(sn_batchnorm_backward(ctx, &d), SN_ERR_SHAPE, "batchnorm_backward");
        /* one buffer cannot receive two gradients */
        d.dshortcut = &x2;
        expect_error(sn_batchnorm_backward(ctx, &d), SN_ERR_INVALID_ARG, "batchnorm_backward");
        /* the shortcut's tensors belong to the add */
        d = ok;
        d.ops = SN_BN_RELU;
        expect_error(sn_batchnorm_forward(ctx, &d), SN_ERR_INVALID_ARG, "batchnorm_forward");
        d.shortcut = NULL;
        d.dshortcut = &x2;
        expect_error(sn_batchnorm_backward(ctx, &d), SN_ERR_INVALID_ARG, "batchnorm_backward");
    }
    sn_tensor *all[] = {&x, &x2, &bad, &c3};
    op_release_all(all, 4);
    sn_context_free(ctx);
}

/* ------------------------------------------------------- fold and conv affine */

Test(conv_affine, bn_fold)
{
    sn_context *ctx = op_test_context();
    const int Cs[] = {1, 3, 17};
    ref_rng rng;
    ref_rng_seed(&rng, 140);
    for (size_t i = 0; i < sizeof Cs / sizeof *Cs; i++) {
        const int C = Cs[i];
        double *g = op_random(&rng, C, 0.5, 1.5), *b = op_random(&rng, C, -0.5, 0.5);
        double *rm = op_random(&rng, C, -2.0, 2.0), *rv = op_random(&rng, C, 0.01, 3.0);
        double *scale = op_doubles(C), *shift = op_doubles(C);
        ref_bn_fold(g, b, rm, rv, C, (double)BN_EPS, scale, shift);
        sn_tensor tg, tb, trm, trv, tsc, tsh;
        op_tensor_from(ctx, &tg, 1, SHAPE(C), g);
        op_tensor_from(ctx, &tb, 1, SHAPE(C), b);
        op_tensor_from(ctx, &trm, 1, SHAPE(C), rm);
        op_tensor_from(ctx, &trv, 1, SHAPE(C), rv);
        op_tensor_poisoned(ctx, &tsc, 1, SHAPE(C));
        op_tensor_poisoned(ctx, &tsh, 1, SHAPE(C));
        op_expect_ok(sn_batchnorm_fold(ctx, &tg, &tb, &trm, &trv, BN_EPS, &tsc, &tsh),
                  "batchnorm_fold");
        op_expect_close("fold scale", &tsc, scale, 1e-6, 0);
        op_expect_close("fold shift", &tsh, shift, 1e-6, 1e-6);
        sn_tensor *all[] = {&tg, &tb, &trm, &trv, &tsc, &tsh};
        op_release_all(all, 6);
        free(g), free(b), free(rm), free(rv), free(scale), free(shift);
    }
    sn_tensor c3, c4;
    op_tensor_poisoned(ctx, &c3, 1, SHAPE(3));
    op_tensor_poisoned(ctx, &c4, 1, SHAPE(4));
    expect_error(sn_batchnorm_fold(ctx, &c3, &c3, &c3, &c3, BN_EPS, &c3, &c4), SN_ERR_SHAPE,
                 "batchnorm_fold");
    sn_tensor_release(&c3), sn_tensor_release(&c4);
    sn_context_free(ctx);
}

typedef struct conv_case {
    int N, C, H, W, OC, K, stride, pad;
} conv_case;

/* A context like op_test_context's that records kernel profiles: which
 * kernels a call launched shows which path it took. */
static sn_context *profiling_context(void)
{
    sn_context_options o;
    sn_context_options_default(&o);
    const char *dev = getenv("SN_TEST_DEVICE");
    o.device = dev && *dev ? dev : "cpu";
    o.profiling = 1;
    sn_context *ctx = NULL;
    cr_assert_eq(sn_context_create(&o, &ctx), SN_OK, "context: %s", sn_last_error());
    return ctx;
}

/* Launches of kernel `name` in a recording (0 when absent). */
static long launches_of(const sn_kernel_time *t, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].name, name))
            return t[i].launches;
    return 0;
}

/* Every combination of (affine, residual, relu) against the reference with
 * the conv algorithm `algo` forced (-1: the tuner's choice). ctx records
 * profiles: the epilogue must run in the store of the direct and Winograd
 * forwards (no sn_channel_affine pass), and after GEMM as one pass. */
static void conv_affine_case(sn_context *ctx, const conv_case *c, int algo,
                             unsigned long long seed)
{
    ref_rng rng;
    ref_rng_seed(&rng, seed);
    const int OH = ref_out_size(c->H, c->K, c->stride, c->pad);
    const int OW = ref_out_size(c->W, c->K, c->stride, c->pad);
    const size_t nx = (size_t)c->N * c->C * c->H * c->W;
    const size_t nw = (size_t)c->OC * c->C * c->K * c->K;
    const size_t ny = (size_t)c->N * c->OC * OH * OW;
    double *x = op_random(&rng, nx, -1.0, 1.0), *w = op_random(&rng, nw, -0.5, 0.5);
    double *res = op_random(&rng, ny, -1.0, 1.0);
    double *g = op_random(&rng, c->OC, 0.5, 1.5), *b = op_random(&rng, c->OC, -0.5, 0.5);
    double *rm = op_random(&rng, c->OC, -0.5, 0.5), *rv = op_random(&rng, c->OC, 0.2, 2.0);
    double *scale = op_doubles(c->OC), *shift = op_doubles(c->OC), *want = op_doubles(ny);
    ref_bn_fold(g, b, rm, rv, c->OC, (double)BN_EPS, scale, shift);
    /* the device folds in float: the reference takes the float scale and shift */
    round_to_float(scale, c->OC);
    round_to_float(shift, c->OC);

    const int *sy = SHAPE(c->N, c->OC, OH, OW);
    sn_tensor tx, tw, tres, tsc, tsh, ty;
    op_tensor_from(ctx, &tx, 4, SHAPE(c->N, c->C, c->H, c->W), x);
    op_tensor_from(ctx, &tw, 4, SHAPE(c->OC, c->C, c->K, c->K), w);
    op_tensor_from(ctx, &tres, 4, sy, res);
    op_tensor_from(ctx, &tsc, 1, SHAPE(c->OC), scale);
    op_tensor_from(ctx, &tsh, 1, SHAPE(c->OC), shift);
    op_tensor_poisoned(ctx, &ty, 4, sy);
    const int previous = algo >= 0 ? sn_conv_force_algo(ctx, algo) : -1;
    const sn_conv2d_desc d = {c->K, c->stride, c->pad};
    const sn_conv_algo chosen = sn_conv_choose(ctx, SN_CONV_FORWARD, c->N, c->C, c->H, c->W,
                                               c->OC, c->K, c->stride, c->pad);
    if (algo == SN_CONV_ALGO_WINOGRAD &&
        sn_conv_winograd_supported(ctx, SN_CONV_FORWARD, c->N, c->C, c->H, c->W, c->OC, c->K,
                                   c->stride, c->pad))
        cr_assert_eq(chosen, SN_CONV_ALGO_WINOGRAD, "winograd forced on a shape it takes");
    for (int mode = 0; mode < 8; mode++) {
        const int affine = mode & 1, add = (mode >> 1) & 1, relu = (mode >> 2) & 1;
        ref_conv2d_forward_affine(x, c->N, c->C, c->H, c->W, w, c->OC, c->K, c->stride, c->pad,
                                  affine ? scale : NULL, affine ? shift : NULL,
                                  add ? res : NULL, relu, want);
        sn_tensor_fill(&ty, NAN);
        char what[192];
        snprintf(what, sizeof what,
                 "conv affine [%d,%d,%d,%d] w [%d,%d,%d,%d]/%d pad %d algo %d: affine %d "
                 "residual %d relu %d",
                 c->N, c->C, c->H, c->W, c->OC, c->C, c->K, c->K, c->stride, c->pad, algo, affine,
                 add, relu);
        op_expect_ok(sn_profile_start(ctx), "profile_start");
        op_expect_ok(sn_conv2d_forward_affine(ctx, &d, &tx, &tw, affine ? &tsc : NULL,
                                           affine ? &tsh : NULL, add ? &tres : NULL, relu, &ty),
                  what);
        sn_kernel_time *t = NULL;
        int nt = 0;
        op_expect_ok(sn_profile_stop(ctx, &t, &nt), "profile_stop");
        const long passes = launches_of(t, nt, "sn_channel_affine");
        const int im2col = chosen == SN_CONV_ALGO_GEMM || chosen == SN_CONV_ALGO_CLBLAST;
        cr_expect_eq(passes, im2col && mode ? 1 : 0,
                     "%s: %ld sn_channel_affine passes after %s", what, passes,
                     sn_conv_algo_name(chosen));
        if (chosen == SN_CONV_ALGO_WINOGRAD)
            cr_expect(launches_of(t, nt, "sn_wino_output") > 0, "%s: no sn_wino_output", what);
        free(t);
        op_expect_close(what, &ty, want, RTOL, 1e-5);
    }
    if (algo >= 0)
        sn_conv_force_algo(ctx, previous);
    sn_tensor *all[] = {&tx, &tw, &tres, &tsc, &tsh, &ty};
    op_release_all(all, 6);
    free(x), free(w), free(res), free(g), free(b), free(rm), free(rv), free(scale), free(shift);
    free(want);
}

Test(conv_affine, every_algorithm_matches_reference, .timeout = 300)
{
    sn_context *ctx = profiling_context();
    const conv_case cases[] = {
        {1, 3, 5, 5, 5, 3, 1, 1},    /* batch 1, C = 3 */
        {3, 5, 7, 7, 17, 3, 2, 1},   /* stride 2 on odd input, OC = 17 */
        {2, 17, 9, 7, 3, 1, 1, 0},   /* 1x1 */
        {3, 16, 8, 8, 16, 3, 1, 1},  /* a CIFAR stage */
        {2, 8, 9, 9, 16, 1, 2, 0},   /* projection shortcut */
        {1, 3, 1, 1, 5, 1, 1, 0},    /* 1x1 spatial */
        {2, 3, 11, 11, 8, 7, 2, 3},  /* ImageNet stem */
        /* 3x3 stride 1: Winograd's epilogue on edge tiles */
        {1, 5, 7, 9, 17, 3, 1, 1},   /* batch 1, odd 7x9, OC = 17 */
        {2, 17, 9, 7, 3, 3, 1, 0},   /* pad 0, C = 17 */
        {2, 3, 7, 9, 5, 3, 1, 2},    /* pad 2 */
        {3, 5, 1, 1, 17, 3, 1, 1},   /* 1x1 images */
        {1, 3, 1, 1, 5, 3, 1, 2},    /* 1x1 image, pad 2 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (int algo = -1; algo < SN_CONV_ALGO_COUNT; algo++)
            conv_affine_case(ctx, &cases[i], algo, 150 + i);
    sn_context_free(ctx);
}

Test(conv_affine, errors_name_the_op)
{
    static const char op[] = "conv2d_forward_affine";
    sn_context *ctx = op_test_context();
    sn_tensor x, w, y, y2, c4, c5, res_bad;
    op_tensor_poisoned(ctx, &x, 4, SHAPE(2, 3, 5, 5));
    op_tensor_poisoned(ctx, &w, 4, SHAPE(4, 3, 3, 3));
    op_tensor_poisoned(ctx, &y, 4, SHAPE(2, 4, 5, 5));
    op_tensor_poisoned(ctx, &y2, 4, SHAPE(2, 4, 5, 5));
    op_tensor_poisoned(ctx, &c4, 1, SHAPE(4));
    op_tensor_poisoned(ctx, &c5, 1, SHAPE(5));
    op_tensor_poisoned(ctx, &res_bad, 4, SHAPE(2, 4, 5, 4));
    const sn_conv2d_desc d = {3, 1, 1}, d_bad = {5, 1, 1};
    expect_error(sn_conv2d_forward_affine(ctx, &d, &x, &w, &c5, &c4, NULL, 0, &y), SN_ERR_SHAPE,
                 op);
    expect_error(sn_conv2d_forward_affine(ctx, &d, &x, &w, &c4, NULL, NULL, 0, &y),
                 SN_ERR_INVALID_ARG, op);
    expect_error(sn_conv2d_forward_affine(ctx, &d, &x, &w, &c4, &c4, &res_bad, 1, &y),
                 SN_ERR_SHAPE, op);
    expect_error(sn_conv2d_forward_affine(ctx, &d_bad, &x, &w, &c4, &c4, NULL, 1, &y),
                 SN_ERR_SHAPE, op);
    expect_error(sn_conv2d_forward_affine(ctx, &d, &x, &w, &c4, &c4, &y, 1, &y),
                 SN_ERR_INVALID_ARG, op);
    expect_error(sn_conv2d_forward_affine(ctx, &d, &x, &w, &c4, &c4, &y2, 1, &res_bad),
                 SN_ERR_SHAPE, op);
    sn_tensor *all[] = {&x, &w, &y, &y2, &c4, &c5, &res_bad};
    op_release_all(all, 7);
    sn_context_free(ctx);
}
