/* libFuzzer: the program binary file (the program cache's entries and the
 * offline binaries share one format: magic, key, binary, checksum).
 *
 * The reader's own source is included so that the harness uses its magic
 * and checksum (static there) without a copy of either. Input layout: byte
 * 0 flags. Bit 0 clear: the rest is the file, read with a key it will not
 * match (every length, truncation and checksum check). Bit 0 set: the rest
 * is [key length byte][key][binary], written as a well-formed file with
 * the right checksum, so that the key comparison and the success path are
 * reached too; bit 1 then expects that very key, else another one. */
#include "../src/runtime/program_cache.c"

#include "fuzz_util.h"

static void put_u64(uint8_t **p, uint64_t v)
{
    memcpy(*p, &v, 8);
    *p += 8;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const int flags = data[0];
    data++;
    size--;
    const char *path;
    char expected[256] = "platform=fuzz\ndevice=none\n";
    if (!(flags & 1)) {
        path = fuzz_write("program.bin", data, size);
    } else {
        size_t key_len = size ? data[0] : 0;
        const uint8_t *key = data + (size ? 1 : 0);
        size_t rest = size ? size - 1 : 0;
        if (key_len > rest)
            key_len = rest;
        const uint8_t *bin = key + key_len;
        size_t bin_len = rest - key_len;
        uint8_t *file = malloc(sizeof MAGIC + 24 + key_len + bin_len);
        if (!file)
            return 0;
        uint8_t *p = file;
        memcpy(p, MAGIC, sizeof MAGIC);
        p += sizeof MAGIC;
        put_u64(&p, key_len);
        memcpy(p, key, key_len);
        p += key_len;
        put_u64(&p, bin_len);
        memcpy(p, bin, bin_len);
        p += bin_len;
        put_u64(&p, checksum((const char *)key, key_len, bin, bin_len));
        path = fuzz_write("program.bin", file, (size_t)(p - file));
        free(file);
        if ((flags & 2) && !memchr(key, '\0', key_len))
            snprintf(expected, sizeof expected, "%.*s", (int)key_len, (const char *)key);
    }
    unsigned char *binary;
    size_t binary_size;
    if (sn_program_binary_read(path, expected, &binary, &binary_size) == SN_OK)
        free(binary);
    return 0;
}
