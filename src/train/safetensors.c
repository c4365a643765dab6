/* safetensors files: writer (through the atomic file writer,
 * runtime/file_atomic.c) and validating reader (JSON by jansson). */
#include "train/safetensors_internal.h"

#include "runtime/error_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reference implementation refuses headers above 100 MB; a larger
 * length field means a corrupt or foreign file, not a huge model. */
#define HEADER_MAX_BYTES 100000000u
#define METADATA_KEY "__metadata__"

static const struct {
    const char *name;
    size_t size;
} dtype_table[SN_SAFETENSORS_DTYPE_COUNT] = {
    [SN_SAFETENSORS_F32] = {"F32", 4},       [SN_SAFETENSORS_F64] = {"F64", 8},
    [SN_SAFETENSORS_F16] = {"F16", 2},       [SN_SAFETENSORS_BF16] = {"BF16", 2},
    [SN_SAFETENSORS_F8_E4M3] = {"F8_E4M3", 1},
    [SN_SAFETENSORS_F8_E5M2] = {"F8_E5M2", 1},
    [SN_SAFETENSORS_I64] = {"I64", 8},       [SN_SAFETENSORS_I32] = {"I32", 4},
    [SN_SAFETENSORS_I16] = {"I16", 2},       [SN_SAFETENSORS_I8] = {"I8", 1},
    [SN_SAFETENSORS_U64] = {"U64", 8},       [SN_SAFETENSORS_U32] = {"U32", 4},
    [SN_SAFETENSORS_U16] = {"U16", 2},       [SN_SAFETENSORS_U8] = {"U8", 1},
    [SN_SAFETENSORS_BOOL] = {"BOOL", 1},
};

static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

static sn_status require_little_endian(const char *path)
{
    if (host_is_little_endian())
        return SN_OK;
    return sn_fail(SN_ERR_UNSUPPORTED,
                   "safetensors '%s': big-endian hosts are not supported", path);
}

const char *sn_safetensors_dtype_name(sn_safetensors_dtype dtype)
{
    if ((unsigned)dtype >= SN_SAFETENSORS_DTYPE_COUNT)
        return NULL;
    return dtype_table[dtype].name;
}

size_t sn_safetensors_dtype_size(sn_safetensors_dtype dtype)
{
    if ((unsigned)dtype >= SN_SAFETENSORS_DTYPE_COUNT)
        return 0;
    return dtype_table[dtype].size;
}

static bool dtype_from_name(const char *name, sn_safetensors_dtype *out)
{
    for (int d = 0; d < SN_SAFETENSORS_DTYPE_COUNT; d++) {
        if (strcmp(dtype_table[d].name, name) == 0) {
            *out = (sn_safetensors_dtype)d;
            return true;
        }
    }
    return false;
}

int64_t sn_safetensors_numel(const sn_safetensors_tensor *tensor)
{
    if (!tensor || tensor->ndim < 0 || tensor->ndim > SN_SAFETENSORS_MAX_DIMS)
        return -1;
    int64_t numel = 1;
    for (int i = 0; i < tensor->ndim; i++) {
        int64_t d = tensor->shape[i];
        if (d < 0 || (d != 0 && numel > INT64_MAX / d))
            return -1;
        numel *= d;
    }
    return numel;
}

/* Byte size of a tensor's data, or false on overflow (of int64 or size_t). */
static bool tensor_nbytes(const sn_safetensors_tensor *t, uint64_t *out)
{
    int64_t numel = sn_safetensors_numel(t);
    uint64_t size = sn_safetensors_dtype_size(t->dtype);
    if (numel < 0 || size == 0 || (uint64_t)numel > (uint64_t)INT64_MAX / size)
        return false;
    uint64_t nbytes = (uint64_t)numel * size;
    if (nbytes > (uint64_t)SIZE_MAX)
        return false;
    *out = nbytes;
    return true;
}

/* "[2,3,4]" into buf (for messages). */
static const char *format_shape(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", i ? "," : "",
                                 (long long)shape[i]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
    return buf;
}

/* ------------------------------------------------------------------ write */

static sn_status validate_write_args(const char *path, const sn_safetensors_tensor *tensors,
                                     size_t tensor_count, const sn_safetensors_meta *metadata,
                                     size_t metadata_count)
{
    if (!path || !path[0])
        return sn_fail(SN_ERR_INVALID_ARG, "sn_safetensors_write: empty or NULL path");
    if (tensor_count > 0 && !tensors)
        return sn_fail(SN_ERR_INVALID_ARG,
                       "sn_safetensors_write '%s': tensors is NULL but tensor_count is %zu",
                       path, tensor_count);
    if (metadata_count > 0 && !metadata)
        return sn_fail(SN_ERR_INVALID_ARG,
                       "sn_safetensors_write '%s': metadata is NULL but metadata_count is %zu",
                       path, metadata_count);
    for (size_t i = 0; i < tensor_count; i++) {
        const sn_safetensors_tensor *t = &tensors[i];
        uint64_t nbytes;
        if (!t->name)
            return sn_fail(SN_ERR_INVALID_ARG,
                           "sn_safetensors_write '%s': tensor %zu has no name", path, i);
        if (strcmp(t->name, METADATA_KEY) == 0)
            return sn_fail(SN_ERR_INVALID_ARG,
                           "sn_safetensors_write '%s': tensor %zu uses the reserved name '%s'",
                           path, i, METADATA_KEY);
        if ((unsigned)t->dtype >= SN_SAFETENSORS_DTYPE_COUNT)
            return sn_fail(SN_ERR_INVALID_ARG,
                           "sn_safetensors_write '%s': tensor '%s': invalid dtype %d", path,
                           t->name, (int)t->dtype);
        if (t->ndim < 0 || t->ndim > SN_SAFETENSORS_MAX_DIMS)
            return sn_fail(SN_ERR_INVALID_ARG,
                           "sn_safetensors_write '%s': tensor '%s': ndim %d outside 0..%d",
                           path, t->name, t->ndim, SN_SAFETENSORS_MAX_DIMS);
        if (!tensor_nbytes(t, &nbytes)) {
            char shape[256];
            return sn_fail(SN_ERR_INVALID_ARG,
                           "sn_safetensors_write '%s': tensor '%s': shape %s has a negative "
                           "dimension or is too large",
                           path, t->name, format_shape(shape, sizeof shape, t->ndim, t->shape));
        }
        if (nbytes > 0 && !t->data)
            return sn_fail(SN_ERR_INVALID_ARG,
                           "sn_safetensors_write '%s': tensor '%s': data is NULL", path,
                           t->name);
    }
    for (size_t i = 0; i < metadata_count; i++) {
        if (!metadata[i].key || !metadata[i].value)
            return sn_fail(SN_ERR_INVALID_ARG,
                           "sn_safetensors_write '%s': metadata entry %zu has a NULL key or value",
                           path, i);
    }
    return SN_OK;
}

/* The header object, metadata first, then tensors in the order given with
 * contiguous offsets. Caller owns *out. */
static sn_status build_header(const char *path, const sn_safetensors_tensor *tensors,
                              size_t tensor_count, const sn_safetensors_meta *metadata,
                              size_t metadata_count, json_t **out)
{
    json_t *root = json_object();
    if (!root)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "sn_safetensors_write '%s': out of memory", path);

    if (metadata_count > 0) {
        json_t *meta = json_object();
        if (!meta || json_object_set_new(root, METADATA_KEY, meta) != 0)
            goto oom;
        for (size_t i = 0; i < metadata_count; i++) {
            const char *key = metadata[i].key;
            if (json_object_get(meta, key)) {
                json_decref(root);
                return sn_fail(SN_ERR_INVALID_ARG,
                               "sn_safetensors_write '%s': duplicate metadata key '%s'", path,
                               key);
            }
            json_t *value = json_string(metadata[i].value);
            if (!value || json_object_set_new(meta, key, value) != 0) {
                json_decref(root);
                return sn_fail(SN_ERR_INVALID_ARG,
                               "sn_safetensors_write '%s': metadata key '%s': key or value "
                               "is not valid UTF-8",
                               path, key);
            }
        }
    }

    uint64_t offset = 0;
    for (size_t i = 0; i < tensor_count; i++) {
        const sn_safetensors_tensor *t = &tensors[i];
        uint64_t nbytes = 0;
        tensor_nbytes(t, &nbytes); /* validated before */
        if (json_object_get(root, t->name)) {
            json_decref(root);
            return sn_fail(SN_ERR_INVALID_ARG,
                           "sn_safetensors_write '%s': duplicate tensor name '%s'", path,
                           t->name);
        }
        if (nbytes > (uint64_t)INT64_MAX - offset) {
            json_decref(root);
            return sn_fail(SN_ERR_INVALID_ARG,
                           "sn_safetensors_write '%s': tensor '%s': total data exceeds 2^63 "
                           "bytes", path, t->name);
        }
        json_t *entry = json_object();
        json_t *dtype = json_string(dtype_table[t->dtype].name);
        json_t *shape = json_array();
        json_t *offsets = json_array();
        if (!entry || !dtype || !shape || !offsets) {
            json_decref(entry);
            json_decref(dtype);
            json_decref(shape);
            json_decref(offsets);
            goto oom;
        }
        /* The *_new calls take ownership even when they fail. */
        bool ok = true;
        for (int d = 0; d < t->ndim; d++)
            ok = json_array_append_new(shape, json_integer((json_int_t)t->shape[d])) == 0 && ok;
        ok = json_array_append_new(offsets, json_integer((json_int_t)offset)) == 0 && ok;
        ok = json_array_append_new(offsets, json_integer((json_int_t)(offset + nbytes))) == 0 && ok;
        /* Field order of the reference implementation. */
        ok = json_object_set_new(entry, "dtype", dtype) == 0 && ok;
        ok = json_object_set_new(entry, "shape", shape) == 0 && ok;
        ok = json_object_set_new(entry, "data_offsets", offsets) == 0 && ok;
        if (!ok) {
            json_decref(entry);
            goto oom;
        }
        if (json_object_set_new(root, t->name, entry) != 0) {
            json_decref(root);
            return sn_fail(SN_ERR_INVALID_ARG,
                           "sn_safetensors_write '%s': tensor name '%s' is not valid UTF-8",
                           path, t->name);
        }
        offset += nbytes;
    }
    *out = root;
    return SN_OK;
oom:
    json_decref(root);
    return sn_fail(SN_ERR_OUT_OF_MEMORY, "sn_safetensors_write '%s': out of memory", path);
}

/* Length prefix + JSON + space padding to a multiple of 8, in one buffer. */
static sn_status serialize_header(const char *path, const json_t *root, unsigned char **out,
                                  size_t *out_len)
{
    const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
    size_t json_len = json_dumpb(root, NULL, 0, flags);
    if (json_len == 0)
        return sn_fail(SN_ERR_INTERNAL, "sn_safetensors_write '%s': cannot encode header",
                       path);
    size_t padded = (json_len + 7) & ~(size_t)7;
    unsigned char *buf = malloc(8 + padded);
    if (!buf)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "sn_safetensors_write '%s': out of memory", path);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    if (json_dumpb(root, (char *)buf + 8, json_len, flags) != json_len) {
        free(buf);
        return sn_fail(SN_ERR_INTERNAL, "sn_safetensors_write '%s': cannot encode header",
                       path);
    }
    memset(buf + 8 + json_len, ' ', padded - json_len);
    *out = buf;
    *out_len = 8 + padded;
    return SN_OK;
}

sn_status sn_safetensors_remove_temporaries(const char *path, int *removed)
{
    if (removed)
        *removed = 0;
    if (!path)
        return sn_fail(SN_ERR_INVALID_ARG, "sn_safetensors_remove_temporaries: NULL path");
    return sn_file_remove_temporaries(path, removed);
}

/* What sn_file_write_atomic streams into the temporary file. */
typedef struct file_content {
    const unsigned char *header;
    size_t header_len;
    const sn_safetensors_tensor *tensors;
    size_t tensor_count;
} file_content;

static int write_content(FILE *f, void *user)
{
    const file_content *c = user;
    if (fwrite(c->header, 1, c->header_len, f) != c->header_len)
        return 0;
    for (size_t i = 0; i < c->tensor_count; i++) {
        uint64_t nbytes = 0;
        tensor_nbytes(&c->tensors[i], &nbytes);
        if (nbytes > 0 && fwrite(c->tensors[i].data, 1, (size_t)nbytes, f) != (size_t)nbytes)
            return 0;
    }
    return 1;
}

sn_status sn_safetensors_write_failing(const char *path, const sn_safetensors_tensor *tensors,
                                       size_t tensor_count, const sn_safetensors_meta *metadata,
                                       size_t metadata_count, sn_file_failpoint fail)
{
    SN_TRY(validate_write_args(path, tensors, tensor_count, metadata, metadata_count));
    SN_TRY(require_little_endian(path));

    json_t *root = NULL;
    SN_TRY(build_header(path, tensors, tensor_count, metadata, metadata_count, &root));
    unsigned char *header = NULL;
    size_t header_len = 0;
    sn_status status = serialize_header(path, root, &header, &header_len);
    json_decref(root);
    if (status != SN_OK)
        return status;
    /* a checkpoint is a result the user keeps; its directory must exist */
    sn_file_policy policy = SN_FILE_RESULT;
    policy.fail = fail;
    file_content content = {header, header_len, tensors, tensor_count};
    status = sn_file_write_atomic(path, "safetensors file", policy, write_content, &content);
    free(header);
    return status;
}

sn_status sn_safetensors_write(const char *path, const sn_safetensors_tensor *tensors,
                               size_t tensor_count, const sn_safetensors_meta *metadata,
                               size_t metadata_count)
{
    return sn_safetensors_write_failing(path, tensors, tensor_count, metadata, metadata_count,
                                        SN_FILE_FAIL_NONE);
}

/* ------------------------------------------------------------------- read */

typedef struct entry {
    sn_safetensors_tensor tensor;
    uint64_t begin, end;  /* relative to the data area */
    size_t header_index;  /* tie-break for sorting */
    void *aligned_copy;   /* owned copy when the file's bytes are misaligned */
} entry;

struct sn_safetensors {
    char *path;
    unsigned char *bytes; /* the whole file */
    size_t size;
    json_t *header;       /* owns the tensor names and metadata strings */
    json_t *index;        /* name -> position in entries */
    entry *entries;       /* in file order */
    size_t entry_count;
    sn_safetensors_meta *meta;
    size_t meta_count;
};

/* Zero-byte tensors point here: a valid, aligned, never-read address. */
static const int64_t empty_storage[1];

static sn_status read_whole_file(const char *path, unsigned char **out, size_t *out_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        return sn_fail(SN_ERR_IO, "safetensors '%s': cannot open: %s", path, strerror(err));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return sn_fail(SN_ERR_IO, "safetensors '%s': cannot stat: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return sn_fail(SN_ERR_IO, "safetensors '%s': not a regular file", path);
    }
    if ((uintmax_t)st.st_size > (uintmax_t)SIZE_MAX - 1) {
        close(fd);
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "safetensors '%s': file too large for memory",
                       path);
    }
    size_t size = (size_t)st.st_size;
    unsigned char *bytes = malloc(size ? size : 1);
    if (!bytes) {
        close(fd);
        return sn_fail(SN_ERR_OUT_OF_MEMORY,
                       "safetensors '%s': cannot allocate %zu bytes to read it", path, size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, bytes + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? errno : 0;
            close(fd);
            free(bytes);
            if (n == 0)
                return sn_fail(SN_ERR_IO, "safetensors '%s': file shrank while reading it",
                               path);
            return sn_fail(SN_ERR_IO, "safetensors '%s': read failed: %s", path,
                           strerror(err));
        }
        got += (size_t)n;
    }
    close(fd);
    *out = bytes;
    *out_size = size;
    return SN_OK;
}

/* A non-negative JSON integer, or false. */
static bool get_count(const json_t *value, uint64_t *out)
{
    if (!json_is_integer(value) || json_integer_value(value) < 0)
        return false;
    *out = (uint64_t)json_integer_value(value);
    return true;
}

static sn_status parse_metadata(sn_safetensors *f, json_t *meta)
{
    if (json_is_null(meta))
        return SN_OK;
    if (!json_is_object(meta))
        return sn_fail(SN_ERR_FORMAT, "safetensors '%s': \"%s\" is not a JSON object", f->path,
                       METADATA_KEY);
    size_t count = json_object_size(meta);
    f->meta = calloc(count ? count : 1, sizeof *f->meta);
    if (!f->meta)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "safetensors '%s': out of memory", f->path);
    const char *key;
    json_t *value;
    json_object_foreach(meta, key, value) {
        if (!json_is_string(value))
            return sn_fail(SN_ERR_FORMAT,
                           "safetensors '%s': metadata key '%s': value is not a string",
                           f->path, key);
        f->meta[f->meta_count].key = key;
        f->meta[f->meta_count].value = json_string_value(value);
        f->meta_count++;
    }
    return SN_OK;
}

/* Fill e from one header entry, checking every field against data_size. */
static sn_status parse_entry(const sn_safetensors *f, const char *name, const json_t *value,
                             uint64_t data_size, entry *e)
{
    const char *p = f->path;
    if (!json_is_object(value))
        return sn_fail(SN_ERR_FORMAT, "safetensors '%s': tensor '%s': entry is not a JSON object",
                       p, name);

    const json_t *dtype = json_object_get(value, "dtype");
    if (!dtype)
        return sn_fail(SN_ERR_FORMAT, "safetensors '%s': tensor '%s': missing field \"dtype\"",
                       p, name);
    if (!json_is_string(dtype))
        return sn_fail(SN_ERR_FORMAT,
                       "safetensors '%s': tensor '%s': field \"dtype\" is not a string", p, name);
    if (!dtype_from_name(json_string_value(dtype), &e->tensor.dtype))
        return sn_fail(SN_ERR_FORMAT, "safetensors '%s': tensor '%s': unknown dtype '%s'", p,
                       name, json_string_value(dtype));

    const json_t *shape = json_object_get(value, "shape");
    if (!shape)
        return sn_fail(SN_ERR_FORMAT, "safetensors '%s': tensor '%s': missing field \"shape\"",
                       p, name);
    if (!json_is_array(shape))
        return sn_fail(SN_ERR_FORMAT,
                       "safetensors '%s': tensor '%s': field \"shape\" is not an array", p, name);
    size_t ndim = json_array_size(shape);
    if (ndim > SN_SAFETENSORS_MAX_DIMS)
        return sn_fail(SN_ERR_UNSUPPORTED,
                       "safetensors '%s': tensor '%s': %zu dimensions, at most %d supported", p,
                       name, ndim, SN_SAFETENSORS_MAX_DIMS);
    e->tensor.ndim = (int)ndim;
    for (size_t d = 0; d < ndim; d++) {
        uint64_t dim;
        if (!get_count(json_array_get(shape, d), &dim))
            return sn_fail(SN_ERR_FORMAT,
                           "safetensors '%s': tensor '%s': field \"shape\" element %zu is not "
                           "a non-negative integer", p, name, d);
        e->tensor.shape[d] = (int64_t)dim;
    }

    const json_t *offsets = json_object_get(value, "data_offsets");
    if (!offsets)
        return sn_fail(SN_ERR_FORMAT,
                       "safetensors '%s': tensor '%s': missing field \"data_offsets\"", p, name);
    if (!json_is_array(offsets) || json_array_size(offsets) != 2 ||
        !get_count(json_array_get(offsets, 0), &e->begin) ||
        !get_count(json_array_get(offsets, 1), &e->end))
        return sn_fail(SN_ERR_FORMAT,
                       "safetensors '%s': tensor '%s': field \"data_offsets\" is not an array "
                       "of two non-negative integers", p, name);
    if (e->begin > e->end)
        return sn_fail(SN_ERR_FORMAT,
                       "safetensors '%s': tensor '%s': field \"data_offsets\" [%llu,%llu] "
                       "ends before it begins", p, name, (unsigned long long)e->begin,
                       (unsigned long long)e->end);
    if (e->end > data_size)
        return sn_fail(SN_ERR_FORMAT,
                       "safetensors '%s': tensor '%s': field \"data_offsets\" [%llu,%llu] "
                       "reaches beyond the data area of %llu bytes", p, name,
                       (unsigned long long)e->begin, (unsigned long long)e->end,
                       (unsigned long long)data_size);

    uint64_t nbytes = 0;
    bool fits = tensor_nbytes(&e->tensor, &nbytes);
    if (!fits || nbytes != e->end - e->begin) {
        char shape_text[256], need[48];
        if (fits)
            snprintf(need, sizeof need, "%llu", (unsigned long long)nbytes);
        else
            snprintf(need, sizeof need, "too many");
        return sn_fail(SN_ERR_FORMAT,
                       "safetensors '%s': tensor '%s': field \"shape\" %s of %s needs %s "
                       "bytes, which does not match the %llu bytes of \"data_offsets\" "
                       "[%llu,%llu]", p, name,
                       format_shape(shape_text, sizeof shape_text, e->tensor.ndim,
                                    e->tensor.shape),
                       dtype_table[e->tensor.dtype].name, need,
                       (unsigned long long)(e->end - e->begin), (unsigned long long)e->begin,
                       (unsigned long long)e->end);
    }
    e->tensor.name = name;
    return SN_OK;
}

static int compare_entries(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return x->header_index < y->header_index ? -1 : x->header_index > y->header_index;
}

/* The tensors, in offset order, must tile [0, data_size) exactly. */
static sn_status check_tiling(const sn_safetensors *f, uint64_t data_size)
{
    uint64_t expected = 0;
    const char *previous = NULL;
    for (size_t i = 0; i < f->entry_count; i++) {
        const entry *e = &f->entries[i];
        if (e->begin < expected)
            return sn_fail(SN_ERR_FORMAT,
                           "safetensors '%s': tensor '%s': field \"data_offsets\" [%llu,%llu] "
                           "overlaps tensor '%s', which ends at %llu", f->path, e->tensor.name,
                           (unsigned long long)e->begin, (unsigned long long)e->end, previous,
                           (unsigned long long)expected);
        if (e->begin > expected)
            return sn_fail(SN_ERR_FORMAT,
                           "safetensors '%s': tensor '%s': field \"data_offsets\" [%llu,%llu] "
                           "leaves bytes %llu..%llu of the data area uncovered", f->path,
                           e->tensor.name, (unsigned long long)e->begin,
                           (unsigned long long)e->end, (unsigned long long)expected,
                           (unsigned long long)e->begin);
        expected = e->end;
        previous = e->tensor.name;
    }
    if (expected != data_size)
        return sn_fail(SN_ERR_FORMAT,
                       "safetensors '%s': the last %llu bytes of the data area (after %s%s%s) "
                       "belong to no tensor", f->path,
                       (unsigned long long)(data_size - expected), previous ? "tensor '" : "",
                       previous ? previous : "the header", previous ? "'" : "");
    return SN_OK;
}

static sn_status parse(sn_safetensors *f)
{
    const char *p = f->path;
    if (f->size < 8)
        return sn_fail(SN_ERR_FORMAT,
                       "safetensors '%s': file has %zu bytes, too short for the 8-byte header "
                       "length", p, f->size);
    uint64_t header_len = 0;
    for (int i = 0; i < 8; i++)
        header_len |= (uint64_t)f->bytes[i] << (8 * i);
    if (header_len > HEADER_MAX_BYTES)
        return sn_fail(SN_ERR_FORMAT,
                       "safetensors '%s': header length %llu is absurd (limit %u): not a "
                       "safetensors file or corrupt", p, (unsigned long long)header_len,
                       HEADER_MAX_BYTES);
    if (header_len > f->size - 8)
        return sn_fail(SN_ERR_FORMAT,
                       "safetensors '%s': header length %llu exceeds the %zu bytes that follow "
                       "it (truncated file?)", p, (unsigned long long)header_len, f->size - 8);

    json_error_t jerr;
    f->header = json_loadb((const char *)f->bytes + 8, (size_t)header_len,
                           JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!f->header)
        return sn_fail(SN_ERR_FORMAT,
                       "safetensors '%s': header is not valid JSON: %s (line %d, column %d)", p,
                       jerr.text, jerr.line, jerr.column);
    if (!json_is_object(f->header))
        return sn_fail(SN_ERR_FORMAT, "safetensors '%s': header is not a JSON object", p);

    const uint64_t data_size = f->size - 8 - header_len;
    const unsigned char *data = f->bytes + 8 + header_len;

    size_t capacity = json_object_size(f->header);
    f->entries = calloc(capacity ? capacity : 1, sizeof *f->entries);
    f->index = json_object();
    if (!f->entries || !f->index)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "safetensors '%s': out of memory", p);

    const char *key;
    json_t *value;
    json_object_foreach(f->header, key, value) {
        if (strcmp(key, METADATA_KEY) == 0) {
            SN_TRY(parse_metadata(f, value));
            continue;
        }
        entry *e = &f->entries[f->entry_count];
        SN_TRY(parse_entry(f, key, value, data_size, e));
        e->header_index = f->entry_count++;
    }

    qsort(f->entries, f->entry_count, sizeof *f->entries, compare_entries);
    SN_TRY(check_tiling(f, data_size));

    for (size_t i = 0; i < f->entry_count; i++) {
        entry *e = &f->entries[i];
        size_t nbytes = (size_t)(e->end - e->begin);
        size_t align = dtype_table[e->tensor.dtype].size;
        const unsigned char *src = data + e->begin;
        if (nbytes == 0) {
            e->tensor.data = empty_storage;
        } else if ((uintptr_t)src % align != 0) {
            /* A foreign writer may not pad the header; copy so the caller
             * can use the data as float* or int64_t* directly. */
            e->aligned_copy = malloc(nbytes);
            if (!e->aligned_copy)
                return sn_fail(SN_ERR_OUT_OF_MEMORY, "safetensors '%s': out of memory", p);
            memcpy(e->aligned_copy, src, nbytes);
            e->tensor.data = e->aligned_copy;
        } else {
            e->tensor.data = src;
        }
        if (json_object_set_new(f->index, e->tensor.name, json_integer((json_int_t)i)) != 0)
            return sn_fail(SN_ERR_OUT_OF_MEMORY, "safetensors '%s': out of memory", p);
    }
    return SN_OK;
}

sn_status sn_safetensors_open(const char *path, sn_safetensors **out)
{
    if (out)
        *out = NULL;
    if (!path || !out)
        return sn_fail(SN_ERR_INVALID_ARG, "sn_safetensors_open: NULL path or output");
    SN_TRY(require_little_endian(path));

    sn_safetensors *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "safetensors '%s': out of memory", path);
    }
    sn_status status = read_whole_file(path, &f->bytes, &f->size);
    if (status == SN_OK)
        status = parse(f);
    if (status != SN_OK) {
        sn_safetensors_close(f);
        return status;
    }
    *out = f;
    return SN_OK;
}

void sn_safetensors_close(sn_safetensors *f)
{
    if (!f)
        return;
    if (f->entries) {
        for (size_t i = 0; i < f->entry_count; i++)
            free(f->entries[i].aligned_copy);
    }
    free(f->entries);
    free(f->meta);
    json_decref(f->index);
    json_decref(f->header);
    free(f->bytes);
    free(f->path);
    free(f);
}

const char *sn_safetensors_path(const sn_safetensors *f) { return f ? f->path : NULL; }

size_t sn_safetensors_tensor_count(const sn_safetensors *f) { return f ? f->entry_count : 0; }

const sn_safetensors_tensor *sn_safetensors_tensor_at(const sn_safetensors *f, size_t index)
{
    if (!f || index >= f->entry_count)
        return NULL;
    return &f->entries[index].tensor;
}

const sn_safetensors_tensor *sn_safetensors_find(const sn_safetensors *f, const char *name)
{
    if (!f || !name)
        return NULL;
    const json_t *position = json_object_get(f->index, name);
    if (!position)
        return NULL;
    return &f->entries[json_integer_value(position)].tensor;
}

sn_status sn_safetensors_get(const sn_safetensors *f, const char *name,
                             sn_safetensors_dtype dtype, int ndim, const int64_t *shape,
                             const void **data)
{
    if (!f || !name || !data)
        return sn_fail(SN_ERR_INVALID_ARG, "sn_safetensors_get: NULL file, name or output");
    *data = NULL;
    const sn_safetensors_tensor *t = sn_safetensors_find(f, name);
    if (!t)
        return sn_fail(SN_ERR_FORMAT, "safetensors '%s': no tensor named '%s'", f->path, name);
    if (t->dtype != dtype)
        return sn_fail(SN_ERR_FORMAT, "safetensors '%s': tensor '%s' has dtype %s, expected %s",
                       f->path, name, dtype_table[t->dtype].name,
                       sn_safetensors_dtype_name(dtype) ? sn_safetensors_dtype_name(dtype)
                                                        : "(invalid)");
    if (shape) {
        bool same = ndim == t->ndim;
        for (int d = 0; same && d < ndim; d++)
            same = shape[d] == t->shape[d];
        if (!same) {
            char have[256], want[256];
            int want_ndim = ndim < 0 ? 0 : ndim > SN_SAFETENSORS_MAX_DIMS ? SN_SAFETENSORS_MAX_DIMS
                                                                           : ndim;
            return sn_fail(SN_ERR_SHAPE,
                           "safetensors '%s': tensor '%s' has shape %s, expected %s", f->path,
                           name, format_shape(have, sizeof have, t->ndim, t->shape),
                           format_shape(want, sizeof want, want_ndim, shape));
        }
    }
    *data = t->data;
    return SN_OK;
}

const char *sn_safetensors_metadata(const sn_safetensors *f, const char *key)
{
    if (!f || !key)
        return NULL;
    for (size_t i = 0; i < f->meta_count; i++) {
        if (strcmp(f->meta[i].key, key) == 0)
            return f->meta[i].value;
    }
    return NULL;
}

size_t sn_safetensors_metadata_count(const sn_safetensors *f) { return f ? f->meta_count : 0; }

const sn_safetensors_meta *sn_safetensors_metadata_at(const sn_safetensors *f, size_t index)
{
    if (!f || index >= f->meta_count)
        return NULL;
    return &f->meta[index];
}
