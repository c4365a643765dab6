/* safetensors reader/writer: round trips, every corruption class, atomic
 * writes, and cross-checks with PyTorch in both directions. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sharesnet/safetensors.h"
#include "train/safetensors_internal.h"

/* ---------------------------------------------------------------- helpers */

static char tmp_dir[PATH_MAX];

static void make_tmp_dir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/sn_safetensors_XXXXXX", base && *base ? base : "/tmp");
    cr_assert_not_null(mkdtemp(tmp_dir), "mkdtemp: %s", strerror(errno));
}

/* The tests create files and at most one level of directories. */
static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        char child[PATH_MAX];
        int written = snprintf(child, sizeof child, "%s/%s", path, ent->d_name);
        if (written < 0 || (size_t)written >= sizeof child)
            continue;
        struct stat st;
        if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(child);
        else
            unlink(child);
    }
    closedir(d);
    rmdir(path);
}

static void remove_tmp_dir(void)
{
    remove_tree(tmp_dir);
}

TestSuite(safetensors, .init = make_tmp_dir, .fini = remove_tmp_dir);

/* Path of `name` in the test's directory (static rotating buffers). */
static const char *in_tmp(const char *name)
{
    static char buffers[4][PATH_MAX];
    static int next;
    char *out = buffers[next++ % 4];
    int written = snprintf(out, PATH_MAX, "%s/%s", tmp_dir, name);
    cr_assert(written > 0 && written < PATH_MAX, "path too long");
    return out;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc((size_t)size + 1);
    cr_assert_not_null(bytes);
    cr_assert_eq(fread(bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *len = (size_t)size;
    return bytes;
}

static void spit(const char *path, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(bytes, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static uint64_t header_length(const unsigned char *bytes)
{
    uint64_t n = 0;
    for (int i = 0; i < 8; i++)
        n |= (uint64_t)bytes[i] << (8 * i);
    return n;
}

static void put_header_length(unsigned char *bytes, uint64_t n)
{
    for (int i = 0; i < 8; i++)
        bytes[i] = (unsigned char)(n >> (8 * i));
}

static int count_dir_entries(const char *path)
{
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL)
        n += strcmp(ent->d_name, ".") != 0 && strcmp(ent->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* Deterministic values with full mantissas; the Python scripts compute the
 * same expression in double and round to float32 the same way. */
static float pattern_f32(int64_t i, int seed)
{
    return (float)((double)((i * 7 + seed) % 23 - 11) / 8.0 + 1.0 / (double)(i + 3));
}

static float *pattern_alloc(int64_t n, int seed)
{
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    cr_assert_not_null(v);
    for (int64_t i = 0; i < n; i++)
        v[i] = pattern_f32(i, seed);
    return v;
}

static void assert_status(sn_status got, sn_status want)
{
    cr_assert_eq(got, want, "status %s, expected %s; message: %s", sn_status_name(got),
                 sn_status_name(want), sn_last_error());
}

static void assert_message_has(const char *needle)
{
    cr_assert_not_null(strstr(sn_last_error(), needle), "message \"%s\" lacks \"%s\"",
                       sn_last_error(), needle);
}

/* The small file every corruption starts from:
 *   a F32 [2,3] [0,24]   b F32 [4] [24,40]   c I64 [2] [40,56]   format=pt */
static const char small_header[] =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[24,40]},"
    "\"c\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[40,56]}}";

static void write_small(const char *path)
{
    static const float a[6] = {1, 2, 3, 4, 5, 6};
    static const float b[4] = {-1.5f, 0.25f, 1e-30f, 3e30f};
    static const int64_t c[2] = {INT64_MIN, 1234567890123LL};
    sn_safetensors_tensor t[3] = {
        {.name = "a", .ndim = 2, .shape = {2, 3}, .data = a},
        {.name = "b", .ndim = 1, .shape = {4}, .data = b},
        {.name = "c", .dtype = SN_SAFETENSORS_I64, .ndim = 1, .shape = {2}, .data = c},
    };
    sn_safetensors_meta m[1] = {{"format", "pt"}};
    assert_status(sn_safetensors_write(path, t, 3, m, 1), SN_OK);
}

/* A copy of `src` with its header text replaced by `header` (length field
 * updated, data area kept). */
static void write_with_header(const char *src, const char *dst, const char *header)
{
    size_t len;
    unsigned char *bytes = slurp(src, &len);
    uint64_t old_n = header_length(bytes);
    size_t data_len = len - 8 - (size_t)old_n;
    size_t new_n = strlen(header);
    unsigned char *out = malloc(8 + new_n + data_len);
    cr_assert_not_null(out);
    put_header_length(out, new_n);
    memcpy(out + 8, header, new_n);
    memcpy(out + 8 + new_n, bytes + 8 + old_n, data_len);
    spit(dst, out, 8 + new_n + data_len);
    free(out);
    free(bytes);
}

/* A copy of `src` whose header has its first `from` replaced by `to`. */
static void edit_header(const char *src, const char *dst, const char *from, const char *to)
{
    size_t len;
    unsigned char *bytes = slurp(src, &len);
    uint64_t n = header_length(bytes);
    char *header = calloc(1, (size_t)n + strlen(to) + 1);
    cr_assert_not_null(header);
    memcpy(header, bytes + 8, (size_t)n);
    char *hit = strstr(header, from);
    cr_assert_not_null(hit, "header lacks \"%s\": %s", from, header);
    char *edited = malloc((size_t)n + strlen(to) + 1);
    cr_assert_not_null(edited);
    size_t prefix = (size_t)(hit - header);
    memcpy(edited, header, prefix);
    strcpy(edited + prefix, to);
    strcat(edited, hit + strlen(from));
    free(header);
    free(bytes);
    write_with_header(src, dst, edited);
    free(edited);
}

/* ------------------------------------------------------------- round trip */

Test(safetensors, round_trip_awkward_shapes_and_metadata)
{
    const char *path = in_tmp("model.safetensors");
    float *conv = pattern_alloc(16 * 16 * 3 * 3, 1);
    float *bias = pattern_alloc(10, 2);
    float *odd = pattern_alloc(3 * 5 * 7, 3);
    float one = 42.5f, scalar = -0.0f;
    int64_t step[1] = {123456789012345LL};
    int32_t counts[3] = {-7, 0, INT32_MAX};
    sn_safetensors_tensor t[] = {
        {.name = "stage1.shared.conv3x3.weight", .ndim = 4, .shape = {16, 16, 3, 3}, .data = conv},
        {.name = "fc.bias", .ndim = 1, .shape = {10}, .data = bias},
        {.name = "one", .ndim = 1, .shape = {1}, .data = &one},
        {.name = "odd", .ndim = 3, .shape = {3, 5, 7}, .data = odd},
        {.name = "scalar", .ndim = 0, .data = &scalar},
        {.name = "empty", .ndim = 2, .shape = {0, 4}, .data = NULL},
        {.name = "step", .dtype = SN_SAFETENSORS_I64, .ndim = 1, .shape = {1}, .data = step},
        {.name = "counts", .dtype = SN_SAFETENSORS_I32, .ndim = 1, .shape = {3}, .data = counts},
    };
    const size_t n = sizeof t / sizeof t[0];
    sn_safetensors_meta m[] = {
        {"format", "pt"}, {"sharesnet.model", "resnet20"}, {"unicode", "h\xc3\xa9llo \xe2\x9c\x93"},
        {"empty", ""}, {"json", "{\"nested\": [1, 2]}"},
    };
    const size_t mn = sizeof m / sizeof m[0];
    assert_status(sn_safetensors_write(path, t, n, m, mn), SN_OK);

    sn_safetensors *f = NULL;
    assert_status(sn_safetensors_open(path, &f), SN_OK);
    cr_assert_str_eq(sn_safetensors_path(f), path);
    cr_assert_eq(sn_safetensors_tensor_count(f), n);
    for (size_t i = 0; i < n; i++) {
        /* Written in the order given, so file order is that order. */
        const sn_safetensors_tensor *got = sn_safetensors_tensor_at(f, i);
        cr_assert_not_null(got);
        cr_assert_str_eq(got->name, t[i].name, "tensor %zu", i);
        cr_assert_eq(sn_safetensors_find(f, t[i].name), got);
        cr_assert_eq(got->dtype, t[i].dtype, "%s", t[i].name);
        cr_assert_eq(got->ndim, t[i].ndim, "%s", t[i].name);
        for (int d = 0; d < t[i].ndim; d++)
            cr_assert_eq(got->shape[d], t[i].shape[d], "%s dim %d", t[i].name, d);
        size_t nbytes = (size_t)sn_safetensors_numel(got) * sn_safetensors_dtype_size(got->dtype);
        cr_assert_not_null(got->data, "%s", t[i].name);
        cr_assert_eq((uintptr_t)got->data % sn_safetensors_dtype_size(got->dtype), 0);
        if (nbytes)
            cr_assert_eq(memcmp(got->data, t[i].data, nbytes), 0, "%s data differs", t[i].name);
    }
    cr_assert_eq(sn_safetensors_numel(sn_safetensors_find(f, "scalar")), 1);
    cr_assert_eq(sn_safetensors_numel(sn_safetensors_find(f, "empty")), 0);
    cr_assert_eq(sn_safetensors_tensor_at(f, n), NULL);
    cr_assert_null(sn_safetensors_find(f, "missing"));

    cr_assert_eq(sn_safetensors_metadata_count(f), mn);
    for (size_t i = 0; i < mn; i++) {
        cr_assert_str_eq(sn_safetensors_metadata(f, m[i].key), m[i].value);
        const sn_safetensors_meta *e = sn_safetensors_metadata_at(f, i);
        cr_assert_str_eq(e->key, m[i].key, "metadata order");
        cr_assert_str_eq(e->value, m[i].value);
    }
    cr_assert_null(sn_safetensors_metadata(f, "absent"));
    cr_assert_null(sn_safetensors_metadata_at(f, mn));

    /* Typed lookup for loaders. */
    const void *data = NULL;
    const int64_t conv_shape[4] = {16, 16, 3, 3};
    assert_status(sn_safetensors_get(f, "stage1.shared.conv3x3.weight", SN_SAFETENSORS_F32, 4,
                                     conv_shape, &data), SN_OK);
    cr_assert_eq(memcmp(data, conv, sizeof(float) * 16 * 16 * 9), 0);
    const int64_t wrong_shape[4] = {16, 16, 1, 1};
    assert_status(sn_safetensors_get(f, "stage1.shared.conv3x3.weight", SN_SAFETENSORS_F32, 4,
                                     wrong_shape, &data), SN_ERR_SHAPE);
    assert_message_has("stage1.shared.conv3x3.weight");
    assert_message_has("[16,16,3,3]");
    assert_message_has("[16,16,1,1]");
    assert_status(sn_safetensors_get(f, "step", SN_SAFETENSORS_F32, 0, NULL, &data), SN_ERR_FORMAT);
    assert_message_has("'step'");
    assert_message_has("I64");
    assert_status(sn_safetensors_get(f, "nope", SN_SAFETENSORS_F32, 0, NULL, &data), SN_ERR_FORMAT);
    assert_message_has("'nope'");
    assert_message_has(path);
    assert_status(sn_safetensors_get(f, "scalar", SN_SAFETENSORS_F32, 0, (int64_t[1]){0}, &data),
                  SN_OK);
    cr_assert_eq(memcmp(data, &scalar, 4), 0);

    sn_safetensors_close(f);
    free(conv);
    free(bias);
    free(odd);
}

Test(safetensors, data_is_bit_exact_including_special_values)
{
    const uint32_t bits[] = {
        0x7fc12345u, /* quiet NaN with payload */
        0x7f800001u, /* signalling NaN */
        0xffc00000u, /* negative NaN */
        0x80000000u, /* -0 */
        0x00000001u, /* smallest denormal */
        0x807fffffu, /* largest negative denormal */
        0x7f800000u, 0xff800000u, /* +-inf */
        0x7f7fffffu, /* FLT_MAX */
        0x3f800001u, /* 1 + ulp */
        0xdeadbeefu,
    };
    const size_t n = sizeof bits / sizeof bits[0];
    sn_safetensors_tensor t = {.name = "special", .ndim = 1, .shape = {(int64_t)n}, .data = bits};
    const char *path = in_tmp("special.safetensors");
    assert_status(sn_safetensors_write(path, &t, 1, NULL, 0), SN_OK);

    /* In the file itself: the last bytes are exactly the little-endian words. */
    size_t len;
    unsigned char *bytes = slurp(path, &len);
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 4; b++)
            cr_assert_eq(bytes[len - 4 * n + 4 * i + (size_t)b],
                         (unsigned char)(bits[i] >> (8 * b)), "word %zu byte %d", i, b);
    free(bytes);

    sn_safetensors *f;
    assert_status(sn_safetensors_open(path, &f), SN_OK);
    cr_assert_eq(memcmp(sn_safetensors_find(f, "special")->data, bits, sizeof bits), 0);
    sn_safetensors_close(f);
}

Test(safetensors, header_is_compact_deterministic_and_padded_to_8)
{
    const char *path = in_tmp("small.safetensors");
    write_small(path);
    size_t len;
    unsigned char *bytes = slurp(path, &len);
    uint64_t n = header_length(bytes);
    cr_assert_eq((8 + n) % 8, 0, "header length %llu not padded", (unsigned long long)n);
    size_t json_len = strlen(small_header);
    cr_assert_eq(n, (json_len + 7) / 8 * 8, "padding beyond the next multiple of 8");
    cr_assert_eq(memcmp(bytes + 8, small_header, json_len), 0, "header: %.*s", (int)n,
                 (const char *)bytes + 8);
    for (size_t i = json_len; i < n; i++)
        cr_assert_eq(bytes[8 + i], ' ', "padding byte %zu", i);
    cr_assert_eq(len, 8 + n + 56, "data area must be exactly the tensors");

    /* Same input, same bytes. */
    const char *again = in_tmp("again.safetensors");
    write_small(again);
    size_t len2;
    unsigned char *bytes2 = slurp(again, &len2);
    cr_assert_eq(len2, len);
    cr_assert_eq(memcmp(bytes, bytes2, len), 0);
    free(bytes);
    free(bytes2);
}

Test(safetensors, no_tensors_no_metadata_is_a_valid_file)
{
    const char *path = in_tmp("empty.safetensors");
    assert_status(sn_safetensors_write(path, NULL, 0, NULL, 0), SN_OK);
    size_t len;
    unsigned char *bytes = slurp(path, &len);
    cr_assert_eq(len, 16);
    cr_assert_eq(memcmp(bytes + 8, "{}      ", 8), 0);
    free(bytes);
    sn_safetensors *f;
    assert_status(sn_safetensors_open(path, &f), SN_OK);
    cr_assert_eq(sn_safetensors_tensor_count(f), 0);
    cr_assert_eq(sn_safetensors_metadata_count(f), 0);
    sn_safetensors_close(f);
}

Test(safetensors, foreign_file_unpadded_header_gives_aligned_data)
{
    /* Another writer may not pad: data starts at an odd offset. Header keys
     * are also out of offset order, with spaces, and metadata is null. */
    const char header[] =
        "{ \"z\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]},"
        " \"__metadata__\": null, \"extra_field_ok\": {\"data_offsets\": [0, 8],"
        " \"shape\": [1], \"dtype\": \"I64\", \"ignored\": true} }";
    const float z[2] = {0.5f, -2.0f};
    const int64_t e = -3;
    size_t n = strlen(header);
    cr_assert_neq((8 + n) % 4, 0, "the test wants a misaligned data area");
    unsigned char *buf = malloc(8 + n + 16);
    put_header_length(buf, n);
    memcpy(buf + 8, header, n);
    memcpy(buf + 8 + n, &e, 8);
    memcpy(buf + 8 + n + 8, z, 8);
    const char *path = in_tmp("foreign.safetensors");
    spit(path, buf, 8 + n + 16);
    free(buf);

    sn_safetensors *f;
    assert_status(sn_safetensors_open(path, &f), SN_OK);
    cr_assert_eq(sn_safetensors_tensor_count(f), 2);
    cr_assert_str_eq(sn_safetensors_tensor_at(f, 0)->name, "extra_field_ok", "offset order");
    cr_assert_str_eq(sn_safetensors_tensor_at(f, 1)->name, "z");
    const sn_safetensors_tensor *tz = sn_safetensors_find(f, "z");
    const sn_safetensors_tensor *te = sn_safetensors_find(f, "extra_field_ok");
    cr_assert_eq((uintptr_t)tz->data % 4, 0);
    cr_assert_eq((uintptr_t)te->data % 8, 0);
    cr_assert_eq(((const float *)tz->data)[0], 0.5f);
    cr_assert_eq(((const float *)tz->data)[1], -2.0f);
    cr_assert_eq(*(const int64_t *)te->data, -3);
    cr_assert_eq(sn_safetensors_metadata_count(f), 0);
    sn_safetensors_close(f);
}

/* ------------------------------------------------------------ corruptions */

Test(safetensors, rejects_file_shorter_than_length_field)
{
    const char *path = in_tmp("short.safetensors");
    spit(path, "\x10\0\0\0\0", 5);
    sn_safetensors *f = (sn_safetensors *)1;
    assert_status(sn_safetensors_open(path, &f), SN_ERR_FORMAT);
    cr_assert_null(f);
    assert_message_has(path);
    assert_message_has("too short");
}

Test(safetensors, rejects_absurd_header_length)
{
    const char *good = in_tmp("good.safetensors"), *bad = in_tmp("bad.safetensors");
    write_small(good);
    size_t len;
    unsigned char *bytes = slurp(good, &len);
    bytes[7] ^= 0x80; /* flip the top bit of the length */
    spit(bad, bytes, len);
    sn_safetensors *f;
    assert_status(sn_safetensors_open(bad, &f), SN_ERR_FORMAT);
    assert_message_has(bad);
    assert_message_has("absurd");
    free(bytes);
}

Test(safetensors, rejects_header_length_beyond_file)
{
    const char *good = in_tmp("good.safetensors"), *bad = in_tmp("bad.safetensors");
    write_small(good);
    size_t len;
    unsigned char *bytes = slurp(good, &len);
    put_header_length(bytes, len - 7);
    spit(bad, bytes, len);
    sn_safetensors *f;
    assert_status(sn_safetensors_open(bad, &f), SN_ERR_FORMAT);
    assert_message_has(bad);
    assert_message_has("header length");
    free(bytes);
    /* A file cut inside the header gives the same diagnosis. */
    bytes = slurp(good, &len);
    spit(bad, bytes, 40);
    assert_status(sn_safetensors_open(bad, &f), SN_ERR_FORMAT);
    assert_message_has("header length");
    free(bytes);
}

Test(safetensors, rejects_truncated_data_naming_the_tensor)
{
    const char *good = in_tmp("good.safetensors"), *bad = in_tmp("bad.safetensors");
    write_small(good);
    size_t len;
    unsigned char *bytes = slurp(good, &len);
    spit(bad, bytes, len - 4);
    sn_safetensors *f;
    assert_status(sn_safetensors_open(bad, &f), SN_ERR_FORMAT);
    assert_message_has(bad);
    assert_message_has("'c'");
    assert_message_has("data_offsets");
    free(bytes);
}

Test(safetensors, rejects_trailing_bytes_outside_every_tensor)
{
    const char *good = in_tmp("good.safetensors"), *bad = in_tmp("bad.safetensors");
    write_small(good);
    size_t len;
    unsigned char *bytes = slurp(good, &len);
    unsigned char *longer = calloc(1, len + 4);
    memcpy(longer, bytes, len);
    spit(bad, longer, len + 4);
    sn_safetensors *f;
    assert_status(sn_safetensors_open(bad, &f), SN_ERR_FORMAT);
    assert_message_has("last 4 bytes");
    assert_message_has("'c'");
    free(bytes);
    free(longer);
}

Test(safetensors, rejects_missing_and_unreadable_files_with_io)
{
    const char *path = in_tmp("does-not-exist.safetensors");
    sn_safetensors *f;
    assert_status(sn_safetensors_open(path, &f), SN_ERR_IO);
    assert_message_has(path);
    assert_status(sn_safetensors_open(tmp_dir, &f), SN_ERR_IO);
    assert_message_has(tmp_dir);
}

/* Header edits of the small file: replace `from` by `to` (or the whole
 * header when `from` is empty) and expect `status` and a message holding
 * `needle1` and `needle2`. Arrays, not pointers: Criterion may run the
 * parameters in another process. */
struct corruption {
    char label[48];
    char from[96];
    char to[160];
    sn_status status;
    char needle1[48];
    char needle2[48];
};

ParameterizedTestParameters(safetensors, rejects_corrupt_header)
{
    static struct corruption cases[] = {
        {"bad JSON", "\"a\":{", "\"a\"{", SN_ERR_FORMAT, "not valid JSON", "line 1"},
        {"JSON array", "", "[1,2,3]", SN_ERR_FORMAT, "not a JSON object", ""},
        {"JSON scalar", "", "\"a\"", SN_ERR_FORMAT, "not a JSON object", ""},
        {"invalid UTF-8", "\"b\":{", "\"b\xff\":{", SN_ERR_FORMAT, "not valid JSON", ""},
        {"duplicate name", "\"c\":{", "\"b\":{", SN_ERR_FORMAT, "duplicate", "\"b\""},
        {"entry not object", "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}",
         "\"a\":[0,24]", SN_ERR_FORMAT, "'a'", "not a JSON object"},
        {"missing dtype", "\"dtype\":\"F32\",\"shape\":[4]", "\"shape\":[4]", SN_ERR_FORMAT, "'b'",
         "\"dtype\""},
        {"dtype not string", "\"dtype\":\"I64\"", "\"dtype\":64", SN_ERR_FORMAT, "'c'",
         "\"dtype\""},
        {"unknown dtype", "\"I64\"", "\"X64\"", SN_ERR_FORMAT, "'c'", "unknown dtype 'X64'"},
        {"missing shape", "\"shape\":[4],", "", SN_ERR_FORMAT, "'b'", "\"shape\""},
        {"shape not array", "\"shape\":[4]", "\"shape\":4", SN_ERR_FORMAT, "'b'", "\"shape\""},
        {"negative dim", "[2,3]", "[-2,-3]", SN_ERR_FORMAT, "'a'", "\"shape\""},
        {"fractional dim", "[2,3]", "[2,3.0]", SN_ERR_FORMAT, "'a'", "\"shape\""},
        {"too many dims", "[2,3]", "[1,1,1,1,1,1,1,2,3]", SN_ERR_UNSUPPORTED, "'a'", "9 dim"},
        {"missing offsets", ",\"data_offsets\":[24,40]", "", SN_ERR_FORMAT, "'b'",
         "\"data_offsets\""},
        {"offsets not pair", "[24,40]", "[24,40,56]", SN_ERR_FORMAT, "'b'", "\"data_offsets\""},
        {"offsets negative", "[24,40]", "[-24,40]", SN_ERR_FORMAT, "'b'", "\"data_offsets\""},
        {"offsets reversed", "[24,40]", "[40,24]", SN_ERR_FORMAT, "'b'", "ends before"},
        {"offsets beyond data", "\"shape\":[2],\"data_offsets\":[40,56]",
         "\"shape\":[4],\"data_offsets\":[40,72]", SN_ERR_FORMAT, "'c'", "beyond the data area"},
        {"shape mismatch", "[2,3]", "[2,2]", SN_ERR_FORMAT, "'a'", "[2,2] of F32 needs 16 bytes"},
        {"shape overflow", "[2,3]", "[4611686018427387904,4]", SN_ERR_FORMAT, "'a'",
         "does not match"},
        {"offsets overlap", "\"shape\":[4],\"data_offsets\":[24,40]",
         "\"shape\":[4],\"data_offsets\":[20,36]", SN_ERR_FORMAT, "'b'", "overlaps tensor 'a'"},
        {"offsets leave gap", "\"shape\":[2,3],\"data_offsets\":[0,24]",
         "\"shape\":[5],\"data_offsets\":[0,20]", SN_ERR_FORMAT, "'b'", "uncovered"},
        {"data area not covered", "\"shape\":[2],\"data_offsets\":[40,56]",
         "\"shape\":[1],\"data_offsets\":[40,48]", SN_ERR_FORMAT, "'c'", "belong to no tensor"},
        {"metadata not object", "{\"format\":\"pt\"}", "[\"format\"]", SN_ERR_FORMAT,
         "__metadata__", "not a JSON object"},
        {"metadata value not string", "{\"format\":\"pt\"}", "{\"format\":17}", SN_ERR_FORMAT,
         "'format'", "not a string"},
    };
    return cr_make_param_array(struct corruption, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(struct corruption *c, safetensors, rejects_corrupt_header)
{
    const char *good = in_tmp("good.safetensors"), *bad = in_tmp("bad.safetensors");
    write_small(good);
    if (c->from[0])
        edit_header(good, bad, c->from, c->to);
    else
        write_with_header(good, bad, c->to);
    sn_safetensors *f = (sn_safetensors *)1;
    sn_status s = sn_safetensors_open(bad, &f);
    cr_assert_eq(s, c->status, "%s: status %s, expected %s; message: %s", c->label,
                 sn_status_name(s), sn_status_name(c->status), sn_last_error());
    cr_assert_null(f, "%s", c->label);
    cr_assert_not_null(strstr(sn_last_error(), bad), "%s: message lacks the path: %s", c->label,
                       sn_last_error());
    cr_assert_not_null(strstr(sn_last_error(), c->needle1), "%s: message lacks \"%s\": %s",
                       c->label, c->needle1, sn_last_error());
    cr_assert_not_null(strstr(sn_last_error(), c->needle2), "%s: message lacks \"%s\": %s",
                       c->label, c->needle2, sn_last_error());
}

Test(safetensors, unedited_small_file_is_accepted)
{
    /* The corruption cases start from this file: it must be valid as is,
     * and a header rewrite that changes nothing must keep it valid. */
    const char *good = in_tmp("good.safetensors"), *same = in_tmp("same.safetensors");
    write_small(good);
    write_with_header(good, same, small_header);
    sn_safetensors *f;
    assert_status(sn_safetensors_open(same, &f), SN_OK);
    cr_assert_eq(sn_safetensors_tensor_count(f), 3);
    cr_assert_str_eq(sn_safetensors_metadata(f, "format"), "pt");
    cr_assert_eq(((const int64_t *)sn_safetensors_find(f, "c")->data)[0], INT64_MIN);
    cr_assert_eq(((const float *)sn_safetensors_find(f, "b")->data)[3], 3e30f);
    sn_safetensors_close(f);
}

/* ----------------------------------------------------------- write errors */

Test(safetensors, write_rejects_bad_arguments_without_creating_a_file)
{
    const char *path = in_tmp("x.safetensors");
    float v[4] = {0};
    sn_safetensors_tensor dup[2] = {
        {.name = "w", .ndim = 1, .shape = {4}, .data = v},
        {.name = "w", .ndim = 1, .shape = {2}, .data = v},
    };
    assert_status(sn_safetensors_write(path, dup, 2, NULL, 0), SN_ERR_INVALID_ARG);
    assert_message_has("duplicate tensor name 'w'");

    sn_safetensors_tensor reserved = {.name = "__metadata__", .ndim = 1, .shape = {4}, .data = v};
    assert_status(sn_safetensors_write(path, &reserved, 1, NULL, 0), SN_ERR_INVALID_ARG);
    assert_message_has("reserved");

    sn_safetensors_tensor no_data = {.name = "w", .ndim = 1, .shape = {4}};
    assert_status(sn_safetensors_write(path, &no_data, 1, NULL, 0), SN_ERR_INVALID_ARG);
    assert_message_has("'w'");

    sn_safetensors_tensor negative = {.name = "neg", .ndim = 2, .shape = {4, -1}, .data = v};
    assert_status(sn_safetensors_write(path, &negative, 1, NULL, 0), SN_ERR_INVALID_ARG);
    assert_message_has("'neg'");
    assert_message_has("[4,-1]");

    sn_safetensors_tensor deep = {.name = "deep", .ndim = 9, .data = v};
    assert_status(sn_safetensors_write(path, &deep, 1, NULL, 0), SN_ERR_INVALID_ARG);
    assert_message_has("'deep'");

    sn_safetensors_tensor bad_dtype = {.name = "t", .dtype = SN_SAFETENSORS_DTYPE_COUNT,
                                       .ndim = 1, .shape = {1}, .data = v};
    assert_status(sn_safetensors_write(path, &bad_dtype, 1, NULL, 0), SN_ERR_INVALID_ARG);

    sn_safetensors_tensor bad_utf8 = {.name = "w\xff", .ndim = 1, .shape = {1}, .data = v};
    assert_status(sn_safetensors_write(path, &bad_utf8, 1, NULL, 0), SN_ERR_INVALID_ARG);
    assert_message_has("UTF-8");

    sn_safetensors_meta meta[2] = {{"k", "1"}, {"k", "2"}};
    assert_status(sn_safetensors_write(path, NULL, 0, meta, 2), SN_ERR_INVALID_ARG);
    assert_message_has("duplicate metadata key 'k'");
    sn_safetensors_meta null_value = {"k", NULL};
    assert_status(sn_safetensors_write(path, NULL, 0, &null_value, 1), SN_ERR_INVALID_ARG);

    assert_status(sn_safetensors_write(NULL, NULL, 0, NULL, 0), SN_ERR_INVALID_ARG);
    cr_assert_eq(count_dir_entries(tmp_dir), 0, "a rejected write left a file behind");
}

Test(safetensors, write_into_missing_directory_is_io_error_naming_path)
{
    const char *path = in_tmp("no/such/dir/model.safetensors");
    float v = 1;
    sn_safetensors_tensor t = {.name = "v", .ndim = 1, .shape = {1}, .data = &v};
    assert_status(sn_safetensors_write(path, &t, 1, NULL, 0), SN_ERR_IO);
    assert_message_has(path);
    assert_message_has(strerror(ENOENT));
    cr_assert_eq(count_dir_entries(tmp_dir), 0);
}

Test(safetensors, write_over_a_directory_fails_and_removes_temp_file)
{
    const char *path = in_tmp("dir.safetensors");
    cr_assert_eq(mkdir(path, 0755), 0);
    float v = 1;
    sn_safetensors_tensor t = {.name = "v", .ndim = 1, .shape = {1}, .data = &v};
    assert_status(sn_safetensors_write(path, &t, 1, NULL, 0), SN_ERR_IO);
    assert_message_has(path);
    assert_message_has("rename");
    cr_assert_eq(count_dir_entries(tmp_dir), 1, "temporary file left behind");
}

/* ---------------------------------------------------------- atomic writes */

static void check_failed_write_keeps_previous(sn_file_failpoint failpoint)
{
    const char *path = in_tmp("ckpt.safetensors");
    float *v1 = pattern_alloc(1000, 1), *v2 = pattern_alloc(1000, 2);
    sn_safetensors_tensor t = {.name = "w", .ndim = 2, .shape = {10, 100}, .data = v1};
    sn_safetensors_meta m = {"epoch", "1"};
    assert_status(sn_safetensors_write(path, &t, 1, &m, 1), SN_OK);
    size_t len1;
    unsigned char *before = slurp(path, &len1);

    t.data = v2;
    m.value = "2";
    assert_status(sn_safetensors_write_failing(path, &t, 1, &m, 1, failpoint), SN_ERR_IO);
    assert_message_has(path);
    assert_message_has("test failpoint");

    size_t len_after;
    unsigned char *after = slurp(path, &len_after);
    cr_assert_eq(len_after, len1);
    cr_assert_eq(memcmp(before, after, len1), 0, "previous checkpoint changed");
    cr_assert_eq(count_dir_entries(tmp_dir), 1, "temporary file left behind");

    /* The next successful write replaces it. */
    assert_status(sn_safetensors_write(path, &t, 1, &m, 1), SN_OK);
    sn_safetensors *f;
    assert_status(sn_safetensors_open(path, &f), SN_OK);
    cr_assert_str_eq(sn_safetensors_metadata(f, "epoch"), "2");
    cr_assert_eq(memcmp(sn_safetensors_find(f, "w")->data, v2, 4000), 0);
    sn_safetensors_close(f);
    cr_assert_eq(count_dir_entries(tmp_dir), 1);

    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0644, "mode %o", (unsigned)(st.st_mode & 0777));
    free(before);
    free(after);
    free(v1);
    free(v2);
}

Test(safetensors, failure_before_rename_keeps_previous_file)
{
    check_failed_write_keeps_previous(SN_FILE_FAIL_RENAME);
}

Test(safetensors, failure_mid_write_keeps_previous_file)
{
    check_failed_write_keeps_previous(SN_FILE_FAIL_WRITE);
}

Test(safetensors, failed_first_write_leaves_nothing)
{
    const char *path = in_tmp("first.safetensors");
    float v = 1;
    sn_safetensors_tensor t = {.name = "v", .ndim = 1, .shape = {1}, .data = &v};
    assert_status(sn_safetensors_write_failing(path, &t, 1, NULL, 0, SN_FILE_FAIL_RENAME),
                  SN_ERR_IO);
    cr_assert_eq(count_dir_entries(tmp_dir), 0);
}

/* ------------------------------------------------------ PyTorch cross-check */

static const char *python_path(void)
{
    const char *p = getenv("SN_TEST_PYTHON");
    return p && *p ? p : "/usr/bin/python3";
}

/* A missing torch fails the test: a cross-check that skips itself never runs
 * in CI (tools/quickstart.sh installs python3-torch). */
static void require_torch(void)
{
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import torch' >/dev/null 2>&1", python_path());
    cr_assert_eq(system(cmd), 0, "%s cannot import torch (apt-get install python3-torch)",
                 python_path());
}

/* Run `script` with `arg`; fail the test with its output unless it exits 0. */
static void run_python(const char *script, const char *arg)
{
    const char *script_path = in_tmp("check.py");
    spit(script_path, script, strlen(script));
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' 2>&1", python_path(), script_path, arg);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "popen: %s", strerror(errno));
    char output[8192] = {0};
    size_t used = 0, n;
    while (used + 1 < sizeof output &&
           (n = fread(output + used, 1, sizeof output - 1 - used, p)) > 0)
        used += n;
    int status = pclose(p);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "python failed (%d):\n%s", status,
              output);
    cr_assert_not_null(strstr(output, "OK"), "python output:\n%s", output);
}

/* Parses with only struct/json and builds tensors with torch.frombuffer. */
static const char python_reader[] =
    "import json, struct, sys, torch\n"
    "def pattern(n, seed):\n"
    "    return torch.tensor([((i * 7 + seed) % 23 - 11) / 8.0 + 1.0 / (i + 3)\n"
    "                         for i in range(n)], dtype=torch.float32)\n"
    "raw = open(sys.argv[1], 'rb').read()\n"
    "(n,) = struct.unpack('<Q', raw[:8])\n"
    "assert (8 + n) % 8 == 0, 'header not padded'\n"
    "text = raw[8:8 + n].decode('utf-8')\n"
    "assert text.rstrip(' ').endswith('}'), 'padding must be spaces'\n"
    "header = json.loads(text)\n"
    "data = raw[8 + n:]\n"
    "dtypes = {'F32': torch.float32, 'I64': torch.int64, 'I32': torch.int32}\n"
    "def load(name):\n"
    "    e = header[name]\n"
    "    b, end = e['data_offsets']\n"
    "    dt = dtypes[e['dtype']]\n"
    "    if b == end:\n"
    "        return torch.empty(e['shape'], dtype=dt)\n"
    "    return torch.frombuffer(bytearray(data[b:end]), dtype=dt).reshape(e['shape'])\n"
    "spans = sorted(tuple(v['data_offsets']) for k, v in header.items() if k != '__metadata__')\n"
    "pos = 0\n"
    "for b, e in spans:\n"
    "    assert b == pos, ('gap or overlap', b, pos)\n"
    "    pos = e\n"
    "assert pos == len(data), 'data area not covered'\n"
    "assert header['__metadata__'] == {'format': 'pt', 'note': 'h\\u00e9llo'}, header['__metadata__']\n"
    "conv = load('conv')\n"
    "assert conv.shape == (4, 3, 3, 3) and conv.dtype == torch.float32\n"
    "assert torch.equal(conv.flatten(), pattern(108, 1)), (conv.flatten()[:5], pattern(108, 1)[:5])\n"
    "odd = load('odd')\n"
    "assert odd.shape == (7, 1, 5)\n"
    "assert torch.equal(odd.flatten(), pattern(35, 2))\n"
    "one = load('one')\n"
    "assert one.shape == (1,) and one.item() == 0.1875\n"
    "s = load('scalar')\n"
    "assert s.shape == () and s.item() == -3.5\n"
    "assert load('empty').shape == (0, 3)\n"
    "assert load('step').tolist() == [-(2 ** 62), 7]\n"
    "assert load('counts').tolist() == [-5, 2 ** 31 - 1]\n"
    "assert list(header) == ['__metadata__', 'conv', 'odd', 'one', 'scalar', 'empty', 'step',"
    " 'counts'], list(header)\n"
    "print('OK')\n";

Test(safetensors, pytorch_reads_our_file)
{
    require_torch();
    const char *path = in_tmp("ours.safetensors");
    float *conv = pattern_alloc(108, 1), *odd = pattern_alloc(35, 2);
    float one = 0.1875f, scalar = -3.5f;
    int64_t step[2] = {-(INT64_C(1) << 62), 7};
    int32_t counts[2] = {-5, INT32_MAX};
    sn_safetensors_tensor t[] = {
        {.name = "conv", .ndim = 4, .shape = {4, 3, 3, 3}, .data = conv},
        {.name = "odd", .ndim = 3, .shape = {7, 1, 5}, .data = odd},
        {.name = "one", .ndim = 1, .shape = {1}, .data = &one},
        {.name = "scalar", .ndim = 0, .data = &scalar},
        {.name = "empty", .ndim = 2, .shape = {0, 3}},
        {.name = "step", .dtype = SN_SAFETENSORS_I64, .ndim = 1, .shape = {2}, .data = step},
        {.name = "counts", .dtype = SN_SAFETENSORS_I32, .ndim = 1, .shape = {2}, .data = counts},
    };
    sn_safetensors_meta m[] = {{"format", "pt"}, {"note", "h\xc3\xa9llo"}};
    assert_status(sn_safetensors_write(path, t, sizeof t / sizeof t[0], m, 2), SN_OK);
    run_python(python_reader, path);
    free(conv);
    free(odd);
}

/* Writes like another tool would: spaced JSON, keys not in offset order, no
 * padding (so the data area is misaligned), torch's own bytes. */
static const char python_writer[] =
    "import json, struct, sys, torch\n"
    "def pattern(n, seed):\n"
    "    return torch.tensor([((i * 7 + seed) % 23 - 11) / 8.0 + 1.0 / (i + 3)\n"
    "                         for i in range(n)], dtype=torch.float32)\n"
    "tensors = [\n"
    "    ('layer.weight', pattern(30, 5).reshape(3, 2, 5)),\n"
    "    ('idx', torch.tensor([-1, 0, 2 ** 40, -(2 ** 62)], dtype=torch.int64)),\n"
    "    ('i32', torch.tensor([3, -4, 2 ** 31 - 1], dtype=torch.int32)),\n"
    "    ('s', torch.tensor(2.5, dtype=torch.float32)),\n"
    "    ('e', torch.zeros(0, dtype=torch.float32)),\n"
    "    ('t', pattern(6, 9).reshape(2, 3).t()),\n"
    "]\n"
    "names = {torch.float32: 'F32', torch.int64: 'I64', torch.int32: 'I32'}\n"
    "header, blobs, pos = {}, [], 0\n"
    "for name, t in tensors:\n"
    "    b = t.contiguous().numpy().tobytes()\n"
    "    header[name] = {'dtype': names[t.dtype], 'shape': list(t.shape),\n"
    "                    'data_offsets': [pos, pos + len(b)]}\n"
    "    blobs.append(b)\n"
    "    pos += len(b)\n"
    "header = dict(reversed(list(header.items())))\n"
    "header['__metadata__'] = {'producer': 'torch', 'epoch': '3'}\n"
    "text = json.dumps(header).encode('utf-8')\n"
    "while (8 + len(text)) % 8 != 3:\n"
    "    text += b' '\n"
    "with open(sys.argv[1], 'wb') as f:\n"
    "    f.write(struct.pack('<Q', len(text)) + text + b''.join(blobs))\n"
    "print('OK')\n";

Test(safetensors, we_read_a_file_written_with_pytorch)
{
    require_torch();
    const char *path = in_tmp("theirs.safetensors");
    run_python(python_writer, path);

    sn_safetensors *f;
    assert_status(sn_safetensors_open(path, &f), SN_OK);
    cr_assert_eq(sn_safetensors_tensor_count(f), 6);
    const char *order[6] = {"layer.weight", "idx", "i32", "s", "e", "t"};
    for (int i = 0; i < 6; i++)
        cr_assert_str_eq(sn_safetensors_tensor_at(f, (size_t)i)->name, order[i]);

    const void *data;
    const int64_t w_shape[3] = {3, 2, 5};
    assert_status(sn_safetensors_get(f, "layer.weight", SN_SAFETENSORS_F32, 3, w_shape, &data),
                  SN_OK);
    cr_assert_eq((uintptr_t)data % 4, 0);
    for (int i = 0; i < 30; i++)
        cr_assert_eq(((const float *)data)[i], pattern_f32(i, 5), "layer.weight[%d]", i);

    assert_status(sn_safetensors_get(f, "idx", SN_SAFETENSORS_I64, 1, (int64_t[]){4}, &data),
                  SN_OK);
    cr_assert_eq((uintptr_t)data % 8, 0);
    const int64_t idx[4] = {-1, 0, INT64_C(1) << 40, -(INT64_C(1) << 62)};
    cr_assert_eq(memcmp(data, idx, sizeof idx), 0);

    assert_status(sn_safetensors_get(f, "i32", SN_SAFETENSORS_I32, 1, (int64_t[]){3}, &data),
                  SN_OK);
    const int32_t i32[3] = {3, -4, INT32_MAX};
    cr_assert_eq(memcmp(data, i32, sizeof i32), 0);

    assert_status(sn_safetensors_get(f, "s", SN_SAFETENSORS_F32, 0, (int64_t[1]){0}, &data),
                  SN_OK);
    cr_assert_eq(*(const float *)data, 2.5f);
    assert_status(sn_safetensors_get(f, "e", SN_SAFETENSORS_F32, 1, (int64_t[]){0}, &data), SN_OK);

    /* t = pattern(6, 9).reshape(2,3).t(): shape [3,2], row-major after contiguous(). */
    assert_status(sn_safetensors_get(f, "t", SN_SAFETENSORS_F32, 2, (int64_t[]){3, 2}, &data),
                  SN_OK);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 2; c++)
            cr_assert_eq(((const float *)data)[r * 2 + c], pattern_f32(c * 3 + r, 9), "t[%d][%d]",
                         r, c);

    cr_assert_str_eq(sn_safetensors_metadata(f, "producer"), "torch");
    cr_assert_str_eq(sn_safetensors_metadata(f, "epoch"), "3");
    sn_safetensors_close(f);
}
