/* 64-bit FNV-1a: cheap, stable across platforms; used for cache file names
 * and corruption checks (cache keys are also compared in full). */
#include "runtime/runtime_internal.h"

uint64_t sn_hash64(const void *data, size_t size, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < size; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}
