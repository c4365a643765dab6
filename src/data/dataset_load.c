/* sn_dataset_load: resolve a dataset name or path and pick the format. */
#include "data_internal.h"
#include "runtime/error_internal.h"
#include "runtime/suggest.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Optional "format:" prefixes of a source, e.g. "cifar10:/data/cifar". */
static const struct {
    const char *prefix;
    sn_data_format format;
} prefixes[] = {
    {"idx:", SN_DATA_IDX},
    {"cifar10:", SN_DATA_CIFAR10},
    {"cifar100:", SN_DATA_CIFAR100},
    {"png:", SN_DATA_PNG_FOLDER},
};

static int has_file(const char *dir, const char *name)
{
    char path[SN_DATA_PATH_MAX];
    return sn_data_join(path, sizeof path, dir, name) == SN_OK && sn_data_is_file(path);
}

static int has_dir(const char *dir, const char *name)
{
    char path[SN_DATA_PATH_MAX];
    return sn_data_join(path, sizeof path, dir, name) == SN_OK && sn_data_is_dir(path);
}

static sn_data_format detect(const char *dir)
{
    char found[SN_DATA_PATH_MAX];
    if (sn_data_cifar_dir(found, sizeof found, dir, "cifar-10-batches-bin", "data_batch_1.bin") ||
        sn_data_cifar_dir(found, sizeof found, dir, "cifar-10-batches-bin", "test_batch.bin"))
        return SN_DATA_CIFAR10;
    if (sn_data_cifar_dir(found, sizeof found, dir, "cifar-100-binary", "train.bin") ||
        sn_data_cifar_dir(found, sizeof found, dir, "cifar-100-binary", "test.bin"))
        return SN_DATA_CIFAR100;
    static const char *const idx_names[] = {
        "train-images-idx3-ubyte.gz", "train-images-idx3-ubyte",
        "t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte",
        "train-images.idx3-ubyte", "t10k-images.idx3-ubyte",
    };
    for (size_t i = 0; i < sizeof idx_names / sizeof idx_names[0]; i++)
        if (has_file(dir, idx_names[i]))
            return SN_DATA_IDX;
    if (has_dir(dir, "train") || has_dir(dir, "test"))
        return SN_DATA_PNG_FOLDER;
    return SN_DATA_AUTO;
}

static sn_status load(sn_dataset *out, const char *source, sn_split split,
                      const sn_data_options *opts)
{
    sn_data_format format = opts->format;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t len = strlen(prefixes[i].prefix);
        if (strncmp(source, prefixes[i].prefix, len) == 0) {
            format = prefixes[i].format;
            source += len;
            break;
        }
    }
    const char *dir = source;
    if (strcmp(source, "fashion-mnist") == 0 && !sn_data_is_dir(source)) {
        dir = SN_FASHION_MNIST_DIR;
        if (format == SN_DATA_AUTO)
            format = SN_DATA_IDX;
    }
    struct stat st;
    if (stat(dir, &st) != 0 && dir == source && !strchr(source, '/')) {
        /* A bare word is more likely a mistyped name than a missing folder. */
        static const char *const names[] = {"fashion-mnist", NULL};
        const char *near = sn_suggest(source, names);
        return sn_fail(SN_ERR_IO, "%s: no such dataset name, file or folder%s%s%s; the known "
                       "names are: fashion-mnist (else give a folder: IDX, CIFAR binary, PNG "
                       "ROOT/{train,test}/CLASS/*.png)", source, near ? "; did you mean '" : "",
                       near ? near : "", near ? "'?" : "");
    }
    if (stat(dir, &st) != 0)
        return sn_fail(SN_ERR_IO, "%s: no such dataset name, file or folder%s", dir,
                       dir != source ? " (is package dataset-fashion-mnist installed?)" : "");
    if (!S_ISDIR(st.st_mode))
        return sn_fail(SN_ERR_INVALID_ARG, "%s: not a folder: give the folder holding the "
                       "dataset's files", dir);
    if (format == SN_DATA_AUTO)
        format = detect(dir);
    switch (format) {
    case SN_DATA_IDX: return sn_data_load_idx_dir(out, dir, split);
    case SN_DATA_CIFAR10: return sn_data_load_cifar10(out, dir, split);
    case SN_DATA_CIFAR100: return sn_data_load_cifar100(out, dir, split, opts->cifar100_coarse);
    case SN_DATA_PNG_FOLDER: return sn_data_load_png_folder(out, dir, split, opts);
    case SN_DATA_AUTO: break;
    }
    return sn_fail(SN_ERR_FORMAT, "%s: no dataset recognised (no IDX files, CIFAR .bin "
                   "files or train/ and test/ image folders)", dir);
}

sn_status sn_dataset_load(sn_dataset *out, const char *source, sn_split split,
                          const sn_data_options *opts)
{
    if (!out || !source)
        return sn_fail(SN_ERR_INVALID_ARG, "sn_dataset_load: NULL argument");
    memset(out, 0, sizeof *out);
    if (split != SN_SPLIT_TRAIN && split != SN_SPLIT_TEST)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: unknown split %d", source, (int)split);
    const sn_data_options defaults = {0};
    if (!opts)
        opts = &defaults;
    if ((unsigned)opts->format > SN_DATA_PNG_FOLDER)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: unknown data format %d", source,
                       (int)opts->format);
    sn_status status = load(out, source, split, opts);
    if (status != SN_OK)
        sn_dataset_free(out);
    return status;
}
