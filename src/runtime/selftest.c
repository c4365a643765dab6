/* Self-test cases: small kernels on random data, compared with the host. */
#include "runtime/runtime_internal.h"
#include "sharesnet/selftest.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

double sn_now_seconds(void) { return sn_now(); }

/* Deterministic pseudo-random floats in [-1, 1). */
void sn_selftest_random_fill(float *x, size_t n, unsigned seed)
{
    unsigned long long s = 0x9e3779b97f4a7c15ULL * (seed + 1);
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
}

/* y = a*x + y over an odd length, checked element by element. */
static sn_status check_saxpy(sn_context *ctx, char *detail, size_t size)
{
    const size_t n = 100003;
    const float a = 1.5f;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *got = malloc(n * sizeof *got);
    sn_tensor tx = {0}, ty = {0};
    int shape[1] = {(int)n};
    sn_status st = SN_OK;
    if (!x || !y || !got) {
        st = sn_fail(SN_ERR_OUT_OF_MEMORY, "selftest: out of host memory");
        goto done;
    }
    sn_selftest_random_fill(x, n, 1);
    sn_selftest_random_fill(y, n, 2);
    if ((st = sn_tensor_alloc(ctx, &tx, 1, shape, SN_MEM_OTHER)) != SN_OK ||
        (st = sn_tensor_alloc(ctx, &ty, 1, shape, SN_MEM_OTHER)) != SN_OK ||
        (st = sn_tensor_upload(&tx, x, n)) != SN_OK || (st = sn_tensor_upload(&ty, y, n)) != SN_OK)
        goto done;
    size_t global = n;
    st = SN_ENQUEUE(ctx, "sn_selftest_saxpy", 1, &global, NULL, SN_ARG_INT(n), SN_ARG_FLOAT(a),
                    SN_ARG_MEM(tx.buffer), SN_ARG_MEM(ty.buffer));
    if (st != SN_OK || (st = sn_tensor_download(&ty, got, n)) != SN_OK)
        goto done;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double want = (double)a * x[i] + y[i];
        double err = fabs(got[i] - want);
        if (!(err <= 1e-6 + 1e-6 * fabs(want))) {
            st = sn_fail(SN_ERR_INTERNAL, "saxpy: element %zu is %g, expected %g", i, got[i], want);
            goto done;
        }
        if (err > worst)
            worst = err;
    }
    snprintf(detail, size, "n=%zu max abs err %.2g", n, worst);
done:
    sn_tensor_release(&tx);
    sn_tensor_release(&ty);
    free(x);
    free(y);
    free(got);
    return st;
}

/* Upload, fill and download on an awkward size: every element written. */
static sn_status check_fill(sn_context *ctx, char *detail, size_t size)
{
    int shape[4] = {3, 5, 7, 9};
    size_t n = 3 * 5 * 7 * 9;
    float *host = malloc(n * sizeof *host);
    sn_tensor t = {0};
    sn_status st = SN_OK;
    if (!host)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "selftest: out of host memory");
    sn_selftest_random_fill(host, n, 3);
    if ((st = sn_tensor_alloc(ctx, &t, 4, shape, SN_MEM_OTHER)) != SN_OK ||
        (st = sn_tensor_upload(&t, host, n)) != SN_OK || (st = sn_tensor_fill(&t, -2.5f)) != SN_OK ||
        (st = sn_tensor_download(&t, host, n)) != SN_OK)
        goto done;
    for (size_t i = 0; i < n; i++)
        if (host[i] != -2.5f) {
            st = sn_fail(SN_ERR_INTERNAL, "fill: element %zu is %g, expected -2.5", i, host[i]);
            goto done;
        }
    snprintf(detail, size, "%zu elements", n);
done:
    sn_tensor_release(&t);
    free(host);
    return st;
}

const sn_selftest_case sn_selftest_cases[] = {
    {"saxpy", check_saxpy},
    {"tensor fill", check_fill},
    {NULL, NULL},
};
