/* Runtime tests on POCL: devices, selectors, program build/cache/binaries,
 * build logs, tensors and memory accounting. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/runtime_internal.h"

static char cache_dir[256];

static void make_cache_dir(void)
{
    snprintf(cache_dir, sizeof cache_dir, "/tmp/sn-test-cache-XXXXXX");
    cr_assert_not_null(mkdtemp(cache_dir));
    unsetenv("SN_KERNEL_BINARY");
    unsetenv("SN_DEVICE");
    unsetenv("SN_CACHE");
}

static void remove_cache_dir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_dir);
    if (system(cmd) != 0)
        cr_log_warn("could not remove %s", cache_dir);
}

TestSuite(runtime, .init = make_cache_dir, .fini = remove_cache_dir, .timeout = 120);

/* The device under test: $SN_TEST_DEVICE, else POCL's CPU device. */
static const char *test_device(void)
{
    const char *d = getenv("SN_TEST_DEVICE");
    return d && *d ? d : "cpu";
}

/* Options for the test device and the test's cache directory. */
static sn_context_options test_options(void)
{
    sn_context_options o;
    sn_context_options_default(&o);
    o.device = test_device();
    o.cache_dir = cache_dir;
    return o;
}

static sn_context *open_ctx(const char *binary)
{
    sn_context_options o = test_options();
    o.kernel_binary = binary;
    sn_context *ctx = NULL;
    sn_status st = sn_context_create(&o, &ctx);
    cr_assert_eq(st, SN_OK, "context: %s", sn_last_error());
    return ctx;
}

/* The one cache file the contexts wrote. */
static void cache_file(char *path, size_t size)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls %s/*.bin", cache_dir);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    cr_assert_not_null(fgets(path, (int)size, p), "no cache file in %s", cache_dir);
    char more[400];
    cr_assert_null(fgets(more, (int)sizeof more, p), "more than one cache file: %s", more);
    pclose(p);
    path[strcspn(path, "\n")] = '\0';
}

/* Use one kernel (sn_fill, family "common"): what makes a family build. */
static void use_a_kernel(sn_context *ctx)
{
    int shape[1] = {5};
    sn_tensor t;
    cr_assert_eq(sn_tensor_alloc(ctx, &t, 1, shape, SN_MEM_OTHER), SN_OK, "%s", sn_last_error());
    cr_assert_eq(sn_tensor_fill(&t, 1.0f), SN_OK, "%s", sn_last_error());
    sn_tensor_release(&t);
}

Test(runtime, lists_devices_with_their_properties)
{
    sn_device_info *d;
    int n;
    cr_assert_eq(sn_devices_list(&d, &n), SN_OK, "%s", sn_last_error());
    cr_assert_geq(n, 1);
    int cpu = 0;
    for (int i = 0; i < n; i++) {
        cr_expect_neq(d[i].name[0], '\0');
        cr_expect_gt(d[i].compute_units, 0u);
        cr_expect_gt(d[i].global_mem_bytes, 0u);
        cr_expect_gt(d[i].max_work_group_size, 0u);
        cr_expect(strstr(d[i].c_version, "OpenCL C") != NULL, "%s", d[i].c_version);
        cpu |= d[i].type == SN_DEVICE_CPU;
    }
    if (!strcmp(test_device(), "cpu"))
        cr_expect(cpu, "POCL's CPU device should be listed");
    free(d);
}

Test(runtime, selects_by_index_type_and_name)
{
    sn_device_info a, b, c, e;
    cr_assert_eq(sn_device_select(test_device(), &a), SN_OK, "%s", sn_last_error());
    char sel[16];
    snprintf(sel, sizeof sel, "%d:%d", a.platform_index, a.device_index);
    cr_assert_eq(sn_device_select(sel, &b), SN_OK, "%s", sn_last_error());
    cr_expect_str_eq(a.name, b.name);
    /* a case-insensitive part of the name */
    char part[8] = {0};
    for (int i = 0; i < 4 && a.name[i]; i++)
        part[i] = (char)((i % 2) ? toupper((unsigned char)a.name[i]) : a.name[i]);
    cr_assert_eq(sn_device_select(part, &c), SN_OK, "%s", sn_last_error());
    cr_expect_str_eq(a.name, c.name);
    /* the environment variable stands in for an empty selector */
    setenv("SN_DEVICE", sel, 1);
    cr_assert_eq(sn_device_select(NULL, &e), SN_OK, "%s", sn_last_error());
    cr_expect_str_eq(a.name, e.name);
    unsetenv("SN_DEVICE");
}

Test(runtime, bad_selectors_are_errors_that_list_devices)
{
    sn_device_info d;
    cr_assert_eq(sn_device_select("97:3", &d), SN_ERR_NO_DEVICE);
    cr_expect(strstr(sn_last_error(), "97:3") != NULL, "%s", sn_last_error());
    cr_expect(strstr(sn_last_error(), "0:0") != NULL, "should list devices: %s", sn_last_error());
    cr_assert_eq(sn_device_select("no-such-device-xyz", &d), SN_ERR_NO_DEVICE);
    cr_expect(strstr(sn_last_error(), "devices present") != NULL, "%s", sn_last_error());
    cr_assert_eq(sn_device_select("1:x", &d), SN_ERR_INVALID_ARG, "%s", sn_last_error());
    cr_assert_eq(sn_device_select("-1:0", &d), SN_ERR_INVALID_ARG, "%s", sn_last_error());
    setenv("SN_DEVICE", "nothing-matches-this", 1);
    cr_assert_eq(sn_device_select(NULL, &d), SN_ERR_NO_DEVICE);
    cr_expect(strstr(sn_last_error(), "SN_DEVICE") != NULL, "%s", sn_last_error());
    unsetenv("SN_DEVICE");
}

/* The compile notices a context gave, family names joined by spaces. */
typedef struct notices {
    char families[256];
    char kept_in[256];
} notices;

static void record_notice(const sn_notice *n, void *user)
{
    notices *r = user;
    cr_expect_eq(n->kind, SN_NOTICE_COMPILE);
    cr_expect_neq(n->device[0], '\0');
    size_t used = strlen(r->families);
    snprintf(r->families + used, sizeof r->families - used, "%s%s", used ? " " : "", n->what);
    snprintf(r->kept_in, sizeof r->kept_in, "%s", n->kept_in);
}

static sn_context *open_noticed_ctx(notices *r)
{
    memset(r, 0, sizeof *r);
    sn_context_options o = test_options();
    o.notice = record_notice;
    o.notice_user = r;
    sn_context *ctx = NULL;
    cr_assert_eq(sn_context_create(&o, &ctx), SN_OK, "context: %s", sn_last_error());
    return ctx;
}

Test(runtime, families_build_on_first_use_then_load_from_cache)
{
    notices r;
    sn_context *a = open_noticed_ctx(&r);
    cr_expect_eq(sn_context_program_origin(a), SN_PROGRAM_NOT_BUILT, "nothing used yet");
    cr_expect_str_empty(r.families, "nothing compiled yet: %s", r.families);
    use_a_kernel(a);
    cr_expect_eq(sn_context_program_origin(a), SN_PROGRAM_COMPILED);
    cr_expect_str_eq(r.families, "common", "one family compiled, announced first");
    cr_expect_str_eq(r.kept_in, cache_dir);
    use_a_kernel(a);
    cr_expect_str_eq(r.families, "common", "built once per context");
    sn_context_free(a);
    char path[512];
    cache_file(path, sizeof path); /* one file: the family used */

    sn_context *b = open_noticed_ctx(&r);
    use_a_kernel(b);
    cr_expect_eq(sn_context_program_origin(b), SN_PROGRAM_FROM_CACHE);
    cr_expect_str_empty(r.families, "a cached family is not announced: %s", r.families);
    cr_log_info("cache: loaded in %.3f s", sn_context_program_seconds(b));
    sn_context_free(b);
}

Test(runtime, every_family_holds_the_kernels_listed_for_it)
{
    sn_context_options o = test_options();
    o.use_cache = 0;
    sn_context *ctx;
    cr_assert_eq(sn_context_create(&o, &ctx), SN_OK, "%s", sn_last_error());
    cr_assert_eq(sn_context_build_kernels(ctx), SN_OK, "%s", sn_last_error());
    for (int f = 0; f < sn_kernel_family_count; f++) {
        const sn_kernel_family *family = &sn_kernel_families[f];
        cl_program p;
        cr_assert_eq(sn_program_family(ctx, f, &p), SN_OK, "%s", sn_last_error());
        char names[4096] = "";
        cr_assert_eq(clGetProgramInfo(p, CL_PROGRAM_KERNEL_NAMES, sizeof names, names, NULL),
                     CL_SUCCESS);
        int listed = 0;
        for (const char *k = family->kernels; *k; k += strlen(k) + 1, listed++) {
            char padded[128];
            snprintf(padded, sizeof padded, ";%s;", k);
            char all[4200];
            snprintf(all, sizeof all, ";%s;", names);
            cr_expect(strstr(all, padded) != NULL, "%s: %s not built (driver: %s)", family->name,
                      k, names);
            cr_expect_eq(sn_kernel_family_of(k), f, "%s", k);
        }
        int built = 1;
        for (const char *c = names; *c; c++)
            built += *c == ';';
        cr_expect_eq(listed, built, "%s: listed %d kernels, the driver built %d (%s)",
                     family->name, listed, built, names);
    }
    cl_kernel k;
    cr_expect_eq(sn_kernel_get(ctx, "sn_no_such_kernel", &k), SN_ERR_INTERNAL);
    cr_expect(strstr(sn_last_error(), "sn_no_such_kernel") != NULL, "%s", sn_last_error());
    sn_context_free(ctx);
}

Test(runtime, cache_can_be_disabled)
{
    setenv("SN_CACHE", "0", 1);
    sn_context *a = open_ctx(NULL);
    use_a_kernel(a);
    sn_context_free(a);
    sn_context *b = open_ctx(NULL);
    use_a_kernel(b);
    cr_expect_eq(sn_context_program_origin(b), SN_PROGRAM_COMPILED);
    sn_context_free(b);
    unsetenv("SN_CACHE");
}

/* Without run-time compilation every family must come from the cache: a
 * missing one fails the context at once, naming it; a full cache works
 * where it keeps binaries (not on POCL, whose own cache keeps the builds:
 * there an offline binary is the only way). */
Test(runtime, no_runtime_compile_needs_every_family_cached)
{
    sn_context *a = open_ctx(NULL);
    use_a_kernel(a); /* one family cached, not the others */
    sn_context_free(a);
    setenv("SN_NO_RUNTIME_COMPILE", "1", 1);
    const sn_context_options o = test_options();
    sn_context *ctx;
    cr_assert_eq(sn_context_create(&o, &ctx), SN_ERR_UNSUPPORTED);
    cr_expect(strstr(sn_last_error(), "kernel cache has no") != NULL, "%s", sn_last_error());
    cr_expect(strstr(sn_last_error(), "compile-kernels") != NULL, "%s", sn_last_error());
    unsetenv("SN_NO_RUNTIME_COMPILE");
    a = open_ctx(NULL);
    cr_assert_eq(sn_context_build_kernels(a), SN_OK, "%s", sn_last_error());
    const int binaries = sn_cache_keeps_binaries(a);
    sn_context_free(a);
    setenv("SN_NO_RUNTIME_COMPILE", "1", 1);
    if (binaries) {
        ctx = open_ctx(NULL);
        cr_expect_eq(sn_context_runtime_compile(ctx), 0);
        use_a_kernel(ctx);
        cr_expect_eq(sn_context_program_origin(ctx), SN_PROGRAM_FROM_CACHE);
        sn_context_free(ctx);
    } else {
        cr_assert_eq(sn_context_create(&o, &ctx), SN_ERR_UNSUPPORTED);
        cr_expect(strstr(sn_last_error(), "keeps no binaries") != NULL, "%s", sn_last_error());
    }
    unsetenv("SN_NO_RUNTIME_COMPILE");
}

static void corrupt_and_reopen(void (*damage)(const char *path))
{
    sn_context *ctx = open_ctx(NULL);
    use_a_kernel(ctx);
    sn_context_free(ctx);
    char path[512];
    cache_file(path, sizeof path);
    damage(path);
    ctx = open_ctx(NULL);
    use_a_kernel(ctx);
    cr_expect_eq(sn_context_program_origin(ctx), SN_PROGRAM_COMPILED,
                 "a damaged cache entry must be rebuilt, not trusted");
    sn_context_free(ctx);
    /* ... and rewritten so the next process hits the cache again */
    ctx = open_ctx(NULL);
    use_a_kernel(ctx);
    cr_expect_eq(sn_context_program_origin(ctx), SN_PROGRAM_FROM_CACHE);
    sn_context_free(ctx);
}

static void truncate_half(const char *path)
{
    struct stat s;
    cr_assert_eq(stat(path, &s), 0);
    cr_assert_eq(truncate(path, s.st_size / 2), 0);
}

static void flip_a_byte(const char *path)
{
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    fseek(f, -100, SEEK_END);
    int c = fgetc(f);
    fseek(f, -100, SEEK_END);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

static void empty_file(const char *path) { cr_assert_eq(truncate(path, 0), 0); }

Test(runtime, truncated_cache_entry_is_rebuilt) { corrupt_and_reopen(truncate_half); }
Test(runtime, corrupt_cache_entry_is_rebuilt) { corrupt_and_reopen(flip_a_byte); }
Test(runtime, empty_cache_entry_is_rebuilt) { corrupt_and_reopen(empty_file); }

Test(runtime, offline_binary_loads_without_compiling)
{
    char path[300];
    snprintf(path, sizeof path, "%s/kernels.bin", cache_dir);
    cr_assert_eq(sn_compile_kernels(test_device(), path), SN_OK, "%s", sn_last_error());
    setenv("SN_KERNEL_BINARY", path, 1);
    sn_context_options o = test_options();
    o.use_cache = 0;
    sn_context *ctx;
    cr_assert_eq(sn_context_create(&o, &ctx), SN_OK, "%s", sn_last_error());
    cr_expect_eq(sn_context_program_origin(ctx), SN_PROGRAM_FROM_BINARY);
    /* the loaded program runs */
    int shape[1] = {33};
    sn_tensor t;
    float host[33];
    cr_assert_eq(sn_tensor_alloc(ctx, &t, 1, shape, SN_MEM_OTHER), SN_OK);
    cr_assert_eq(sn_tensor_fill(&t, 4.25f), SN_OK, "%s", sn_last_error());
    cr_assert_eq(sn_tensor_download(&t, host, 33), SN_OK);
    for (int i = 0; i < 33; i++)
        cr_expect_eq(host[i], 4.25f);
    sn_tensor_release(&t);
    sn_context_free(ctx);
    unsetenv("SN_KERNEL_BINARY");
}

Test(runtime, offline_binary_for_another_device_is_rejected)
{
    sn_context *ctx = open_ctx(NULL);
    unsigned char *bin;
    size_t size;
    cl_program program;
    cr_assert_eq(sn_program_family(ctx, 0, &program), SN_OK, "%s", sn_last_error());
    cr_assert_eq(sn_program_get_binary(ctx, program, &bin, &size), SN_OK);
    char path[300];
    snprintf(path, sizeof path, "%s/other.bin", cache_dir);
    cr_assert_eq(sn_program_binary_write(path, "platform=Other\ndevice=Some GPU\n", bin, size,
                                         SN_FILE_RESULT),
                 SN_OK);
    free(bin);
    sn_context_free(ctx);

    sn_context_options o;
    sn_context_options_default(&o);
    o.device = test_device();
    o.kernel_binary = path;
    cr_assert_eq(sn_context_create(&o, &ctx), SN_ERR_INVALID_ARG);
    cr_expect(strstr(sn_last_error(), "does not fit this device") != NULL, "%s", sn_last_error());
    cr_expect(strstr(sn_last_error(), path) != NULL, "%s", sn_last_error());
}

Test(runtime, corrupt_offline_binary_is_rejected)
{
    char path[300];
    snprintf(path, sizeof path, "%s/kernels.bin", cache_dir);
    cr_assert_eq(sn_compile_kernels(test_device(), path), SN_OK, "%s", sn_last_error());
    truncate_half(path);
    sn_context_options o;
    sn_context_options_default(&o);
    o.device = test_device();
    o.kernel_binary = path;
    sn_context *ctx;
    cr_assert_eq(sn_context_create(&o, &ctx), SN_ERR_FORMAT);
    cr_expect(strstr(sn_last_error(), "truncated") != NULL, "%s", sn_last_error());
    o.kernel_binary = "/nonexistent/kernels.bin";
    cr_assert_eq(sn_context_create(&o, &ctx), SN_ERR_IO);
}

Test(runtime, syntax_error_returns_build_log)
{
    sn_context *ctx = open_ctx(NULL);
    cl_program p;
    sn_status st = sn_program_build_source(
        ctx, "__kernel void broken(__global float *x) { x[0] = undeclared_name + ; }", "", &p);
    cr_assert_eq(st, SN_ERR_BUILD);
    cr_expect(strstr(sn_last_error(), "CL_BUILD_PROGRAM_FAILURE") != NULL, "%s", sn_last_error());
    cr_expect(strstr(sn_last_error(), "undeclared_name") != NULL, "log missing: %s", sn_last_error());
    sn_context_free(ctx);
}

Test(runtime, tensor_round_trip_on_awkward_sizes)
{
    sn_context *ctx = open_ctx(NULL);
    const int shapes[][4] = {{1, 1, 1, 1}, {7, 1, 1, 1}, {3, 5, 7, 9}, {1, 3, 1, 13}, {1000003, 1, 1, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        sn_tensor t;
        cr_assert_eq(sn_tensor_alloc(ctx, &t, 4, shapes[s], SN_MEM_ACTIVATION), SN_OK, "%s",
                     sn_last_error());
        float *in = malloc(t.count * sizeof *in), *out = malloc(t.count * sizeof *out);
        for (size_t i = 0; i < t.count; i++) {
            in[i] = (float)((i * 2654435761u) % 1000) * 0.001f - 0.5f;
            out[i] = NAN;
        }
        cr_assert_eq(sn_tensor_upload(&t, in, t.count), SN_OK, "%s", sn_last_error());
        cr_assert_eq(sn_tensor_download(&t, out, t.count), SN_OK, "%s", sn_last_error());
        cr_expect_eq(memcmp(in, out, t.count * sizeof *in), 0, "shape %zu differs", s);
        /* a wrong host count is a shape error, not an overflow */
        cr_expect_eq(sn_tensor_upload(&t, in, t.count + 1), SN_ERR_SHAPE);
        free(in);
        free(out);
        sn_tensor_release(&t);
    }
    sn_context_free(ctx);
}

Test(runtime, bad_tensor_shapes_are_rejected)
{
    sn_context *ctx = open_ctx(NULL);
    sn_tensor t;
    int zero[2] = {4, 0};
    cr_expect_eq(sn_tensor_alloc(ctx, &t, 2, zero, SN_MEM_OTHER), SN_ERR_SHAPE);
    cr_expect(strstr(sn_last_error(), "dimension 1") != NULL, "%s", sn_last_error());
    int five[5] = {1, 1, 1, 1, 1};
    cr_expect_eq(sn_tensor_alloc(ctx, &t, 5, five, SN_MEM_OTHER), SN_ERR_SHAPE);
    /* Products that wrap around size_t (this one to ~1.9e9, which passed a
     * limit checked after multiplying) or reach 2^31 exactly. */
    int wraps[4] = {65615, 65720, 65573, 65237};
    cr_expect_eq(sn_tensor_alloc(ctx, &t, 4, wraps, SN_MEM_OTHER), SN_ERR_SHAPE, "%s",
                 sn_last_error());
    cr_expect(strstr(sn_last_error(), "65615") != NULL, "%s", sn_last_error());
    sn_tensor_release(&t);
    int two31[2] = {65536, 32768};
    cr_expect_eq(sn_tensor_alloc(ctx, &t, 2, two31, SN_MEM_OTHER), SN_ERR_SHAPE);
    sn_context_free(ctx);
}

Test(runtime, allocation_accounting_tracks_categories_and_peak)
{
    sn_context *ctx = open_ctx(NULL);
    sn_mem_stats s0, s1, s2;
    sn_context_mem_stats(ctx, &s0);
    sn_tensor p, g, a;
    int sp[1] = {1000}, sa[4] = {2, 3, 5, 7};
    cr_assert_eq(sn_tensor_alloc(ctx, &p, 1, sp, SN_MEM_PARAM), SN_OK);
    cr_assert_eq(sn_tensor_alloc(ctx, &g, 1, sp, SN_MEM_GRAD), SN_OK);
    cr_assert_eq(sn_tensor_alloc(ctx, &a, 4, sa, SN_MEM_ACTIVATION), SN_OK);
    sn_context_mem_stats(ctx, &s1);
    cr_expect_eq(s1.bytes[SN_MEM_PARAM] - s0.bytes[SN_MEM_PARAM], 4000u);
    cr_expect_eq(s1.bytes[SN_MEM_GRAD] - s0.bytes[SN_MEM_GRAD], 4000u);
    cr_expect_eq(s1.bytes[SN_MEM_ACTIVATION] - s0.bytes[SN_MEM_ACTIVATION], 840u);
    cr_expect_eq(s1.total - s0.total, 8840u);
    cr_expect_eq(s1.allocations - s0.allocations, 3u);
    sn_tensor_release(&a);
    sn_tensor_release(&g);
    sn_context_mem_stats(ctx, &s2);
    cr_expect_eq(s2.total - s0.total, 4000u);
    cr_expect_geq(s2.peak, s0.total + 8840u, "peak remembers the high-water mark");
    sn_tensor_release(&p);
    sn_context_mem_stats(ctx, &s2);
    cr_expect_eq(s2.total, s0.total);
    sn_context_free(ctx);
}

Test(runtime, oversized_allocation_is_out_of_memory)
{
    sn_context *ctx = open_ctx(NULL);
    cl_mem m;
    size_t too_big = (size_t)sn_context_device(ctx)->max_alloc_bytes + 4096;
    cr_expect_eq(sn_buffer_alloc(ctx, too_big, SN_MEM_ACTIVATION, "huge activation", &m),
                 SN_ERR_OUT_OF_MEMORY);
    cr_expect(strstr(sn_last_error(), "huge activation") != NULL, "%s", sn_last_error());
    sn_mem_stats s;
    sn_context_mem_stats(ctx, &s);
    cr_expect_eq(s.bytes[SN_MEM_ACTIVATION], 0u, "a failed allocation is not counted");
    sn_context_free(ctx);
}

static sn_context *open_profiling_ctx(void)
{
    sn_context_options o;
    sn_context_options_default(&o);
    o.device = test_device();
    o.cache_dir = cache_dir;
    o.profiling = 1;
    sn_context *ctx = NULL;
    cr_assert_eq(sn_context_create(&o, &ctx), SN_OK, "context: %s", sn_last_error());
    return ctx;
}

Test(runtime, profile_needs_a_profiling_queue_and_one_recording)
{
    sn_context *plain = open_ctx(NULL);
    cr_expect_eq(sn_profile_start(plain), SN_ERR_INVALID_ARG);
    cr_expect(strstr(sn_last_error(), "profiling") != NULL, "%s", sn_last_error());
    sn_context_free(plain);

    sn_context *ctx = open_profiling_ctx();
    sn_kernel_time *t = (sn_kernel_time *)1;
    int n = -1;
    cr_expect_eq(sn_profile_stop(ctx, &t, &n), SN_ERR_INVALID_ARG, "stop before start");
    cr_expect_null(t);
    cr_expect_eq(n, 0);
    cr_assert_eq(sn_profile_start(ctx), SN_OK, "%s", sn_last_error());
    cr_expect_eq(sn_profile_start(ctx), SN_ERR_INVALID_ARG, "second start");
    /* freeing a context while it records releases the recording */
    sn_context_free(ctx);
}

Test(runtime, profile_counts_every_launch_per_kernel)
{
    sn_context *ctx = open_profiling_ctx();
    int shape[1] = {1000};
    sn_tensor a, b;
    cr_assert_eq(sn_tensor_alloc(ctx, &a, 1, shape, SN_MEM_OTHER), SN_OK, "%s", sn_last_error());
    cr_assert_eq(sn_tensor_alloc(ctx, &b, 1, shape, SN_MEM_OTHER), SN_OK, "%s", sn_last_error());
    cr_assert_eq(sn_profile_start(ctx), SN_OK, "%s", sn_last_error());
    /* More launches than the event list holds: it is folded on the way. */
    const int fills = 5000;
    for (int i = 0; i < fills; i++)
        cr_assert_eq(sn_tensor_fill(i % 2 ? &a : &b, (float)i), SN_OK, "%s", sn_last_error());
    sn_kernel_time *t = NULL;
    int n = 0;
    cr_assert_eq(sn_profile_stop(ctx, &t, &n), SN_OK, "%s", sn_last_error());
    cr_assert_eq(n, 1, "one kernel name, got %d", n);
    cr_expect_str_eq(t[0].name, "sn_fill");
    cr_expect_eq(t[0].launches, fills);
    cr_expect(t[0].ms > 0 && t[0].ms < 60e3, "device time %g ms", t[0].ms);
    free(t);
    /* the work itself is unchanged: last fills win */
    float va = 0, vb = 0;
    float host[1000];
    cr_assert_eq(sn_tensor_download(&a, host, 1000), SN_OK, "%s", sn_last_error());
    va = host[999];
    cr_assert_eq(sn_tensor_download(&b, host, 1000), SN_OK, "%s", sn_last_error());
    vb = host[0];
    cr_expect_eq(va, (float)(fills - 1));
    cr_expect_eq(vb, (float)(fills - 2));
    /* after stop nothing is recorded: a new recording starts empty */
    cr_assert_eq(sn_profile_start(ctx), SN_OK, "%s", sn_last_error());
    cr_assert_eq(sn_profile_stop(ctx, &t, &n), SN_OK, "%s", sn_last_error());
    cr_expect_eq(n, 0);
    cr_expect_null(t);
    sn_tensor_release(&a);
    sn_tensor_release(&b);
    sn_context_free(ctx);
}
