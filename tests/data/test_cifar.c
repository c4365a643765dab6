/* CIFAR-10 / CIFAR-100 binary files: small generated files, names, corrupt files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_test_util.h"
#include "sharesnet/data.h"

static void fixture_init(void) { tmp_create(); }
static void fixture_fini(void) { tmp_remove(); }
TestSuite(cifar, .init = fixture_init, .fini = fixture_fini, .timeout = 60);

static uint8_t pixel(int image, int k) { return (uint8_t)(image * 7 + k * 13 + k / 1024); }

/* `n` records numbered from `first`, each with `label_bytes` labels. */
static uint8_t *records(int first, int n, int label_bytes, size_t *size)
{
    size_t record = 3072 + (size_t)label_bytes;
    *size = record * n;
    uint8_t *b = malloc(*size);
    for (int i = 0; i < n; i++) {
        uint8_t *r = b + record * i;
        int id = first + i;
        if (label_bytes == 1) {
            r[0] = (uint8_t)(id % 10);
        } else {
            r[0] = (uint8_t)(id % 20);         /* coarse */
            r[1] = (uint8_t)((id * 7) % 100);  /* fine */
        }
        for (int k = 0; k < 3072; k++)
            r[label_bytes + k] = pixel(id, k);
    }
    return b;
}

static void write_records(const char *dir, const char *name, int first, int n,
                          int label_bytes)
{
    size_t size;
    uint8_t *b = records(first, n, label_bytes, &size);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_bytes(path, b, size);
    free(b);
}

static void write_cifar10(const char *dir)
{
    make_dirs(dir);
    for (int f = 1; f <= 5; f++) {
        char name[64];
        snprintf(name, sizeof name, "data_batch_%d.bin", f);
        write_records(dir, name, (f - 1) * 2, 2, 1);
    }
    write_records(dir, "test_batch.bin", 100, 3, 1);
}

static void check_images(const sn_dataset *d, int first)
{
    cr_assert_eq(d->channels, 3);
    cr_assert_eq(d->height, 32);
    cr_assert_eq(d->width, 32);
    for (int64_t i = 0; i < d->count; i++)
        for (int k = 0; k < 3072; k += 97)  /* R plane, then G, then B: CHW */
            cr_assert_eq(d->images[i * 3072 + k], pixel(first + (int)i, k));
}

Test(cifar, cifar10_train_and_test)
{
    write_cifar10(tmp_root);
    write_text(tmp_path("batches.meta.txt"),
               "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n");
    sn_dataset d;
    cr_assert_eq(sn_dataset_load(&d, tmp_root, SN_SPLIT_TRAIN, NULL), SN_OK, "%s",
                 sn_last_error());
    cr_assert_eq(d.count, 10);
    cr_assert_eq(d.classes, 10);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(d.labels[i], i % 10);
    check_images(&d, 0);
    cr_assert_str_eq(d.class_names[0], "airplane");
    cr_assert_str_eq(d.class_names[9], "truck");
    sn_dataset_free(&d);

    cr_assert_eq(sn_dataset_load(&d, tmp_root, SN_SPLIT_TEST, NULL), SN_OK, "%s",
                 sn_last_error());
    cr_assert_eq(d.count, 3);
    cr_assert_eq(d.labels[2], 102 % 10);
    check_images(&d, 100);
    sn_dataset_free(&d);
}

Test(cifar, cifar10_nested_folder_numbered_names)
{
    write_cifar10(tmp_path("cifar-10-batches-bin"));
    sn_dataset d;
    sn_data_options o = {.format = SN_DATA_CIFAR10};
    cr_assert_eq(sn_dataset_load(&d, tmp_root, SN_SPLIT_TEST, &o), SN_OK, "%s",
                 sn_last_error());
    cr_assert_eq(d.count, 3);
    cr_assert_str_eq(d.class_names[3], "3");
    sn_dataset_free(&d);
    /* the same through a "cifar10:" prefix and auto-detection */
    char source[512];
    snprintf(source, sizeof source, "cifar10:%s", tmp_root);
    cr_assert_eq(sn_dataset_load(&d, source, SN_SPLIT_TRAIN, NULL), SN_OK, "%s",
                 sn_last_error());
    cr_assert_eq(d.count, 10);
    sn_dataset_free(&d);
}

Test(cifar, cifar100_fine_and_coarse)
{
    write_records(tmp_root, "train.bin", 0, 7, 2);
    write_records(tmp_root, "test.bin", 50, 4, 2);
    char names[2000] = "";
    for (int i = 0; i < 100; i++) {
        char line[32];
        snprintf(line, sizeof line, "fine_%d\r\n", i);
        strcat(names, line);
    }
    write_text(tmp_path("fine_label_names.txt"), names);
    sn_dataset d;
    cr_assert_eq(sn_dataset_load(&d, tmp_root, SN_SPLIT_TRAIN, NULL), SN_OK, "%s",
                 sn_last_error());
    cr_assert_eq(d.count, 7);
    cr_assert_eq(d.classes, 100);
    for (int i = 0; i < 7; i++)
        cr_assert_eq(d.labels[i], (i * 7) % 100);
    check_images(&d, 0);
    cr_assert_str_eq(d.class_names[42], "fine_42");
    sn_dataset_free(&d);

    sn_data_options o = {.format = SN_DATA_CIFAR100, .cifar100_coarse = 1};
    cr_assert_eq(sn_dataset_load(&d, tmp_root, SN_SPLIT_TEST, &o), SN_OK, "%s",
                 sn_last_error());
    cr_assert_eq(d.count, 4);
    cr_assert_eq(d.classes, 20);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(d.labels[i], (50 + i) % 20);
    check_images(&d, 50);
    cr_assert_str_eq(d.class_names[19], "19");  /* no coarse_label_names.txt */
    sn_dataset_free(&d);
}

static void expect_error(sn_data_format format, sn_split split, sn_status want,
                         const char *file, const char *words)
{
    sn_dataset d;
    sn_data_options o = {.format = format};
    sn_status s = sn_dataset_load(&d, tmp_root, split, &o);
    cr_assert_eq(s, want, "status %s: %s", sn_status_name(s), sn_last_error());
    cr_assert(strstr(sn_last_error(), file), "message does not name %s: %s", file,
              sn_last_error());
    cr_assert(strstr(sn_last_error(), words), "message lacks '%s': %s", words,
              sn_last_error());
    cr_assert_null(d.images);
}

Test(cifar, cifar10_truncated)
{
    write_cifar10(tmp_root);
    size_t size;
    uint8_t *b = records(0, 2, 1, &size);
    write_bytes(tmp_path("data_batch_3.bin"), b, size - 100);
    free(b);
    expect_error(SN_DATA_CIFAR10, SN_SPLIT_TRAIN, SN_ERR_FORMAT, "data_batch_3.bin",
                 "truncated");
    write_bytes(tmp_path("data_batch_3.bin"), "", 0);
    expect_error(SN_DATA_CIFAR10, SN_SPLIT_TRAIN, SN_ERR_FORMAT, "data_batch_3.bin", "empty");
}

Test(cifar, cifar100_truncated)
{
    write_records(tmp_root, "train.bin", 0, 3, 2);
    size_t size;
    uint8_t *b = records(0, 3, 2, &size);
    write_bytes(tmp_path("test.bin"), b, size - 3073);
    free(b);
    expect_error(SN_DATA_CIFAR100, SN_SPLIT_TEST, SN_ERR_FORMAT, "test.bin", "truncated");
}

Test(cifar, label_out_of_range)
{
    write_cifar10(tmp_root);
    size_t size;
    uint8_t *b = records(100, 3, 1, &size);
    b[3073] = 10;
    write_bytes(tmp_path("test_batch.bin"), b, size);
    free(b);
    expect_error(SN_DATA_CIFAR10, SN_SPLIT_TEST, SN_ERR_FORMAT, "test_batch.bin",
                 "out of range");

    b = records(0, 3, 2, &size);
    b[3074 * 2 + 1] = 100;  /* fine label of record 2 */
    write_bytes(tmp_path("train.bin"), b, size);
    free(b);
    expect_error(SN_DATA_CIFAR100, SN_SPLIT_TRAIN, SN_ERR_FORMAT, "train.bin",
                 "out of range");
}

Test(cifar, missing_batch_and_bad_names)
{
    write_cifar10(tmp_root);
    remove(tmp_path("data_batch_4.bin"));
    expect_error(SN_DATA_CIFAR10, SN_SPLIT_TRAIN, SN_ERR_IO, "data_batch_4.bin", "cannot open");
    write_cifar10(tmp_root);
    write_text(tmp_path("batches.meta.txt"), "airplane\nautomobile\n");
    expect_error(SN_DATA_CIFAR10, SN_SPLIT_TRAIN, SN_ERR_FORMAT, "batches.meta.txt",
                 "2 class names for 10 classes");
}
