/* Internal helpers shared by the files of the data area. */
#ifndef SN_DATA_INTERNAL_H
#define SN_DATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sharesnet/data.h"

/* Longest path the data area builds (directory + file name). */
#define SN_DATA_PATH_MAX 4096

/* ---- files (file_bytes.c) */

/* Read a whole file into a malloc'd buffer; a gzip file (magic 1f 8b) is
 * decompressed on the way. Errors name the file (missing, unreadable,
 * truncated or corrupt gzip stream). */
sn_status sn_data_read_file(const char *path, uint8_t **bytes, size_t *size);

/* out = dir + "/" + name; fails (naming both) when longer than cap. */
sn_status sn_data_join(char *out, size_t cap, const char *dir, const char *name);

int sn_data_is_file(const char *path);
int sn_data_is_dir(const char *path);

/* ---- normalisation (loader.c) */

/* The one check of per-channel normalisation statistics, wherever they come
 * from (loader options, checkpoint metadata): every mean and std finite and
 * every std > 0, else `code` with a message starting with `what`. */
sn_status sn_data_check_normalization(sn_status code, const char *what, int channels,
                                      const float *mean, const float *std);

/* ---- dataset storage (dataset.c) */

/* Allocate images and labels for `count` examples of c x h x w; classes are
 * recorded, names left NULL. */
sn_status sn_data_alloc(sn_dataset *data, int64_t count, int channels,
                        int height, int width, int classes);

/* Class names "0", "1", ... */
sn_status sn_data_number_class_names(sn_dataset *data);

/* Copy `data->classes` names from a static list. */
sn_status sn_data_copy_class_names(sn_dataset *data, const char *const *names);

/* Class names from a text file, one per line (blank lines ignored). A missing
 * file gives numbers; a file with another number of names is an error. */
sn_status sn_data_read_class_names(sn_dataset *data, const char *path);

/* ---- formats */

/* IDX directory holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]. */
sn_status sn_data_load_idx_dir(sn_dataset *out, const char *dir, sn_split split);

/* CIFAR binary directories (the directory or its cifar-10-batches-bin /
 * cifar-100-binary subdirectory). */
sn_status sn_data_load_cifar10(sn_dataset *out, const char *dir, sn_split split);
sn_status sn_data_load_cifar100(sn_dataset *out, const char *dir, sn_split split,
                                int coarse);

/* The directory actually holding CIFAR files: dir itself or its subdir; 0 if
 * neither holds `probe_file`. */
int sn_data_cifar_dir(char *out, size_t cap, const char *dir, const char *subdir,
                      const char *probe_file);

/* ROOT/{train,test}/CLASS/ *.png */
sn_status sn_data_load_png_folder(sn_dataset *out, const char *root, sn_split split,
                                  const sn_data_options *opts);

/* ---- one PNG file (png_decode.c) */

/* Read only the header: color channels (1 for gray/gray+alpha, 3 otherwise)
 * and the size. */
sn_status sn_png_probe(const char *path, int *channels, int *height, int *width);

/* Decode `path` into out[channels][height][width] (channels 1 or 3),
 * center-cropping or zero-padding an image of another size, or failing with
 * SN_ERR_SHAPE when reject_wrong_size is set. */
sn_status sn_png_decode(const char *path, int channels, int height, int width,
                        int reject_wrong_size, uint8_t *out);

#endif
