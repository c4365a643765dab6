/* Device tests of batch norm, ReLU, add, option-A shortcut, pooling and
 * softmax cross-entropy against the double reference (tests/ref).
 *
 * Random non-zero data over awkward shapes (batch 1 and 3, 1x1 spatial, odd
 * sizes, channel counts that are not multiples of 4, stride 2 on odd inputs),
 * outputs poisoned with NaN first. Every gradient output is checked three
 * ways: accumulate = 0 into NaN, then two calls with accumulate = 1 (three
 * times the gradient). Shape errors must be SN_ERR_SHAPE naming the op. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op_test.h"
#include "ops/batchnorm_internal.h"

#define SHAPE(...) ((const int[]){__VA_ARGS__})

static const double RTOL = 1e-4;
static const double ATOL = 1e-6;

/* ---------------------------------------------------------------- helpers */

static double *copy_of(const double *a, size_t n)
{
    return op_scaled(a, n, 1.0);
}

/* Status SN_ERR_SHAPE and a message that names the op. */
static void expect_shape_error(sn_status st, const char *op)
{
    cr_expect_eq(st, SN_ERR_SHAPE, "%s: got %s (%s), expected SN_ERR_SHAPE", op,
                 sn_status_name(st), sn_last_error());
    cr_expect(strstr(sn_last_error(), op) != NULL, "message '%s' does not name %s",
              sn_last_error(), op);
}

/* The tensor fields of a batch-norm descriptor. bn_wrong_field returns `ok`
 * with field `field` replaced by a tensor of the wrong shape (bad4 for
 * [N,C,H,W], bad1 for [C]), and says which passes read it, so must fail. */
#define BN_FIELDS 11
static sn_bn_desc bn_wrong_field(const sn_bn_desc *ok, int field, sn_tensor *bad4,
                                 sn_tensor *bad1, int *fwd, int *bwd)
{
    sn_bn_desc d = *ok;
    const int train = ok->mode == SN_BN_TRAIN, relu = ok->ops != SN_BN_PLAIN;
    *fwd = *bwd = 0;
    switch (field) {
    case 0: d.y = bad4, *fwd = 1, *bwd = relu; break; /* the mask of a fused ReLU */
    case 1: d.gamma = bad1, *fwd = *bwd = 1; break;
    case 2: d.beta = bad1, *fwd = 1; break;
    case 3: d.running_mean = bad1, *fwd = 1, *bwd = !train; break;
    case 4: d.running_var = bad1, *fwd = 1, *bwd = !train; break;
    case 5: d.save_mean = bad1, *fwd = *bwd = train; break;
    case 6: d.save_invstd = bad1, *fwd = *bwd = train; break;
    case 7: d.dy = bad4, *bwd = 1; break;
    case 8: d.dx = bad4, *bwd = 1; break;
    case 9: d.dgamma = bad1, *bwd = 1; break;
    default: d.dbeta = bad1, *bwd = 1; break;
    }
    return d;
}

/* SN_ERR_SHAPE naming one pass of batch norm (forward 1, backward 0). */
static void expect_bn_shape_error(sn_context *ctx, int forward, const sn_bn_desc *d)
{
    expect_shape_error(forward ? sn_batchnorm_forward(ctx, d) : sn_batchnorm_backward(ctx, d),
                       forward ? "batchnorm_forward" : "batchnorm_backward");
}

/* ------------------------------------------------------------- batch norm */

#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f

/* A descriptor's forward fields (the ones a pass does not read may stay
 * NULL): `ops` in `mode`, on the context's test work-group size. */
static sn_bn_desc bn_desc(sn_bn_ops ops, sn_bn_mode mode, sn_tensor *x, sn_tensor *gamma,
                          sn_tensor *beta, sn_tensor *running_mean, sn_tensor *running_var,
                          sn_tensor *y, sn_tensor *save_mean, sn_tensor *save_invstd)
{
    return (sn_bn_desc){.ops = ops, .mode = mode, .momentum = BN_MOMENTUM, .eps = BN_EPS,
                        .x = x, .y = y, .gamma = gamma, .beta = beta,
                        .running_mean = running_mean, .running_var = running_var,
                        .save_mean = save_mean, .save_invstd = save_invstd};
}

/* Training forward of x [N,C,H,W] (values around `offset`) with reduction
 * work-group size `local` (0: default): y, saved and running statistics. */
static void bn_train_case(sn_context *ctx, int N, int C, int H, int W, double offset,
                          size_t local, unsigned long long seed)
{
    ref_rng rng;
    ref_rng_seed(&rng, seed);
    const size_t n = (size_t)N * C * H * W;
    double *x = op_random(&rng, n, offset - 2.0, offset + 3.0);
    double *gamma = op_random(&rng, (size_t)C, 0.5, 1.5);
    double *beta = op_random(&rng, (size_t)C, -0.5, 0.5);
    double *rmean = op_random(&rng, (size_t)C, -0.5, 0.5);
    double *rvar = op_random(&rng, (size_t)C, 0.5, 1.5);

    double *want_y = op_doubles(n), *want_mean = op_doubles(C), *want_invstd = op_doubles(C);
    double *want_rmean = copy_of(rmean, C), *want_rvar = copy_of(rvar, C);
    ref_bn_forward_train(x, N, C, H, W, gamma, beta, (double)BN_EPS, (double)BN_MOMENTUM,
                         want_rmean, want_rvar, want_y, want_mean, want_invstd);

    const int *s4 = SHAPE(N, C, H, W), *s1 = SHAPE(C);
    sn_tensor tx, tg, tb, trm, trv, ty, tsm, tsi;
    op_tensor_from(ctx, &tx, 4, s4, x);
    op_tensor_from(ctx, &tg, 1, s1, gamma);
    op_tensor_from(ctx, &tb, 1, s1, beta);
    op_tensor_from(ctx, &trm, 1, s1, rmean);
    op_tensor_from(ctx, &trv, 1, s1, rvar);
    op_tensor_poisoned(ctx, &ty, 4, s4);
    op_tensor_poisoned(ctx, &tsm, 1, s1);
    op_tensor_poisoned(ctx, &tsi, 1, s1);
    ctx->test.bn_local = local;
    sn_bn_desc d = bn_desc(SN_BN_PLAIN, SN_BN_TRAIN, &tx, &tg, &tb, &trm, &trv, &ty, &tsm, &tsi);
    op_expect_ok(sn_batchnorm_forward(ctx, &d), "batchnorm_forward train");
    char what[160];
    snprintf(what, sizeof what, "bn train [%d,%d,%d,%d] local %zu", N, C, H, W, local);
    cr_log_info("%s", what);
    op_expect_close("bn y", &ty, want_y, RTOL, 1e-5);
    op_expect_close("bn save_mean", &tsm, want_mean, RTOL, 1e-5);
    op_expect_close("bn save_invstd", &tsi, want_invstd, RTOL, 0);
    op_expect_close("bn running_mean", &trm, want_rmean, RTOL, 1e-6);
    op_expect_close("bn running_var", &trv, want_rvar, RTOL, 1e-6);

    sn_tensor *all[] = {&tx, &tg, &tb, &trm, &trv, &ty, &tsm, &tsi};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        sn_tensor_release(all[i]);
    free(x), free(gamma), free(beta), free(rmean), free(rvar);
    free(want_y), free(want_mean), free(want_invstd), free(want_rmean), free(want_rvar);
}

Test(batchnorm, forward_train_awkward_shapes)
{
    sn_context *ctx = op_test_context();
    bn_train_case(ctx, 1, 3, 5, 5, 0.0, 0, 1);
    bn_train_case(ctx, 3, 5, 7, 7, 4.0, 0, 2);
    bn_train_case(ctx, 3, 6, 1, 1, -1.0, 0, 3);
    bn_train_case(ctx, 1, 5, 9, 9, 0.5, 0, 4);
    bn_train_case(ctx, 1, 3, 1, 1, 0.0, 0, 5); /* one value per channel: variance 0 */
    sn_context_free(ctx);
}

Test(batchnorm, forward_train_large_channel)
{
    sn_context *ctx = op_test_context();
    /* 32768 values per channel: several work-groups per channel, and a mean
     * far from zero to expose a cancelling variance formula. */
    bn_train_case(ctx, 8, 3, 64, 64, 10.0, 0, 6);
    sn_context_free(ctx);
}

/* Backward against the reference on the statistics of the forward (rounded
 * to float as the device holds them), with work-group size `local`. */
static void bn_backward_case(sn_context *ctx, int N, int C, int H, int W, size_t local,
                             unsigned long long seed)
{
    ref_rng rng;
    ref_rng_seed(&rng, seed);
    const size_t n = (size_t)N * C * H * W;
    double *x = op_random(&rng, n, -1.0, 2.0);
    double *dy = op_random(&rng, n, -1.0, 1.0);
    double *gamma = op_random(&rng, (size_t)C, 0.5, 1.5);
    double *beta = op_random(&rng, (size_t)C, -0.5, 0.5);
    double *rmean = op_doubles(C), *rvar = op_doubles(C), *y = op_doubles(n);
    double *mean = op_doubles(C), *invstd = op_doubles(C);
    ref_bn_forward_train(x, N, C, H, W, gamma, beta, (double)BN_EPS, (double)BN_MOMENTUM, rmean,
                         rvar, y, mean, invstd);
    for (int c = 0; c < C; c++) {
        mean[c] = (float)mean[c];
        invstd[c] = (float)invstd[c];
    }
    double *want_dx = op_doubles(n), *want_dg = op_doubles(C), *want_db = op_doubles(C);
    ref_bn_backward(dy, x, N, C, H, W, gamma, mean, invstd, want_dx, want_dg, want_db, 0);

    const int *s4 = SHAPE(N, C, H, W), *s1 = SHAPE(C);
    sn_tensor tx, tdy, tg, tm, ti, tdx, tdg, tdb;
    op_tensor_from(ctx, &tx, 4, s4, x);
    op_tensor_from(ctx, &tdy, 4, s4, dy);
    op_tensor_from(ctx, &tg, 1, s1, gamma);
    op_tensor_from(ctx, &tm, 1, s1, mean);
    op_tensor_from(ctx, &ti, 1, s1, invstd);
    op_tensor_poisoned(ctx, &tdx, 4, s4);
    op_tensor_poisoned(ctx, &tdg, 1, s1);
    op_tensor_poisoned(ctx, &tdb, 1, s1);
    cr_log_info("bn backward [%d,%d,%d,%d] local %zu", N, C, H, W, local);

    ctx->test.bn_local = local;
    op_bn_grad_args args = {ctx, bn_desc(SN_BN_PLAIN, SN_BN_TRAIN, &tx, &tg, NULL, NULL, NULL, NULL,
                                      &tm, &ti), OP_BN_DX};
    args.d.dy = &tdy, args.d.dx = &tdx, args.d.dgamma = &tdg, args.d.dbeta = &tdb;
    op_expect_gradient("bn dx", op_bn_grad_call, &args, &tdx, want_dx, RTOL, 1e-5);
    op_expect_close("bn dgamma (dx accumulating)", &tdg, want_dg, RTOL, 1e-5);
    op_expect_close("bn dbeta (dx accumulating)", &tdb, want_db, RTOL, 1e-5);
    args.which = OP_BN_PARAMS;
    sn_tensor_fill(&tdg, NAN);
    sn_tensor_fill(&tdb, NAN);
    op_expect_gradient("bn dgamma", op_bn_grad_call, &args, &tdg, want_dg, RTOL, 1e-5);
    double *three_db = op_scaled(want_db, C, 3.0);
    op_expect_close("bn dbeta", &tdb, three_db, RTOL, 3e-5);
    free(three_db);
    op_expect_close("bn dx (params accumulating)", &tdx, want_dx, RTOL, 1e-5);

    sn_tensor *all[] = {&tx, &tdy, &tg, &tm, &ti, &tdx, &tdg, &tdb};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        sn_tensor_release(all[i]);
    free(x), free(dy), free(gamma), free(beta), free(rmean), free(rvar), free(y);
    free(mean), free(invstd), free(want_dx), free(want_dg), free(want_db);
}

Test(batchnorm, backward_awkward_shapes)
{
    sn_context *ctx = op_test_context();
    bn_backward_case(ctx, 1, 3, 5, 5, 0, 11);
    bn_backward_case(ctx, 3, 5, 7, 7, 0, 12);
    bn_backward_case(ctx, 3, 6, 1, 1, 0, 13);
    bn_backward_case(ctx, 1, 5, 9, 9, 0, 14);
    sn_context_free(ctx);
}

Test(batchnorm, backward_large_channel)
{
    sn_context *ctx = op_test_context();
    bn_backward_case(ctx, 8, 3, 64, 64, 0, 15);
    sn_context_free(ctx);
}

/* Both kernel families (work-group trees for GPUs, per-plane loops for CPUs)
 * run on whatever device the tests use. */
static const sn_bn_path BN_PATHS[] = {SN_BN_PATH_GROUP, SN_BN_PATH_PLANE};
#define BN_N_PATHS (sizeof BN_PATHS / sizeof *BN_PATHS)

static const char *bn_path_name(sn_bn_path path)
{
    return path == SN_BN_PATH_GROUP ? "group" : path == SN_BN_PATH_PLANE ? "plane" : "auto";
}

/* Every work-group size gives the reference result, powers of two or not,
 * smaller or larger than a channel (or than the number of planes), in both
 * kernel families. */
Test(batchnorm, any_work_group_size)
{
    sn_context *ctx = op_test_context();
    const size_t sizes[] = {1, 2, 3, 7, 32, 100, 256, 1000};
    for (size_t p = 0; p < BN_N_PATHS; p++) {
        ctx->test.bn_path = BN_PATHS[p];
        cr_log_info("bn kernels: %s", bn_path_name(BN_PATHS[p]));
        size_t limit = 0;
        cr_assert_eq(sn_batchnorm_local_limit(ctx, &limit), SN_OK, "%s", sn_last_error());
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            if (sizes[i] > limit) /* e.g. 256 for these kernels on NVIDIA */
                continue;
            bn_train_case(ctx, 3, 5, 7, 7, 2.0, sizes[i], 20 + i);
            bn_train_case(ctx, 2, 3, 33, 31, -3.0, sizes[i], 30 + i);
            bn_backward_case(ctx, 3, 5, 7, 7, sizes[i], 40 + i);
            bn_backward_case(ctx, 2, 3, 33, 31, sizes[i], 50 + i);
        }
        bn_train_case(ctx, 8, 3, 64, 64, 10.0, 7, 60);
        bn_backward_case(ctx, 8, 3, 64, 64, 7, 61);
        /* the awkward shapes of the default-size tests in this family too */
        bn_train_case(ctx, 1, 3, 5, 5, 0.0, 0, 62);
        bn_train_case(ctx, 3, 6, 1, 1, -1.0, 0, 63);
        bn_train_case(ctx, 1, 3, 1, 1, 0.0, 0, 64);
        bn_backward_case(ctx, 3, 6, 1, 1, 0, 65);
        bn_backward_case(ctx, 1, 5, 9, 9, 0, 66);
    }
    sn_context_free(ctx);
}

/* The two families agree with each other, and each is deterministic: two
 * runs give the same bits. */
Test(batchnorm, deterministic)
{
    sn_context *ctx = op_test_context();
    const int N = 4, C = 5, H = 13, W = 11;
    const size_t n = (size_t)N * C * H * W;
    ref_rng rng;
    ref_rng_seed(&rng, 67);
    double *x = op_random(&rng, n, 1.0, 4.0), *dy = op_random(&rng, n, -1.0, 1.0);
    double *ones = op_doubles(C), *zeros = op_doubles(C);
    for (int c = 0; c < C; c++)
        ones[c] = 1.0;
    const int *s4 = SHAPE(N, C, H, W), *s1 = SHAPE(C);
    sn_tensor tx, tdy, tg, tb, trm, trv, ty, tsm, tsi, tdx, tdg, tdb;
    op_tensor_from(ctx, &tx, 4, s4, x);
    op_tensor_from(ctx, &tdy, 4, s4, dy);
    op_tensor_from(ctx, &tg, 1, s1, ones);
    op_tensor_from(ctx, &tb, 1, s1, zeros);
    op_tensor_poisoned(ctx, &trm, 1, s1);
    op_tensor_poisoned(ctx, &trv, 1, s1);
    op_tensor_poisoned(ctx, &ty, 4, s4);
    op_tensor_poisoned(ctx, &tsm, 1, s1);
    op_tensor_poisoned(ctx, &tsi, 1, s1);
    op_tensor_poisoned(ctx, &tdx, 4, s4);
    op_tensor_poisoned(ctx, &tdg, 1, s1);
    op_tensor_poisoned(ctx, &tdb, 1, s1);
    double *first[BN_N_PATHS][3];
    for (size_t p = 0; p < BN_N_PATHS; p++) {
        ctx->test.bn_path = BN_PATHS[p];
        for (int run = 0; run < 2; run++) {
            sn_tensor_fill(&trm, 0.0f);
            sn_tensor_fill(&trv, 1.0f);
            sn_bn_desc d =
                bn_desc(SN_BN_PLAIN, SN_BN_TRAIN, &tx, &tg, &tb, &trm, &trv, &ty, &tsm, &tsi);
            d.dy = &tdy, d.dx = &tdx, d.dgamma = &tdg, d.dbeta = &tdb;
            op_expect_ok(sn_batchnorm_forward(ctx, &d), "batchnorm_forward train");
            op_expect_ok(sn_batchnorm_backward(ctx, &d), "batchnorm_backward train");
            double *got[3] = {op_download(&ty), op_download(&tdx), op_download(&tdg)};
            const size_t counts[3] = {n, n, (size_t)C};
            for (int k = 0; k < 3; k++) {
                if (run == 0) {
                    first[p][k] = got[k];
                    continue;
                }
                cr_expect(memcmp(got[k], first[p][k], counts[k] * sizeof(double)) == 0,
                          "%s kernels: output %d differs between two runs",
                          bn_path_name(BN_PATHS[p]), k);
                free(got[k]);
            }
        }
    }
    op_expect_close("bn y plane vs group", &ty, first[0][0], RTOL, 1e-5);
    op_expect_close("bn dx plane vs group", &tdx, first[0][1], RTOL, 1e-5);
    op_expect_close("bn dgamma plane vs group", &tdg, first[0][2], RTOL, 1e-5);
    for (size_t p = 0; p < BN_N_PATHS; p++)
        for (int k = 0; k < 3; k++)
            free(first[p][k]);
    sn_tensor *all[] = {&tx, &tdy, &tg, &tb, &trm, &trv, &ty, &tsm, &tsi, &tdx, &tdg, &tdb};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        sn_tensor_release(all[i]);
    free(x), free(dy), free(ones), free(zeros);
    sn_context_free(ctx);
}

Test(batchnorm, forward_eval)
{
    sn_context *ctx = op_test_context();
    const int dims[][4] = {{1, 3, 5, 5}, {3, 5, 7, 7}, {3, 6, 1, 1}};
    ref_rng rng;
    ref_rng_seed(&rng, 70);
    for (size_t pd = 0; pd < BN_N_PATHS * (sizeof dims / sizeof *dims); pd++) {
        const size_t d = pd % (sizeof dims / sizeof *dims);
        ctx->test.bn_path = BN_PATHS[pd / (sizeof dims / sizeof *dims)];
        const int N = dims[d][0], C = dims[d][1], H = dims[d][2], W = dims[d][3];
        const size_t n = (size_t)N * C * H * W;
        double *x = op_random(&rng, n, -2.0, 3.0);
        double *gamma = op_random(&rng, C, 0.5, 1.5), *beta = op_random(&rng, C, -0.5, 0.5);
        double *rm = op_random(&rng, C, -0.5, 0.5), *rv = op_random(&rng, C, 0.2, 2.0);
        double *want = op_doubles(n);
        ref_bn_forward_eval(x, N, C, H, W, gamma, beta, (double)BN_EPS, rm, rv, want);
        sn_tensor tx, tg, tb, trm, trv, ty;
        op_tensor_from(ctx, &tx, 4, dims[d], x);
        op_tensor_from(ctx, &tg, 1, SHAPE(C), gamma);
        op_tensor_from(ctx, &tb, 1, SHAPE(C), beta);
        op_tensor_from(ctx, &trm, 1, SHAPE(C), rm);
        op_tensor_from(ctx, &trv, 1, SHAPE(C), rv);
        op_tensor_poisoned(ctx, &ty, 4, dims[d]);
        sn_bn_desc bd =
            bn_desc(SN_BN_PLAIN, SN_BN_EVAL, &tx, &tg, &tb, &trm, &trv, &ty, NULL, NULL);
        op_expect_ok(sn_batchnorm_forward(ctx, &bd), "batchnorm_forward eval");
        op_expect_close("bn eval y", &ty, want, RTOL, 1e-5);
        /* In place. */
        bd.y = &tx;
        op_expect_ok(sn_batchnorm_forward(ctx, &bd), "batchnorm_forward eval in place");
        op_expect_close("bn eval y in place", &tx, want, RTOL, 1e-5);
        sn_tensor *all[] = {&tx, &tg, &tb, &trm, &trv, &ty};
        for (size_t i = 0; i < 6; i++)
            sn_tensor_release(all[i]);
        free(x), free(gamma), free(beta), free(rm), free(rv), free(want);
    }
    sn_context_free(ctx);
}

/* Backward of the eval forward (frozen batch norm) against the reference,
 * with work-group size `local`; then in place (dx = dy). */
static void bn_eval_backward_case(sn_context *ctx, int N, int C, int H, int W, size_t local,
                                  unsigned long long seed)
{
    ref_rng rng;
    ref_rng_seed(&rng, seed);
    const size_t n = (size_t)N * C * H * W;
    double *x = op_random(&rng, n, -1.0, 2.0);
    double *dy = op_random(&rng, n, -1.0, 1.0);
    double *gamma = op_random(&rng, (size_t)C, 0.5, 1.5);
    double *rmean = op_random(&rng, (size_t)C, -0.5, 0.5);
    double *rvar = op_random(&rng, (size_t)C, 0.2, 2.0);
    double *want_dx = op_doubles(n), *want_dg = op_doubles(C), *want_db = op_doubles(C);
    ref_bn_backward_eval(dy, x, N, C, H, W, gamma, (double)BN_EPS, rmean, rvar, want_dx, 0,
                         want_dg, want_db, 0);

    const int *s4 = SHAPE(N, C, H, W), *s1 = SHAPE(C);
    sn_tensor tx, tdy, tg, trm, trv, tdx, tdg, tdb;
    op_tensor_from(ctx, &tx, 4, s4, x);
    op_tensor_from(ctx, &tdy, 4, s4, dy);
    op_tensor_from(ctx, &tg, 1, s1, gamma);
    op_tensor_from(ctx, &trm, 1, s1, rmean);
    op_tensor_from(ctx, &trv, 1, s1, rvar);
    op_tensor_poisoned(ctx, &tdx, 4, s4);
    op_tensor_poisoned(ctx, &tdg, 1, s1);
    op_tensor_poisoned(ctx, &tdb, 1, s1);
    cr_log_info("bn backward eval [%d,%d,%d,%d] local %zu", N, C, H, W, local);

    ctx->test.bn_local = local;
    op_bn_grad_args args = {ctx, bn_desc(SN_BN_PLAIN, SN_BN_EVAL, &tx, &tg, NULL, &trm, &trv, NULL,
                                      NULL, NULL), OP_BN_DX};
    args.d.dy = &tdy, args.d.dx = &tdx, args.d.dgamma = &tdg, args.d.dbeta = &tdb;
    op_expect_gradient("bn eval dx", op_bn_grad_call, &args, &tdx, want_dx, RTOL, 1e-5);
    op_expect_close("bn eval dgamma (dx accumulating)", &tdg, want_dg, RTOL, 1e-5);
    op_expect_close("bn eval dbeta (dx accumulating)", &tdb, want_db, RTOL, 1e-5);
    args.which = OP_BN_PARAMS;
    sn_tensor_fill(&tdg, NAN);
    sn_tensor_fill(&tdb, NAN);
    op_expect_gradient("bn eval dgamma", op_bn_grad_call, &args, &tdg, want_dg, RTOL, 1e-5);
    double *three_db = op_scaled(want_db, C, 3.0);
    op_expect_close("bn eval dbeta", &tdb, three_db, RTOL, 3e-5);
    free(three_db);
    op_expect_close("bn eval dx (params accumulating)", &tdx, want_dx, RTOL, 1e-5);

    /* In place: dx = dy, the sums still see the incoming gradient. */
    args.d.dx = &tdy;
    args.which = OP_BN_DX;
    op_expect_ok(op_bn_grad_call(&args, 0), "batchnorm_backward eval in place");
    op_expect_close("bn eval dx in place", &tdy, want_dx, RTOL, 1e-5);
    op_expect_close("bn eval dgamma in place", &tdg, want_dg, RTOL, 1e-5);
    op_expect_close("bn eval dbeta in place", &tdb, want_db, RTOL, 1e-5);

    sn_tensor *all[] = {&tx, &tdy, &tg, &trm, &trv, &tdx, &tdg, &tdb};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        sn_tensor_release(all[i]);
    free(x), free(dy), free(gamma), free(rmean), free(rvar);
    free(want_dx), free(want_dg), free(want_db);
}

Test(batchnorm, backward_eval)
{
    sn_context *ctx = op_test_context();
    for (size_t p = 0; p < BN_N_PATHS; p++) {
        ctx->test.bn_path = BN_PATHS[p];
        bn_eval_backward_case(ctx, 1, 3, 5, 5, 0, 80);
        bn_eval_backward_case(ctx, 3, 5, 7, 7, 0, 81);
        bn_eval_backward_case(ctx, 3, 6, 1, 1, 0, 82);
        bn_eval_backward_case(ctx, 1, 3, 1, 1, 0, 83); /* one value per channel */
        if (op_test_small())
            continue;
        bn_eval_backward_case(ctx, 8, 3, 64, 64, 0, 84); /* several groups per channel */
        const size_t sizes[] = {1, 3, 100};
        size_t limit = 0;
        cr_assert_eq(sn_batchnorm_local_limit(ctx, &limit), SN_OK, "%s", sn_last_error());
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
            if (sizes[i] <= limit)
                bn_eval_backward_case(ctx, 2, 3, 33, 31, sizes[i], 85 + i);
    }
    sn_context_free(ctx);
}

/* ------------------------------------------------------ batch norm + ReLU */

/* The fused ops against the composition of the references: forward
 * y = relu(bn(x)) (train with the statistics, eval), backward
 * bn_backward(relu_backward(dy, y)). The backward gets the reference y
 * rounded to float, so both sides mask the same elements. */
static void bn_relu_case(sn_context *ctx, int N, int C, int H, int W, int eval, size_t local,
                         unsigned long long seed)
{
    ref_rng rng;
    ref_rng_seed(&rng, seed);
    const size_t n = (size_t)N * C * H * W;
    double *x = op_random(&rng, n, -1.0, 2.0);
    double *dy = op_random(&rng, n, -1.0, 1.0);
    double *gamma = op_random(&rng, (size_t)C, 0.5, 1.5);
    double *beta = op_random(&rng, (size_t)C, -0.5, 0.5);
    double *rmean = op_random(&rng, (size_t)C, -0.5, 0.5);
    double *rvar = op_random(&rng, (size_t)C, 0.2, 2.0);
    double *want_rmean = copy_of(rmean, C), *want_rvar = copy_of(rvar, C);
    double *bn_y = op_doubles(n), *want_y = op_doubles(n), *mean = op_doubles(C),
           *invstd = op_doubles(C);
    if (eval)
        ref_bn_forward_eval(x, N, C, H, W, gamma, beta, (double)BN_EPS, rmean, rvar, bn_y);
    else
        ref_bn_forward_train(x, N, C, H, W, gamma, beta, (double)BN_EPS, (double)BN_MOMENTUM,
                             want_rmean, want_rvar, bn_y, mean, invstd);
    ref_relu_forward(bn_y, n, want_y);
    int positive = 0;
    for (size_t i = 0; i < n; i++) {
        want_y[i] = (float)want_y[i];
        positive += want_y[i] > 0.0;
    }
    cr_assert(n < 4 || (positive > 0 && (size_t)positive < n), "the ReLU masks nothing or all");

    const int *s4 = SHAPE(N, C, H, W), *s1 = SHAPE(C);
    sn_tensor tx, tdy, tg, tb, trm, trv, ty, tsm, tsi, tyref, tdx, tdg, tdb;
    op_tensor_from(ctx, &tx, 4, s4, x);
    op_tensor_from(ctx, &tdy, 4, s4, dy);
    op_tensor_from(ctx, &tg, 1, s1, gamma);
    op_tensor_from(ctx, &tb, 1, s1, beta);
    op_tensor_from(ctx, &trm, 1, s1, rmean);
    op_tensor_from(ctx, &trv, 1, s1, rvar);
    op_tensor_poisoned(ctx, &ty, 4, s4);
    op_tensor_poisoned(ctx, &tsm, 1, s1);
    op_tensor_poisoned(ctx, &tsi, 1, s1);
    char what[160];
    snprintf(what, sizeof what, "bn+relu %s [%d,%d,%d,%d] local %zu", eval ? "eval" : "train", N,
             C, H, W, local);
    cr_log_info("%s", what);

    /* forward */
    ctx->test.bn_local = local;
    const sn_bn_mode mode = eval ? SN_BN_EVAL : SN_BN_TRAIN;
    sn_bn_desc fd = bn_desc(SN_BN_RELU, mode, &tx, &tg, &tb, &trm, &trv, &ty, &tsm, &tsi);
    op_expect_ok(sn_batchnorm_forward(ctx, &fd), what);
    if (!eval) {
        op_expect_close("bn+relu save_mean", &tsm, mean, RTOL, 1e-5);
        op_expect_close("bn+relu save_invstd", &tsi, invstd, RTOL, 0);
    }
    op_expect_close("bn+relu y", &ty, want_y, RTOL, 1e-5);
    op_expect_close("bn+relu running_mean", &trm, want_rmean, RTOL, 1e-6);
    op_expect_close("bn+relu running_var", &trv, want_rvar, RTOL, 1e-6);
    /* in place, y = x: the unfused ops allow it, so must the fused one */
    sn_tensor txi;
    op_tensor_from(ctx, &txi, 4, s4, x);
    fd.x = fd.y = &txi;
    op_expect_ok(sn_batchnorm_forward(ctx, &fd), "batchnorm_forward relu in place");
    op_expect_close("bn+relu y in place", &txi, want_y, RTOL, 1e-5);
    sn_tensor_release(&txi);

    /* backward: the statistics as the device holds them (float), the mask
     * from the reference output */
    double *s_a = op_doubles(C), *s_b = op_doubles(C);
    for (int c = 0; c < C; c++) {
        s_a[c] = (float)(eval ? rmean[c] : mean[c]);
        s_b[c] = (float)(eval ? rvar[c] : invstd[c]);
    }
    double *dmid = op_doubles(n), *want_dx = op_doubles(n), *want_dg = op_doubles(C),
           *want_db = op_doubles(C);
    ref_relu_backward(dy, want_y, n, dmid);
    if (eval)
        ref_bn_backward_eval(dmid, x, N, C, H, W, gamma, (double)BN_EPS, s_a, s_b, want_dx, 0,
                             want_dg, want_db, 0);
    else
        ref_bn_backward(dmid, x, N, C, H, W, gamma, s_a, s_b, want_dx, want_dg, want_db, 0);
    sn_tensor ts_a, ts_b;
    op_tensor_from(ctx, &ts_a, 1, s1, s_a);
    op_tensor_from(ctx, &ts_b, 1, s1, s_b);
    op_tensor_from(ctx, &tyref, 4, s4, want_y);
    op_tensor_poisoned(ctx, &tdx, 4, s4);
    op_tensor_poisoned(ctx, &tdg, 1, s1);
    op_tensor_poisoned(ctx, &tdb, 1, s1);
    /* s_a, s_b: running mean and var (eval) or save mean and invstd */
    op_bn_grad_args args = {ctx, bn_desc(SN_BN_RELU, mode, &tx, &tg, NULL, &ts_a, &ts_b, &tyref,
                                      &ts_a, &ts_b), OP_BN_DX};
    args.d.dy = &tdy, args.d.dx = &tdx, args.d.dgamma = &tdg, args.d.dbeta = &tdb;
    op_expect_gradient("bn+relu dx", op_bn_grad_call, &args, &tdx, want_dx, RTOL, 1e-5);
    op_expect_close("bn+relu dgamma (dx accumulating)", &tdg, want_dg, RTOL, 1e-5);
    op_expect_close("bn+relu dbeta (dx accumulating)", &tdb, want_db, RTOL, 1e-5);
    args.which = OP_BN_PARAMS;
    sn_tensor_fill(&tdg, NAN);
    sn_tensor_fill(&tdb, NAN);
    op_expect_gradient("bn+relu dgamma", op_bn_grad_call, &args, &tdg, want_dg, RTOL, 1e-5);
    double *three_db = op_scaled(want_db, C, 3.0);
    op_expect_close("bn+relu dbeta", &tdb, three_db, RTOL, 3e-5);
    free(three_db);
    op_expect_close("bn+relu dx (params accumulating)", &tdx, want_dx, RTOL, 1e-5);

    /* in place: dx = dy */
    args.d.dx = &tdy;
    args.which = OP_BN_DX;
    op_expect_ok(op_bn_grad_call(&args, 0), "batchnorm_backward relu in place");
    op_expect_close("bn+relu dx in place", &tdy, want_dx, RTOL, 1e-5);
    op_expect_close("bn+relu dgamma in place", &tdg, want_dg, RTOL, 1e-5);
    op_expect_close("bn+relu dbeta in place", &tdb, want_db, RTOL, 1e-5);

    sn_tensor *all[] = {&tx, &tdy, &tg, &tb, &trm, &trv, &ty, &tsm, &tsi, &tyref, &tdx, &tdg,
                        &tdb, &ts_a, &ts_b};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        sn_tensor_release(all[i]);
    free(x), free(dy), free(gamma), free(beta), free(rmean), free(rvar), free(want_rmean);
    free(want_rvar), free(bn_y), free(want_y), free(mean), free(invstd), free(s_a), free(s_b);
    free(dmid), free(want_dx), free(want_dg), free(want_db);
}

static void bn_relu_cases(int eval)
{
    sn_context *ctx = op_test_context();
    for (size_t p = 0; p < BN_N_PATHS; p++) {
        ctx->test.bn_path = BN_PATHS[p];
        cr_log_info("bn kernels: %s", bn_path_name(BN_PATHS[p]));
        bn_relu_case(ctx, 1, 3, 5, 5, eval, 0, 140);
        bn_relu_case(ctx, 3, 5, 7, 7, eval, 0, 141);
        bn_relu_case(ctx, 3, 6, 1, 1, eval, 0, 142);
        bn_relu_case(ctx, 1, 5, 9, 9, eval, 0, 143);
        bn_relu_case(ctx, 5, 7, 3, 3, eval, 3, 146);
        if (op_test_small())
            continue;
        bn_relu_case(ctx, 2, 3, 33, 31, eval, 7, 144);
        bn_relu_case(ctx, 8, 3, 64, 64, eval, 0, 145);
    }
    sn_context_free(ctx);
}

Test(batchnorm_relu, train) { bn_relu_cases(0); }

Test(batchnorm_relu, eval) { bn_relu_cases(1); }

/* ------------------------------------------------------ relu, add, shortcut */

typedef struct unary_args {
    sn_context *ctx;
    sn_tensor *a, *b, *out;
    int stride;
} unary_args;

static sn_status relu_backward_call(void *p, int accumulate)
{
    unary_args *a = p;
    return sn_relu_backward(a->ctx, a->a, a->b, a->out, accumulate);
}

Test(elementwise, relu_and_add)
{
    sn_context *ctx = op_test_context();
    const int dims[][4] = {{3, 5, 7, 9}, {1, 3, 1, 1}, {3, 6, 5, 5}};
    ref_rng rng;
    ref_rng_seed(&rng, 80);
    for (size_t d = 0; d < sizeof dims / sizeof *dims; d++) {
        const size_t n = (size_t)dims[d][0] * dims[d][1] * dims[d][2] * dims[d][3];
        double *x = op_random(&rng, n, -1.0, 1.0), *b = op_random(&rng, n, -1.0, 1.0);
        double *dy = op_random(&rng, n, -1.0, 1.0);
        double *y = op_doubles(n), *dx = op_doubles(n), *sum = op_doubles(n);
        ref_relu_forward(x, n, y);
        ref_relu_backward(dy, y, n, dx);
        ref_add_forward(x, b, n, sum);

        sn_tensor tx, tb, tdy, ty, tdx, ts;
        op_tensor_from(ctx, &tx, 4, dims[d], x);
        op_tensor_from(ctx, &tb, 4, dims[d], b);
        op_tensor_from(ctx, &tdy, 4, dims[d], dy);
        op_tensor_poisoned(ctx, &ty, 4, dims[d]);
        op_tensor_poisoned(ctx, &tdx, 4, dims[d]);
        op_tensor_poisoned(ctx, &ts, 4, dims[d]);

        op_expect_ok(sn_relu_forward(ctx, &tx, &ty), "relu_forward");
        op_expect_close("relu y", &ty, y, 0, 0);
        unary_args args = {ctx, &tdy, &ty, &tdx, 0};
        op_expect_gradient("relu dx", relu_backward_call, &args, &tdx, dx, 0, 0);
        op_expect_ok(sn_add_forward(ctx, &tx, &tb, &ts), "add_forward");
        op_expect_close("add y", &ts, sum, RTOL, ATOL);
        op_expect_ok(sn_add_forward(ctx, &tx, &tb, &tb), "add_forward in place");
        op_expect_close("add y in place", &tb, sum, RTOL, ATOL);
        op_expect_ok(sn_relu_forward(ctx, &tx, &tx), "relu_forward in place");
        op_expect_close("relu y in place", &tx, y, 0, 0);

        sn_tensor *all[] = {&tx, &tb, &tdy, &ty, &tdx, &ts};
        for (size_t i = 0; i < 6; i++)
            sn_tensor_release(all[i]);
        free(x), free(b), free(dy), free(y), free(dx), free(sum);
    }
    sn_context_free(ctx);
}

static sn_status shortcut_backward_call(void *p, int accumulate)
{
    unary_args *a = p;
    return sn_shortcut_a_backward(a->ctx, a->a, a->stride, a->out, accumulate);
}

Test(elementwise, shortcut_a)
{
    sn_context *ctx = op_test_context();
    /* N, C, H, W, OC, stride */
    const int cases[][6] = {{3, 5, 9, 9, 10, 2}, {1, 3, 7, 7, 6, 2}, {3, 6, 5, 5, 6, 1},
                            {1, 3, 1, 1, 6, 2}, {3, 5, 7, 9, 8, 3}, {1, 3, 6, 6, 7, 2}};
    ref_rng rng;
    ref_rng_seed(&rng, 90);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const int N = cases[k][0], C = cases[k][1], H = cases[k][2], W = cases[k][3];
        const int OC = cases[k][4], s = cases[k][5];
        const int OH = (H + s - 1) / s, OW = (W + s - 1) / s;
        const size_t nx = (size_t)N * C * H * W, ny = (size_t)N * OC * OH * OW;
        double *x = op_random(&rng, nx, -1.0, 1.0), *dy = op_random(&rng, ny, -1.0, 1.0);
        double *y = op_doubles(ny), *dx = op_doubles(nx);
        ref_shortcut_a_forward(x, N, C, H, W, OC, s, y);
        ref_shortcut_a_backward(dy, N, C, H, W, OC, s, dx);
        sn_tensor tx, tdy, ty, tdx;
        op_tensor_from(ctx, &tx, 4, SHAPE(N, C, H, W), x);
        op_tensor_from(ctx, &tdy, 4, SHAPE(N, OC, OH, OW), dy);
        op_tensor_poisoned(ctx, &ty, 4, SHAPE(N, OC, OH, OW));
        op_tensor_poisoned(ctx, &tdx, 4, SHAPE(N, C, H, W));
        cr_log_info("shortcut_a [%d,%d,%d,%d] -> %d channels, stride %d", N, C, H, W, OC, s);
        op_expect_ok(sn_shortcut_a_forward(ctx, &tx, s, &ty), "shortcut_a_forward");
        op_expect_close("shortcut y", &ty, y, 0, 0);
        unary_args args = {ctx, &tdy, NULL, &tdx, s};
        op_expect_gradient("shortcut dx", shortcut_backward_call, &args, &tdx, dx, 0, 0);
        sn_tensor *all[] = {&tx, &tdy, &ty, &tdx};
        for (size_t i = 0; i < 4; i++)
            sn_tensor_release(all[i]);
        free(x), free(dy), free(y), free(dx);
    }
    sn_context_free(ctx);
}

/* ---------------------------------------------------------------- pooling */

static sn_status gap_backward_call(void *p, int accumulate)
{
    unary_args *a = p;
    return sn_gap_backward(a->ctx, a->a, a->out, accumulate);
}

Test(pool, global_average)
{
    sn_context *ctx = op_test_context();
    const int dims[][4] = {{3, 5, 7, 7}, {1, 6, 1, 1}, {3, 3, 9, 9}, {1, 5, 64, 63}};
    ref_rng rng;
    ref_rng_seed(&rng, 100);
    for (size_t d = 0; d < sizeof dims / sizeof *dims; d++) {
        const int N = dims[d][0], C = dims[d][1], H = dims[d][2], W = dims[d][3];
        const size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C;
        double *x = op_random(&rng, nx, -1.0, 2.0), *dy = op_random(&rng, ny, -1.0, 1.0);
        double *y = op_doubles(ny), *dx = op_doubles(nx);
        ref_gap_forward(x, N, C, H, W, y);
        ref_gap_backward(dy, N, C, H, W, dx);
        sn_tensor tx, tdy, ty, ty4, tdx;
        op_tensor_from(ctx, &tx, 4, dims[d], x);
        op_tensor_from(ctx, &tdy, 2, SHAPE(N, C), dy);
        op_tensor_poisoned(ctx, &ty, 2, SHAPE(N, C));
        op_tensor_poisoned(ctx, &ty4, 4, SHAPE(N, C, 1, 1));
        op_tensor_poisoned(ctx, &tdx, 4, dims[d]);
        op_expect_ok(sn_gap_forward(ctx, &tx, &ty), "gap_forward");
        op_expect_close("gap y [N,C]", &ty, y, RTOL, ATOL);
        op_expect_ok(sn_gap_forward(ctx, &tx, &ty4), "gap_forward");
        op_expect_close("gap y [N,C,1,1]", &ty4, y, RTOL, ATOL);
        unary_args args = {ctx, &tdy, NULL, &tdx, 0};
        op_expect_gradient("gap dx", gap_backward_call, &args, &tdx, dx, RTOL, ATOL);
        sn_tensor *all[] = {&tx, &tdy, &ty, &ty4, &tdx};
        for (size_t i = 0; i < 5; i++)
            sn_tensor_release(all[i]);
        free(x), free(dy), free(y), free(dx);
    }
    sn_context_free(ctx);
}

typedef struct maxpool_args {
    sn_context *ctx;
    sn_tensor *x, *dy, *dx;
    int K, stride, pad;
} maxpool_args;

static sn_status maxpool_backward_call(void *p, int accumulate)
{
    maxpool_args *a = p;
    return sn_maxpool_backward(a->ctx, a->x, a->dy, a->K, a->stride, a->pad, a->dx, accumulate);
}

/* Max pool forward and backward; `levels` > 0 draws x from that many integer
 * levels (1..levels) so windows tie and the first maximum must win. */
static void maxpool_case(sn_context *ctx, int N, int C, int H, int W, int K, int s, int pad,
                         int levels, unsigned long long seed)
{
    ref_rng rng;
    ref_rng_seed(&rng, seed);
    const int OH = ref_out_size(H, K, s, pad), OW = ref_out_size(W, K, s, pad);
    const size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * OH * OW;
    double *x = op_random(&rng, nx, -1.0, 1.0), *dy = op_random(&rng, ny, -1.0, 1.0);
    if (levels > 0)
        for (size_t i = 0; i < nx; i++)
            x[i] = 1.0 + floor((x[i] + 1.0) * 0.5 * levels);
    double *y = op_doubles(ny), *dx = op_doubles(nx);
    int *argmax = malloc(ny * sizeof *argmax);
    cr_assert_not_null(argmax);
    ref_maxpool_forward(x, N, C, H, W, K, s, pad, y, argmax);
    ref_maxpool_backward(dy, argmax, N, C, H, W, K, s, pad, dx);
    sn_tensor tx, tdy, ty, tdx;
    op_tensor_from(ctx, &tx, 4, SHAPE(N, C, H, W), x);
    op_tensor_from(ctx, &tdy, 4, SHAPE(N, C, OH, OW), dy);
    op_tensor_poisoned(ctx, &ty, 4, SHAPE(N, C, OH, OW));
    op_tensor_poisoned(ctx, &tdx, 4, SHAPE(N, C, H, W));
    cr_log_info("maxpool [%d,%d,%d,%d] %dx%d/%d pad %d levels %d", N, C, H, W, K, K, s, pad,
                levels);
    op_expect_ok(sn_maxpool_forward(ctx, &tx, K, s, pad, &ty), "maxpool_forward");
    op_expect_close("maxpool y", &ty, y, 0, 0);
    maxpool_args args = {ctx, &tx, &tdy, &tdx, K, s, pad};
    op_expect_gradient("maxpool dx", maxpool_backward_call, &args, &tdx, dx, RTOL, ATOL);
    sn_tensor *all[] = {&tx, &tdy, &ty, &tdx};
    for (size_t i = 0; i < 4; i++)
        sn_tensor_release(all[i]);
    free(x), free(dy), free(y), free(dx), free(argmax);
}

Test(pool, maxpool)
{
    sn_context *ctx = op_test_context();
    maxpool_case(ctx, 3, 5, 7, 7, 3, 2, 1, 0, 110);   /* ImageNet stem on odd sizes */
    maxpool_case(ctx, 1, 3, 9, 9, 3, 2, 1, 0, 111);
    maxpool_case(ctx, 1, 3, 113, 113, 3, 2, 1, 0, 112);
    maxpool_case(ctx, 3, 6, 5, 5, 2, 2, 0, 0, 113);   /* floor: last row dropped */
    maxpool_case(ctx, 3, 5, 5, 7, 3, 1, 1, 0, 114);   /* overlapping windows */
    maxpool_case(ctx, 1, 6, 1, 1, 1, 1, 0, 0, 115);
    maxpool_case(ctx, 3, 5, 9, 9, 3, 2, 1, 3, 116);   /* ties: the first maximum wins */
    maxpool_case(ctx, 1, 3, 7, 7, 3, 1, 1, 2, 117);
    sn_context_free(ctx);
}

/* ------------------------------------------------------------------- loss */

/* Per-sample (loss, rank) of the reference: loss of one row, rank counted
 * over the exact float logits. */
static void ce_per_sample(const double *logits, const int *labels, int N, int K, double *out)
{
    for (int n = 0; n < N; n++) {
        const double *row = logits + (size_t)n * K;
        ref_softmax_ce_forward(row, labels + n, 1, K, &out[2 * n], NULL, NULL);
        int rank = 0;
        for (int k = 0; k < K; k++)
            rank += row[k] > row[labels[n]];
        out[2 * n + 1] = rank;
    }
}

typedef struct ce_args {
    sn_context *ctx;
    sn_tensor *logits, *labels, *dlogits;
    float scale;
} ce_args;

static sn_status ce_backward_call(void *p, int accumulate)
{
    ce_args *a = p;
    return sn_softmax_ce_backward(a->ctx, a->logits, a->labels, a->scale, a->dlogits, accumulate);
}

static void ce_case(sn_context *ctx, int N, int K, double spread, unsigned long long seed)
{
    ref_rng rng;
    ref_rng_seed(&rng, seed);
    double *logits = op_random(&rng, (size_t)N * K, -spread, spread);
    int *labels = malloc((size_t)N * sizeof *labels);
    double *flabels = op_doubles(N);
    cr_assert_not_null(labels);
    for (int n = 0; n < N; n++) {
        labels[n] = (int)(ref_rng_uniform(&rng, 0, K)) % K;
        flabels[n] = labels[n];
    }
    double loss;
    int top1, top5;
    ref_softmax_ce_forward(logits, labels, N, K, &loss, &top1, &top5);
    double *per = op_doubles(2 * (size_t)N), *dl = op_doubles((size_t)N * K);
    ce_per_sample(logits, labels, N, K, per);
    ref_softmax_ce_backward(logits, labels, N, K, dl);

    sn_tensor tl, tlab, tper, tdl;
    op_tensor_from(ctx, &tl, 2, SHAPE(N, K), logits);
    op_tensor_from(ctx, &tlab, 1, SHAPE(N), flabels);
    op_tensor_poisoned(ctx, &tper, 2, SHAPE(N, 2));
    op_tensor_poisoned(ctx, &tdl, 2, SHAPE(N, K));
    cr_log_info("softmax_ce N %d K %d", N, K);
    op_expect_ok(sn_softmax_ce_forward(ctx, &tl, &tlab, &tper), "softmax_ce_forward");
    op_expect_close("ce per_sample", &tper, per, RTOL, 1e-6);
    double got_loss = NAN;
    int got1 = -1, got5 = -1;
    op_expect_ok(sn_softmax_ce_summary(ctx, &tper, &got_loss, &got1, &got5), "softmax_ce_summary");
    cr_expect(fabs(got_loss - loss) <= 1e-4 * fabs(loss) + 1e-6, "mean loss %.9g, expected %.9g",
              got_loss, loss);
    cr_expect_eq(got1, top1, "top1 %d, expected %d", got1, top1);
    cr_expect_eq(got5, top5, "top5 %d, expected %d", got5, top5);

    ce_args args = {ctx, &tl, &tlab, &tdl, 1.0f / (float)N};
    op_expect_gradient("ce dlogits", ce_backward_call, &args, &tdl, dl, RTOL, 1e-7);
    /* Another scale: the gradient of a quarter of the sum. */
    args.scale = 0.25f;
    double *quarter = op_scaled(dl, (size_t)N * K, 0.25 * N);
    op_expect_ok(ce_backward_call(&args, 0), "softmax_ce_backward");
    op_expect_close("ce dlogits scale 0.25", &tdl, quarter, RTOL, 1e-7);

    sn_tensor_release(&tl), sn_tensor_release(&tlab), sn_tensor_release(&tper);
    sn_tensor_release(&tdl);
    free(logits), free(labels), free(flabels), free(per), free(dl), free(quarter);
}

Test(loss, softmax_ce)
{
    sn_context *ctx = op_test_context();
    ce_case(ctx, 3, 10, 3.0, 120);
    ce_case(ctx, 1, 10, 3.0, 121);
    ce_case(ctx, 5, 3, 2.0, 122);  /* top-5 with K < 5: every sample counts */
    ce_case(ctx, 64, 10, 2.0, 123);
    ce_case(ctx, 7, 1000, 8.0, 124);
    ce_case(ctx, 4, 1, 1.0, 125);  /* one class: loss 0, gradient 0 */
    sn_context_free(ctx);
}

Test(loss, summary_counts)
{
    sn_context *ctx = op_test_context();
    /* (loss, rank) pairs written directly: ranks 0, 0, 3, 4, 5, 9. */
    const double per[] = {0.5, 0, 1.0, 0, 2.0, 3, 1.5, 4, 3.0, 5, 4.0, 9};
    sn_tensor t;
    op_tensor_from(ctx, &t, 2, SHAPE(6, 2), per);
    double loss = 0;
    int top1 = 0, top5 = 0;
    op_expect_ok(sn_softmax_ce_summary(ctx, &t, &loss, &top1, &top5), "softmax_ce_summary");
    cr_expect(fabs(loss - 12.0 / 6) < 1e-12, "mean loss %g", loss);
    cr_expect_eq(top1, 2);
    cr_expect_eq(top5, 4);
    op_expect_ok(sn_softmax_ce_summary(ctx, &t, NULL, NULL, NULL), "summary with NULL outputs");
    sn_tensor_release(&t);
    sn_context_free(ctx);
}

/* Labels outside [0, K), fractional or NaN never index memory: their sample
 * is NaN (loss, rank and gradient row), the others are untouched. */
Test(loss, invalid_labels)
{
    sn_context *ctx = op_test_context();
    const int N = 6, K = 3;
    ref_rng rng;
    ref_rng_seed(&rng, 130);
    double *logits = op_random(&rng, (size_t)N * K, -2.0, 2.0);
    const double flabels[] = {1, 3, -1, 2.5, NAN, 1e9};
    sn_tensor tl, tlab, tper, tdl;
    op_tensor_from(ctx, &tl, 2, SHAPE(N, K), logits);
    op_tensor_from(ctx, &tlab, 1, SHAPE(N), flabels);
    op_tensor_poisoned(ctx, &tper, 2, SHAPE(N, 2));
    op_tensor_poisoned(ctx, &tdl, 2, SHAPE(N, K));
    op_expect_ok(sn_softmax_ce_forward(ctx, &tl, &tlab, &tper), "softmax_ce_forward");
    op_expect_ok(sn_softmax_ce_backward(ctx, &tl, &tlab, 1.0f, &tdl, 0), "softmax_ce_backward");
    double *per = op_download(&tper), *dl = op_download(&tdl);
    cr_expect(isfinite(per[0]) && per[1] >= 0 && per[1] < K, "valid sample: (%g, %g)", per[0],
              per[1]);
    for (int n = 1; n < N; n++) {
        cr_expect(isnan(per[2 * n]) && isnan(per[2 * n + 1]),
                  "label %g: (%g, %g), expected NaN", flabels[n], per[2 * n], per[2 * n + 1]);
        for (int k = 0; k < K; k++)
            cr_expect(isnan(dl[n * K + k]), "label %g: gradient %g, expected NaN", flabels[n],
                      dl[n * K + k]);
    }
    for (int k = 0; k < K; k++)
        cr_expect(isfinite(dl[k]));
    double loss = 0;
    int top1 = -1, top5 = -1;
    op_expect_ok(sn_softmax_ce_summary(ctx, &tper, &loss, &top1, &top5), "softmax_ce_summary");
    cr_expect(isnan(loss));
    cr_expect(top5 == 1 && top1 <= 1, "top1 %d top5 %d", top1, top5);
    sn_tensor_release(&tl), sn_tensor_release(&tlab), sn_tensor_release(&tper);
    sn_tensor_release(&tdl);
    free(logits), free(per), free(dl);
    sn_context_free(ctx);
}

/* A diverged model's logits (NaN or infinite) never count as hits: NaN
 * compares false with everything, so a rank that only counts "greater"
 * logits made a NaN target rank first (eval printed top-1 100%). */
Test(loss, non_finite_logits_are_misses)
{
    sn_context *ctx = op_test_context();
    const int N = 5, K = 3;
    const double logits[] = {
        NAN, NAN, NAN,        /* all NaN (weights overflowed) */
        0.0, NAN, 1.0,        /* target NaN, others finite */
        NAN, 5.0, 1.0,        /* another class NaN, target largest finite */
        0.0, INFINITY, 1.0,   /* target infinite */
        3.0, 1.0, 2.0,        /* finite: rank 0 */
    };
    const double labels[] = {0, 1, 1, 1, 0};
    sn_tensor tl, tlab, tper;
    op_tensor_from(ctx, &tl, 2, SHAPE(N, K), logits);
    op_tensor_from(ctx, &tlab, 1, SHAPE(N), labels);
    op_tensor_poisoned(ctx, &tper, 2, SHAPE(N, 2));
    op_expect_ok(sn_softmax_ce_forward(ctx, &tl, &tlab, &tper), "softmax_ce_forward");
    double *per = op_download(&tper);
    for (int n = 0; n < N - 1; n++)
        cr_expect(isnan(per[2 * n + 1]), "sample %d: rank %g, expected NaN (a miss)", n,
                  per[2 * n + 1]);
    cr_expect(per[2 * (N - 1) + 1] == 0.0, "finite sample: rank %g", per[2 * (N - 1) + 1]);
    double loss = 0;
    int top1 = -1, top5 = -1;
    op_expect_ok(sn_softmax_ce_summary(ctx, &tper, &loss, &top1, &top5), "softmax_ce_summary");
    cr_expect(!isfinite(loss), "mean loss %g", loss);
    cr_expect(top1 == 1 && top5 == 1, "top1 %d top5 %d, expected 1 and 1", top1, top5);
    sn_tensor_release(&tl), sn_tensor_release(&tlab), sn_tensor_release(&tper);
    free(per);
    sn_context_free(ctx);
}

/* ------------------------------------------------------------ shape errors */

Test(shapes, errors_name_the_op)
{
    sn_context *ctx = op_test_context();
    sn_tensor x, x2, y_bad, c3, c4, y_ok, nc, per, per_bad, lab, lab_bad, logits, pool_bad,
        sc_bad, tiny, dl_bad;
    op_tensor_poisoned(ctx, &x, 4, SHAPE(3, 3, 7, 7));
    op_tensor_poisoned(ctx, &x2, 4, SHAPE(3, 3, 7, 7));
    op_tensor_poisoned(ctx, &y_bad, 4, SHAPE(3, 3, 7, 6));
    op_tensor_poisoned(ctx, &c3, 1, SHAPE(3));
    op_tensor_poisoned(ctx, &c4, 1, SHAPE(4));
    op_tensor_poisoned(ctx, &y_ok, 4, SHAPE(3, 3, 7, 7));
    op_tensor_poisoned(ctx, &nc, 2, SHAPE(3, 4));
    op_tensor_poisoned(ctx, &per, 2, SHAPE(3, 2));
    op_tensor_poisoned(ctx, &per_bad, 2, SHAPE(3, 3));
    op_tensor_poisoned(ctx, &lab, 1, SHAPE(3));
    op_tensor_poisoned(ctx, &lab_bad, 1, SHAPE(4));
    op_tensor_poisoned(ctx, &logits, 2, SHAPE(3, 10));
    op_tensor_poisoned(ctx, &pool_bad, 4, SHAPE(3, 3, 3, 3));
    op_tensor_poisoned(ctx, &sc_bad, 4, SHAPE(3, 2, 4, 4));
    op_tensor_poisoned(ctx, &tiny, 4, SHAPE(1, 1, 1, 1));
    op_tensor_poisoned(ctx, &dl_bad, 2, SHAPE(3, 9));

    /* Batch norm: a wrong tensor in the descriptor, in every mode and pass
     * that reads it, with and without the fused ReLU (whose backward also
     * reads y). */
    for (int eval = 0; eval < 2; eval++)
        for (int relu = 0; relu < 2; relu++) {
            sn_bn_desc ok = bn_desc(relu ? SN_BN_RELU : SN_BN_PLAIN,
                                    eval ? SN_BN_EVAL : SN_BN_TRAIN, &x, &c3, &c3, &c3, &c3,
                                    &y_ok, &c3, &c3);
            ok.dy = &x, ok.dx = &x2, ok.dgamma = &c3, ok.dbeta = &c3;
            op_expect_ok(sn_batchnorm_forward(ctx, &ok), "batchnorm_forward, right shapes");
            op_expect_ok(sn_batchnorm_backward(ctx, &ok), "batchnorm_backward, right shapes");
            for (int field = 0; field < BN_FIELDS; field++) {
                int fwd, bwd;
                const sn_bn_desc d = bn_wrong_field(&ok, field, &y_bad, &c4, &fwd, &bwd);
                if (fwd)
                    expect_bn_shape_error(ctx, 1, &d);
                if (bwd)
                    expect_bn_shape_error(ctx, 0, &d);
            }
        }
    expect_shape_error(sn_relu_forward(ctx, &x, &y_bad), "relu_forward");
    expect_shape_error(sn_relu_backward(ctx, &y_bad, &x, &x2, 0), "relu_backward");
    expect_shape_error(sn_relu_backward(ctx, &x, &x, &y_bad, 1), "relu_backward");
    expect_shape_error(sn_add_forward(ctx, &x, &y_bad, &x2), "add_forward");
    expect_shape_error(sn_add_forward(ctx, &x, &x2, &y_bad), "add_forward");
    expect_shape_error(sn_shortcut_a_forward(ctx, &x, 2, &y_ok), "shortcut_a_forward");
    expect_shape_error(sn_shortcut_a_forward(ctx, &x, 2, &sc_bad), "shortcut_a_forward");
    expect_shape_error(sn_shortcut_a_backward(ctx, &y_ok, 2, &x, 0), "shortcut_a_backward");
    expect_shape_error(sn_gap_forward(ctx, &x, &nc), "gap_forward");
    expect_shape_error(sn_gap_backward(ctx, &nc, &x, 0), "gap_backward");
    expect_shape_error(sn_maxpool_forward(ctx, &x, 3, 2, 1, &y_ok), "maxpool_forward");
    expect_shape_error(sn_maxpool_forward(ctx, &tiny, 3, 1, 0, &tiny), "maxpool_forward");
    expect_shape_error(sn_maxpool_backward(ctx, &x, &y_ok, 3, 2, 1, &x2, 0), "maxpool_backward");
    expect_shape_error(sn_maxpool_backward(ctx, &x, &pool_bad, 3, 2, 1, &y_bad, 0),
                       "maxpool_backward");
    expect_shape_error(sn_softmax_ce_forward(ctx, &logits, &lab_bad, &per), "softmax_ce_forward");
    expect_shape_error(sn_softmax_ce_forward(ctx, &logits, &lab, &per_bad), "softmax_ce_forward");
    expect_shape_error(sn_softmax_ce_backward(ctx, &logits, &lab_bad, 1.0f, &logits, 0),
                       "softmax_ce_backward");
    expect_shape_error(sn_softmax_ce_backward(ctx, &logits, &lab, 1.0f, &dl_bad, 0),
                       "softmax_ce_backward");
    expect_shape_error(sn_softmax_ce_summary(ctx, &per_bad, NULL, NULL, NULL),
                       "softmax_ce_summary");

    /* Bad hyper-parameters are invalid arguments, unallocated tensors too. */
    cr_expect_eq(sn_maxpool_forward(ctx, &x, 3, 0, 1, &y_ok), SN_ERR_INVALID_ARG);
    cr_expect_eq(sn_maxpool_forward(ctx, &x, 3, 2, 2, &y_ok), SN_ERR_INVALID_ARG);
    cr_expect_eq(sn_shortcut_a_forward(ctx, &x, 0, &y_ok), SN_ERR_INVALID_ARG);
    sn_tensor empty = {0};
    cr_expect_eq(sn_relu_forward(ctx, &x, &empty), SN_ERR_INVALID_ARG);
    /* A batch-norm descriptor that makes no sense, and a work-group size no
     * device runs. */
    sn_bn_desc bd = bn_desc(SN_BN_PLAIN, SN_BN_TRAIN, &x, &c3, &c3, &c3, &c3, &y_ok, &c3, &c3);
    cr_expect_eq(sn_batchnorm_forward(ctx, NULL), SN_ERR_INVALID_ARG);
    cr_expect_eq(sn_batchnorm_backward(ctx, NULL), SN_ERR_INVALID_ARG);
    bd.ops = (sn_bn_ops)7;
    cr_expect_eq(sn_batchnorm_forward(ctx, &bd), SN_ERR_INVALID_ARG);
    bd.ops = SN_BN_PLAIN;
    bd.mode = (sn_bn_mode)7;
    cr_expect_eq(sn_batchnorm_forward(ctx, &bd), SN_ERR_INVALID_ARG);
    bd.mode = SN_BN_TRAIN;
    ctx->test.bn_local = (size_t)1 << 40;
    cr_expect_eq(sn_batchnorm_forward(ctx, &bd), SN_ERR_INVALID_ARG);
    ctx->test.bn_local = 0;

    sn_tensor *all[] = {&x,   &x2,     &y_bad,   &c3,       &c4,  &y_ok, &nc,   &per,
                        &per_bad, &lab, &lab_bad, &logits, &pool_bad, &sc_bad, &tiny, &dl_bad};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        sn_tensor_release(all[i]);
    sn_context_free(ctx);
}
