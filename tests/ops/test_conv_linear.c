/* conv2d and linear on the device against the double reference: random
 * inputs, awkward shapes, NaN-poisoned outputs, the accumulate contract and
 * the shape errors. Every conv case runs four times: with the library's
 * choice of algorithm (suite conv2d), and with each algorithm forced through
 * SN_CONV_ALGO (suites conv2d_gemm, conv2d_direct, conv2d_clblast; Criterion
 * forks a child per test, so setenv stays in the test). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op_test.h"
#include "ops/conv_algo.h"
#include "runtime/runtime_internal.h"

/* The bounds every conv algorithm but Winograd meets: rtol 1e-4, and
 * 1e-5 * sqrt(terms) for sums of `terms` products of values in [-1, 1). */
static const op_conv_tol tol = {1e-4, 1e-5};

static double atol_for(size_t terms) { return op_conv_atol(tol, terms); }

/* Forward, backward data and backward weights of one case through the
 * public ops, with the algorithm the library picks (or SN_CONV_ALGO forces). */
static void check_conv(op_conv_case cs, unsigned long long seed)
{
    op_check_conv(cs, seed, &op_conv_public, tol, NULL);
}

/* Every case must be one the direct algorithm takes (else forcing it would
 * silently test GEMM twice). */
static void expect_direct(sn_context *ctx, op_conv_case cs)
{
    op_expect_conv_algo_supported(ctx, SN_CONV_ALGO_DIRECT, cs);
}

/* Force an algorithm ("gemm", "direct", "clblast") for the rest of this test. */
static void force_algo(const char *algo) { cr_assert_eq(setenv("SN_CONV_ALGO", algo, 1), 0); }

static void check_conv_algo(op_conv_case cs, unsigned long long seed, const char *algo)
{
    force_algo(algo);
    op_check_conv(cs, seed, &op_conv_public, tol,
                  !strcmp(algo, "direct") ? expect_direct : NULL);
}

#define CONV_TEST(name, N, C, H, W, OC, K, S, P)                                                \
    Test(conv2d, name) { check_conv((op_conv_case){N, C, H, W, OC, K, S, P}, __LINE__); }       \
    Test(conv2d_gemm, name)                                                                     \
    {                                                                                           \
        check_conv_algo((op_conv_case){N, C, H, W, OC, K, S, P}, __LINE__, "gemm");             \
    }                                                                                           \
    Test(conv2d_direct, name)                                                                   \
    {                                                                                           \
        check_conv_algo((op_conv_case){N, C, H, W, OC, K, S, P}, __LINE__, "direct");           \
    }                                                                                           \
    Test(conv2d_clblast, name)                                                                  \
    {                                                                                           \
        check_conv_algo((op_conv_case){N, C, H, W, OC, K, S, P}, __LINE__, "clblast");          \
    }

/*        name                     N  C   H   W  OC  K  s  p */
CONV_TEST(batch1_3x3_odd,          1, 3,  5,  5,  4, 3, 1, 1)
CONV_TEST(batch3_c5_oc6_7x7,       3, 5,  7,  7,  6, 3, 1, 1)
CONV_TEST(stride2_odd_9x9,         3, 6,  9,  9,  5, 3, 2, 1)
CONV_TEST(stride2_nonsquare,       2, 4,  8,  6,  4, 3, 2, 1)
CONV_TEST(pad0_3x3,                3, 5,  5,  5,  7, 3, 1, 0)
CONV_TEST(k1_1x1_spatial,          3, 3,  1,  1,  5, 1, 1, 0)
CONV_TEST(k3_1x1_spatial_pad1,     2, 4,  1,  1,  3, 3, 1, 1)
CONV_TEST(k1_stride2_projection,   3, 6,  9,  9,  6, 1, 2, 0)
CONV_TEST(k5_pad2_nonsquare,       2, 5,  9,  7,  3, 5, 1, 2)
CONV_TEST(k5_stride2_pad2,         3, 3,  7,  7,  4, 5, 2, 2)
CONV_TEST(k5_pad3_tiny_input,      2, 3,  2,  3,  4, 5, 1, 3)
CONV_TEST(k7_pad0_whole_input,     2, 3,  7,  7,  2, 7, 1, 0)
CONV_TEST(stem_7x7_stride2_pad3,   2, 3, 15, 15,  8, 7, 2, 3)
CONV_TEST(one_channel_one_pixel,   1, 1,  1,  1,  1, 1, 1, 0)
CONV_TEST(resnet20_stage1,         4, 16, 32, 32, 16, 3, 1, 1)
/* 2187 columns: on a 2-unit CPU two weight-gradient slices of 1093 columns
 * and one left over (other devices slice it otherwise). */
CONV_TEST(weight_slices_uneven,    3, 4, 27, 27,  4, 3, 1, 1)
/* Direct kernels' tiles: two vectors of lanes (32 and 64 channels), lanes
 * past a vector (40 = 16+16+8, 17), pixel tiles crossing rows. */
CONV_TEST(lanes_32_64_channels,    2, 32, 9,  7, 64, 3, 1, 1)
CONV_TEST(lanes_40_17_stride2,     3, 17, 6, 11, 40, 3, 2, 1)
CONV_TEST(k1_stride2_wide,         2, 32, 7,  9, 64, 1, 2, 0)
/* Padding beyond the kernel (output larger than the input), stride 3,
 * 1x1 with padding, 7x7 stride 2 on odd sizes with 6 channels. */
CONV_TEST(k3_pad3_larger_output,   2, 3,  4,  5,  5, 3, 1, 3)
CONV_TEST(k5_stride3_pad2,         2, 5, 10,  8,  6, 5, 3, 2)
CONV_TEST(k1_stride2_pad1,         2, 6,  7,  7,  6, 1, 2, 1)
CONV_TEST(k7_stride2_pad3_c6,      1, 6, 11,  9,  5, 7, 2, 3)

/* Workspace limit of two images: chunks of 2, 2 and 1 (the last takes the
 * one-image path without permutes). */
Test(conv2d, several_chunks)
{
    op_conv_case cs = {5, 3, 9, 9, 4, 3, 2, 1};
    const int OH = ref_out_size(9, 3, 2, 1);
    op_test_set_workspace_limit((size_t)2 * (3 * 9 + 4) * OH * OH);
    check_conv(cs, 77);
    op_test_set_workspace_limit(0);
}

/* Workspace limit below one image: every chunk is one image. */
Test(conv2d, one_image_chunks)
{
    op_test_set_workspace_limit(1);
    check_conv((op_conv_case){3, 5, 7, 7, 6, 3, 1, 1}, 78);
    op_test_set_workspace_limit(0);
}

/* The direct algorithm chunks its padded copies by the same limit. */
Test(conv2d_direct, several_chunks)
{
    op_conv_case cs = {5, 3, 9, 9, 4, 3, 2, 1};
    op_test_set_workspace_limit((size_t)2 * 3 * 11 * 11);
    check_conv_algo(cs, 77, "direct");
    op_test_set_workspace_limit(0);
}

Test(conv2d_direct, one_image_chunks)
{
    op_test_set_workspace_limit(1);
    check_conv_algo((op_conv_case){3, 5, 7, 7, 6, 3, 2, 1}, 78, "direct");
    op_test_set_workspace_limit(0);
}

/* Gradients added into buffers holding earlier values: two accumulate = 1
 * calls give old + ref(dy) + ref(dy2). */
static void check_accumulate_into_existing(void)
{
    const op_conv_case cs = {3, 5, 7, 7, 6, 3, 2, 1};
    op_check_conv_accumulate_into_existing(cs, 5, tol.rtol, atol_for(3 * 6 * 9),
                                           atol_for(3 * 3 * 16));
}

Test(conv2d, accumulate_into_existing) { check_accumulate_into_existing(); }
Test(conv2d_gemm, accumulate_into_existing)
{
    force_algo("gemm");
    check_accumulate_into_existing();
}
Test(conv2d_direct, accumulate_into_existing)
{
    force_algo("direct");
    check_accumulate_into_existing();
}

/* ---- linear ------------------------------------------------------------- */

/* Forward, backward data and backward params of x [N, IN] (given as
 * `xdims` dims of `xshape`), w [OUT, IN]; accumulate as in check_conv. */
static void check_linear(int N, int IN, int OUT, int xdims, const int *xshape,
                         unsigned long long seed)
{
    const size_t nx = (size_t)N * IN, nw = (size_t)OUT * IN, ny = (size_t)N * OUT;
    const int sw[2] = {OUT, IN}, sb[1] = {OUT}, sy[2] = {N, OUT};
    ref_rng rng;
    ref_rng_seed(&rng, seed);
    double *x = op_random(&rng, nx, -1, 1), *w = op_random(&rng, nw, -1, 1);
    double *b = op_random(&rng, (size_t)OUT, -1, 1);
    double *dy = op_random(&rng, ny, -1, 1), *dy2 = op_random(&rng, ny, -1, 1);
    double *y = malloc(ny * sizeof *y), *dx = malloc(nx * sizeof *dx),
           *dx2 = malloc(nx * sizeof *dx2), *dw = malloc(nw * sizeof *dw),
           *db = malloc((size_t)OUT * sizeof *db);
    cr_assert(y && dx && dx2 && dw && db);
    ref_linear_forward(x, N, IN, w, b, OUT, y);

    sn_context *ctx = op_test_context();
    sn_tensor tx, tw, tb, tdy, tdy2, ty, tdx, tdw, tdb;
    op_tensor_from(ctx, &tx, xdims, xshape, x);
    op_tensor_from(ctx, &tw, 2, sw, w);
    op_tensor_from(ctx, &tb, 1, sb, b);
    op_tensor_from(ctx, &tdy, 2, sy, dy);
    op_tensor_from(ctx, &tdy2, 2, sy, dy2);
    op_tensor_poisoned(ctx, &ty, 2, sy);
    op_tensor_poisoned(ctx, &tdx, xdims, xshape);
    op_tensor_poisoned(ctx, &tdw, 2, sw);
    op_tensor_poisoned(ctx, &tdb, 1, sb);

    cr_assert_eq(sn_linear_forward(ctx, &tx, &tw, &tb, &ty), SN_OK, "%s", sn_last_error());
    op_expect_close("linear_forward y", &ty, y, tol.rtol, atol_for((size_t)IN + 1));

    /* First dy with accumulate 0 into NaN, then dy2 with accumulate 1. */
    ref_linear_backward(dy, x, N, IN, w, OUT, dx, dw, db, 0);
    cr_assert_eq(sn_linear_backward_data(ctx, &tdy, &tw, &tdx, 0), SN_OK, "%s", sn_last_error());
    cr_assert_eq(sn_linear_backward_params(ctx, &tdy, &tx, &tdw, &tdb, 0), SN_OK, "%s",
                 sn_last_error());
    op_expect_close("linear dx (accumulate 0)", &tdx, dx, tol.rtol, atol_for((size_t)OUT));
    op_expect_close("linear dw (accumulate 0)", &tdw, dw, tol.rtol, atol_for((size_t)N));
    op_expect_close("linear db (accumulate 0)", &tdb, db, tol.rtol, atol_for((size_t)N));

    memcpy(dx2, dx, nx * sizeof *dx);
    ref_linear_backward(dy2, x, N, IN, w, OUT, dx, dw, db, 1); /* dw, db accumulate */
    op_add_into(dx, dx2, nx);                                    /* dx overwritten: add back */
    cr_assert_eq(sn_linear_backward_data(ctx, &tdy2, &tw, &tdx, 1), SN_OK, "%s",
                 sn_last_error());
    cr_assert_eq(sn_linear_backward_params(ctx, &tdy2, &tx, &tdw, &tdb, 1), SN_OK, "%s",
                 sn_last_error());
    op_expect_close("linear dx (accumulate 1)", &tdx, dx, tol.rtol, atol_for((size_t)2 * OUT));
    op_expect_close("linear dw (accumulate 1)", &tdw, dw, tol.rtol, atol_for((size_t)2 * N));
    op_expect_close("linear db (accumulate 1)", &tdb, db, tol.rtol, atol_for((size_t)2 * N));

    sn_tensor *all[] = {&tx, &tw, &tb, &tdy, &tdy2, &ty, &tdx, &tdw, &tdb};
    op_release_all(all, sizeof all / sizeof *all);
    sn_context_free(ctx);
    free(x);
    free(w);
    free(b);
    free(dy);
    free(dy2);
    free(y);
    free(dx);
    free(dx2);
    free(dw);
    free(db);
}

Test(linear, batch1_in7_out10) { check_linear(1, 7, 10, 2, (const int[]){1, 7}, 11); }
Test(linear, batch5_in7_out10) { check_linear(5, 7, 10, 2, (const int[]){5, 7}, 12); }
Test(linear, after_global_pool) { check_linear(3, 6, 4, 4, (const int[]){3, 6, 1, 1}, 13); }
Test(linear, classifier_64_to_100) { check_linear(128, 64, 100, 2, (const int[]){128, 64}, 14); }

/* ---- shape errors ------------------------------------------------------- */

/* Status must be `want` and the message must mention every string given. */
static void expect_error(sn_status got, sn_status want, const char *const *needles)
{
    const char *msg = sn_last_error();
    cr_expect_eq(got, want, "status %s, expected %s (%s)", sn_status_name(got),
                 sn_status_name(want), msg);
    for (; *needles; needles++)
        cr_expect(strstr(msg, *needles) != NULL, "message '%s' lacks '%s'", msg, *needles);
}

#define EXPECT_ERROR(call, want, ...) \
    expect_error((call), (want), (const char *const[]){__VA_ARGS__, NULL})

/* Allocate an uninitialised tensor of the given dims. */
static sn_tensor make(sn_context *ctx, int ndim, const int *shape)
{
    sn_tensor t;
    cr_assert_eq(sn_tensor_alloc(ctx, &t, ndim, shape, SN_MEM_OTHER), SN_OK, "%s",
                 sn_last_error());
    return t;
}

Test(conv2d, shape_errors)
{
    sn_context *ctx = op_test_context();
    sn_tensor x = make(ctx, 4, (const int[]){2, 5, 8, 8});
    sn_tensor w = make(ctx, 4, (const int[]){4, 5, 3, 3});
    sn_tensor w_c3 = make(ctx, 4, (const int[]){4, 3, 3, 3});
    sn_tensor y = make(ctx, 4, (const int[]){2, 4, 8, 8});
    sn_tensor y_bad = make(ctx, 4, (const int[]){2, 4, 7, 8});
    sn_tensor y_small = make(ctx, 3, (const int[]){2, 4, 8});
    sn_tensor x_tiny = make(ctx, 4, (const int[]){1, 5, 2, 2});
    sn_tensor w5 = make(ctx, 4, (const int[]){4, 5, 5, 5});
    sn_tensor y_tiny = make(ctx, 4, (const int[]){1, 4, 1, 1});
    const sn_conv2d_desc d = {3, 1, 1}, d5 = {5, 1, 1};

    EXPECT_ERROR(sn_conv2d_forward(ctx, &d, &x, &w_c3, &y), SN_ERR_SHAPE, "conv2d_forward",
                 "[4, 3, 3, 3]", "[2, 5, 8, 8]");
    EXPECT_ERROR(sn_conv2d_forward(ctx, &d, &x, &w, &y_bad), SN_ERR_SHAPE, "conv2d_forward",
                 "[2, 4, 7, 8]", "[2, 4, 8, 8]");
    EXPECT_ERROR(sn_conv2d_forward(ctx, &d, &x, &w, &y_small), SN_ERR_SHAPE, "conv2d_forward",
                 "[2, 4, 8]");
    EXPECT_ERROR(sn_conv2d_forward(ctx, &d5, &x, &w, &y), SN_ERR_SHAPE, "conv2d_forward",
                 "[4, 5, 3, 3]", "[4, 5, 5, 5]");
    EXPECT_ERROR(sn_conv2d_forward(ctx, &d5, &x_tiny, &w5, &y_tiny), SN_ERR_SHAPE,
                 "conv2d_forward", "kernel 5", "[1, 5, 2, 2]");
    EXPECT_ERROR(sn_conv2d_forward(ctx, &(sn_conv2d_desc){3, 0, 1}, &x, &w, &y),
                 SN_ERR_INVALID_ARG, "conv2d_forward", "stride 0");
    EXPECT_ERROR(sn_conv2d_forward(ctx, &(sn_conv2d_desc){0, 1, 1}, &x, &w, &y),
                 SN_ERR_INVALID_ARG, "conv2d_forward", "kernel 0");
    EXPECT_ERROR(sn_conv2d_forward(ctx, &(sn_conv2d_desc){3, 1, -1}, &x, &w, &y),
                 SN_ERR_INVALID_ARG, "conv2d_forward", "pad -1");
    EXPECT_ERROR(sn_conv2d_forward(ctx, NULL, &x, &w, &y), SN_ERR_INVALID_ARG, "conv2d_forward");
    EXPECT_ERROR(sn_conv2d_backward_data(ctx, &d, &y_bad, &w, &x, 0), SN_ERR_SHAPE,
                 "conv2d_backward_data", "dy", "[2, 4, 7, 8]");
    EXPECT_ERROR(sn_conv2d_backward_data(ctx, &d, &y, &w_c3, &x, 1), SN_ERR_SHAPE,
                 "conv2d_backward_data", "[4, 3, 3, 3]", "[2, 5, 8, 8]");
    EXPECT_ERROR(sn_conv2d_backward_weights(ctx, &d, &x, &y, &w5, 0), SN_ERR_SHAPE,
                 "conv2d_backward_weights", "dw", "[4, 5, 5, 5]");
    EXPECT_ERROR(sn_conv2d_backward_weights(ctx, &d, &x, &y_small, &w, 0), SN_ERR_SHAPE,
                 "conv2d_backward_weights", "dy");
    sn_tensor unallocated = {0};
    EXPECT_ERROR(sn_conv2d_forward(ctx, &d, &unallocated, &w, &y), SN_ERR_INVALID_ARG,
                 "conv2d_forward", "x");

    sn_tensor *all[] = {&x, &w, &w_c3, &y, &y_bad, &y_small, &x_tiny, &w5, &y_tiny};
    op_release_all(all, sizeof all / sizeof *all);
    sn_context_free(ctx);
}

Test(linear, shape_errors)
{
    sn_context *ctx = op_test_context();
    sn_tensor x = make(ctx, 2, (const int[]){5, 7});
    sn_tensor w = make(ctx, 2, (const int[]){10, 7});
    sn_tensor w8 = make(ctx, 2, (const int[]){10, 8});
    sn_tensor b = make(ctx, 1, (const int[]){10});
    sn_tensor b9 = make(ctx, 1, (const int[]){9});
    sn_tensor y = make(ctx, 2, (const int[]){5, 10});
    sn_tensor y9 = make(ctx, 2, (const int[]){5, 9});
    sn_tensor y4 = make(ctx, 2, (const int[]){4, 10});

    EXPECT_ERROR(sn_linear_forward(ctx, &x, &w8, &b, &y), SN_ERR_SHAPE, "linear_forward",
                 "[10, 8]", "[5, 7]");
    EXPECT_ERROR(sn_linear_forward(ctx, &x, &w, &b, &y9), SN_ERR_SHAPE, "linear_forward",
                 "[5, 9]");
    EXPECT_ERROR(sn_linear_forward(ctx, &x, &w, &b9, &y), SN_ERR_SHAPE, "linear_forward", "b",
                 "[9]");
    EXPECT_ERROR(sn_linear_backward_data(ctx, &y4, &w, &x, 0), SN_ERR_SHAPE,
                 "linear_backward_data", "[4, 10]");
    EXPECT_ERROR(sn_linear_backward_params(ctx, &y, &x, &w8, &b, 0), SN_ERR_SHAPE,
                 "linear_backward_params", "[10, 8]");
    EXPECT_ERROR(sn_linear_backward_params(ctx, &y, &x, &w, &b9, 0), SN_ERR_SHAPE,
                 "linear_backward_params", "db");

    sn_tensor *all[] = {&x, &w, &w8, &b, &b9, &y, &y9, &y4};
    op_release_all(all, sizeof all / sizeof *all);
    sn_context_free(ctx);
}
