/* Our own SGEMM kernel (kernels/gemm.cl through ops/gemm.h) against a
 * double reference: every transpose pair, sizes that are not multiples of
 * the work-group's block (1, odd, just past a block), operands at offsets
 * with leading dimensions wider than the matrix, batches with strides,
 * alpha/beta, beta = 0 over NaN (C never read) and beta = 1 (C added to).
 * The elements of C outside the matrix (padding columns, gaps between
 * batch entries) must keep their old values. CLBlast runs the same cases
 * where the device may compile at run time. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "op_test.h"
#include "ops/gemm.h"
#include "runtime/runtime_internal.h"

typedef struct gemm_case {
    int m, n, k, ta, tb, batch;
    float alpha, beta;
} gemm_case;

enum backend { OWN, CLBLAST };

/* Stored sizes of op(X) [rows, cols]: transposed operands are stored
 * [cols, rows]. Leading dimensions are 3 wider, offsets 5, batch gaps 7. */
static size_t ld_of(int stored_cols) { return (size_t)stored_cols + 3; }
static size_t stride_of(int stored_rows, int stored_cols)
{
    return (size_t)stored_rows * ld_of(stored_cols) + 7;
}
#define OFFSET 5

static void run_case(gemm_case c, enum backend backend, unsigned long long seed)
{
    sn_context *ctx = op_test_context();
    if (backend == CLBLAST && !ctx->runtime_compile) {
        sn_context_free(ctx);
        cr_skip_test("the device may not compile at run time");
    }
    const int ar = c.ta ? c.k : c.m, ac = c.ta ? c.m : c.k; /* A as stored */
    const int br = c.tb ? c.n : c.k, bc = c.tb ? c.k : c.n;
    const size_t as = stride_of(ar, ac), bs = stride_of(br, bc), cs = stride_of(c.m, c.n);
    const size_t na = OFFSET + (size_t)c.batch * as, nb = OFFSET + (size_t)c.batch * bs,
                 nc = OFFSET + (size_t)c.batch * cs;
    ref_rng rng;
    ref_rng_seed(&rng, seed);
    double *a = op_random(&rng, na, -1, 1), *b = op_random(&rng, nb, -1, 1);
    double *c0 = op_random(&rng, nc, -1, 1);
    double *want = malloc(nc * sizeof *want);
    cr_assert(want);
    for (size_t i = 0; i < nc; i++)
        want[i] = c0[i];
    for (int t = 0; t < c.batch; t++) {
        const double *at = a + OFFSET + t * as, *bt = b + OFFSET + t * bs;
        double *ct = want + OFFSET + t * cs;
        for (int i = 0; i < c.m; i++)
            for (int j = 0; j < c.n; j++) {
                double sum = 0;
                for (int k = 0; k < c.k; k++)
                    sum += (c.ta ? at[k * ld_of(ac) + i] : at[i * ld_of(ac) + k]) *
                           (c.tb ? bt[j * ld_of(bc) + k] : bt[k * ld_of(bc) + j]);
                double *out = &ct[i * ld_of(c.n) + j];
                *out = c.alpha * sum + (c.beta == 0 ? 0 : c.beta * *out);
            }
    }
    sn_tensor ta, tb, tc;
    op_tensor_from(ctx, &ta, 1, (int[]){(int)na}, a);
    op_tensor_from(ctx, &tb, 1, (int[]){(int)nb}, b);
    if (c.beta == 0) { /* C's matrix elements NaN: never read under beta 0 */
        for (int t = 0; t < c.batch; t++)
            for (int i = 0; i < c.m; i++)
                for (int j = 0; j < c.n; j++)
                    c0[OFFSET + t * cs + i * ld_of(c.n) + j] = NAN;
    }
    op_tensor_from(ctx, &tc, 1, (int[]){(int)nc}, c0);
    const sn_gemm_operand oa = {ta.buffer, OFFSET, ld_of(ac), c.ta},
                          ob = {tb.buffer, OFFSET, ld_of(bc), c.tb},
                          oc = {tc.buffer, OFFSET, ld_of(c.n), 0};
    sn_status st;
    if (backend == CLBLAST) {
        cr_assert_eq(c.batch, 1);
        st = sn_gemm_clblast(ctx, "test", c.m, c.n, c.k, c.alpha, oa, ob, c.beta, oc);
    } else if (c.batch == 1) {
        st = sn_gemm(ctx, "test", c.m, c.n, c.k, c.alpha, oa, ob, c.beta, oc);
    } else {
        st = sn_gemm_batched(ctx, "test", c.m, c.n, c.k, c.alpha, oa, as, ob, bs, c.beta, oc, cs,
                             c.batch);
    }
    op_expect_ok(st, "sgemm");
    char what[128];
    snprintf(what, sizeof what, "C of %dx%dx%d ta %d tb %d batch %d", c.m, c.n, c.k, c.ta, c.tb,
             c.batch);
    op_expect_close(what, &tc, want, 1e-5, 1e-5 * sqrt((double)c.k) + 1e-6);
    sn_tensor *all[] = {&ta, &tb, &tc};
    op_release_all(all, 3);
    free(a);
    free(b);
    free(c0);
    free(want);
    sn_context_free(ctx);
}

/* Every transpose pair of one size and scalars. */
static void run_all_transposes(gemm_case c, enum backend backend, unsigned long long seed)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            c.ta = ta;
            c.tb = tb;
            run_case(c, backend, seed + (unsigned long long)(2 * ta + tb));
        }
}

#define GEMM_TEST(name, M, N, K, BATCH, ALPHA, BETA)                                           \
    Test(gemm, name)                                                                           \
    {                                                                                          \
        run_all_transposes((gemm_case){M, N, K, 0, 0, BATCH, ALPHA, BETA}, OWN, __LINE__);     \
    }

/*        name                M    N    K  batch alpha beta */
GEMM_TEST(one_by_one,          1,   1,   1,  1, 1.0f, 0.0f)
GEMM_TEST(odd_small,           3,   5,   7,  1, 1.0f, 0.0f)
GEMM_TEST(odd_accumulate,      7,   3,   5,  1, 1.0f, 1.0f)
GEMM_TEST(alpha_beta,         13,  11,   9,  1, 0.5f, -2.0f)
GEMM_TEST(past_a_block,       65,  67,  33,  1, 1.0f, 0.0f)
GEMM_TEST(long_k,             10,  10, 1025, 1, 1.0f, 1.0f)
GEMM_TEST(linear_head,       128,  10,  64,  1, 1.0f, 1.0f)
GEMM_TEST(batched,            17,  19,  23,  3, 1.0f, 0.0f)
GEMM_TEST(batched_accumulate,  9,   6,  40,  5, 1.0f, 1.0f)

/* CLBlast, where it may run: the same contract through its own kernels. */
Test(gemm_clblast, odd_sizes_every_transpose)
{
    run_all_transposes((gemm_case){13, 11, 9, 0, 0, 1, 0.5f, 0.0f}, CLBLAST, 1);
    run_all_transposes((gemm_case){65, 67, 33, 0, 0, 1, 1.0f, 1.0f}, CLBLAST, 2);
}

/* CLBlast is refused with a message where nothing may compile at run time,
 * and our kernel still runs. */
static void expect_clblast_refused(sn_context *ctx)
{
    cr_assert_eq(ctx->runtime_compile, 0);
    sn_tensor t;
    op_tensor_poisoned(ctx, &t, 1, (int[]){4});
    const sn_gemm_operand o = {t.buffer, 0, 2, 0};
    cr_assert_eq(sn_gemm_clblast(ctx, "test", 2, 2, 2, 1.0f, o, o, 0.0f, o), SN_ERR_UNSUPPORTED);
    cr_assert(strstr(sn_last_error(), "run time"), "%s", sn_last_error());
    sn_tensor_release(&t);
}

/* From an offline binary: the program was compiled elsewhere. */
Test(gemm_clblast, refused_with_offline_binary)
{
    const char *dev = getenv("SN_TEST_DEVICE");
    char path[] = "/tmp/sn_gemm_binary_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    op_expect_ok(sn_compile_kernels(dev && *dev ? dev : "cpu", path), "compile-kernels");
    cr_assert_eq(setenv("SN_KERNEL_BINARY", path, 1), 0);
    sn_context *ctx = op_test_context();
    cr_assert_eq(sn_context_program_origin(ctx), SN_PROGRAM_FROM_BINARY);
    expect_clblast_refused(ctx);
    sn_context_free(ctx);
    run_case((gemm_case){5, 6, 7, 1, 0, 1, 1.0f, 0.0f}, OWN, 3);
    unlink(path);
}

/* SN_NO_RUNTIME_COMPILE=1: the program from the cache (every family of it
 * warmed first), or where the cache keeps no binaries (POCL) from an
 * offline binary. */
Test(gemm_clblast, refused_without_runtime_compile)
{
    sn_context *warm = op_test_context();
    op_expect_ok(sn_context_build_kernels(warm), "build the kernels");
    const int binaries = sn_cache_keeps_binaries(warm);
    sn_context_free(warm);
    char path[] = "/tmp/sn_gemm_binary_XXXXXX";
    if (!binaries) {
        int fd = mkstemp(path);
        cr_assert(fd >= 0);
        close(fd);
        const char *dev = getenv("SN_TEST_DEVICE");
        op_expect_ok(sn_compile_kernels(dev && *dev ? dev : "cpu", path), "compile-kernels");
        cr_assert_eq(setenv("SN_KERNEL_BINARY", path, 1), 0);
    }
    cr_assert_eq(setenv("SN_NO_RUNTIME_COMPILE", "1", 1), 0);
    sn_context *ctx = op_test_context();
    expect_clblast_refused(ctx);
    cr_assert_eq(sn_context_program_origin(ctx),
                 binaries ? SN_PROGRAM_FROM_CACHE : SN_PROGRAM_FROM_BINARY);
    sn_context_free(ctx);
    run_case((gemm_case){4, 9, 3, 0, 1, 2, 1.0f, 1.0f}, OWN, 4);
    if (!binaries)
        unlink(path);
}
