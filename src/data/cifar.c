/* CIFAR-10 / CIFAR-100 binary format: fixed-size records of label byte(s)
 * followed by 3072 pixel bytes (1024 R, 1024 G, 1024 B; already CHW). */
#include "data_internal.h"
#include "runtime/error_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CIFAR_PIXELS 3072

int sn_data_cifar_dir(char *out, size_t cap, const char *dir, const char *subdir,
                      const char *probe_file)
{
    char probe[SN_DATA_PATH_MAX], nested[SN_DATA_PATH_MAX];
    if (sn_data_join(probe, sizeof probe, dir, probe_file) == SN_OK && sn_data_is_file(probe)) {
        snprintf(out, cap, "%s", dir);
        return 1;
    }
    if (sn_data_join(nested, sizeof nested, dir, subdir) == SN_OK &&
        sn_data_join(probe, sizeof probe, nested, probe_file) == SN_OK &&
        sn_data_is_file(probe)) {
        snprintf(out, cap, "%s", nested);
        return 1;
    }
    return 0;
}

/* The layout of one CIFAR variant. */
typedef struct cifar_kind {
    int label_bytes;    /* 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine) */
    int label_offset;   /* which label byte is used */
    int classes;
} cifar_kind;

/* Append the records of one file to *out (grown with realloc). */
static sn_status append_file(sn_dataset *out, const char *path, const cifar_kind *kind)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    SN_TRY(sn_data_read_file(path, &bytes, &size));
    size_t record = (size_t)kind->label_bytes + CIFAR_PIXELS;
    sn_status status = SN_OK;
    if (size == 0)
        status = sn_fail(SN_ERR_FORMAT, "%s: empty file", path);
    else if (size % record != 0)
        status = sn_fail(SN_ERR_FORMAT, "%s: truncated: %zu bytes is not a whole number "
                         "of %zu-byte records (%zu extra bytes)", path, size, record,
                         size % record);
    size_t n = size / record;
    for (size_t i = 0; status == SN_OK && i < n; i++)
        for (int b = 0; b < kind->label_bytes; b++) {
            int limit = kind->label_bytes == 2 ? (b == 0 ? 20 : 100) : kind->classes;
            int label = bytes[i * record + b];
            if (label >= limit)
                status = sn_fail(SN_ERR_FORMAT, "%s: label %d of record %zu out of range "
                                 "[0, %d)", path, label, i, limit);
        }
    if (status == SN_OK) {
        size_t total = (size_t)out->count + n;
        uint8_t *images = realloc(out->images, total * CIFAR_PIXELS);
        if (images)
            out->images = images;
        int32_t *labels = realloc(out->labels, total * sizeof(int32_t));
        if (labels)
            out->labels = labels;
        if (!images || !labels)
            status = sn_fail(SN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu images", path,
                             total);
    }
    if (status == SN_OK) {
        for (size_t i = 0; i < n; i++) {
            const uint8_t *r = bytes + i * record;
            out->labels[out->count + (int64_t)i] = r[kind->label_offset];
            memcpy(out->images + ((size_t)out->count + i) * CIFAR_PIXELS,
                   r + kind->label_bytes, CIFAR_PIXELS);
        }
        out->count += (int64_t)n;
    }
    free(bytes);
    return status;
}

static sn_status load_files(sn_dataset *out, const char *dir, const char *const *files,
                            int file_count, const cifar_kind *kind, const char *names_file)
{
    memset(out, 0, sizeof *out);
    out->channels = 3;
    out->height = 32;
    out->width = 32;
    out->classes = kind->classes;
    out->class_names = calloc((size_t)kind->classes, sizeof(char *));
    sn_status status = out->class_names ? SN_OK
        : sn_fail(SN_ERR_OUT_OF_MEMORY, "cannot allocate class names");
    char path[SN_DATA_PATH_MAX];
    for (int f = 0; status == SN_OK && f < file_count; f++) {
        status = sn_data_join(path, sizeof path, dir, files[f]);
        if (status == SN_OK)
            status = append_file(out, path, kind);
    }
    if (status == SN_OK)
        status = sn_data_join(path, sizeof path, dir, names_file);
    if (status == SN_OK)
        status = sn_data_read_class_names(out, path);
    if (status != SN_OK)
        sn_dataset_free(out);
    return status;
}

sn_status sn_data_load_cifar10(sn_dataset *out, const char *dir, sn_split split)
{
    static const char *const train[] = {
        "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
        "data_batch_4.bin", "data_batch_5.bin",
    };
    static const char *const test[] = {"test_batch.bin"};
    const char *const *files = split == SN_SPLIT_TRAIN ? train : test;
    int count = split == SN_SPLIT_TRAIN ? 5 : 1;
    char root[SN_DATA_PATH_MAX];
    memset(out, 0, sizeof *out);
    if (!sn_data_cifar_dir(root, sizeof root, dir, "cifar-10-batches-bin", files[0]))
        return sn_fail(SN_ERR_IO, "%s: no %s (CIFAR-10 binary) here or in "
                       "cifar-10-batches-bin/", dir, files[0]);
    const cifar_kind kind = {1, 0, 10};
    return load_files(out, root, files, count, &kind, "batches.meta.txt");
}

sn_status sn_data_load_cifar100(sn_dataset *out, const char *dir, sn_split split,
                                int coarse)
{
    const char *file = split == SN_SPLIT_TRAIN ? "train.bin" : "test.bin";
    char root[SN_DATA_PATH_MAX];
    memset(out, 0, sizeof *out);
    if (!sn_data_cifar_dir(root, sizeof root, dir, "cifar-100-binary", file))
        return sn_fail(SN_ERR_IO, "%s: no %s (CIFAR-100 binary) here or in "
                       "cifar-100-binary/", dir, file);
    const cifar_kind kind = {2, coarse ? 0 : 1, coarse ? 20 : 100};
    return load_files(out, root, &file, 1, &kind,
                      coarse ? "coarse_label_names.txt" : "fine_label_names.txt");
}
