/* Helpers for the data tests: a scratch folder per test and writers for the
 * files the loaders read (raw, gzip, PNG through libpng). */
#ifndef SN_DATA_TEST_UTIL_H
#define SN_DATA_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* A fresh folder under /tmp (path in tmp_root), removed by tmp_remove. */
extern char tmp_root[256];
void tmp_create(void);
void tmp_remove(void);

/* tmp_root + "/" + relative (static buffer rotated over 8 calls). */
const char *tmp_path(const char *relative);

/* mkdir -p */
void make_dirs(const char *path);

void write_bytes(const char *path, const void *bytes, size_t size);
void write_gzip(const char *path, const void *bytes, size_t size);
void write_text(const char *path, const char *text);

/* Gzip `bytes` into a malloc'd buffer (*out_size bytes). */
uint8_t *gzip_bytes(const void *bytes, size_t size, size_t *out_size);

/* A PNG written with libpng. `samples` holds the rows packed as PNG stores
 * them (for bit depth 16: big-endian pairs; for depth < 8: one sample per
 * byte, packed here). A palette and tRNS alpha values may be given for
 * color type PNG_COLOR_TYPE_PALETTE. */
void write_png(const char *path, int width, int height, int color_type, int bit_depth,
               const uint8_t *samples, const uint8_t (*palette)[3], int palette_size,
               const uint8_t *trans, int trans_size);

#endif
