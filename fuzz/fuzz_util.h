/* Shared by the libFuzzer harnesses: the readers under test take paths, so
 * each input is written to a file in a per-process scratch directory (on
 * /dev/shm when there is one: no disk I/O per execution). */
#ifndef SN_FUZZ_UTIL_H
#define SN_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The scratch directory, created on first use and removed at exit. */
const char *fuzz_dir(void);

/* Write `size` bytes to fuzz_dir()/name (name may hold subfolders, which
 * are created) and return the full path (valid until the next call). */
const char *fuzz_write(const char *name, const void *data, size_t size);

/* Remove fuzz_dir()/name if it exists. */
void fuzz_remove(const char *name);

/* gzip `size` bytes (a complete .gz stream); *out is malloc'd. 0 on failure. */
int fuzz_gzip(const void *data, size_t size, uint8_t **out, size_t *out_size);

#endif
