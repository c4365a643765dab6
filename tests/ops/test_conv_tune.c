/* The convolution auto-tuner: timing on a miss, the tuning file (written,
 * read by a later process, corrupt or foreign files ignored and rewritten),
 * SN_CONV_ALGO, SN_TUNE=0, SN_CACHE=0, forcing, a tuning failure that
 * falls back to the default, and the device policy when SN_TUNE is unset
 * (CPUs: stored decisions, never timing). Each test runs in its own process
 * (Criterion forks), so the process-wide tables and counters start empty.
 * SN_TUNE=1 unless a test says otherwise: timing is what most check. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "op_test.h"
#include "ops/conv_tune.h"
#include "runtime/runtime_internal.h"

static char cache_dir[256];

static void make_cache_dir(void)
{
    snprintf(cache_dir, sizeof cache_dir, "/tmp/sn-tune-test-XXXXXX");
    cr_assert_not_null(mkdtemp(cache_dir));
    setenv("SN_CACHE_DIR", cache_dir, 1);
    unsetenv("SN_CACHE");
    unsetenv("SN_CONV_ALGO");
    setenv("SN_TUNE", "1", 1);
}

static void remove_cache_dir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_dir);
    if (system(cmd) != 0)
        cr_log_warn("could not remove %s", cache_dir);
}

TestSuite(conv_tune, .init = make_cache_dir, .fini = remove_cache_dir, .timeout = 300);

/* Small shapes the direct algorithm supports (checked by need_both);
 * Winograd supports shape_a (3x3, stride 1: need_all), not shape_b
 * (stride 2). */
static const sn_conv_shape shape_a = {2, 4, 9, 9, 6, 3, 1, 1};
static const sn_conv_shape shape_b = {3, 5, 8, 8, 4, 3, 2, 1};

static sn_conv_algo choose(sn_context *ctx, sn_conv_pass pass, const sn_conv_shape *s)
{
    return sn_conv_choose(ctx, pass, s->N, s->C, s->H, s->W, s->OC, s->K, s->stride, s->pad);
}

static void need_both(sn_context *ctx, sn_conv_pass pass, const sn_conv_shape *s)
{
    cr_assert(sn_conv_algo_supported(ctx, SN_CONV_ALGO_DIRECT, pass, s->N, s->C, s->H, s->W,
                                     s->OC, s->K, s->stride, s->pad),
              "the direct algorithm should support the test shape");
}

static int winograd_supports(sn_context *ctx, sn_conv_pass pass, const sn_conv_shape *s)
{
    return sn_conv_winograd_supported(ctx, pass, s->N, s->C, s->H, s->W, s->OC, s->K, s->stride,
                                      s->pad);
}

/* Every algorithm supports the shape: GEMM always, direct and Winograd. */
static void need_all(sn_context *ctx, sn_conv_pass pass, const sn_conv_shape *s)
{
    need_both(ctx, pass, s);
    cr_assert(winograd_supports(ctx, pass, s), "Winograd should support the test shape");
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = calloc(1, 1 << 16);
    cr_assert_not_null(text);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static void write_text(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* A decision line in the documented format, with its checksum: low 32 bits
 * of sn_hash64(content, seed 0x7e11). */
static void decision_line(char *buf, size_t size, const char *content)
{
    unsigned check = (unsigned)(sn_hash64(content, strlen(content), 0x7e11) & 0xffffffffu);
    snprintf(buf, size, "%s %08x\n", content, check);
}

static int file_has_line_starting(const char *text, const char *prefix)
{
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (!strncmp(line, prefix, strlen(prefix)))
            return 1;
    return 0;
}

Test(conv_tune, first_choice_times_candidates_and_writes_the_file)
{
    sn_context *ctx = op_test_context();
    need_all(ctx, SN_CONV_FORWARD, &shape_a);
    char path[4200], header[4400];
    sn_conv_tune_path(ctx, path, sizeof path);
    sn_conv_tune_header(ctx, header, sizeof header);
    cr_assert(!strncmp(path, cache_dir, strlen(cache_dir)), "tuning file %s not in %s", path,
              cache_dir);
    cr_assert(strstr(path, ".tune"));
    cr_assert(strstr(header, "source="), "header names the kernel source hash: %s", header);
    cr_assert(!strncmp(header, "# sharesnet conv tuning v3 ", 27), "format v3: %s", header);
    cr_assert_eq(access(path, F_OK), -1, "no tuning file before tuning");

    cr_assert_eq(sn_conv_tune_timings(), 0);
    sn_mem_stats before, after;
    sn_context_mem_stats(ctx, &before);
    sn_conv_algo a = choose(ctx, SN_CONV_FORWARD, &shape_a);
    cr_assert(a >= SN_CONV_ALGO_GEMM && a < SN_CONV_ALGO_COUNT);
    cr_assert_eq(sn_conv_tune_timings(), 1, "the first choice times the candidates");
    sn_context_mem_stats(ctx, &after);
    cr_assert_eq(after.total, before.total, "tuning leaves no device memory behind");
    cr_assert_eq(after.allocations, before.allocations);
    cr_assert_eq(after.peak, before.peak, "scratch tensors do not count towards the peak");

    /* Remembered: no second timing. */
    cr_assert_eq(choose(ctx, SN_CONV_FORWARD, &shape_a), a);
    cr_assert_eq(sn_conv_tune_timings(), 1);

    char *text = read_text(path);
    cr_assert_not_null(text, "the tuning file %s was written", path);
    cr_assert(!strncmp(text, header, strlen(header)) && text[strlen(header)] == '\n',
              "first line is the key:\n%s", text);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "forward 2 4 9 9 6 3 1 1 %s ", sn_conv_algo_name(a));
    cr_assert(file_has_line_starting(text, prefix), "no line '%s' in\n%s", prefix, text);
    free(text);

    /* The explicit tuner reports every candidate's time, one per algorithm
     * in the file's line too. */
    sn_conv_tune_result r;
    cr_assert_eq(sn_conv_tune(ctx, SN_CONV_FORWARD, &shape_a, 0, &r), SN_OK, "%s",
                 sn_last_error());
    cr_assert_eq(r.algo, a);
    cr_assert_eq(r.source, SN_TUNE_SOURCE_TIMED);
    for (int b = 0; b < SN_CONV_ALGO_COUNT; b++) {
        cr_assert(r.supported[b] && r.ms[b] >= 0, "%s timed", sn_conv_algo_name(b));
        cr_assert(r.ms[a] <= r.ms[b], "the fastest wins (%s)", sn_conv_algo_name(b));
    }
    sn_context_free(ctx);
}

Test(conv_tune, a_later_process_reads_the_file_without_timing)
{
    sn_context *ctx = op_test_context();
    need_both(ctx, SN_CONV_BACKWARD_WEIGHTS, &shape_b);
    sn_conv_algo a = choose(ctx, SN_CONV_BACKWARD_WEIGHTS, &shape_b);
    cr_assert_eq(sn_conv_tune_timings(), 1);
    sn_context_free(ctx);

    sn_conv_tune_forget(); /* as a new process */
    sn_context *ctx2 = op_test_context();
    cr_assert_eq(choose(ctx2, SN_CONV_BACKWARD_WEIGHTS, &shape_b), a);
    cr_assert_eq(sn_conv_tune_timings(), 1, "the second context reads the file");
    cr_assert_geq(sn_conv_tune_file_hits(), 1);
    sn_context_free(ctx2);
}

Test(conv_tune, the_file_decides_even_against_the_clock)
{
    /* Hand-written decisions are taken as they are: gemm for one pass, direct
     * for another, winograd for the third, whatever the clock would say. */
    sn_context *ctx = op_test_context();
    for (int pass = SN_CONV_FORWARD; pass <= SN_CONV_BACKWARD_WEIGHTS; pass++)
        need_all(ctx, (sn_conv_pass)pass, &shape_a);
    char path[4200], header[4400], l1[256], l2[256], l3[256], text[8192];
    sn_conv_tune_path(ctx, path, sizeof path);
    sn_conv_tune_header(ctx, header, sizeof header);
    decision_line(l1, sizeof l1, "forward 2 4 9 9 6 3 1 1 gemm 1.5000 9.0000 7.0000 -");
    decision_line(l2, sizeof l2, "backward_data 2 4 9 9 6 3 1 1 direct 9.0000 1.2500 - 8.0");
    decision_line(l3, sizeof l3, "backward_weights 2 4 9 9 6 3 1 1 winograd 3.0 2.0 0.5 -");
    snprintf(text, sizeof text, "%s\n# comment\n%s\n%s\n%s", header, l1, l2, l3);
    write_text(path, text, strlen(text));

    cr_assert_eq(choose(ctx, SN_CONV_FORWARD, &shape_a), SN_CONV_ALGO_GEMM);
    cr_assert_eq(choose(ctx, SN_CONV_BACKWARD_DATA, &shape_a), SN_CONV_ALGO_DIRECT);
    cr_assert_eq(choose(ctx, SN_CONV_BACKWARD_WEIGHTS, &shape_a), SN_CONV_ALGO_WINOGRAD);
    cr_assert_eq(sn_conv_tune_timings(), 0);
    cr_assert_eq(sn_conv_tune_file_hits(), 3);
    sn_conv_tune_result r;
    cr_assert_eq(sn_conv_tune(ctx, SN_CONV_FORWARD, &shape_a, 0, &r), SN_OK);
    cr_assert_eq(r.source, SN_TUNE_SOURCE_FILE);
    cr_assert_float_eq(r.ms[SN_CONV_ALGO_GEMM], 1.5, 1e-9);
    cr_assert_float_eq(r.ms[SN_CONV_ALGO_DIRECT], 9.0, 1e-9);
    cr_assert_float_eq(r.ms[SN_CONV_ALGO_WINOGRAD], 7.0, 1e-9);
    cr_assert_eq(sn_conv_tune(ctx, SN_CONV_BACKWARD_DATA, &shape_a, 0, &r), SN_OK);
    cr_assert(r.ms[SN_CONV_ALGO_WINOGRAD] < 0, "'-': not measured");
    cr_assert_eq(sn_conv_tune_timings(), 0);
    sn_context_free(ctx);
}

Test(conv_tune, corrupt_and_truncated_files_are_ignored_and_rewritten)
{
    sn_context *ctx = op_test_context();
    need_both(ctx, SN_CONV_FORWARD, &shape_a);
    char path[4200], header[4400], good[256], text[16384];
    sn_conv_tune_path(ctx, path, sizeof path);
    sn_conv_tune_header(ctx, header, sizeof header);
    decision_line(good, sizeof good, "forward 2 4 9 9 6 3 1 1 gemm 1.0000 2.0000 3.0000 -");
    char flipped[256];
    snprintf(flipped, sizeof flipped, "%s", good);
    flipped[0] = 'F'; /* checksum no longer matches */
    char bad_values[256];
    decision_line(bad_values, sizeof bad_values, "forward 2 4 9 9 6 3 1 1 direct 1.0 - 2.0 -");
    char negative[256];
    decision_line(negative, sizeof negative, "forward -2 4 9 9 6 3 1 1 gemm 1.0 2.0 3.0 -");
    char nan_time[256];
    decision_line(nan_time, sizeof nan_time, "forward 2 4 9 9 6 3 1 1 gemm nan 2.0 3.0 -");
    char unknown[256];
    decision_line(unknown, sizeof unknown, "forward 2 4 9 9 6 3 1 1 fft 1.0 2.0 3.0 -");
    char extra[256];
    decision_line(extra, sizeof extra, "forward 2 4 9 9 6 3 1 1 gemm 1.0 2.0 3.0 4.0 5.0");
    char v1_line[256]; /* the v2 format: three times */
    decision_line(v1_line, sizeof v1_line, "forward 2 4 9 9 6 3 1 1 gemm 1.0 2.0 3.0");

    /* Every line here is wrong in some way; the last is the good line cut
     * short (no newline). Nothing is used: the shape gets timed. */
    size_t len = (size_t)snprintf(text, sizeof text,
                                  "%s\n%s%s%s%s%s%s%s\ngarbage\n\x01\x02\xff\n%.*s", header,
                                  flipped, bad_values, negative, nan_time, unknown, extra,
                                  v1_line, (int)strlen(good) - 1, good);
    write_text(path, text, len);
    cr_assert(choose(ctx, SN_CONV_FORWARD, &shape_a) < SN_CONV_ALGO_COUNT);
    cr_assert_eq(sn_conv_tune_timings(), 1, "a corrupt file is ignored");
    cr_assert_eq(sn_conv_tune_file_hits(), 0);

    char *after = read_text(path);
    cr_assert_not_null(after);
    cr_assert(!strncmp(after, header, strlen(header)), "rewritten with the key");
    cr_assert(!strstr(after, "garbage") && !strstr(after, "fft") && !strstr(after, "Forward") &&
                  !strstr(after, "gemm 1.0 2.0 "),
              "bad lines are dropped:\n%s", after);
    cr_assert(file_has_line_starting(after, "forward 2 4 9 9 6 3 1 1 "));
    free(after);

    /* Pure binary junk and an empty file: ignored too. */
    sn_conv_tune_forget();
    unsigned char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 131u + 7u);
    write_text(path, (const char *)junk, sizeof junk);
    cr_assert(choose(ctx, SN_CONV_FORWARD, &shape_a) < SN_CONV_ALGO_COUNT);
    cr_assert_eq(sn_conv_tune_timings(), 2);
    sn_conv_tune_forget();
    write_text(path, "", 0);
    cr_assert(choose(ctx, SN_CONV_FORWARD, &shape_a) < SN_CONV_ALGO_COUNT);
    cr_assert_eq(sn_conv_tune_timings(), 3);
    sn_context_free(ctx);
}

Test(conv_tune, a_file_for_another_key_is_not_used)
{
    sn_context *ctx = op_test_context();
    need_both(ctx, SN_CONV_FORWARD, &shape_a);
    char path[4200], header[4400], line[256], text[16384];
    sn_conv_tune_path(ctx, path, sizeof path);
    sn_conv_tune_header(ctx, header, sizeof header);
    decision_line(line, sizeof line, "forward 2 4 9 9 6 3 1 1 gemm 1.0000 2.0000 3.0000");

    /* Same file name, but written for another kernel source, then for
     * another device, then in the v1 format (whose lines have two times):
     * the valid-looking decision must not be taken. */
    const char *fields[] = {"source=", "device=", "tuning v"};
    for (int k = 0; k < 3; k++) {
        char other[4400];
        snprintf(other, sizeof other, "%s", header);
        char *v = strstr(other, fields[k]);
        cr_assert_not_null(v);
        v += strlen(fields[k]);
        *v = k == 2 ? '1' : *v == 'X' ? 'Y' : 'X';
        snprintf(text, sizeof text, "%s\n%s", other, line);
        write_text(path, text, strlen(text));
        sn_conv_tune_forget();
        choose(ctx, SN_CONV_FORWARD, &shape_a);
        cr_assert_eq(sn_conv_tune_timings(), k + 1, "a foreign file (%s) is not used",
                     fields[k]);
        cr_assert_eq(sn_conv_tune_file_hits(), 0);
        char *after = read_text(path);
        cr_assert_not_null(after);
        cr_assert(!strncmp(after, header, strlen(header)) && after[strlen(header)] == '\n',
                  "rewritten for this key");
        free(after);
    }
    sn_context_free(ctx);
}

/* A context created under SN_CONV_ALGO=algo (the variable is read once,
 * at creation). */
static sn_context *context_with_algo(const char *algo)
{
    cr_assert_eq(setenv("SN_CONV_ALGO", algo, 1), 0);
    sn_context *ctx = op_test_context();
    unsetenv("SN_CONV_ALGO");
    return ctx;
}

Test(conv_tune, sn_conv_algo_forces_an_algorithm)
{
    sn_context *ctx = context_with_algo("gemm");
    need_both(ctx, SN_CONV_FORWARD, &shape_a);
    cr_assert_eq(choose(ctx, SN_CONV_FORWARD, &shape_a), SN_CONV_ALGO_GEMM);
    setenv("SN_CONV_ALGO", "direct", 1);
    cr_assert_eq(choose(ctx, SN_CONV_FORWARD, &shape_a), SN_CONV_ALGO_GEMM,
                 "the context read the variable once, when it was created");
    unsetenv("SN_CONV_ALGO");
    sn_context_free(ctx);
    ctx = context_with_algo("direct");
    cr_assert_eq(choose(ctx, SN_CONV_FORWARD, &shape_a), SN_CONV_ALGO_DIRECT);
    sn_context_free(ctx);
    ctx = context_with_algo("winograd");
    cr_assert(winograd_supports(ctx, SN_CONV_FORWARD, &shape_a));
    cr_assert_eq(choose(ctx, SN_CONV_FORWARD, &shape_a), SN_CONV_ALGO_WINOGRAD);
    /* stride 2: Winograd declines, GEMM runs */
    cr_assert(!winograd_supports(ctx, SN_CONV_BACKWARD_DATA, &shape_b));
    cr_assert_eq(choose(ctx, SN_CONV_BACKWARD_DATA, &shape_b), SN_CONV_ALGO_GEMM);
    cr_assert_eq(sn_conv_tune_timings(), 0, "a forced algorithm needs no timing");
    char path[4200];
    sn_conv_tune_path(ctx, path, sizeof path);
    cr_assert_eq(access(path, F_OK), -1, "nothing written");
    sn_context_free(ctx);

    /* A shape direct does not support falls back to GEMM. */
    ctx = context_with_algo("direct");
    const sn_conv_shape huge = {1, 1 << 14, 1 << 10, 1 << 10, 1 << 14, 3, 1, 1};
    if (!sn_conv_algo_supported(ctx, SN_CONV_ALGO_DIRECT, SN_CONV_FORWARD, huge.N, huge.C, huge.H,
                                huge.W, huge.OC, huge.K, huge.stride, huge.pad))
        cr_assert_eq(choose(ctx, SN_CONV_FORWARD, &huge), SN_CONV_ALGO_GEMM);
    sn_context_free(ctx);

    /* A name that is no algorithm is refused when the context is made. */
    cr_assert_eq(setenv("SN_CONV_ALGO", "fast", 1), 0);
    sn_context_options o;
    sn_context_options_default(&o);
    o.device = getenv("SN_TEST_DEVICE") && *getenv("SN_TEST_DEVICE") ? getenv("SN_TEST_DEVICE")
                                                                      : "cpu";
    cr_assert_eq(sn_context_create(&o, &ctx), SN_ERR_INVALID_ARG);
    cr_assert(strstr(sn_last_error(), "'fast'"), "%s", sn_last_error());
    unsetenv("SN_CONV_ALGO");

    /* "auto" leaves it to the tuner. */
    ctx = context_with_algo("auto");
    choose(ctx, SN_CONV_FORWARD, &shape_a);
    cr_assert_eq(sn_conv_tune_timings(), 1);
    /* Forcing through the internal override, and restoring it. */
    cr_assert_eq(sn_conv_force_algo(ctx, SN_CONV_ALGO_DIRECT), -1);
    cr_assert_eq(choose(ctx, SN_CONV_BACKWARD_DATA, &shape_b), SN_CONV_ALGO_DIRECT);
    cr_assert_eq(sn_conv_force_algo(ctx, SN_CONV_ALGO_GEMM), SN_CONV_ALGO_DIRECT);
    cr_assert_eq(choose(ctx, SN_CONV_BACKWARD_DATA, &shape_b), SN_CONV_ALGO_GEMM);
    cr_assert_eq(sn_conv_force_algo(ctx, -1), SN_CONV_ALGO_GEMM);
    cr_assert_eq(sn_conv_tune_timings(), 1);
    sn_context_free(ctx);
}

Test(conv_tune, sn_tune_0_uses_the_device_default)
{
    setenv("SN_TUNE", "0", 1);
    sn_context *ctx = op_test_context();
    need_both(ctx, SN_CONV_FORWARD, &shape_a);
    sn_conv_algo a = choose(ctx, SN_CONV_FORWARD, &shape_a);
    cr_assert_eq(a, sn_conv_default_algo(ctx, SN_CONV_FORWARD, &shape_a));
    if (sn_context_device(ctx)->type == SN_DEVICE_CPU)
        cr_assert_eq(a, SN_CONV_ALGO_DIRECT, "CPUs default to the direct kernels");
    else if (sn_context_device(ctx)->type == SN_DEVICE_GPU)
        cr_assert_eq(a, ((sn_context_runtime_compile(ctx) ? SN_CONV_ALGO_CLBLAST : SN_CONV_ALGO_GEMM)),
                     "GPUs default to CLBlast, or our GEMM where nothing may compile");
    cr_assert_eq(sn_conv_tune_timings(), 0);
    char path[4200];
    sn_conv_tune_path(ctx, path, sizeof path);
    cr_assert_eq(access(path, F_OK), -1, "nothing written");
    sn_context_free(ctx);
}

/* SN_TUNE unset: the device class decides. A CPU never times: a stored
 * decision is used, the default elsewhere (and not remembered, so a
 * context that may time still does). */
Test(conv_tune, unset_sn_tune_on_a_cpu_uses_stored_decisions_and_never_times)
{
    unsetenv("SN_TUNE");
    sn_context *ctx = op_test_context();
    if (sn_context_device(ctx)->type != SN_DEVICE_CPU) {
        cr_assert_eq(sn_conv_tune_pending(ctx, SN_CONV_FORWARD, &shape_a), 1,
                     "other devices time new shapes");
        sn_context_free(ctx);
        return;
    }
    need_all(ctx, SN_CONV_FORWARD, &shape_a);
    cr_assert_eq(sn_conv_tune_pending(ctx, SN_CONV_FORWARD, &shape_a), 0);
    cr_assert_eq(choose(ctx, SN_CONV_FORWARD, &shape_a), SN_CONV_ALGO_DIRECT);
    cr_assert_eq(sn_conv_tune_timings(), 0, "a CPU does not time by default");
    /* `sharesnet tune` stores a decision (here: Winograd, written by hand). */
    char path[4200], header[4400], line[256], text[5000];
    sn_conv_tune_path(ctx, path, sizeof path);
    sn_conv_tune_header(ctx, header, sizeof header);
    decision_line(line, sizeof line, "forward 2 4 9 9 6 3 1 1 winograd 9.0000 5.0000 1.0000 -");
    int n = snprintf(text, sizeof text, "%s\n%s", header, line);
    write_text(path, text, (size_t)n);
    cr_assert_eq(choose(ctx, SN_CONV_FORWARD, &shape_a), SN_CONV_ALGO_WINOGRAD,
                 "the stored decision counts");
    cr_assert_eq(sn_conv_tune_timings(), 0);
    sn_context_free(ctx);
    /* SN_TUNE=1 times what nothing decides, and prepare can tell. */
    setenv("SN_TUNE", "1", 1);
    ctx = op_test_context();
    cr_assert_eq(sn_conv_tune_pending(ctx, SN_CONV_FORWARD, &shape_b), 1);
    choose(ctx, SN_CONV_FORWARD, &shape_b);
    cr_assert_eq(sn_conv_tune_timings(), 1);
    cr_assert_eq(sn_conv_tune_pending(ctx, SN_CONV_FORWARD, &shape_b), 0, "decided now");
    cr_assert_eq(sn_conv_tune_pending(ctx, SN_CONV_FORWARD, &shape_a), 0, "stored");
    sn_context_free(ctx);
}

/* The CPU defaults: direct everywhere but wide 3x3 stride-1 layers, which
 * run Winograd forward and backward-data. */
Test(conv_tune, cpu_defaults_pick_winograd_only_for_wide_3x3)
{
    setenv("SN_TUNE", "0", 1);
    sn_context *ctx = op_test_context();
    if (sn_context_device(ctx)->type == SN_DEVICE_CPU) {
        const sn_conv_shape wide = {8, 128, 28, 28, 128, 3, 1, 1};
        const sn_conv_shape narrow = {8, 64, 56, 56, 64, 3, 1, 1};
        const sn_conv_shape strided = {8, 128, 28, 28, 256, 3, 2, 1};
        cr_expect_eq(sn_conv_default_algo(ctx, SN_CONV_FORWARD, &wide), SN_CONV_ALGO_WINOGRAD);
        cr_expect_eq(sn_conv_default_algo(ctx, SN_CONV_BACKWARD_DATA, &wide),
                     SN_CONV_ALGO_WINOGRAD);
        cr_expect_eq(sn_conv_default_algo(ctx, SN_CONV_BACKWARD_WEIGHTS, &wide),
                     SN_CONV_ALGO_DIRECT);
        cr_expect_eq(sn_conv_default_algo(ctx, SN_CONV_FORWARD, &narrow), SN_CONV_ALGO_DIRECT);
        cr_expect_eq(sn_conv_default_algo(ctx, SN_CONV_FORWARD, &strided), SN_CONV_ALGO_DIRECT);
    }
    cr_assert_eq(sn_conv_tune_timings(), 0);
    sn_context_free(ctx);
}

Test(conv_tune, sn_cache_0_tunes_in_memory_only)
{
    setenv("SN_CACHE", "0", 1);
    sn_context *ctx = op_test_context();
    need_both(ctx, SN_CONV_FORWARD, &shape_a);
    char path[4200];
    sn_conv_tune_path(ctx, path, sizeof path);
    cr_assert_str_eq(path, "");
    sn_conv_algo a = choose(ctx, SN_CONV_FORWARD, &shape_a);
    cr_assert_eq(choose(ctx, SN_CONV_FORWARD, &shape_a), a);
    cr_assert_eq(sn_conv_tune_timings(), 1);
    sn_conv_tune_result r;
    cr_assert_eq(sn_conv_tune(ctx, SN_CONV_FORWARD, &shape_a, 0, &r), SN_OK, "%s",
                 sn_last_error());
    cr_assert_eq(r.algo, a);
    unsetenv("SN_CACHE");
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls %s/*.tune >/dev/null 2>&1", cache_dir);
    cr_assert_neq(system(cmd), 0, "no tuning file with SN_CACHE=0");
    sn_context_free(ctx);
}

Test(conv_tune, a_failed_tuning_falls_back_to_the_default)
{
    /* Scratch tensors larger than the device (or a tensor) allows: tuning fails, the
     * choice is the default, remembered, and the op's status is untouched. */
    sn_context *ctx = op_test_context();
    const sn_device_info *d = sn_context_device(ctx);
    const int C = 1024, H = 1024;
    int N = (int)(d->max_alloc_bytes / ((size_t)C * H * H * sizeof(float))) + 2;
    const sn_conv_shape huge = {N, C, H, H, 4, 1, 1, 0};
    sn_conv_algo a = choose(ctx, SN_CONV_FORWARD, &huge);
    cr_assert_eq(a, sn_conv_default_algo(ctx, SN_CONV_FORWARD, &huge));
    long timed = sn_conv_tune_timings();
    cr_assert_eq(choose(ctx, SN_CONV_FORWARD, &huge), a);
    cr_assert_eq(sn_conv_tune_timings(), timed, "a failure is remembered, not retried");
    cr_assert_str_eq(sn_last_error(), "", "a failed tuning leaves no error behind");

    sn_conv_tune_result r;
    sn_status st = sn_conv_tune(ctx, SN_CONV_FORWARD, &huge, 1, &r);
    cr_assert_neq(st, SN_OK, "explicit tuning reports the failure");
    cr_assert_neq(sn_last_error()[0], '\0');
    cr_assert_eq(r.source, SN_TUNE_SOURCE_DEFAULT);
    cr_assert_eq(r.algo, a);
    sn_mem_stats m;
    sn_context_mem_stats(ctx, &m);
    cr_assert_eq(m.bytes[SN_MEM_WORKSPACE], ctx->workspace_bytes, "no scratch left behind");
    sn_context_free(ctx);
}

Test(conv_tune, ops_agree_under_every_algorithm)
{
    /* What tuning may change: the last bits, never the result. */
    sn_context *ctx = op_test_context();
    const sn_conv_shape *s = &shape_a;
    need_all(ctx, SN_CONV_FORWARD, s);
    const int OH = (s->H + 2 * s->pad - s->K) / s->stride + 1;
    const int sx[4] = {s->N, s->C, s->H, s->W}, sw[4] = {s->OC, s->C, s->K, s->K},
              sy[4] = {s->N, s->OC, OH, OH};
    ref_rng rng;
    ref_rng_seed(&rng, 7);
    double *x = op_random(&rng, (size_t)s->N * s->C * s->H * s->W, -1, 1);
    double *w = op_random(&rng, (size_t)s->OC * s->C * s->K * s->K, -1, 1);
    sn_tensor tx, tw, ty;
    op_tensor_from(ctx, &tx, 4, sx, x);
    op_tensor_from(ctx, &tw, 4, sw, w);
    op_tensor_poisoned(ctx, &ty, 4, sy);
    const sn_conv2d_desc desc = {s->K, s->stride, s->pad};
    double *y[SN_CONV_ALGO_COUNT];
    for (int a = 0; a < SN_CONV_ALGO_COUNT; a++) {
        int previous = sn_conv_force_algo(ctx, a);
        cr_assert_eq(sn_conv2d_forward(ctx, &desc, &tx, &tw, &ty), SN_OK, "%s", sn_last_error());
        sn_conv_force_algo(ctx, previous);
        y[a] = op_download(&ty);
    }
    for (int a = 1; a < SN_CONV_ALGO_COUNT; a++) {
        for (size_t i = 0; i < ty.count; i++)
            cr_assert(fabs(y[0][i] - y[a][i]) <= 1e-5 * (1 + fabs(y[0][i])),
                      "y[%zu]: gemm %g vs %s %g", i, y[0][i], sn_conv_algo_name(a), y[a][i]);
        free(y[a]);
    }
    free(y[0]);
    free(x);
    free(w);
    sn_tensor_release(&tx);
    sn_tensor_release(&tw);
    sn_tensor_release(&ty);
    sn_context_free(ctx);
}

/* A batch smaller than the largest one a model on the context runs (the
 * last partial batch of an epoch) takes the full batch's decision: it is
 * never timed again. */
Test(conv_tune, a_partial_batch_reuses_the_full_batch_decision)
{
    sn_context *ctx = op_test_context();
    need_both(ctx, SN_CONV_FORWARD, &shape_a);
    ctx->tune_batch = shape_a.N;
    const sn_conv_algo full = choose(ctx, SN_CONV_FORWARD, &shape_a);
    cr_assert_eq(sn_conv_tune_timings(), 1);
    sn_conv_shape partial = shape_a;
    partial.N = 1;
    cr_assert_eq(choose(ctx, SN_CONV_FORWARD, &partial), full);
    cr_assert_eq(sn_conv_tune_timings(), 1, "no retuning for the partial batch");
    sn_context_free(ctx);
}
