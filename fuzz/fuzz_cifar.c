/* libFuzzer: CIFAR-10/100 binary batches and their class-name files.
 * Input layout: byte 0 flags (bit 0: CIFAR-100, bit 1: its coarse labels,
 * bit 2: write a class-names file), bytes 1-2 the names file's length
 * (little endian, clamped), then the names file and the batch file. */
#include "fuzz_util.h"
#include "sharesnet.h"
#include "data/data_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    const int flags = data[0];
    size_t names_size = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;
    if (names_size > size)
        names_size = size;
    const int c100 = flags & 1, coarse = (flags & 2) != 0;
    const char *names = c100 ? (coarse ? "coarse_label_names.txt" : "fine_label_names.txt")
                             : "batches.meta.txt";
    if (flags & 4)
        fuzz_write(names, data, names_size);
    else
        fuzz_remove(names);
    fuzz_write(c100 ? "test.bin" : "test_batch.bin", data + names_size, size - names_size);
    sn_dataset d;
    sn_status st = c100 ? sn_data_load_cifar100(&d, fuzz_dir(), SN_SPLIT_TEST, coarse)
                        : sn_data_load_cifar10(&d, fuzz_dir(), SN_SPLIT_TEST);
    if (st == SN_OK) {
        for (int64_t i = 0; i < d.count; i++)
            if (d.labels[i] < 0 || d.labels[i] >= d.classes)
                __builtin_trap();
        for (int k = 0; k < d.classes; k++)
            if (!d.class_names[k])
                __builtin_trap();
        sn_dataset_free(&d);
    }
    fuzz_remove(names);
    return 0;
}
