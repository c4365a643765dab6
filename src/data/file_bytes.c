/* Whole-file reads with transparent gzip decompression, and path helpers. */
#include "data_internal.h"
#include "runtime/error_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

int sn_data_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int sn_data_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

sn_status sn_data_join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return sn_fail(SN_ERR_INVALID_ARG, "path too long: %s/%s", dir, name);
    return SN_OK;
}

static sn_status read_raw(const char *path, uint8_t **bytes, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sn_fail(SN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return sn_fail(SN_ERR_IO, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int read_error = ferror(f);
    fclose(f);
    if (got != n || read_error) {
        free(buf);
        return sn_fail(SN_ERR_IO, "%s: read %zu of %zu bytes", path, got, n);
    }
    *bytes = buf;
    *size = n;
    return SN_OK;
}

/* Decompress every gzip member of `in`. */
static sn_status gunzip(const char *path, const uint8_t *in, size_t in_size,
                        uint8_t **bytes, size_t *size)
{
    /* The trailer's ISIZE (size mod 2^32) is a good first guess; bound it in
     * case the trailer is missing (truncated file). */
    size_t cap = in_size * 4 + 1024;
    if (in_size >= 8) {
        const uint8_t *t = in + in_size - 4;
        size_t isize = (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 |
                       (size_t)t[3] << 24;
        if (isize > 0 && isize <= in_size * 1100 + 1024 && isize <= ((size_t)1 << 31))
            cap = isize;
    }
    uint8_t *out = malloc(cap);
    if (!out)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", path, cap);

    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        free(out);
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "%s: zlib inflateInit failed", path);
    }
    size_t done = 0;          /* bytes of output written */
    size_t consumed = 0;      /* bytes of input consumed */
    sn_status status = SN_OK;
    for (;;) {
        if (done == cap) {
            size_t bigger = cap * 2;
            uint8_t *grown = realloc(out, bigger);
            if (!grown) {
                status = sn_fail(SN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes",
                                 path, bigger);
                break;
            }
            out = grown;
            cap = bigger;
        }
        /* zlib counts in uInt: feed at most 1 GiB per call. */
        size_t in_left = in_size - consumed, out_left = cap - done;
        zs.next_in = (Bytef *)(in + consumed);
        zs.avail_in = (uInt)(in_left < (1u << 30) ? in_left : (1u << 30));
        zs.next_out = out + done;
        zs.avail_out = (uInt)(out_left < (1u << 30) ? out_left : (1u << 30));
        uInt avail_in_before = zs.avail_in, avail_out_before = zs.avail_out;
        int rc = inflate(&zs, Z_NO_FLUSH);
        consumed += avail_in_before - zs.avail_in;
        done += avail_out_before - zs.avail_out;
        if (rc == Z_STREAM_END) {
            /* Another gzip member may follow (as `cat a.gz b.gz` makes). */
            if (in_size - consumed >= 2 && in[consumed] == 0x1f && in[consumed + 1] == 0x8b) {
                inflateReset(&zs);
                continue;
            }
            break;  /* trailing bytes after the last member are ignored, as gzip does */
        }
        if (rc == Z_OK)
            continue;
        if (rc == Z_BUF_ERROR && consumed == in_size) {
            status = sn_fail(SN_ERR_FORMAT,
                             "%s: truncated gzip stream (input ends after %zu compressed "
                             "bytes, %zu bytes decompressed)", path, in_size, done);
            break;
        }
        if (rc == Z_BUF_ERROR)
            continue;  /* output full: grown above */
        if (rc == Z_MEM_ERROR)
            status = sn_fail(SN_ERR_OUT_OF_MEMORY, "%s: zlib out of memory", path);
        else
            status = sn_fail(SN_ERR_FORMAT, "%s: corrupt gzip data at compressed byte %zu: %s",
                             path, consumed, zs.msg ? zs.msg : "inflate failed");
        break;
    }
    inflateEnd(&zs);
    if (status != SN_OK) {
        free(out);
        return status;
    }
    uint8_t *shrunk = realloc(out, done ? done : 1);
    *bytes = shrunk ? shrunk : out;
    *size = done;
    return SN_OK;
}

sn_status sn_data_read_file(const char *path, uint8_t **bytes, size_t *size)
{
    uint8_t *raw = NULL;
    size_t raw_size = 0;
    SN_TRY(read_raw(path, &raw, &raw_size));
    if (raw_size >= 2 && raw[0] == 0x1f && raw[1] == 0x8b) {
        sn_status status = gunzip(path, raw, raw_size, bytes, size);
        free(raw);
        return status;
    }
    *bytes = raw;
    *size = raw_size;
    return SN_OK;
}
