/* The direct forward with its fused epilogue (sn_conv2d_direct_forward_affine:
 * eval-mode batch norm, residual add and ReLU in the convolution's store)
 * against the double reference: conv, then the epilogue in double. Awkward
 * shapes (batch 1, odd sizes, stride 2 on odd inputs, 3/5/17 channels, the
 * shapes of every forward kernel the host picks, checked by the last test),
 * the output NaN-poisoned first, every combination of affine / residual /
 * relu, the residual being y itself, chunked launches, and the argument
 * errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op_test.h"
#include "ops/conv2d.h"
#include "ops/conv_algo.h"
#include "ops/conv_direct.h"
#include "runtime/runtime_internal.h"

typedef struct conv_case {
    int N, C, H, W, OC, K, stride, pad;
} conv_case;

/* Epilogue steps of one call. RES_IN_Y: the residual is y itself (y holds
 * the residual before the call). */
enum { AFFINE = 1, RES = 2, RELU = 4, RES_IN_Y = 8 };

static const double rtol = 1e-4;

/* Absolute tolerance for sums of `terms` products of values in [-1, 1),
 * times the largest |scale| (below 2) plus the shift and residual. */
static double atol_for(size_t terms) { return 2e-5 * sqrt((double)(terms ? terms : 1)) + 1e-6; }

static void check_affine(conv_case cs, int steps, unsigned long long seed)
{
    const int OH = ref_out_size(cs.H, cs.K, cs.stride, cs.pad);
    const int OW = ref_out_size(cs.W, cs.K, cs.stride, cs.pad);
    const size_t nx = (size_t)cs.N * cs.C * cs.H * cs.W;
    const size_t nw = (size_t)cs.OC * cs.C * cs.K * cs.K;
    const size_t ny = (size_t)cs.N * cs.OC * OH * OW, plane = (size_t)OH * OW;
    const int sx[4] = {cs.N, cs.C, cs.H, cs.W}, sw[4] = {cs.OC, cs.C, cs.K, cs.K},
              sy[4] = {cs.N, cs.OC, OH, OW}, sc[1] = {cs.OC};
    const sn_conv2d_desc d = {cs.K, cs.stride, cs.pad};

    ref_rng rng;
    ref_rng_seed(&rng, seed);
    double *x = op_random(&rng, nx, -1, 1), *w = op_random(&rng, nw, -1, 1);
    double *scale = op_random(&rng, (size_t)cs.OC, -1.5, 1.5);
    double *shift = op_random(&rng, (size_t)cs.OC, -1, 1);
    double *res = op_random(&rng, ny, -1, 1);
    double *want = malloc(ny * sizeof *want);
    cr_assert(want);
    ref_conv2d_forward(x, cs.N, cs.C, cs.H, cs.W, w, cs.OC, cs.K, cs.stride, cs.pad, want);
    for (size_t i = 0; i < ny; i++) {
        const size_t oc = i / plane % (size_t)cs.OC;
        double v = want[i];
        if (steps & AFFINE)
            v = v * scale[oc] + shift[oc];
        if (steps & (RES | RES_IN_Y))
            v += res[i];
        if (steps & RELU)
            v = v > 0.0 ? v : 0.0;
        want[i] = v;
    }

    sn_context *ctx = op_test_context();
    cr_assert(sn_conv_algo_supported(ctx, SN_CONV_ALGO_DIRECT, SN_CONV_FORWARD, cs.N, cs.C, cs.H,
                                     cs.W, cs.OC, cs.K, cs.stride, cs.pad),
              "direct forward does not support this case");
    sn_tensor tx, tw, tscale, tshift, tres, ty;
    op_tensor_from(ctx, &tx, 4, sx, x);
    op_tensor_from(ctx, &tw, 4, sw, w);
    op_tensor_from(ctx, &tscale, 1, sc, scale);
    op_tensor_from(ctx, &tshift, 1, sc, shift);
    op_tensor_from(ctx, &tres, 4, sy, res);
    if (steps & RES_IN_Y)
        op_tensor_from(ctx, &ty, 4, sy, res);
    else
        op_tensor_poisoned(ctx, &ty, 4, sy);

    const sn_tensor *r = steps & RES_IN_Y ? &ty : steps & RES ? &tres : NULL;
    const int affine = (steps & AFFINE) != 0;
    cr_assert_eq(sn_conv2d_direct_forward_affine(ctx, &d, &tx, &tw, affine ? &tscale : NULL,
                                                 affine ? &tshift : NULL, r,
                                                 (steps & RELU) != 0, &ty),
                 SN_OK, "%s", sn_last_error());
    char what[96];
    snprintf(what, sizeof what, "conv affine y (affine %d, residual %d%s, relu %d)", affine,
             (steps & (RES | RES_IN_Y)) != 0, steps & RES_IN_Y ? " = y" : "",
             (steps & RELU) != 0);
    op_expect_close(what, &ty, want, rtol, atol_for((size_t)cs.C * cs.K * cs.K));

    sn_tensor *all[] = {&tx, &tw, &tscale, &tshift, &tres, &ty};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        sn_tensor_release(all[i]);
    sn_context_free(ctx);
    free(x);
    free(w);
    free(scale);
    free(shift);
    free(res);
    free(want);
}

/* Every combination of the steps on one shape. */
static void check_all_steps(conv_case cs, unsigned long long seed)
{
    const int steps[] = {0,   AFFINE,       RES,          RELU,           AFFINE | RES,
                         AFFINE | RELU,     RES | RELU,   AFFINE | RES | RELU,
                         RES_IN_Y,          AFFINE | RES_IN_Y | RELU};
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
        check_affine(cs, steps[i], seed + i);
}

#define AFFINE_TEST(name, N, C, H, W, OC, K, S, P)                                          \
    Test(conv_direct_affine, name)                                                          \
    {                                                                                       \
        check_all_steps((conv_case){N, C, H, W, OC, K, S, P}, __LINE__ * 16ull);           \
    }

/*          name                     N  C   H   W  OC  K  s  p */
AFFINE_TEST(batch1_3x3_odd,          1, 3,  5,  5,  4, 3, 1, 1)
AFFINE_TEST(c5_oc17_7x9,             3, 5,  7,  9, 17, 3, 1, 1)
AFFINE_TEST(stride2_odd_9x9,         2, 17, 9,  9,  5, 3, 2, 1)
AFFINE_TEST(stride2_nonsquare_pad0,  2, 3,  8,  7,  6, 3, 2, 0)
AFFINE_TEST(k1_projection_stride2,   2, 17, 9,  7, 32, 1, 2, 0)
AFFINE_TEST(k1_wide,                 1, 40, 5,  7, 64, 1, 1, 0)
AFFINE_TEST(k7_stem_stride2,         1, 3, 15, 13, 16, 7, 2, 3)
AFFINE_TEST(resnet20_stem,           2, 3, 32, 32, 16, 3, 1, 1)
AFFINE_TEST(resnet20_stage1,         2, 16, 32, 32, 16, 3, 1, 1)
AFFINE_TEST(lanes_32_64,             2, 32, 9,  7, 64, 3, 1, 1)
AFFINE_TEST(one_pixel,               1, 1,  1,  1,  1, 1, 1, 0)
/* Shapes of the pixel-lane kernels on CPUs (conv_direct.c: choose_rows):
 * 1x1 planes as one row (6x4), 4 and 3 output channels (4x6, 3x8), a
 * strided forward over the column-split copy (8x3, rows of 34). */
AFFINE_TEST(rows_1x1_plane,          2, 7,  5,  7, 13, 1, 1, 0)
AFFINE_TEST(rows_4_channels,         1, 5,  6, 18,  4, 3, 1, 1)
AFFINE_TEST(rows_3_channels,         1, 4,  5, 20,  3, 3, 1, 1)
AFFINE_TEST(rows_stride2_split,      1, 3,  5, 67,  6, 3, 2, 1)

/* The padded copy chunked by the workspace limit: the residual and y
 * offsets move with each chunk. */
Test(conv_direct_affine, chunked)
{
    sn_conv2d_set_workspace_limit(1);
    check_affine((conv_case){3, 5, 7, 7, 6, 3, 2, 1}, AFFINE | RES | RELU, 91);
    check_affine((conv_case){3, 5, 7, 7, 6, 3, 2, 1}, AFFINE | RES_IN_Y | RELU, 92);
    sn_conv2d_set_workspace_limit(0);
}

/* Scale without shift (or the reverse) and wrongly sized epilogue tensors
 * fail before anything is enqueued; y keeps its poison. */
Test(conv_direct_affine, argument_errors)
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
    cr_expect_eq(sn_conv2d_direct_forward_affine(ctx, &d, &tx, &tw, &ts, NULL, NULL, 0, &ty),
                 SN_ERR_INVALID_ARG);
    cr_expect_eq(sn_conv2d_direct_forward_affine(ctx, &d, &tx, &tw, NULL, &tt, NULL, 0, &ty),
                 SN_ERR_INVALID_ARG);
    cr_expect_eq(sn_conv2d_direct_forward_affine(ctx, &d, &tx, &tw, &ts, &t4, NULL, 0, &ty),
                 SN_ERR_SHAPE);
    cr_expect_eq(sn_conv2d_direct_forward_affine(ctx, &d, &tx, &tw, &t4, &ts, NULL, 0, &ty),
                 SN_ERR_SHAPE);
    cr_expect_eq(sn_conv2d_direct_forward_affine(ctx, &d, &tx, &tw, &ts, &tt, &tr, 1, &ty),
                 SN_ERR_SHAPE);
    double *y = op_download(&ty);
    for (size_t i = 0; i < ty.count; i++)
        cr_expect(isnan(y[i]), "y[%zu] written by a failed call", i);
    free(y);
    sn_tensor *all[] = {&tx, &tw, &ty, &ts, &tt, &t4, &tr};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        sn_tensor_release(all[i]);
    sn_context_free(ctx);
}

/* On a CPU the shapes above run every forward kernel the host picks (the
 * gather's two tiles and the pixel-lane ones, with and without the
 * column-split copy), so no epilogue path goes untested. */
Test(conv_direct_affine, cases_cover_every_forward_kernel)
{
    sn_context *ctx = op_test_context();
    if (sn_context_device(ctx)->type != SN_DEVICE_CPU) {
        sn_context_free(ctx);
        cr_skip_test("the pixel-lane kernels run on CPUs only");
    }
    const conv_case cases[] = {{1, 3, 5, 5, 4, 3, 1, 1},  {2, 32, 9, 7, 64, 3, 1, 1},
                               {2, 3, 32, 32, 16, 3, 1, 1}, {2, 7, 5, 7, 13, 1, 1, 0},
                               {1, 5, 6, 18, 4, 3, 1, 1},  {1, 4, 5, 20, 3, 3, 1, 1},
                               {1, 3, 5, 67, 6, 3, 2, 1}};
    const sn_conv_direct_plan want[] = {
        {"sn_convd_gather_a", 1}, {"sn_convd_gather_b", 1}, {"sn_convd_rows_8x3", 1},
        {"sn_convd_rows_6x4", 1}, {"sn_convd_rows_4x6", 1}, {"sn_convd_rows_3x8", 1},
        {"sn_convd_rows_8x3", 2}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const conv_case c = cases[i];
        sn_conv_direct_plan p;
        cr_assert(sn_conv2d_direct_plan(ctx, SN_CONV_FORWARD, c.N, c.C, c.H, c.W, c.OC, c.K,
                                        c.stride, c.pad, &p));
        cr_expect(!strcmp(p.kernel, want[i].kernel) && p.split == want[i].split,
                  "case %zu runs %s (split %d), not %s (split %d)", i, p.kernel, p.split,
                  want[i].kernel, want[i].split);
    }
    sn_context_free(ctx);
}
