/* sharesnet — datasets in host memory and the prefetching batch loader.
 *
 * Two objects:
 *
 *   sn_dataset  every example of one split in memory: uint8 images laid out
 *               [count][channels][height][width], int32 labels in
 *               [0, classes), and one name per class. Loaded from IDX files
 *               (MNIST, Fashion-MNIST; gzip or raw), the CIFAR-10/100 binary
 *               format, or a folder of PNG files per class.
 *
 *   sn_loader   turns a dataset into float32 NCHW batches on a background
 *               thread (shuffling, normalisation, random crop and flip) and
 *               keeps 2-4 batches ready so training does not wait for data.
 *
 * Determinism (needed to resume a run): the batches of (seed, epoch, batch
 * index) are a pure function of those numbers and the options, whatever the
 * thread timing. The epoch order is a Fisher-Yates shuffle driven by a
 * counter-based hash of (seed, epoch, i); the crop and flip of the example at
 * position p of the epoch come from a hash of (seed, epoch, p). No random
 * stream is shared between examples, so an epoch can start at any batch.
 *
 * Errors: every call returns an sn_status; on failure sn_last_error() names
 * the file and what is wrong with it (bad magic, truncated gzip stream,
 * label out of range, count mismatch, empty class folder, wrong size...).
 */
#ifndef SHARESNET_DATA_H
#define SHARESNET_DATA_H

#include <stdint.h>

#include "sharesnet/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most channels an image may have (datasets here have 1 or 3). */
#define SN_DATA_MAX_CHANNELS 4

/* Where Debian's dataset-fashion-mnist package installs the IDX files; the
 * dataset name "fashion-mnist" resolves to it. */
#define SN_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef enum sn_split {
    SN_SPLIT_TRAIN = 0,
    SN_SPLIT_TEST = 1
} sn_split;

typedef enum sn_data_format {
    SN_DATA_AUTO = 0,   /* guess from the name or the directory's files  */
    SN_DATA_IDX,        /* MNIST-style IDX files (gzip or raw)           */
    SN_DATA_CIFAR10,    /* data_batch_1..5.bin + test_batch.bin          */
    SN_DATA_CIFAR100,   /* train.bin + test.bin (coarse, fine label)     */
    SN_DATA_PNG_FOLDER  /* ROOT/{train,test}/CLASS/ *.png                */
} sn_data_format;

/* Loading options. A zeroed struct (or NULL) means: guess the format, CIFAR-100
 * fine labels, PNG channels and size from the first image, crop/pad images of
 * another size, fail on an undecodable file. */
typedef struct sn_data_options {
    sn_data_format format;
    int cifar100_coarse;   /* 1: the 20 coarse CIFAR-100 labels, 0: 100 fine */
    /* PNG folders only: */
    int channels;          /* 1 or 3; 0: 1 if the first image is gray, else 3 */
    int height, width;     /* target size; 0: the first image's size          */
    int reject_wrong_size; /* 1: an image of another size is an error;
                              0: it is center-cropped / zero-padded to size   */
    int skip_bad;          /* 1: skip (and count) files that fail to decode or
                              are rejected for their size; 0: fail on them    */
} sn_data_options;

/* One split in memory. All fields are owned by the dataset and released by
 * sn_dataset_free. */
typedef struct sn_dataset {
    int64_t count;          /* examples                                      */
    int channels;           /* 1 or 3                                        */
    int height, width;
    int classes;            /* labels lie in [0, classes)                    */
    uint8_t *images;        /* [count][channels][height][width]              */
    int32_t *labels;        /* [count]                                       */
    char **class_names;     /* [classes], e.g. "airplane"; numbers if unknown */
    int64_t skipped;        /* PNG files skipped under skip_bad              */
} sn_dataset;

/* Load one split of a dataset into *out. *out is overwritten, not freed:
 * free a previously loaded dataset first. After a failure *out is empty (and
 * sn_dataset_free on it is harmless). Corrupt or malformed files give
 * SN_ERR_FORMAT, missing or unreadable ones SN_ERR_IO, an image of the wrong
 * size under reject_wrong_size SN_ERR_SHAPE; the message names the file.
 *
 * `source` is a dataset name or a path:
 *   "fashion-mnist"          the IDX files in SN_FASHION_MNIST_DIR
 *   IDX directory            {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
 *                            (10 classes; Fashion-MNIST class names when the
 *                            path contains "fashion", else "0".."9")
 *   CIFAR-10 directory       data_batch_1..5.bin, test_batch.bin, optional
 *                            batches.meta.txt (also found in a
 *                            cifar-10-batches-bin/ subdirectory)
 *   CIFAR-100 directory      train.bin, test.bin, optional fine_label_names.txt
 *                            / coarse_label_names.txt (or cifar-100-binary/)
 *   PNG folder               ROOT/train/CLASS/ *.png and ROOT/test/CLASS/ *.png;
 *                            classes are the folder names of ROOT/train sorted
 *                            by strcmp (the test split uses the same list).
 *                            Files not ending in .png are ignored.
 * A prefix "idx:", "cifar10:", "cifar100:" or "png:" forces the format, as
 * does opts->format; otherwise (SN_DATA_AUTO) the layout is recognised from
 * the files present.
 *
 * PNG decoding: every colour type and bit depth is read (palette expanded,
 * 16-bit scaled to 8, low bit depths expanded). Gray becomes RGB by
 * replication, RGB becomes gray by round(0.299 R + 0.587 G + 0.114 B). Alpha
 * (or palette transparency) is dropped by compositing on black:
 * v' = round(v * alpha / 255). No gamma correction is applied. */
SN_API sn_status sn_dataset_load(sn_dataset *out, const char *source, sn_split split,
                          const sn_data_options *opts);

/* Load an explicit pair of IDX files (each gzip or raw, told apart by the gzip
 * magic bytes): images of type ubyte with 3 dimensions (count, rows, cols) and
 * labels of type ubyte with 1 dimension. Labels must lie in [0, classes);
 * classes <= 0 means 10. */
SN_API sn_status sn_dataset_load_idx_files(sn_dataset *out, const char *images_path,
                                    const char *labels_path, int classes);

/* Release what a dataset owns and zero it. Safe on a zeroed dataset. */
SN_API void sn_dataset_free(sn_dataset *data);

/* Per-channel mean and (population) standard deviation of the first `count`
 * examples (count <= 0: all), in units of pixel / 255, i.e. in [0, 1].
 * mean and std have data->channels entries. */
SN_API sn_status sn_dataset_channel_stats(const sn_dataset *data, int64_t count,
                                   float *mean, float *std);

/* ---------------------------------------------------------------- loader */

typedef enum sn_normalization {
    SN_NORM_NONE = 0,   /* x / 255                                          */
    SN_NORM_DATASET,    /* (x/255 - mean) / std, statistics of the examples
                           the loader serves (use it for the training set)   */
    SN_NORM_GIVEN       /* (x/255 - mean) / std with the options' mean, std
                           (use the training statistics for the test set)    */
} sn_normalization;

typedef struct sn_loader_options {
    int batch_size;        /* > 0                                            */
    uint64_t seed;
    int shuffle;           /* 1: a new permutation every epoch; 0: in order  */
    int drop_last;         /* 1: drop a last partial batch; 0: keep it       */
    int64_t max_examples;  /* serve only the first N examples; <= 0: all     */
    sn_normalization normalization;
    float mean[SN_DATA_MAX_CHANNELS]; /* SN_NORM_GIVEN only; std must be > 0 */
    float std[SN_DATA_MAX_CHANNELS];
    int crop_padding;      /* P > 0: random crop of the image zero-padded by
                              P pixels on each side; 0: no crop              */
    int flip;              /* 1: horizontal flip with probability 1/2        */
    int prefetch;          /* batches kept ready, 2..4; 0 means 2            */
    /* Sharding (data-parallel training): the epoch's batches are dealt in
     * blocks of shard_block consecutive batches to shard_count loaders in
     * turn, and this one serves only the blocks of shard_index: batch k
     * when (k / shard_block) % shard_count == shard_index. Batch k is the
     * same batch in every shard. shard_count 0 or 1: every batch. */
    int shard_count, shard_index, shard_block;
} sn_loader_options;

/* Defaults for training: batch 128, shuffle, keep the last batch, dataset
 * normalisation, crop padding 4, flip, prefetch 2, seed 0. For evaluation set
 * shuffle, crop_padding and flip to 0 and use SN_NORM_GIVEN. */
SN_API sn_loader_options sn_loader_options_default(void);

/* One batch. Augmentation is applied after normalisation, as in the author's
 * Torch reference (fb.resnet.torch): a padded pixel is 0 in the output, i.e.
 * the channel mean. The crop is taken first, then the flip. */
typedef struct sn_batch {
    int64_t epoch;
    int64_t index;          /* batch index within the epoch                  */
    int count;              /* examples in this batch (<= batch_size)        */
    int channels, height, width;
    float *images;          /* [count][channels][height][width]              */
    int32_t *labels;        /* [count]                                       */
    int64_t *samples;       /* [count] index of each example in the dataset  */
} sn_batch;

typedef struct sn_loader sn_loader;

/* Create a loader over `data`, which it borrows: the dataset must outlive the
 * loader. Starts the background thread (idle until sn_loader_start_epoch). */
SN_API sn_status sn_loader_create(sn_loader **out, const sn_dataset *data,
                           const sn_loader_options *opts);

/* Stop the background thread (also in the middle of an epoch) and release
 * everything, including the batches handed out. NULL is accepted. */
SN_API void sn_loader_destroy(sn_loader *loader);

/* Begin epoch `epoch` (>= 0) at batch `first_batch` (0 for a whole epoch, k to
 * resume after k batches: the batches served are then exactly batches k.. of
 * that epoch; with sharding, counted among this shard's). Discards whatever
 * was prefetched for a previous epoch. */
SN_API sn_status sn_loader_start_epoch(sn_loader *loader, int64_t epoch,
                                int64_t first_batch);

/* Next batch of the current epoch, waiting for the background thread if it is
 * not ready yet. *batch is NULL at the end of the epoch. The batch stays valid
 * until the next call of sn_loader_next, sn_loader_start_epoch or
 * sn_loader_destroy on this loader. */
SN_API sn_status sn_loader_next(sn_loader *loader, const sn_batch **batch);

/* Batches this loader serves in one epoch (after max_examples, drop_last
 * and sharding). */
SN_API int64_t sn_loader_batches_per_epoch(const sn_loader *loader);

/* Examples in one epoch (after max_examples and drop_last), over every
 * shard: the batches of all shards together hold them. */
SN_API int64_t sn_loader_examples_per_epoch(const sn_loader *loader);

/* Seconds sn_loader_next has spent waiting for the background thread since
 * the loader was created. Near 0 means data loading is not a bottleneck. */
SN_API double sn_loader_wait_seconds(const sn_loader *loader);

/* The mean and std the loader normalises with (mean 0, std 1 under
 * SN_NORM_NONE); `channels` entries each. Pass them to the test loader
 * (SN_NORM_GIVEN) and store them with a checkpoint. */
SN_API void sn_loader_normalization(const sn_loader *loader, float *mean, float *std);

#ifdef __cplusplus
}
#endif
#endif
