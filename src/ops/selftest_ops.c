/* Self-test cases of the ops: a small conv2d and a linear layer on random
 * data, checked against plain double loops on the host. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/runtime_internal.h"
#include "sharesnet/ops.h"
#include "sharesnet/selftest.h"

extern const sn_selftest_case sn_selftest_ops_cases[];

/* Largest |got - want| over n values; SN_ERR_INTERNAL naming `what` and the
 * first element off by more than 1e-5 + 1e-5 |want|. */
static sn_status compare(const char *what, const float *got, const double *want, size_t n,
                         double *worst)
{
    *worst = 0;
    for (size_t i = 0; i < n; i++) {
        double err = fabs(got[i] - want[i]);
        if (!(err <= 1e-5 + 1e-5 * fabs(want[i])))
            return sn_fail(SN_ERR_INTERNAL, "%s: element %zu is %g, expected %g", what, i,
                           got[i], want[i]);
        if (err > *worst)
            *worst = err;
    }
    return SN_OK;
}

/* One conv2d forward against double loops: x [N,C,H,W] * w [OC,C,K,K]. */
static sn_status check_conv2d(sn_context *ctx, const char *what, int N, int C, int H, int W,
                              int OC, int K, int S, int P, unsigned seed, char *detail,
                              size_t size)
{
    const int OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1;
    const size_t nx = (size_t)N * C * H * W, nw = (size_t)OC * C * K * K,
                 ny = (size_t)N * OC * OH * OW;
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *y = malloc(ny * sizeof *y);
    double *want = malloc(ny * sizeof *want);
    sn_tensor tx = {0}, tw = {0}, ty = {0};
    sn_status st = SN_OK;
    if (!x || !w || !y || !want) {
        st = sn_fail(SN_ERR_OUT_OF_MEMORY, "selftest: out of host memory");
        goto done;
    }
    sn_selftest_random_fill(x, nx, seed);
    sn_selftest_random_fill(w, nw, seed + 1);
    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < OC; oc++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    double sum = 0;
                    for (int c = 0; c < C; c++)
                        for (int kh = 0; kh < K; kh++)
                            for (int kw = 0; kw < K; kw++) {
                                int ih = oh * S - P + kh, iw = ow * S - P + kw;
                                if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                                    sum += (double)w[((oc * C + c) * K + kh) * K + kw] *
                                           x[((n * C + c) * H + ih) * W + iw];
                            }
                    want[((n * OC + oc) * OH + oh) * OW + ow] = sum;
                }
    const sn_conv2d_desc d = {K, S, P};
    double worst;
    if ((st = sn_tensor_alloc(ctx, &tx, 4, (const int[]){N, C, H, W}, SN_MEM_OTHER)) != SN_OK ||
        (st = sn_tensor_alloc(ctx, &tw, 4, (const int[]){OC, C, K, K}, SN_MEM_OTHER)) != SN_OK ||
        (st = sn_tensor_alloc(ctx, &ty, 4, (const int[]){N, OC, OH, OW}, SN_MEM_OTHER)) !=
            SN_OK ||
        (st = sn_tensor_upload(&tx, x, nx)) != SN_OK ||
        (st = sn_tensor_upload(&tw, w, nw)) != SN_OK || (st = sn_tensor_fill(&ty, NAN)) != SN_OK ||
        (st = sn_conv2d_forward(ctx, &d, &tx, &tw, &ty)) != SN_OK ||
        (st = sn_tensor_download(&ty, y, ny)) != SN_OK ||
        (st = compare(what, y, want, ny, &worst)) != SN_OK)
        goto done;
    snprintf(detail, size, "%dx%d stride %d pad %d, %zu outputs, max abs err %.2g", K, K, S, P,
             ny, worst);
done:
    sn_tensor_release(&tx);
    sn_tensor_release(&tw);
    sn_tensor_release(&ty);
    free(x);
    free(w);
    free(y);
    free(want);
    return st;
}

/* x [2,3,7,7] * w [5,3,3,3], stride 2, pad 1 -> y [2,5,4,4]. */
static sn_status check_conv2d_s2(sn_context *ctx, char *detail, size_t size)
{
    return check_conv2d(ctx, "conv2d forward", 2, 3, 7, 7, 5, 3, 2, 1, 11, detail, size);
}

/* x [1,3,5,6] * w [5,3,3,3], stride 1, pad 1 -> y [1,5,5,6]: the shape
 * Winograd takes too (odd tiles), so SN_CONV_ALGO=winograd and the tuner
 * reach its kernels. */
static sn_status check_conv2d_s1(sn_context *ctx, char *detail, size_t size)
{
    return check_conv2d(ctx, "conv2d forward s1", 1, 3, 5, 6, 5, 3, 1, 1, 13, detail, size);
}

/* x [3,10] w^T + b, w [7,10], b [7] -> y [3,7]. */
static sn_status check_linear(sn_context *ctx, char *detail, size_t size)
{
    enum { N = 3, IN = 10, OUT = 7 };
    float x[N * IN], w[OUT * IN], b[OUT], y[N * OUT];
    double want[N * OUT];
    sn_selftest_random_fill(x, N * IN, 21);
    sn_selftest_random_fill(w, OUT * IN, 22);
    sn_selftest_random_fill(b, OUT, 23);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) {
            double sum = b[o];
            for (int i = 0; i < IN; i++)
                sum += (double)x[n * IN + i] * w[o * IN + i];
            want[n * OUT + o] = sum;
        }
    sn_tensor tx = {0}, tw = {0}, tb = {0}, ty = {0};
    sn_status st;
    double worst;
    if ((st = sn_tensor_alloc(ctx, &tx, 2, (const int[]){N, IN}, SN_MEM_OTHER)) != SN_OK ||
        (st = sn_tensor_alloc(ctx, &tw, 2, (const int[]){OUT, IN}, SN_MEM_OTHER)) != SN_OK ||
        (st = sn_tensor_alloc(ctx, &tb, 1, (const int[]){OUT}, SN_MEM_OTHER)) != SN_OK ||
        (st = sn_tensor_alloc(ctx, &ty, 2, (const int[]){N, OUT}, SN_MEM_OTHER)) != SN_OK ||
        (st = sn_tensor_upload(&tx, x, N * IN)) != SN_OK ||
        (st = sn_tensor_upload(&tw, w, OUT * IN)) != SN_OK ||
        (st = sn_tensor_upload(&tb, b, OUT)) != SN_OK || (st = sn_tensor_fill(&ty, NAN)) != SN_OK ||
        (st = sn_linear_forward(ctx, &tx, &tw, &tb, &ty)) != SN_OK ||
        (st = sn_tensor_download(&ty, y, N * OUT)) != SN_OK ||
        (st = compare("linear forward", y, want, N * OUT, &worst)) != SN_OK)
        goto done;
    snprintf(detail, size, "[%d,%d] -> [%d,%d], max abs err %.2g", N, IN, N, OUT, worst);
done:
    sn_tensor_release(&tx);
    sn_tensor_release(&tw);
    sn_tensor_release(&tb);
    sn_tensor_release(&ty);
    return st;
}

const sn_selftest_case sn_selftest_ops_cases[] = {
    {"conv2d forward", check_conv2d_s2},
    {"conv2d forward s1", check_conv2d_s1},
    {"linear forward", check_linear},
    {NULL, NULL},
};
