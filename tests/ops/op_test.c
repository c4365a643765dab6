/* Helpers for device op tests (see op_test.h). */
#include "op_test.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

sn_context *op_test_context(void)
{
    sn_context_options o;
    sn_context_options_default(&o);
    const char *dev = getenv("SN_TEST_DEVICE");
    o.device = dev && *dev ? dev : "cpu";
    sn_context *ctx = NULL;
    sn_status st = sn_context_create(&o, &ctx);
    cr_assert_eq(st, SN_OK, "cannot create a context: %s", sn_last_error());
    return ctx;
}

double *op_random(ref_rng *rng, size_t n, double lo, double hi)
{
    double *x = malloc((n ? n : 1) * sizeof *x);
    cr_assert_not_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = (double)(float)ref_rng_uniform(rng, lo, hi);
    return x;
}

void op_tensor_from(sn_context *ctx, sn_tensor *t, int ndim, const int *shape,
                    const double *values)
{
    sn_status st = sn_tensor_alloc(ctx, t, ndim, shape, SN_MEM_OTHER);
    cr_assert_eq(st, SN_OK, "alloc: %s", sn_last_error());
    float *f = malloc(t->count * sizeof *f);
    cr_assert_not_null(f);
    for (size_t i = 0; i < t->count; i++)
        f[i] = (float)values[i];
    st = sn_tensor_upload(t, f, t->count);
    cr_assert_eq(st, SN_OK, "upload: %s", sn_last_error());
    free(f);
}

void op_tensor_poisoned(sn_context *ctx, sn_tensor *t, int ndim, const int *shape)
{
    sn_status st = sn_tensor_alloc(ctx, t, ndim, shape, SN_MEM_OTHER);
    cr_assert_eq(st, SN_OK, "alloc: %s", sn_last_error());
    st = sn_tensor_fill(t, NAN);
    cr_assert_eq(st, SN_OK, "poison: %s", sn_last_error());
}

double *op_download(const sn_tensor *t)
{
    float *f = malloc(t->count * sizeof *f);
    double *d = malloc(t->count * sizeof *d);
    cr_assert(f && d);
    sn_status st = sn_tensor_download(t, f, t->count);
    cr_assert_eq(st, SN_OK, "download: %s", sn_last_error());
    for (size_t i = 0; i < t->count; i++)
        d[i] = f[i];
    free(f);
    return d;
}

void op_expect_close(const char *what, const sn_tensor *t, const double *want, double rtol,
                     double atol)
{
    float *f = malloc(t->count * sizeof *f);
    cr_assert_not_null(f);
    sn_status st = sn_tensor_download(t, f, t->count);
    cr_assert_eq(st, SN_OK, "%s: download: %s", what, sn_last_error());
    char msg[512];
    long bad = ref_check_close(f, want, t->count, rtol, atol, msg, sizeof msg);
    cr_expect_eq(bad, -1, "%s: %s", what, msg);
    free(f);
}
