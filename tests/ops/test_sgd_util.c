/* sn_sgd_step, sn_scale, sn_axpy and sn_copy against the double reference,
 * on odd lengths (1, 7, 100003) so bounds checks and partial work-groups are
 * exercised. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_test.h"

static const int lengths[] = {1, 7, 100003};
#define N_LENGTHS (int)(sizeof lengths / sizeof lengths[0])

/* Float arithmetic, a few roundings per step: tight enough to catch a wrong
 * rule (a missing weight-decay term moves p by ~5e-5 * lr). */
#define RTOL 1e-5
#define ATOL 1e-6

TestSuite(sgd, .timeout = 120);
TestSuite(blas1, .timeout = 120);

/* `steps` SGD steps with fresh gradients each step; param and buffer checked
 * after every step. Without a momentum buffer when with_buf is 0. */
static void run_sgd(int n, int steps, float lr, float momentum, float weight_decay,
                    int nesterov, int with_buf)
{
    sn_context *ctx = op_test_context();
    ref_rng rng;
    ref_rng_seed(&rng, 1000u + (unsigned)n + 7u * (unsigned)nesterov);
    int shape[1] = {n};
    double *p = op_random(&rng, (size_t)n, -1, 1);
    double *buf = calloc((size_t)n, sizeof *buf);
    cr_assert_not_null(buf);
    sn_tensor tp, tg, tb = {0};
    op_tensor_from(ctx, &tp, 1, shape, p);
    op_tensor_from(ctx, &tg, 1, shape, p); /* overwritten each step */
    if (with_buf) {
        cr_assert_eq(sn_tensor_alloc(ctx, &tb, 1, shape, SN_MEM_OPTIM), SN_OK);
        cr_assert_eq(sn_tensor_fill(&tb, 0.0f), SN_OK);
    }
    for (int s = 0; s < steps; s++) {
        double *g = op_random(&rng, (size_t)n, -1, 1);
        float *gf = malloc((size_t)n * sizeof *gf);
        cr_assert_not_null(gf);
        for (int i = 0; i < n; i++)
            gf[i] = (float)g[i];
        cr_assert_eq(sn_tensor_upload(&tg, gf, (size_t)n), SN_OK);
        sn_status st = sn_sgd_step(ctx, &tp, &tg, with_buf ? &tb : NULL, lr, momentum,
                                   weight_decay, nesterov);
        cr_assert_eq(st, SN_OK, "sgd_step: %s", sn_last_error());
        ref_sgd_step(p, g, buf, (size_t)n, lr, momentum, weight_decay, nesterov);
        char what[96];
        snprintf(what, sizeof what, "n=%d nesterov=%d step %d param", n, nesterov, s + 1);
        op_expect_close(what, &tp, p, RTOL, ATOL);
        if (with_buf) {
            snprintf(what, sizeof what, "n=%d nesterov=%d step %d momentum", n, nesterov, s + 1);
            op_expect_close(what, &tb, buf, RTOL, ATOL);
        }
        free(gf);
        free(g);
    }
    sn_tensor_release(&tp);
    sn_tensor_release(&tg);
    sn_tensor_release(&tb);
    sn_context_free(ctx);
    free(p);
    free(buf);
}

Test(sgd, momentum_matches_reference_over_three_steps)
{
    for (int k = 0; k < N_LENGTHS; k++)
        run_sgd(lengths[k], 3, 0.1f, 0.9f, 5e-4f, 0, 1);
}

Test(sgd, nesterov_matches_reference_over_three_steps)
{
    for (int k = 0; k < N_LENGTHS; k++)
        run_sgd(lengths[k], 3, 0.1f, 0.9f, 5e-4f, 1, 1);
}

Test(sgd, momentum_zero_is_plain_sgd_with_or_without_buffer)
{
    for (int k = 0; k < N_LENGTHS; k++) {
        run_sgd(lengths[k], 3, 0.05f, 0.0f, 1e-4f, 0, 1);
        run_sgd(lengths[k], 3, 0.05f, 0.0f, 1e-4f, 0, 0);
        run_sgd(lengths[k], 2, 0.05f, 0.0f, 0.0f, 1, 0);
    }
}

/* With momentum 0 the old buffer is never read: NaN there must not leak. */
Test(sgd, momentum_zero_ignores_a_nan_buffer)
{
    sn_context *ctx = op_test_context();
    ref_rng rng;
    ref_rng_seed(&rng, 5);
    int shape[1] = {7};
    double *p = op_random(&rng, 7, -1, 1), *g = op_random(&rng, 7, -1, 1);
    double buf[7] = {0};
    sn_tensor tp, tg, tb;
    op_tensor_from(ctx, &tp, 1, shape, p);
    op_tensor_from(ctx, &tg, 1, shape, g);
    op_tensor_poisoned(ctx, &tb, 1, shape);
    cr_assert_eq(sn_sgd_step(ctx, &tp, &tg, &tb, 0.1f, 0.0f, 5e-4f, 0), SN_OK, "%s",
                 sn_last_error());
    ref_sgd_step(p, g, buf, 7, 0.1, 0.0, 5e-4, 0);
    op_expect_close("param", &tp, p, RTOL, ATOL);
    op_expect_close("buffer", &tb, buf, RTOL, ATOL);
    sn_tensor_release(&tp);
    sn_tensor_release(&tg);
    sn_tensor_release(&tb);
    sn_context_free(ctx);
    free(p);
    free(g);
}

/* A shared ResNet-shaped parameter: 4-D tensors, same rule. */
Test(sgd, four_dimensional_parameter)
{
    sn_context *ctx = op_test_context();
    ref_rng rng;
    ref_rng_seed(&rng, 11);
    int shape[4] = {16, 16, 3, 3};
    size_t n = 16 * 16 * 3 * 3;
    double *p = op_random(&rng, n, -1, 1), *g = op_random(&rng, n, -1, 1);
    double *buf = op_random(&rng, n, -1, 1); /* a buffer from earlier steps */
    sn_tensor tp, tg, tb;
    op_tensor_from(ctx, &tp, 4, shape, p);
    op_tensor_from(ctx, &tg, 4, shape, g);
    op_tensor_from(ctx, &tb, 4, shape, buf);
    cr_assert_eq(sn_sgd_step(ctx, &tp, &tg, &tb, 0.1f, 0.9f, 5e-4f, 1), SN_OK, "%s",
                 sn_last_error());
    ref_sgd_step(p, g, buf, n, 0.1, 0.9, 5e-4, 1);
    op_expect_close("param", &tp, p, RTOL, ATOL);
    op_expect_close("buffer", &tb, buf, RTOL, ATOL);
    sn_tensor_release(&tp);
    sn_tensor_release(&tg);
    sn_tensor_release(&tb);
    sn_context_free(ctx);
    free(p);
    free(g);
    free(buf);
}

static void expect_error(sn_status st, sn_status want, const char *needle)
{
    cr_expect_eq(st, want, "status %s, expected %s", sn_status_name(st), sn_status_name(want));
    cr_expect_not_null(strstr(sn_last_error(), needle), "message '%s' lacks '%s'",
                       sn_last_error(), needle);
}

Test(sgd, rejects_mismatched_counts_and_bad_hyperparameters)
{
    sn_context *ctx = op_test_context();
    int s7[1] = {7}, s8[1] = {8};
    sn_tensor p, g7, g8, b7, b8;
    cr_assert_eq(sn_tensor_alloc(ctx, &p, 1, s7, SN_MEM_PARAM), SN_OK);
    cr_assert_eq(sn_tensor_alloc(ctx, &g7, 1, s7, SN_MEM_GRAD), SN_OK);
    cr_assert_eq(sn_tensor_alloc(ctx, &g8, 1, s8, SN_MEM_GRAD), SN_OK);
    cr_assert_eq(sn_tensor_alloc(ctx, &b7, 1, s7, SN_MEM_OPTIM), SN_OK);
    cr_assert_eq(sn_tensor_alloc(ctx, &b8, 1, s8, SN_MEM_OPTIM), SN_OK);

    expect_error(sn_sgd_step(ctx, &p, &g8, &b7, 0.1f, 0.9f, 0, 0), SN_ERR_SHAPE, "sgd_step");
    expect_error(sn_sgd_step(ctx, &p, &g8, &b7, 0.1f, 0.9f, 0, 0), SN_ERR_SHAPE, "grad [8]");
    expect_error(sn_sgd_step(ctx, &p, &g7, &b8, 0.1f, 0.9f, 0, 0), SN_ERR_SHAPE,
                 "momentum_buf [8]");
    expect_error(sn_sgd_step(ctx, &p, &g7, NULL, 0.1f, 0.9f, 0, 0), SN_ERR_INVALID_ARG,
                 "momentum buffer");
    expect_error(sn_sgd_step(ctx, &p, &g7, &b7, -0.1f, 0.9f, 0, 0), SN_ERR_INVALID_ARG,
                 "learning rate");
    expect_error(sn_sgd_step(ctx, &p, &g7, &b7, NAN, 0.9f, 0, 0), SN_ERR_INVALID_ARG,
                 "learning rate");
    expect_error(sn_sgd_step(ctx, &p, &g7, &b7, 0.1f, -0.5f, 0, 0), SN_ERR_INVALID_ARG,
                 "momentum");
    expect_error(sn_sgd_step(ctx, &p, &g7, &b7, 0.1f, 0.9f, -1e-4f, 0), SN_ERR_INVALID_ARG,
                 "weight decay");
    sn_tensor unallocated = {0};
    expect_error(sn_sgd_step(ctx, &p, &unallocated, &b7, 0.1f, 0.9f, 0, 0), SN_ERR_INVALID_ARG,
                 "grad");

    sn_tensor_release(&p);
    sn_tensor_release(&g7);
    sn_tensor_release(&g8);
    sn_tensor_release(&b7);
    sn_tensor_release(&b8);
    sn_context_free(ctx);
}

Test(blas1, scale_on_odd_lengths)
{
    sn_context *ctx = op_test_context();
    ref_rng rng;
    ref_rng_seed(&rng, 21);
    for (int k = 0; k < N_LENGTHS; k++) {
        int n = lengths[k], shape[1] = {n};
        double *x = op_random(&rng, (size_t)n, -2, 2);
        sn_tensor t;
        op_tensor_from(ctx, &t, 1, shape, x);
        cr_assert_eq(sn_scale(ctx, &t, -1.5f), SN_OK, "%s", sn_last_error());
        for (int i = 0; i < n; i++)
            x[i] *= -1.5;
        op_expect_close("scale", &t, x, 1e-7, 0);
        sn_tensor_release(&t);
        free(x);
    }
    sn_context_free(ctx);
}

Test(blas1, axpy_on_odd_lengths)
{
    sn_context *ctx = op_test_context();
    ref_rng rng;
    ref_rng_seed(&rng, 22);
    for (int k = 0; k < N_LENGTHS; k++) {
        int n = lengths[k], shape[1] = {n};
        double *x = op_random(&rng, (size_t)n, -2, 2), *y = op_random(&rng, (size_t)n, -2, 2);
        sn_tensor tx, ty;
        op_tensor_from(ctx, &tx, 1, shape, x);
        op_tensor_from(ctx, &ty, 1, shape, y);
        cr_assert_eq(sn_axpy(ctx, 0.75f, &tx, &ty), SN_OK, "%s", sn_last_error());
        for (int i = 0; i < n; i++)
            y[i] += 0.75 * x[i];
        op_expect_close("axpy", &ty, y, 1e-6, 1e-7);
        /* x itself untouched */
        op_expect_close("axpy x", &tx, x, 0, 0);
        sn_tensor_release(&tx);
        sn_tensor_release(&ty);
        free(x);
        free(y);
    }
    sn_context_free(ctx);
}

/* Counts matter, shapes do not: [2,3,1,1] + [6] is fine. */
Test(blas1, axpy_and_copy_accept_reshaped_tensors)
{
    sn_context *ctx = op_test_context();
    ref_rng rng;
    ref_rng_seed(&rng, 23);
    int s4[4] = {2, 3, 1, 1}, s1[1] = {6};
    double *x = op_random(&rng, 6, -1, 1), *y = op_random(&rng, 6, -1, 1);
    sn_tensor tx, ty, tz;
    op_tensor_from(ctx, &tx, 4, s4, x);
    op_tensor_from(ctx, &ty, 1, s1, y);
    op_tensor_poisoned(ctx, &tz, 1, s1);
    cr_assert_eq(sn_axpy(ctx, 2.0f, &tx, &ty), SN_OK, "%s", sn_last_error());
    cr_assert_eq(sn_copy(ctx, &tx, &tz), SN_OK, "%s", sn_last_error());
    for (int i = 0; i < 6; i++)
        y[i] += 2.0 * x[i];
    op_expect_close("axpy", &ty, y, 1e-6, 1e-7);
    op_expect_close("copy", &tz, x, 0, 0);
    sn_tensor_release(&tx);
    sn_tensor_release(&ty);
    sn_tensor_release(&tz);
    sn_context_free(ctx);
    free(x);
    free(y);
}

Test(blas1, copy_overwrites_nan_poisoned_destination)
{
    sn_context *ctx = op_test_context();
    ref_rng rng;
    ref_rng_seed(&rng, 24);
    for (int k = 0; k < N_LENGTHS; k++) {
        int n = lengths[k], shape[1] = {n};
        double *x = op_random(&rng, (size_t)n, -3, 3);
        sn_tensor tx, ty;
        op_tensor_from(ctx, &tx, 1, shape, x);
        op_tensor_poisoned(ctx, &ty, 1, shape);
        cr_assert_eq(sn_copy(ctx, &tx, &ty), SN_OK, "%s", sn_last_error());
        op_expect_close("copy", &ty, x, 0, 0);
        /* copying onto itself is a no-op */
        cr_assert_eq(sn_copy(ctx, &ty, &ty), SN_OK, "%s", sn_last_error());
        op_expect_close("self copy", &ty, x, 0, 0);
        sn_tensor_release(&tx);
        sn_tensor_release(&ty);
        free(x);
    }
    sn_context_free(ctx);
}

Test(blas1, rejects_mismatched_counts)
{
    sn_context *ctx = op_test_context();
    int s7[1] = {7}, s8[1] = {8};
    sn_tensor a, b;
    cr_assert_eq(sn_tensor_alloc(ctx, &a, 1, s7, SN_MEM_OTHER), SN_OK);
    cr_assert_eq(sn_tensor_alloc(ctx, &b, 1, s8, SN_MEM_OTHER), SN_OK);
    expect_error(sn_axpy(ctx, 1.0f, &a, &b), SN_ERR_SHAPE, "axpy: y [8] has 8 elements");
    expect_error(sn_copy(ctx, &a, &b), SN_ERR_SHAPE, "copy: y [8] has 8 elements");
    sn_tensor unallocated = {0};
    expect_error(sn_scale(ctx, &unallocated, 2.0f), SN_ERR_INVALID_ARG, "scale");
    expect_error(sn_copy(ctx, &unallocated, &a), SN_ERR_INVALID_ARG, "copy");
    sn_tensor_release(&a);
    sn_tensor_release(&b);
    sn_context_free(ctx);
}
