/* Program binaries on disk: the per-user cache (one file per kernel family;
 * on POCL a note instead of the binary, see sn_cache_keeps_binaries) and
 * offline binaries (FPGAs, locked-down deployments: the whole program)
 * share one file format:
 *
 *   "SNPROG1\n"  u64 key_len  key  u64 binary_len  binary  u64 checksum
 *
 * The key is readable text naming platform, device, driver, a hash of the
 * kernel source and the build options; a file is used only when its key
 * equals the expected one, and a corrupt or truncated file is detected by
 * the lengths and the checksum. Writes go to a temp file renamed into place,
 * so concurrent processes never see half a file. */
#include "runtime/runtime_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char MAGIC[8] = {'S', 'N', 'P', 'R', 'O', 'G', '1', '\n'};

/* `program` names a family's key ("" for the whole program's, whose text
 * offline binaries of earlier versions carry too). */
static void format_key(const sn_context *ctx, const char *program, const char *source,
                       size_t length, const char *options, char *key, size_t size)
{
    uint64_t source_hash = sn_hash64(source, length, 0);
    snprintf(key, size,
             "platform=%s\nplatform_version=%s\ndevice=%s\ndriver=%s\n%s%s%s"
             "source=%016llx\noptions=%s\n",
             ctx->info.platform, ctx->info.platform_version, ctx->info.name,
             ctx->info.driver_version, program[0] ? "family=" : "", program,
             program[0] ? "\n" : "", (unsigned long long)source_hash, options);
}

void sn_program_key(const sn_context *ctx, const char *options, char *key, size_t size)
{
    format_key(ctx, "", sn_kernel_source, sn_kernel_source_len, options, key, size);
}

/* POCL, asked for the binary of a program, first compiles every kernel in
 * it to native code (19 s for conv_direct.cl on 2 cores, against 1 s to
 * build it), though a run compiles only the kernels it launches. And POCL
 * keeps what it builds and compiles in a cache of its own (POCL_CACHE_DIR,
 * on by default), where a rebuild from source finds it (0.03 s a family).
 * So on POCL our entry holds a note, not a binary: it records that the
 * family was built here, for the compile notice (sn_program_family). */
int sn_cache_keeps_binaries(const sn_context *ctx)
{
    return !sn_contains_nocase(ctx->info.platform, "Portable Computing Language");
}

void sn_family_key(const sn_context *ctx, const sn_kernel_family *family, const char *options,
                   char *key, size_t size)
{
    char name[128];
    snprintf(name, sizeof name, "%s%s", family->name,
             sn_cache_keeps_binaries(ctx) ? "" : "\nbinary=none, the driver keeps its builds");
    format_key(ctx, name, sn_kernel_source + family->offset, family->length, options, key, size);
}

void sn_cache_path(const sn_context *ctx, const char *key, char *path, size_t size)
{
    if (!ctx->cache_dir[0]) {
        path[0] = '\0';
        return;
    }
    snprintf(path, size, "%s/%016llx.bin", ctx->cache_dir,
             (unsigned long long)sn_hash64(key, strlen(key), 0));
}

void sn_cache_dir(const sn_context_options *opts, char *dir, size_t size)
{
    dir[0] = '\0';
    int use = opts ? opts->use_cache : -1;
    if (use < 0) {
        const char *env = getenv("SN_CACHE");
        use = !(env && !strcmp(env, "0"));
    }
    if (!use)
        return;
    const char *env;
    if (opts && opts->cache_dir && *opts->cache_dir)
        snprintf(dir, size, "%s", opts->cache_dir);
    else if ((env = getenv("SN_CACHE_DIR")) && *env)
        snprintf(dir, size, "%s", env);
    else if ((env = getenv("XDG_CACHE_HOME")) && *env)
        snprintf(dir, size, "%s/sharesnet", env);
    else if ((env = getenv("HOME")) && *env)
        snprintf(dir, size, "%s/.cache/sharesnet", env);
}

static uint64_t checksum(const char *key, size_t key_len, const unsigned char *bin, size_t bin_len)
{
    return sn_hash64(bin, bin_len, sn_hash64(key, key_len, 0x5eed));
}

/* First line where two keys differ, for a message such as
 * "built for device=Foo, this is device=Bar". */
static void key_difference(const char *a, const char *b, char *out, size_t size)
{
    while (*a && *b) {
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
        if (la != lb || memcmp(a, b, la) != 0) {
            snprintf(out, size, "built for %.*s, but this needs %.*s", (int)la, a, (int)lb, b);
            return;
        }
        a += la + (ea ? 1 : 0);
        b += lb + (eb ? 1 : 0);
    }
    snprintf(out, size, "keys differ");
}

sn_status sn_file_read_all(const char *path, const char *what, unsigned char **data,
                           size_t *size)
{
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sn_fail(SN_ERR_IO, "cannot open %s '%s': %s", what, path, strerror(errno));
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 1 << 20;
            unsigned char *grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                fclose(f);
                return sn_fail(SN_ERR_OUT_OF_MEMORY, "%s '%s': out of host memory", what, path);
            }
            buf = grown;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int read_error = ferror(f);
    fclose(f);
    if (read_error) {
        free(buf);
        return sn_fail(SN_ERR_IO, "error reading %s '%s'", what, path);
    }
    *data = buf;
    *size = len;
    return SN_OK;
}

static int read_u64(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    if ((size_t)(end - *p) < 8)
        return 0;
    memcpy(v, *p, 8);
    *p += 8;
    return 1;
}

sn_status sn_program_binary_read(const char *path, const char *expected_key,
                                 unsigned char **binary, size_t *size)
{
    *binary = NULL;
    *size = 0;
    unsigned char *data = NULL;
    size_t len = 0;
    SN_TRY(sn_file_read_all(path, "program binary", &data, &len));

    const unsigned char *p = data, *end = data + len;
    uint64_t key_len, bin_len, sum;
    sn_status st = SN_OK;
    if (len < sizeof MAGIC || memcmp(p, MAGIC, sizeof MAGIC) != 0) {
        st = sn_fail(SN_ERR_FORMAT,
                     "'%s' is not a sharesnet program binary (bad magic); a binary built by a "
                     "vendor's offline compiler must first be wrapped for its device: sharesnet "
                     "compile-kernels --wrap VENDOR_FILE --device X -o FILE",
                     path);
        goto done;
    }
    p += sizeof MAGIC;
    if (!read_u64(&p, end, &key_len) || key_len > (uint64_t)(end - p)) {
        st = sn_fail(SN_ERR_FORMAT, "program binary '%s' is truncated (key)", path);
        goto done;
    }
    const char *key = (const char *)p;
    p += key_len;
    if (!read_u64(&p, end, &bin_len) || bin_len > (uint64_t)(end - p) || bin_len == 0) {
        st = sn_fail(SN_ERR_FORMAT, "program binary '%s' is truncated (binary)", path);
        goto done;
    }
    const unsigned char *bin = p;
    p += bin_len;
    if (!read_u64(&p, end, &sum) || p != end) {
        st = sn_fail(SN_ERR_FORMAT, "program binary '%s' is truncated or has trailing bytes", path);
        goto done;
    }
    if (sum != checksum(key, (size_t)key_len, bin, (size_t)bin_len)) {
        st = sn_fail(SN_ERR_FORMAT, "program binary '%s' is corrupt (checksum mismatch)", path);
        goto done;
    }
    if (strlen(expected_key) != key_len || memcmp(key, expected_key, key_len) != 0) {
        char stored[4096], why[1024];
        snprintf(stored, sizeof stored, "%.*s", (int)key_len, key);
        key_difference(stored, expected_key, why, sizeof why);
        st = sn_fail(SN_ERR_INVALID_ARG, "program binary '%s' does not fit this device: %s",
                     path, why);
        goto done;
    }
    *binary = malloc((size_t)bin_len);
    if (!*binary) {
        st = sn_fail(SN_ERR_OUT_OF_MEMORY, "program binary '%s': out of host memory", path);
        goto done;
    }
    memcpy(*binary, bin, (size_t)bin_len);
    *size = (size_t)bin_len;
done:
    free(data);
    return st;
}

typedef struct binary_file {
    const char *key;
    const unsigned char *binary;
    size_t size;
} binary_file;

static int write_binary_file(FILE *f, void *user)
{
    const binary_file *b = user;
    uint64_t key_len = strlen(b->key), bin_len = b->size;
    uint64_t sum = checksum(b->key, (size_t)key_len, b->binary, b->size);
    return fwrite(MAGIC, sizeof MAGIC, 1, f) == 1 && fwrite(&key_len, 8, 1, f) == 1 &&
           fwrite(b->key, 1, (size_t)key_len, f) == key_len && fwrite(&bin_len, 8, 1, f) == 1 &&
           fwrite(b->binary, 1, b->size, f) == b->size && fwrite(&sum, 8, 1, f) == 1;
}

sn_status sn_program_binary_write(const char *path, const char *key,
                                  const unsigned char *binary, size_t size,
                                  sn_file_policy policy)
{
    binary_file b = {key, binary, size};
    return sn_file_write_atomic(path, "program binary", policy, write_binary_file, &b);
}
