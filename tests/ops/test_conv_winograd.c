/* The Winograd F(2x2, 3x3) convolution (SN_CONV_ALGO=winograd) against the
 * double reference: every pass on awkward shapes (batch 1, odd and tiny
 * images, channels that fill no vector, pad 0/1/2), NaN-poisoned outputs
 * and workspace (accumulate = 0 must not read them), accumulate = 1 adding,
 * chunks of tiles that cut images, the shapes it declines (they fall back to
 * GEMM), the forward's fused epilogue (sn_conv2d_winograd_forward_affine:
 * every combination of scale/shift, residual, residual = y and ReLU), and
 * its numerical error next to the direct algorithm's on a realistic shape
 * (printed: the numbers the README reports). Criterion forks
 * a child per test, so setenv stays in the test. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_test.h"
#include "ops/conv_algo.h"
#include "ops/conv_tune.h"
#include "runtime/runtime_internal.h"

/* One convolution: x [N,C,H,W], w [OC,C,3,3], stride 1. */
typedef struct wcase {
    int N, C, H, W, OC, pad;
} wcase;

/* Winograd's transforms add and halve before the products and sum 16
 * products per tile after them. F(2x2, 3x3)'s transforms are small (entries
 * 0, +-1/2, +-1), and each product sums over channels only (not channels x
 * taps, as a direct sum does), so measured on these shapes its error stays
 * within a quarter of test_conv_linear.c's bounds (rtol 1e-4, atol 1e-5 *
 * sqrt(terms)); these allow twice those bounds for other devices' orders. */
static const op_conv_tol tol = {2e-4, 2e-5};

static double atol_for(size_t terms) { return op_conv_atol(tol, terms); }

/* The 3x3 stride-1 convolution of a case. */
static op_conv_case conv3x3(wcase cs)
{
    return (op_conv_case){cs.N, cs.C, cs.H, cs.W, cs.OC, 3, 1, cs.pad};
}

static int supported(sn_context *ctx, sn_conv_pass pass, wcase cs)
{
    return sn_conv_winograd_supported(ctx, pass, cs.N, cs.C, cs.H, cs.W, cs.OC, 3, 1, cs.pad);
}

/* Forcing Winograd must make the library run it: it takes every pass of
 * the case (else the test would silently check GEMM). */
static void expect_winograd(sn_context *ctx, op_conv_case cs)
{
    op_expect_conv_algo_supported(ctx, SN_CONV_ALGO_WINOGRAD, cs);
    for (int pass = SN_CONV_FORWARD; pass <= SN_CONV_BACKWARD_WEIGHTS; pass++)
        cr_assert_eq(sn_conv_choose(ctx, (sn_conv_pass)pass, cs.N, cs.C, cs.H, cs.W, cs.OC, 3, 1,
                                    cs.pad),
                     SN_CONV_ALGO_WINOGRAD);
}

/* The public ops: with SN_CONV_ALGO=winograd they run it (expect_winograd
 * checks), through the same code paths as in training. */
static const op_conv_ops winograd_ops = {"winograd", sn_conv2d_forward, sn_conv2d_backward_data,
                                         sn_conv2d_backward_weights};

/* Forward, backward data and backward weights of one case with Winograd
 * forced through the public ops (op_check_conv: NaN-poisoned outputs and
 * workspace, then accumulate = 1 with a second dy). */
static void check_winograd(wcase cs, unsigned long long seed)
{
    cr_assert_eq(setenv("SN_CONV_ALGO", "winograd", 1), 0);
    op_check_conv(conv3x3(cs), seed, &winograd_ops, tol, expect_winograd);
}

#define WINO_TEST(name, N, C, H, W, OC, P) \
    Test(conv2d_winograd, name) { check_winograd((wcase){N, C, H, W, OC, P}, __LINE__); }

/*        name                     N   C   H   W  OC  pad */
WINO_TEST(batch1_5x5,              1,  3,  5,  5,  5, 1)
WINO_TEST(odd_7x9_c5_oc17,         2,  5,  7,  9, 17, 1)
WINO_TEST(pad0_5x5,                3,  5,  5,  5,  7, 0)
WINO_TEST(pad0_whole_input,        2,  3,  3,  3,  4, 0)
WINO_TEST(pad2_odd_7x9,            2,  3,  7,  9,  5, 2)
WINO_TEST(pad2_one_pixel,          2,  4,  1,  1,  3, 2)
WINO_TEST(one_pixel_pad1,          2,  4,  1,  1,  3, 1)
WINO_TEST(tiny_2x3_c17,            1, 17,  2,  3,  3, 1)
WINO_TEST(tiny_2x3_pad2_oc17,      3,  5,  2,  3, 17, 2)
WINO_TEST(one_channel,             1,  1,  6,  4,  1, 1)
/* Lane tilings: two vectors of lanes (32 and 64 channels, both ways),
 * lanes past a vector (17, 40 = 16+16+8). */
WINO_TEST(lanes_32_64,             2, 32,  9,  7, 64, 1)
WINO_TEST(lanes_64_32,             2, 64,  7,  9, 32, 1)
WINO_TEST(lanes_17_40,             3, 17,  6, 11, 40, 1)
WINO_TEST(resnet20_stage1,         4, 16, 32, 32, 16, 1)

/* Chunks of tiles that cut images: a workspace limit of one float gives
 * chunks of one GEMM tile block (several per image, the last one partial),
 * a limit of a few thousand floats chunks of some tiles across images. */
Test(conv2d_winograd, one_block_chunks)
{
    op_test_set_workspace_limit(1);
    check_winograd((wcase){3, 5, 7, 9, 6, 1}, 81);
    check_winograd((wcase){2, 6, 9, 7, 32, 2}, 82);
    op_test_set_workspace_limit(0);
}

Test(conv2d_winograd, chunks_across_images)
{
    /* 9x7 images: 5x4 = 20 tiles each; 16 * (5 + 6) floats per tile, so
     * chunks of 16 tiles */
    op_test_set_workspace_limit(16 * (5 + 6) * 20);
    check_winograd((wcase){5, 5, 9, 7, 6, 1}, 83);
    op_test_set_workspace_limit(0);
}

/* Enough tiles (1024) for the GEMM's wide variant, in chunks of 96 tiles
 * (16 * 32 floats per tile). */
Test(conv2d_winograd, wide_gemm_in_chunks)
{
    op_test_set_workspace_limit(16 * 32 * 100);
    check_winograd((wcase){4, 16, 32, 32, 16, 1}, 84);
    op_test_set_workspace_limit(0);
}

/* Gradients added into buffers holding earlier values: two accumulate = 1
 * calls give old + ref(dy) + ref(dy2). */
Test(conv2d_winograd, accumulate_into_existing)
{
    cr_assert_eq(setenv("SN_CONV_ALGO", "winograd", 1), 0);
    const wcase cs = {3, 5, 7, 6, 6, 1};
    op_check_conv_accumulate_into_existing(conv3x3(cs), 5, tol.rtol, atol_for(3 * 6 * 9),
                                           atol_for(3 * 5 * 6 * 2));
}

/* Shapes Winograd declines: forcing it runs GEMM, with correct results. */
Test(conv2d_winograd, unsupported_shapes_fall_back_to_gemm)
{
    cr_assert_eq(setenv("SN_CONV_ALGO", "winograd", 1), 0);
    sn_context *ctx = op_test_context();
    const struct {
        int N, C, H, W, OC, K, stride, pad;
    } no[] = {
        {2, 4, 9, 9, 4, 3, 2, 1}, /* stride 2 */
        {2, 4, 9, 9, 4, 5, 1, 2}, /* 5x5 */
        {2, 4, 9, 9, 4, 1, 1, 0}, /* 1x1 */
        {2, 3, 4, 5, 5, 3, 1, 3}, /* pad 3: backward data would need pad -1 */
    };
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        for (int pass = SN_CONV_FORWARD; pass <= SN_CONV_BACKWARD_WEIGHTS; pass++) {
            cr_assert(!sn_conv_winograd_supported(ctx, (sn_conv_pass)pass, no[i].N, no[i].C,
                                                  no[i].H, no[i].W, no[i].OC, no[i].K,
                                                  no[i].stride, no[i].pad),
                      "case %zu pass %d", i, pass);
            cr_assert_eq(sn_conv_choose(ctx, (sn_conv_pass)pass, no[i].N, no[i].C, no[i].H,
                                        no[i].W, no[i].OC, no[i].K, no[i].stride, no[i].pad),
                         SN_CONV_ALGO_GEMM);
        }

    /* And the op itself runs (through GEMM) on one of them. */
    const int sx[4] = {2, 4, 9, 9}, sw[4] = {4, 4, 3, 3}, sy[4] = {2, 4, 5, 5};
    ref_rng rng;
    ref_rng_seed(&rng, 9);
    double *x = op_random(&rng, 2 * 4 * 81, -1, 1), *w = op_random(&rng, 4 * 4 * 9, -1, 1);
    double want[2 * 4 * 25];
    ref_conv2d_forward(x, 2, 4, 9, 9, w, 4, 3, 2, 1, want);
    sn_tensor tx, tw, ty;
    op_tensor_from(ctx, &tx, 4, sx, x);
    op_tensor_from(ctx, &tw, 4, sw, w);
    op_tensor_poisoned(ctx, &ty, 4, sy);
    const sn_conv2d_desc d = {3, 2, 1};
    cr_assert_eq(sn_conv2d_forward(ctx, &d, &tx, &tw, &ty), SN_OK, "%s", sn_last_error());
    op_expect_close("stride-2 forward with winograd forced", &ty, want, 1e-4, 1e-4);
    sn_tensor_release(&tx);
    sn_tensor_release(&tw);
    sn_tensor_release(&ty);
    sn_context_free(ctx);
    free(x);
    free(w);
}

/* A device whose largest allocation cannot hold one chunk's workspace: the
 * shape is declined (and so runs GEMM), as the direct kernels decline it. */
Test(conv2d_winograd, declines_a_workspace_beyond_the_largest_allocation)
{
    sn_context *ctx = op_test_context();
    const wcase cs = {2, 256, 8, 8, 256, 1};
    for (int pass = SN_CONV_FORWARD; pass <= SN_CONV_BACKWARD_WEIGHTS; pass++)
        cr_assert(supported(ctx, (sn_conv_pass)pass, cs));
    /* U alone is 16 * 256 * 256 floats = 4 MiB. */
    ctx->info.max_alloc_bytes = (size_t)1 << 20;
    for (int pass = SN_CONV_FORWARD; pass <= SN_CONV_BACKWARD_WEIGHTS; pass++)
        cr_assert(!supported(ctx, (sn_conv_pass)pass, cs), "pass %d", pass);
    sn_context_free(ctx);
}

/* ---- the fused epilogue (sn_conv2d_winograd_forward_affine) -------------- */

/* The Winograd forward with its epilogue, called directly (no fallback can
 * run). The conv's bounds (tol above) times 1.5 (the largest |scale|),
 * plus the shift and the residual. */
static const op_conv_affine_algo wino_affine = {
    "winograd", sn_conv2d_winograd_forward_affine, SN_CONV_ALGO_WINOGRAD, {2e-4, 2e-5}, 1.5};

static void check_affine(wcase cs, int steps, unsigned long long seed)
{
    op_check_conv_affine(&wino_affine, conv3x3(cs), steps, seed);
}

#define WINO_AFFINE_TEST(name, N, C, H, W, OC, P)                                               \
    Test(conv2d_winograd_affine, name)                                                          \
    {                                                                                           \
        op_check_conv_affine_steps(&wino_affine, conv3x3((wcase){N, C, H, W, OC, P}),           \
                                   (unsigned long long)__LINE__ * 16);                          \
    }

/*               name                  N   C   H   W  OC  pad */
WINO_AFFINE_TEST(batch1_5x5,           1,  3,  5,  5,  5, 1)
WINO_AFFINE_TEST(odd_7x9_c5_oc17,      2,  5,  7,  9, 17, 1)
WINO_AFFINE_TEST(pad0_odd_7x9_c17,     3, 17,  7,  9,  3, 0)
WINO_AFFINE_TEST(pad2_odd_9x7,         1,  3,  9,  7,  5, 2)
WINO_AFFINE_TEST(one_pixel_pad1,       2,  5,  1,  1,  3, 1)
WINO_AFFINE_TEST(one_pixel_pad2,       1, 17,  1,  1,  5, 2)
WINO_AFFINE_TEST(tiny_2x3_oc17,        3,  5,  2,  3, 17, 1)
WINO_AFFINE_TEST(lanes_17_40,          3, 17,  6, 11, 40, 1)
WINO_AFFINE_TEST(resnet20_stage1,      2, 16, 32, 32, 16, 1)

/* Chunks of one GEMM block (they cut images and tile rows): the residual
 * and y are indexed by the batch's tile, whatever the chunk. */
Test(conv2d_winograd_affine, one_block_chunks)
{
    op_test_set_workspace_limit(1);
    check_affine((wcase){3, 5, 7, 9, 6, 1}, OP_AFFINE | OP_RES | OP_RELU, 91);
    check_affine((wcase){3, 5, 7, 9, 6, 1}, OP_AFFINE | OP_RES_IN_Y | OP_RELU, 92);
    check_affine((wcase){2, 6, 9, 7, 17, 2}, OP_AFFINE | OP_RELU, 93);
    op_test_set_workspace_limit(0);
}

/* The wide GEMM (1024 tiles) in chunks of 96 tiles. */
Test(conv2d_winograd_affine, wide_gemm_in_chunks)
{
    op_test_set_workspace_limit(16 * 32 * 100);
    check_affine((wcase){4, 16, 32, 32, 16, 1}, OP_AFFINE | OP_RES_IN_Y | OP_RELU, 94);
    op_test_set_workspace_limit(0);
}

/* Scale without shift (or the reverse) and wrongly sized epilogue tensors
 * fail before anything is enqueued (op_expect_conv_affine_argument_errors),
 * and so does a shape Winograd declines; y keeps its poison. */
Test(conv2d_winograd_affine, argument_errors)
{
    op_expect_conv_affine_argument_errors(sn_conv2d_winograd_forward_affine);

    sn_context *ctx = op_test_context();
    const sn_conv2d_desc d_stride2 = {3, 2, 1};
    const int sx[4] = {1, 2, 4, 4}, sw[4] = {3, 2, 3, 3}, s3[1] = {3}, sy2[4] = {1, 3, 2, 2};
    sn_tensor tx, tw, ts, tt, ty2;
    op_tensor_poisoned(ctx, &tx, 4, sx);
    op_tensor_poisoned(ctx, &tw, 4, sw);
    op_tensor_poisoned(ctx, &ts, 1, s3);
    op_tensor_poisoned(ctx, &tt, 1, s3);
    op_tensor_poisoned(ctx, &ty2, 4, sy2);
    cr_expect_eq(sn_conv2d_winograd_forward_affine(ctx, &d_stride2, &tx, &tw, &ts, &tt, NULL, 1,
                                                   &ty2),
                 SN_ERR_UNSUPPORTED);
    op_expect_poisoned("y (stride 2)", &ty2);
    sn_tensor *all[] = {&tx, &tw, &ts, &tt, &ty2};
    op_release_all(all, sizeof all / sizeof *all);
    sn_context_free(ctx);
}

/* ---- numerical error on a realistic shape ------------------------------- */

/* Standard normal values rounded to float (Box-Muller). */
static double *normal_values(ref_rng *rng, size_t n)
{
    double *v = malloc(n * sizeof *v);
    cr_assert_not_null(v);
    for (size_t i = 0; i < n; i += 2) {
        const double u1 = ref_rng_uniform(rng, 1e-12, 1), u2 = ref_rng_uniform(rng, 0, 1);
        const double r = sqrt(-2 * log(u1)), a = 6.283185307179586 * u2;
        v[i] = (double)(float)(r * cos(a));
        if (i + 1 < n)
            v[i + 1] = (double)(float)(r * sin(a));
    }
    return v;
}

typedef struct err_stats {
    double max_abs, max_ref, rel_max, rel_rms; /* rel_max: max_abs / max |ref| */
} err_stats;

static err_stats compare(const sn_tensor *t, const double *want)
{
    double *got = op_download(t);
    err_stats e = {0, 0, 0, 0};
    double se = 0, sr = 0;
    for (size_t i = 0; i < t->count; i++) {
        const double d = fabs(got[i] - want[i]);
        cr_assert(isfinite(got[i]), "element %zu is %g", i, got[i]);
        e.max_abs = d > e.max_abs ? d : e.max_abs;
        e.max_ref = fabs(want[i]) > e.max_ref ? fabs(want[i]) : e.max_ref;
        se += d * d;
        sr += want[i] * want[i];
    }
    e.rel_max = e.max_ref > 0 ? e.max_abs / e.max_ref : 0;
    e.rel_rms = sr > 0 ? sqrt(se / sr) : 0;
    free(got);
    return e;
}

/* N=4, C=OC=64, 16x16, pad 1, x, w and dy ~ N(0, 1): each pass with the
 * direct and the Winograd algorithm against the double reference. Prints
 * the errors; asserts Winograd stays within 10x direct's normwise error
 * (F(2x2, 3x3) is expected within a small factor) and below 1e-5 relative. */
Test(conv2d_winograd, error_vs_direct_on_a_realistic_shape, .timeout = 300)
{
    const int N = 4, C = 64, H = 16, OC = 64, pad = 1, OH = 16;
    const size_t nx = (size_t)N * C * H * H, nw = (size_t)OC * C * 9;
    const size_t ny = (size_t)N * OC * OH * OH;
    const int sx[4] = {N, C, H, H}, sw[4] = {OC, C, 3, 3}, sy[4] = {N, OC, OH, OH};
    const sn_conv2d_desc d = {3, 1, pad};
    ref_rng rng;
    ref_rng_seed(&rng, 2024);
    double *x = normal_values(&rng, nx), *w = normal_values(&rng, nw);
    double *dy = normal_values(&rng, ny);
    double *want_y = malloc(ny * sizeof *want_y), *want_dx = malloc(nx * sizeof *want_dx),
           *want_dw = malloc(nw * sizeof *want_dw);
    cr_assert(want_y && want_dx && want_dw);
    ref_conv2d_forward(x, N, C, H, H, w, OC, 3, 1, pad, want_y);
    ref_conv2d_backward_data(dy, N, C, H, H, w, OC, 3, 1, pad, want_dx);
    ref_conv2d_backward_weights(x, N, C, H, H, dy, OC, 3, 1, pad, want_dw, 0);

    sn_context *ctx = op_test_context();
    sn_tensor tx, tw, tdy, ty, tdx, tdw;
    op_tensor_from(ctx, &tx, 4, sx, x);
    op_tensor_from(ctx, &tw, 4, sw, w);
    op_tensor_from(ctx, &tdy, 4, sy, dy);
    op_tensor_poisoned(ctx, &ty, 4, sy);
    op_tensor_poisoned(ctx, &tdx, 4, sx);
    op_tensor_poisoned(ctx, &tdw, 4, sw);

    const sn_conv_algo algos[2] = {SN_CONV_ALGO_DIRECT, SN_CONV_ALGO_WINOGRAD};
    const char *passes[3] = {"forward", "backward_data", "backward_weights"};
    err_stats e[2][3];
    for (int a = 0; a < 2; a++) {
        const int previous = sn_conv_force_algo(ctx, (int)algos[a]);
        for (int p = 0; p < 3; p++)
            cr_assert_eq(sn_conv_choose(ctx, (sn_conv_pass)p, N, C, H, H, OC, 3, 1, pad),
                         algos[a], "%s must run %s", passes[p], sn_conv_algo_name(algos[a]));
        cr_assert_eq(sn_conv2d_forward(ctx, &d, &tx, &tw, &ty), SN_OK, "%s", sn_last_error());
        cr_assert_eq(sn_conv2d_backward_data(ctx, &d, &tdy, &tw, &tdx, 0), SN_OK, "%s",
                     sn_last_error());
        cr_assert_eq(sn_conv2d_backward_weights(ctx, &d, &tx, &tdy, &tdw, 0), SN_OK, "%s",
                     sn_last_error());
        sn_conv_force_algo(ctx, previous);
        e[a][0] = compare(&ty, want_y);
        e[a][1] = compare(&tdx, want_dx);
        e[a][2] = compare(&tdw, want_dw);
    }
    fprintf(stderr,
            "conv2d error vs the double reference, N=%d C=%d OC=%d %dx%d pad %d, values ~N(0,1)\n"
            "| pass | algo | max abs error | max abs ref | max err / max ref | rms err / rms "
            "ref |\n",
            N, C, OC, H, H, pad);
    for (int p = 0; p < 3; p++)
        for (int a = 0; a < 2; a++)
            fprintf(stderr, "| %s | %s | %.3g | %.3g | %.3g | %.3g |\n", passes[p],
                    sn_conv_algo_name(algos[a]), e[a][p].max_abs, e[a][p].max_ref,
                    e[a][p].rel_max, e[a][p].rel_rms);
    for (int p = 0; p < 3; p++) {
        cr_expect(e[1][p].rel_rms <= 10 * e[0][p].rel_rms + 1e-9,
                  "%s: winograd rms error %g vs direct %g", passes[p], e[1][p].rel_rms,
                  e[0][p].rel_rms);
        cr_expect(e[1][p].rel_max < 1e-5, "%s: winograd max error / max ref %g", passes[p],
                  e[1][p].rel_max);
    }

    sn_tensor *all[] = {&tx, &tw, &tdy, &ty, &tdx, &tdw};
    op_release_all(all, sizeof all / sizeof *all);
    sn_context_free(ctx);
    double *bufs[] = {x, w, dy, want_y, want_dx, want_dw};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
}
