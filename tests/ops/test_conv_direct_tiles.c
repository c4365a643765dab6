/* The direct convolution's kernel variants against the double reference:
 * every pass of shapes chosen so that each tiling the host picks on a CPU
 * runs (pixel-lane rows kernels 8x3 / 6x4 / 4x6 / 3x8, the column-paired
 * stride-2 backward data rows2 4x3 / 3x4 and the weight gradient's wrows,
 * column-split copies for strides 2 and 3, 1x1 planes run
 * as one row, rows whose last vector is moved back, channel tiles cut
 * short), with NaN-poisoned outputs and workspace, and accumulate = 1 into
 * the first result. The last test checks that the shapes really cover every
 * variant (sn_conv2d_direct_plan), so a new tiling cannot go untested.
 * tests/ops/test_conv_linear.c covers the channel-lane kernels. */
#include <criterion/criterion.h>
#include <string.h>

#include "op_test.h"
#include "ops/conv_algo.h"
#include "ops/conv_direct.h"
#include "runtime/runtime_internal.h"

/* The bounds of test_conv_linear.c: the pixel-lane kernels sum in the same
 * orders as the channel-lane ones. */
static const op_conv_tol tol = {1e-4, 1e-5};

/* The direct algorithm's entry points, called directly: no fallback can
 * run. */
static const op_conv_ops direct_ops = {"direct", sn_conv2d_direct_forward,
                                       sn_conv2d_direct_backward_data,
                                       sn_conv2d_direct_backward_weights};

/* The host must accept every pass of the case, as sn_conv2d_forward would
 * check before calling the direct algorithm. */
static void expect_direct(sn_context *ctx, op_conv_case cs)
{
    op_expect_conv_algo_supported(ctx, SN_CONV_ALGO_DIRECT, cs);
}

/* Every pass with NaN-poisoned outputs and workspace, then accumulate = 1
 * into the first result (op_check_conv). */
static void check_direct(op_conv_case cs, unsigned long long seed)
{
    op_check_conv(cs, seed, &direct_ops, tol, expect_direct);
}

/* The shapes, and the kernels they run on a CPU (V = 16), pass by pass:
 * forward / backward data / backward weights. */
static const op_conv_case cases[] = {
    /* rows 8x3 (17 channels: 3 channel tiles, the last cut short; rows of
     * 19 = 16 + a vector moved back) / 8x3 / wrows. */
    {2, 5, 7, 19, 17, 3, 1, 1},
    /* 1x1 planes of 35 pixels as one row: rows 6x4 / 6x4 / channel lanes
     * (rows of 7). */
    {3, 7, 5, 7, 13, 1, 1, 0},
    /* 4 output channels: rows 4x6 / 8x3 / wrows (rows of 21). */
    {2, 6, 9, 21, 4, 3, 1, 1},
    /* 3 input channels: rows 8x3 / 3x8 / wrows. */
    {2, 3, 6, 18, 5, 3, 1, 1},
    /* Stride 2 on odd sizes, output rows of 34: column-split copy for rows
     * 8x3 and wrows; backward data pairs columns 2j, 2j + 1 (rows2 3x4) on
     * 67 columns (the last pair cut short). */
    {2, 3, 5, 67, 6, 3, 2, 1},
    /* The 7x7 stride-2 stem shape: taps split over two segments. */
    {1, 3, 9, 70, 8, 7, 2, 3},
    /* Stride 3, 5x5, pad 2: three segments; backward-data phases of 34 and
     * 33 pixels (rows 4x6, strided stores). */
    {1, 4, 7, 100, 5, 5, 3, 2},
    /* 1x1 stride 2 without padding: the split copy is made for the stride
     * alone; backward data rows2 4x3, odd rows and columns of dx zero. */
    {2, 6, 5, 67, 7, 1, 2, 0},
    /* Stride 2 with rows of 18: below two vectors, the forward takes the
     * gather and the weight gradient the channel lanes (no split); backward
     * data rows2 on 35 columns. */
    {2, 3, 9, 35, 6, 3, 2, 1},
    /* Stride 2 without padding, 5 input channels: rows2 4x3 (two channel
     * tiles, the second cut short) on 41 columns. */
    {2, 5, 6, 41, 4, 3, 2, 0},
    /* 40 channels of a 3x3 on rows of 20: the gather forward (its lanes
     * win there), rows 8x3 for backward data's 5 channels. */
    {1, 5, 6, 20, 40, 3, 1, 1},
};

/* Kernels and column splits the cases must run on a CPU. */
static const sn_conv_direct_plan variants[] = {
    {"sn_convd_rows_8x3", 1},  {"sn_convd_rows_6x4", 1},  {"sn_convd_rows_4x6", 1},
    {"sn_convd_rows_3x8", 1},  {"sn_convd_wrows_4x6", 1}, {"sn_convd_gather_a", 1},
    {"sn_convd_wgrad_a", 1},   {"sn_convd_rows_8x3", 2},  {"sn_convd_rows_6x4", 2},
    {"sn_convd_rows_8x3", 3},  {"sn_convd_wrows_4x6", 2}, {"sn_convd_wrows_4x6", 3},
    {"sn_convd_rows2_4x3", 1}, {"sn_convd_rows2_3x4", 1},
};

#define TILE_TEST(name, i)                                                                  \
    Test(conv_direct_tiles, name) { check_direct(cases[i], 1000 + (i)); }

TILE_TEST(rows_8x3_17_channels, 0)
TILE_TEST(rows_6x4_1x1_plane, 1)
TILE_TEST(rows_4x6_4_channels, 2)
TILE_TEST(rows_3x8_3_channels, 3)
TILE_TEST(stride2_column_split, 4)
TILE_TEST(stem_7x7_stride2_split, 5)
TILE_TEST(stride3_5x5_split, 6)
TILE_TEST(k1_stride2_split_pad0, 7)
TILE_TEST(stride2_short_rows, 8)
TILE_TEST(stride2_pad0_5_channels, 9)
TILE_TEST(gather_forward_40_channels, 10)

/* Chunks of one image with the column-split copy and the rows kernels. */
Test(conv_direct_tiles, one_image_chunks_split)
{
    op_test_set_workspace_limit(1);
    check_direct((op_conv_case){3, 3, 5, 67, 6, 3, 2, 1}, 2000);
    check_direct((op_conv_case){3, 5, 7, 19, 17, 3, 1, 1}, 2001);
    op_test_set_workspace_limit(0);
}

/* On a CPU the cases above run every pixel-lane kernel and column split
 * (the channel-lane kernels are test_conv_linear's). */
Test(conv_direct_tiles, cases_cover_every_variant)
{
    sn_context *ctx = op_test_context();
    if (sn_context_device(ctx)->type != SN_DEVICE_CPU) {
        sn_context_free(ctx);
        cr_skip_test("the pixel-lane kernels run on CPUs only");
    }
    int seen[sizeof variants / sizeof *variants] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const op_conv_case c = cases[i];
        for (int pass = SN_CONV_FORWARD; pass <= SN_CONV_BACKWARD_WEIGHTS; pass++) {
            sn_conv_direct_plan p;
            cr_assert(sn_conv2d_direct_plan(ctx, (sn_conv_pass)pass, c.N, c.C, c.H, c.W, c.OC,
                                            c.K, c.stride, c.pad, &p),
                      "case %zu pass %d not supported", i, pass);
            for (size_t v = 0; v < sizeof variants / sizeof *variants; v++)
                seen[v] += !strcmp(p.kernel, variants[v].kernel) && p.split == variants[v].split;
        }
    }
    for (size_t v = 0; v < sizeof variants / sizeof *variants; v++)
        cr_expect(seen[v] > 0, "no case runs %s with split %d", variants[v].kernel,
                  variants[v].split);
    sn_context_free(ctx);
}
