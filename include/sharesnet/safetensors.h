/* sharesnet — safetensors files: named tensors plus string metadata.
 *
 * The checkpoint format of sharesnet is safetensors (the format of Hugging
 * Face's `safetensors` package), so PyTorch and other tools read our
 * checkpoints and we read theirs. A file is
 *
 *   8 bytes    N, the header length, unsigned little-endian
 *   N bytes    a JSON object (UTF-8), padded with spaces:
 *                {"__metadata__": {"key": "value", ...},          (optional)
 *                 "name": {"dtype": "F32", "shape": [2, 3],
 *                          "data_offsets": [begin, end]}, ...}
 *   the rest   the data area: raw little-endian tensor bytes; offsets are
 *              relative to its first byte, and the tensors tile it exactly
 *              (no gap, no overlap, nothing left over).
 *
 * Writing is atomic: the file is written to a temporary file next to the
 * target, flushed to disk, renamed over the target and the directory is
 * synced, so a crash or a failure leaves either the old file or the new one,
 * never a mix. (A failed directory sync after the rename is not reported:
 * the new file is already what every reader sees.) A process killed while
 * writing leaves its temporary file; sn_safetensors_remove_temporaries
 * cleans up after it. Reading loads the whole file into host memory and validates
 * every field before returning; a corrupt file gives SN_ERR_FORMAT with a
 * message naming the file and the tensor or field at fault.
 *
 * All functions assume a little-endian host (every machine we target); on
 * a big-endian host they return SN_ERR_UNSUPPORTED.
 */
#ifndef SHARESNET_SAFETENSORS_H
#define SHARESNET_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "sharesnet/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most dimensions a tensor may have here (the format itself has no limit;
 * reading a file with more gives SN_ERR_UNSUPPORTED). */
#define SN_SAFETENSORS_MAX_DIMS 8

/* Element types of the format. sharesnet itself stores F32 (and I64 for
 * counters); the others are read and written as opaque bytes of the right
 * size so that any valid file can be opened. F32 is 0, so a zeroed
 * descriptor means float32. */
typedef enum sn_safetensors_dtype {
    SN_SAFETENSORS_F32 = 0,
    SN_SAFETENSORS_F64,
    SN_SAFETENSORS_F16,
    SN_SAFETENSORS_BF16,
    SN_SAFETENSORS_F8_E4M3,
    SN_SAFETENSORS_F8_E5M2,
    SN_SAFETENSORS_I64,
    SN_SAFETENSORS_I32,
    SN_SAFETENSORS_I16,
    SN_SAFETENSORS_I8,
    SN_SAFETENSORS_U64,
    SN_SAFETENSORS_U32,
    SN_SAFETENSORS_U16,
    SN_SAFETENSORS_U8,
    SN_SAFETENSORS_BOOL,
    SN_SAFETENSORS_DTYPE_COUNT
} sn_safetensors_dtype;

/* One named tensor: what the caller passes to sn_safetensors_write, and what
 * sn_safetensors_find returns for an opened file.
 *   name   any UTF-8 string except "__metadata__", unique within a file
 *   shape  shape[0..ndim-1], each >= 0; ndim 0 is a scalar (one element)
 *   data   numel * dtype size bytes, little-endian, densely packed in
 *          row-major (C) order; may be NULL when numel is 0. For an opened
 *          file it is aligned to the element size. */
typedef struct sn_safetensors_tensor {
    const char *name;
    sn_safetensors_dtype dtype;
    int ndim;
    int64_t shape[SN_SAFETENSORS_MAX_DIMS];
    const void *data;
} sn_safetensors_tensor;

/* One metadata entry, stored under "__metadata__" (string -> string). */
typedef struct sn_safetensors_meta {
    const char *key;
    const char *value;
} sn_safetensors_meta;

/* Format name ("F32", "I64", ...) and element size in bytes of a dtype;
 * NULL and 0 for a value outside the enum. */
SN_API const char *sn_safetensors_dtype_name(sn_safetensors_dtype dtype);
SN_API size_t sn_safetensors_dtype_size(sn_safetensors_dtype dtype);

/* Product of the shape (1 for ndim 0); -1 when ndim is out of range, a
 * dimension is negative, or the product overflows. */
SN_API int64_t sn_safetensors_numel(const sn_safetensors_tensor *tensor);

/* Write `tensor_count` tensors and `metadata_count` metadata entries to
 * `path`, atomically (see above). Tensors are laid out in the order given,
 * metadata first in the header; the header is padded with spaces to a
 * multiple of 8 bytes, as the reference implementation does. The new file
 * has mode 0644. On any failure the temporary file is removed and a file
 * previously at `path` is left untouched.
 * Errors: SN_ERR_INVALID_ARG (NULL, duplicate or reserved names, bad shape
 * or dtype, invalid UTF-8), SN_ERR_IO (the OS refused; the message names
 * the path and the reason), SN_ERR_OUT_OF_MEMORY. */
SN_API sn_status sn_safetensors_write(const char *path,
                               const sn_safetensors_tensor *tensors,
                               size_t tensor_count,
                               const sn_safetensors_meta *metadata,
                               size_t metadata_count);

/* Remove the temporary files ("<path>.tmp-XXXXXX") that writes of `path`
 * interrupted by a crash or a kill left behind; *removed (may be NULL) gets
 * their number. Only for a caller that knows no other process is writing
 * `path` now (a trainer owns its output directory).
 * Errors: SN_ERR_IO (the directory cannot be listed, a file not removed). */
SN_API sn_status sn_safetensors_remove_temporaries(const char *path, int *removed);

/* An opened, validated safetensors file held in host memory. */
typedef struct sn_safetensors sn_safetensors;

/* Read and validate the whole file at `path`. On success *out owns the
 * data; release it with sn_safetensors_close. On failure *out is NULL.
 * Errors: SN_ERR_IO (cannot open or read), SN_ERR_FORMAT (corrupt: bad
 * length, bad JSON, missing or malformed field, unknown dtype, shape that
 * does not match the byte span, offsets out of range, overlapping or not
 * covering the data area, duplicate names, non-string metadata),
 * SN_ERR_UNSUPPORTED (more than SN_SAFETENSORS_MAX_DIMS dimensions),
 * SN_ERR_OUT_OF_MEMORY. */
SN_API sn_status sn_safetensors_open(const char *path, sn_safetensors **out);

/* Free everything the file owns; every pointer obtained from it (names,
 * data, metadata) becomes invalid. NULL is allowed. */
SN_API void sn_safetensors_close(sn_safetensors *file);

/* The path the file was opened with. */
SN_API const char *sn_safetensors_path(const sn_safetensors *file);

/* Tensors in file order (ascending data offset): index 0..count-1. */
SN_API size_t sn_safetensors_tensor_count(const sn_safetensors *file);
SN_API const sn_safetensors_tensor *sn_safetensors_tensor_at(const sn_safetensors *file,
                                                      size_t index);

/* The tensor named `name`, or NULL when the file has none (no error is
 * recorded: absence may be expected). */
SN_API const sn_safetensors_tensor *sn_safetensors_find(const sn_safetensors *file,
                                                 const char *name);

/* The data of tensor `name` after checking that it exists (else
 * SN_ERR_FORMAT), has `dtype` (else SN_ERR_FORMAT) and, when `shape` is not
 * NULL, has exactly `ndim` dimensions equal to shape[] (else SN_ERR_SHAPE).
 * The message names the file, the tensor and both shapes. For loaders that
 * know what they expect. */
SN_API sn_status sn_safetensors_get(const sn_safetensors *file, const char *name,
                             sn_safetensors_dtype dtype, int ndim,
                             const int64_t *shape, const void **data);

/* Metadata value for `key`, or NULL when absent. */
SN_API const char *sn_safetensors_metadata(const sn_safetensors *file, const char *key);

/* Metadata entries in header order: index 0..count-1. */
SN_API size_t sn_safetensors_metadata_count(const sn_safetensors *file);
SN_API const sn_safetensors_meta *sn_safetensors_metadata_at(const sn_safetensors *file,
                                                      size_t index);

#ifdef __cplusplus
}
#endif
#endif
