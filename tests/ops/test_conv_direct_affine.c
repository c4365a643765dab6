/* The direct forward with its fused epilogue (sn_conv2d_direct_forward_affine:
 * eval-mode batch norm, residual add and ReLU in the convolution's store)
 * against the double reference: conv, then the epilogue in double. Awkward
 * shapes (batch 1, odd sizes, stride 2 on odd inputs, 3/5/17 channels, the
 * shapes of every forward kernel the host picks, checked by the last test),
 * the output NaN-poisoned first, every combination of affine / residual /
 * relu, the residual being y itself, chunked launches, and the argument
 * errors. */
#include <criterion/criterion.h>
#include <string.h>

#include "op_test.h"
#include "ops/conv_algo.h"
#include "ops/conv_direct.h"
#include "runtime/runtime_internal.h"

/* The direct forward with its epilogue, called directly (no fallback can
 * run), with test_conv_linear.c's bounds for the conv times 2 (above the
 * largest |scale|, 1.5), plus the shift and the residual. */
static const op_conv_affine_algo direct_affine = {
    "direct", sn_conv2d_direct_forward_affine, SN_CONV_ALGO_DIRECT, {1e-4, 1e-5}, 2.0};

static void check_affine(op_conv_case cs, int steps, unsigned long long seed)
{
    op_check_conv_affine(&direct_affine, cs, steps, seed);
}

/* One shape with every combination of the steps (op_check_conv_affine_steps). */
#define AFFINE_TEST(name, N, C, H, W, OC, K, S, P)                                              \
    Test(conv_direct_affine, name)                                                              \
    {                                                                                           \
        op_check_conv_affine_steps(&direct_affine, (op_conv_case){N, C, H, W, OC, K, S, P},     \
                                   __LINE__ * 16ull);                                           \
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
    op_test_set_workspace_limit(1);
    check_affine((op_conv_case){3, 5, 7, 7, 6, 3, 2, 1}, OP_AFFINE | OP_RES | OP_RELU, 91);
    check_affine((op_conv_case){3, 5, 7, 7, 6, 3, 2, 1}, OP_AFFINE | OP_RES_IN_Y | OP_RELU, 92);
    op_test_set_workspace_limit(0);
}

/* Scale without shift (or the reverse) and wrongly sized epilogue tensors
 * fail before anything is enqueued; y keeps its poison. */
Test(conv_direct_affine, argument_errors)
{
    op_expect_conv_affine_argument_errors(sn_conv2d_direct_forward_affine);
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
    const op_conv_case cases[] = {{1, 3, 5, 5, 4, 3, 1, 1},  {2, 32, 9, 7, 64, 3, 1, 1},
                               {2, 3, 32, 32, 16, 3, 1, 1}, {2, 7, 5, 7, 13, 1, 1, 0},
                               {1, 5, 6, 18, 4, 3, 1, 1},  {1, 4, 5, 20, 3, 3, 1, 1},
                               {1, 3, 5, 67, 6, 3, 2, 1}};
    const sn_conv_direct_plan want[] = {
        {"sn_convd_gather_a", 1}, {"sn_convd_gather_b", 1}, {"sn_convd_rows_8x3", 1},
        {"sn_convd_rows_6x4", 1}, {"sn_convd_rows_4x6", 1}, {"sn_convd_rows_3x8", 1},
        {"sn_convd_rows_8x3", 2}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const op_conv_case c = cases[i];
        sn_conv_direct_plan p;
        cr_assert(sn_conv2d_direct_plan(ctx, SN_CONV_FORWARD, c.N, c.C, c.H, c.W, c.OC, c.K,
                                        c.stride, c.pad, &p));
        cr_expect(!strcmp(p.kernel, want[i].kernel) && p.split == want[i].split,
                  "case %zu runs %s (split %d), not %s (split %d)", i, p.kernel, p.split,
                  want[i].kernel, want[i].split);
    }
    sn_context_free(ctx);
}
