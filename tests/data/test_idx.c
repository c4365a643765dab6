/* IDX files: raw and gzip round trips, corrupt variants, real Fashion-MNIST. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data_test_util.h"
#include "sharesnet/data.h"

#define N 5
#define ROWS 3
#define COLS 4

static void fixture_init(void) { tmp_create(); }
static void fixture_fini(void) { tmp_remove(); }
TestSuite(idx, .init = fixture_init, .fini = fixture_fini, .timeout = 60);

static uint8_t pixel(int i, int k) { return (uint8_t)(i * 37 + k * 11 + 3); }

/* IDX image bytes for `n` images (header says `header_n`). */
static uint8_t *idx_images(int n, int header_n, size_t *size)
{
    *size = 16 + (size_t)n * ROWS * COLS;
    uint8_t *b = calloc(1, *size);
    b[2] = 0x08;
    b[3] = 3;
    b[7] = (uint8_t)header_n;
    b[11] = ROWS;
    b[15] = COLS;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < ROWS * COLS; k++)
            b[16 + i * ROWS * COLS + k] = pixel(i, k);
    return b;
}

static uint8_t *idx_labels(int n, size_t *size)
{
    *size = 8 + (size_t)n;
    uint8_t *b = calloc(1, *size);
    b[2] = 0x08;
    b[3] = 1;
    b[7] = (uint8_t)n;
    for (int i = 0; i < n; i++)
        b[8 + i] = (uint8_t)((i * 3) % 10);
    return b;
}

/* Write train (or t10k) files for N examples into tmp_root. */
static void write_split(const char *prefix, int gz)
{
    size_t is, ls;
    uint8_t *im = idx_images(N, N, &is), *lb = idx_labels(N, &ls);
    char name[128];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte%s", prefix, gz ? ".gz" : "");
    (gz ? write_gzip : write_bytes)(tmp_path(name), im, is);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte%s", prefix, gz ? ".gz" : "");
    (gz ? write_gzip : write_bytes)(tmp_path(name), lb, ls);
    free(im);
    free(lb);
}

static void check_round_trip(const sn_dataset *d)
{
    cr_assert_eq(d->count, N);
    cr_assert_eq(d->channels, 1);
    cr_assert_eq(d->height, ROWS);
    cr_assert_eq(d->width, COLS);
    cr_assert_eq(d->classes, 10);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(d->labels[i], (i * 3) % 10);
        for (int k = 0; k < ROWS * COLS; k++)
            cr_assert_eq(d->images[i * ROWS * COLS + k], pixel(i, k));
    }
    cr_assert_str_eq(d->class_names[0], "0");
    cr_assert_str_eq(d->class_names[9], "9");
}

Test(idx, raw_round_trip)
{
    write_split("train", 0);
    write_split("t10k", 0);
    sn_dataset d;
    cr_assert_eq(sn_dataset_load(&d, tmp_root, SN_SPLIT_TRAIN, NULL), SN_OK, "%s",
                 sn_last_error());
    check_round_trip(&d);
    sn_dataset_free(&d);
    cr_assert_eq(sn_dataset_load(&d, tmp_root, SN_SPLIT_TEST, NULL), SN_OK, "%s",
                 sn_last_error());
    check_round_trip(&d);
    sn_dataset_free(&d);
    cr_assert_eq(sn_dataset_load_idx_files(&d, tmp_path("train-images-idx3-ubyte"),
                                           tmp_path("train-labels-idx1-ubyte"), 0), SN_OK);
    check_round_trip(&d);
    sn_dataset_free(&d);
    cr_assert_null(d.images);
}

Test(idx, gzip_round_trip)
{
    write_split("train", 1);
    sn_dataset d;
    sn_data_options o = {.format = SN_DATA_IDX};
    cr_assert_eq(sn_dataset_load(&d, tmp_root, SN_SPLIT_TRAIN, &o), SN_OK, "%s",
                 sn_last_error());
    check_round_trip(&d);
    sn_dataset_free(&d);
}

/* A gzip of the images concatenated from two members decodes as one file. */
Test(idx, gzip_multi_member)
{
    size_t is, ls, z1, z2;
    uint8_t *im = idx_images(N, N, &is), *lb = idx_labels(N, &ls);
    uint8_t *a = gzip_bytes(im, 10, &z1), *b = gzip_bytes(im + 10, is - 10, &z2);
    uint8_t *both = malloc(z1 + z2);
    memcpy(both, a, z1);
    memcpy(both + z1, b, z2);
    write_bytes(tmp_path("im.gz"), both, z1 + z2);
    write_bytes(tmp_path("lb"), lb, ls);
    sn_dataset d;
    cr_assert_eq(sn_dataset_load_idx_files(&d, tmp_path("im.gz"), tmp_path("lb"), 10), SN_OK,
                 "%s", sn_last_error());
    check_round_trip(&d);
    sn_dataset_free(&d);
    free(im), free(lb), free(a), free(b), free(both);
}

/* Load images/labels files written from the given buffers; expect failure. */
static void expect_failure(const uint8_t *im, size_t is, const uint8_t *lb, size_t ls,
                           int gz_images, sn_status want, const char *bad_file,
                           const char *words)
{
    const char *ip = tmp_path(gz_images ? "images.gz" : "images");
    const char *lp = tmp_path("labels");
    write_bytes(ip, im, is);
    write_bytes(lp, lb, ls);
    sn_dataset d;
    sn_status s = sn_dataset_load_idx_files(&d, ip, lp, 10);
    cr_assert_eq(s, want, "status %s, message: %s", sn_status_name(s), sn_last_error());
    const char *path = strcmp(bad_file, "images") == 0 ? ip : lp;
    cr_assert(strstr(sn_last_error(), path), "message does not name %s: %s", path,
              sn_last_error());
    cr_assert(strstr(sn_last_error(), words), "message lacks '%s': %s", words,
              sn_last_error());
    cr_assert_null(d.images);
    cr_assert_eq(d.count, 0);
}

Test(idx, bad_magic)
{
    size_t is, ls;
    uint8_t *im = idx_images(N, N, &is), *lb = idx_labels(N, &ls);
    im[0] = 0x12;
    expect_failure(im, is, lb, ls, 0, SN_ERR_FORMAT, "images", "bad magic");
    im[0] = 0;
    lb[3] = 2;  /* labels with 2 dimensions */
    expect_failure(im, is, lb, ls, 0, SN_ERR_FORMAT, "labels", "bad magic");
    free(im), free(lb);
}

Test(idx, truncated_file)
{
    size_t is, ls;
    uint8_t *im = idx_images(N, N, &is), *lb = idx_labels(N, &ls);
    expect_failure(im, is - 7, lb, ls, 0, SN_ERR_FORMAT, "images", "truncated");
    expect_failure(im, 10, lb, ls, 0, SN_ERR_FORMAT, "images", "truncated");
    expect_failure(im, is, lb, ls - 1, 0, SN_ERR_FORMAT, "labels", "truncated");
    free(im), free(lb);
}

Test(idx, truncated_gzip)
{
    size_t is, ls, zs;
    uint8_t *im = idx_images(N, N, &is), *lb = idx_labels(N, &ls);
    uint8_t *z = gzip_bytes(im, is, &zs);
    expect_failure(z, zs / 2, lb, ls, 1, SN_ERR_FORMAT, "images", "truncated gzip");
    expect_failure(z, zs - 4, lb, ls, 1, SN_ERR_FORMAT, "images", "truncated gzip");
    z[12] ^= 0xff;  /* corrupt deflate data (or its CRC) */
    z[13] ^= 0x55;
    expect_failure(z, zs, lb, ls, 1, SN_ERR_FORMAT, "images", "gzip");
    free(im), free(lb), free(z);
}

Test(idx, count_mismatch)
{
    size_t is, ls;
    uint8_t *im = idx_images(N, N, &is), *lb = idx_labels(N - 1, &ls);
    expect_failure(im, is, lb, ls, 0, SN_ERR_FORMAT, "labels", "count mismatch");
    cr_assert(strstr(sn_last_error(), tmp_path("images")));
    free(im), free(lb);
}

Test(idx, label_out_of_range)
{
    size_t is, ls;
    uint8_t *im = idx_images(N, N, &is), *lb = idx_labels(N, &ls);
    lb[8 + 3] = 10;
    expect_failure(im, is, lb, ls, 0, SN_ERR_FORMAT, "labels", "out of range");
    free(im), free(lb);
}

Test(idx, missing_files)
{
    sn_dataset d;
    sn_data_options o = {.format = SN_DATA_IDX};
    sn_status s = sn_dataset_load(&d, tmp_root, SN_SPLIT_TRAIN, &o);
    cr_assert_eq(s, SN_ERR_IO, "%s", sn_status_name(s));
    cr_assert(strstr(sn_last_error(), "train-images-idx3-ubyte"), "%s", sn_last_error());
    s = sn_dataset_load(&d, tmp_path("nowhere"), SN_SPLIT_TRAIN, NULL);
    cr_assert_eq(s, SN_ERR_IO);
    cr_assert(strstr(sn_last_error(), "nowhere"), "%s", sn_last_error());
    s = sn_dataset_load(&d, tmp_root, SN_SPLIT_TRAIN, NULL);
    cr_assert_eq(s, SN_ERR_FORMAT, "%s", sn_status_name(s));
    cr_assert(strstr(sn_last_error(), tmp_root), "%s", sn_last_error());
}

Test(idx, fashion_mnist_test_split, .timeout = 120)
{
    if (access(SN_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz", R_OK) != 0 &&
        access(SN_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte", R_OK) != 0)
        cr_skip_test("Fashion-MNIST is not installed in " SN_FASHION_MNIST_DIR);
    sn_dataset d;
    cr_assert_eq(sn_dataset_load(&d, "fashion-mnist", SN_SPLIT_TEST, NULL), SN_OK, "%s",
                 sn_last_error());
    cr_assert_eq(d.count, 10000);
    cr_assert_eq(d.channels, 1);
    cr_assert_eq(d.height, 28);
    cr_assert_eq(d.width, 28);
    cr_assert_eq(d.classes, 10);
    cr_assert_str_eq(d.class_names[0], "T-shirt/top");
    cr_assert_str_eq(d.class_names[9], "Ankle boot");
    int per_class[10] = {0};
    for (int64_t i = 0; i < d.count; i++)
        per_class[d.labels[i]]++;
    for (int c = 0; c < 10; c++)
        cr_assert_eq(per_class[c], 1000, "class %d has %d test images", c, per_class[c]);
    float mean, std;
    cr_assert_eq(sn_dataset_channel_stats(&d, 0, &mean, &std), SN_OK);
    cr_assert(mean > 0.25f && mean < 0.33f, "mean %f", mean);  /* about 0.286 */
    cr_assert(std > 0.32f && std < 0.38f, "std %f", std);      /* about 0.353 */
    sn_dataset_free(&d);
}
