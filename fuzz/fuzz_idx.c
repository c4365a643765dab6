/* libFuzzer: IDX image and label files, raw or gzip. Input layout: byte 0
 * flags (bit 0: gzip the images file, bit 1: gzip the labels file, bit 2:
 * 3 classes instead of 10), bytes 1-2 the labels file's length (little
 * endian, clamped), then the labels file and the images file. Gzipping in
 * the harness lets mutations reach the IDX parser behind a valid stream;
 * mutated .gz seeds exercise the decompressor's own checks. */
#include "fuzz_util.h"
#include "sharesnet.h"

#include <stdlib.h>

static const char *write_maybe_gzip(const char *name, const uint8_t *p, size_t n, int gzip)
{
    uint8_t *gz;
    size_t gz_size;
    if (gzip && fuzz_gzip(p, n, &gz, &gz_size)) {
        const char *path = fuzz_write(name, gz, gz_size);
        free(gz);
        return path;
    }
    return fuzz_write(name, p, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    const int flags = data[0];
    size_t labels_size = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;
    if (labels_size > size)
        labels_size = size;
    static char labels[512], images[512];
    snprintf(labels, sizeof labels, "%s",
             write_maybe_gzip("labels-idx1-ubyte", data, labels_size, flags & 2));
    snprintf(images, sizeof images, "%s",
             write_maybe_gzip("images-idx3-ubyte", data + labels_size, size - labels_size,
                              flags & 1));
    sn_dataset d;
    if (sn_dataset_load_idx_files(&d, images, labels, flags & 4 ? 3 : 10) == SN_OK) {
        /* Every label the loader accepted lies in [0, classes). */
        for (int64_t i = 0; i < d.count; i++)
            if (d.labels[i] < 0 || d.labels[i] >= d.classes)
                __builtin_trap();
        sn_dataset_free(&d);
    }
    return 0;
}
