/* IDX files (MNIST, Fashion-MNIST): ubyte images [n][rows][cols], ubyte labels. */
#include "data_internal.h"
#include "runtime/error_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const fashion_names[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Check the header of an IDX file of unsigned bytes with `want_dims`
 * dimensions and that exactly the data the header announces follows. */
static sn_status parse_idx(const char *path, const uint8_t *bytes, size_t size,
                           int want_dims, uint32_t *dims, const uint8_t **payload)
{
    if (size < 4)
        return sn_fail(SN_ERR_FORMAT, "%s: truncated: %zu bytes, too short for an IDX "
                       "header", path, size);
    if (bytes[0] != 0 || bytes[1] != 0)
        return sn_fail(SN_ERR_FORMAT, "%s: bad magic 0x%08x: not an IDX file", path,
                       (unsigned)be32(bytes));
    if (bytes[2] != 0x08)
        return sn_fail(SN_ERR_FORMAT, "%s: IDX element type 0x%02x, expected unsigned "
                       "byte (0x08)", path, bytes[2]);
    if (bytes[3] != want_dims)
        return sn_fail(SN_ERR_FORMAT, "%s: bad magic 0x%08x: IDX file with %d dimensions, "
                       "expected %d", path, (unsigned)be32(bytes), bytes[3], want_dims);
    size_t header = 4 + 4 * (size_t)want_dims;
    if (size < header)
        return sn_fail(SN_ERR_FORMAT, "%s: truncated: %zu bytes, IDX header needs %zu",
                       path, size, header);
    uint64_t expected = 1;
    for (int d = 0; d < want_dims; d++) {
        dims[d] = be32(bytes + 4 + 4 * d);
        expected *= dims[d];
    }
    if (dims[0] == 0)
        return sn_fail(SN_ERR_FORMAT, "%s: IDX file holds no items", path);
    for (int d = 1; d < want_dims; d++)
        if (dims[d] == 0 || dims[d] > 65535)
            return sn_fail(SN_ERR_FORMAT, "%s: wrong dims: dimension %d is %u", path, d,
                           (unsigned)dims[d]);
    uint64_t have = size - header;
    if (have < expected)
        return sn_fail(SN_ERR_FORMAT, "%s: truncated: %llu data bytes, the header "
                       "announces %llu", path, (unsigned long long)have,
                       (unsigned long long)expected);
    if (have > expected)
        return sn_fail(SN_ERR_FORMAT, "%s: %llu unexpected bytes after the %llu data bytes "
                       "the header announces", path,
                       (unsigned long long)(have - expected), (unsigned long long)expected);
    *payload = bytes + header;
    return SN_OK;
}

static sn_status load_idx_files(sn_dataset *out, const char *images_path,
                                const char *labels_path, int classes)
{
    uint8_t *images = NULL, *labels = NULL;
    size_t images_size = 0, labels_size = 0;
    uint32_t image_dims[3], label_dims[1];
    const uint8_t *pixels = NULL, *label_bytes = NULL;
    sn_status status = sn_data_read_file(images_path, &images, &images_size);
    if (status == SN_OK)
        status = parse_idx(images_path, images, images_size, 3, image_dims, &pixels);
    if (status == SN_OK)
        status = sn_data_read_file(labels_path, &labels, &labels_size);
    if (status == SN_OK)
        status = parse_idx(labels_path, labels, labels_size, 1, label_dims, &label_bytes);
    if (status == SN_OK && image_dims[0] != label_dims[0])
        status = sn_fail(SN_ERR_FORMAT, "image count mismatch: %s holds %u images but %s "
                         "holds %u labels", images_path, (unsigned)image_dims[0],
                         labels_path, (unsigned)label_dims[0]);
    for (uint32_t i = 0; status == SN_OK && i < label_dims[0]; i++)
        if (label_bytes[i] >= classes)
            status = sn_fail(SN_ERR_FORMAT, "%s: label %u of item %u out of range [0, %d)",
                             labels_path, label_bytes[i], (unsigned)i, classes);
    if (status == SN_OK)
        status = sn_data_alloc(out, image_dims[0], 1, (int)image_dims[1],
                               (int)image_dims[2], classes);
    if (status == SN_OK) {
        memcpy(out->images, pixels, (size_t)image_dims[0] * image_dims[1] * image_dims[2]);
        for (uint32_t i = 0; i < label_dims[0]; i++)
            out->labels[i] = label_bytes[i];
    }
    free(images);
    free(labels);
    return status;
}

sn_status sn_dataset_load_idx_files(sn_dataset *out, const char *images_path,
                                    const char *labels_path, int classes)
{
    if (!out || !images_path || !labels_path)
        return sn_fail(SN_ERR_INVALID_ARG, "sn_dataset_load_idx_files: NULL argument");
    memset(out, 0, sizeof *out);
    if (classes <= 0)
        classes = 10;
    if (classes > 256)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: %d classes, but IDX labels are bytes",
                       labels_path, classes);
    sn_status status = load_idx_files(out, images_path, labels_path, classes);
    if (status == SN_OK)
        status = sn_data_number_class_names(out);
    if (status != SN_OK)
        sn_dataset_free(out);
    return status;
}

/* Find PREFIX-KIND[.gz] (or the PREFIX-KIND with a dot some mirrors use). */
static sn_status find_idx_file(char *out, size_t cap, const char *dir,
                               const char *prefix, const char *kind, const char *dotted)
{
    char name[128];
    const char *forms[4][2] = {
        {kind, ".gz"}, {kind, ""}, {dotted, ".gz"}, {dotted, ""},
    };
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s-%s%s", prefix, forms[i][0], forms[i][1]);
        SN_TRY(sn_data_join(out, cap, dir, name));
        if (sn_data_is_file(out))
            return SN_OK;
    }
    return sn_fail(SN_ERR_IO, "%s: no %s-%s[.gz] file", dir, prefix, kind);
}

sn_status sn_data_load_idx_dir(sn_dataset *out, const char *dir, sn_split split)
{
    memset(out, 0, sizeof *out);
    const char *prefix = split == SN_SPLIT_TRAIN ? "train" : "t10k";
    char images[SN_DATA_PATH_MAX], labels[SN_DATA_PATH_MAX];
    SN_TRY(find_idx_file(images, sizeof images, dir, prefix, "images-idx3-ubyte",
                         "images.idx3-ubyte"));
    SN_TRY(find_idx_file(labels, sizeof labels, dir, prefix, "labels-idx1-ubyte",
                         "labels.idx1-ubyte"));
    SN_TRY(sn_dataset_load_idx_files(out, images, labels, 10));
    if (strstr(dir, "fashion")) {
        sn_status status = sn_data_copy_class_names(out, fashion_names);
        if (status != SN_OK) {
            sn_dataset_free(out);
            return status;
        }
    }
    return SN_OK;
}
