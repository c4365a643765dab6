/* libFuzzer: PNG decoding (probe, decode to 1 and 3 channels, crop/pad to a
 * fixed size, or reject another size) and a PNG folder holding the input
 * as its one training and one test image. Targets are 16x16 so that a
 * header claiming a huge image costs no huge output buffer. */
#include "fuzz_util.h"
#include "sharesnet.h"
#include "data/data_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("one.png", data, size);
    int c, h, w;
    (void)sn_png_probe(path, &c, &h, &w);
    static uint8_t out[3 * 16 * 16];
    (void)sn_png_decode(path, 1, 16, 16, 0, out);
    (void)sn_png_decode(path, 3, 16, 16, 0, out);
    (void)sn_png_decode(path, 3, 16, 16, 1, out);

    fuzz_write("folder/train/class\na/x.png", data, size);
    fuzz_write("folder/test/class\na/x.png", data, size);
    char root[512];
    snprintf(root, sizeof root, "%s/folder", fuzz_dir());
    sn_data_options o = {0};
    o.format = SN_DATA_PNG_FOLDER;
    o.height = o.width = 16;
    sn_dataset d;
    if (sn_data_load_png_folder(&d, root, SN_SPLIT_TRAIN, &o) == SN_OK)
        sn_dataset_free(&d);
    o.skip_bad = 1;
    o.reject_wrong_size = 1;
    if (sn_data_load_png_folder(&d, root, SN_SPLIT_TEST, &o) == SN_OK)
        sn_dataset_free(&d);
    return 0;
}
