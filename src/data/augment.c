/* Counter-based randomness, epoch order and per-example augmentation. */
#include "augment.h"

#include <string.h>

/* splitmix64's finaliser: a bijection on 64 bits with full avalanche. */
static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t sn_data_hash(uint64_t seed, uint64_t epoch, uint64_t counter, uint64_t stream)
{
    uint64_t h = mix64(seed ^ (stream * 0xd1342543de82ef95ull));
    h = mix64(h ^ epoch);
    return mix64(h ^ counter);
}

uint32_t sn_data_uniform(uint64_t hash, uint64_t n)
{
    /* Lemire's multiply-shift on the top 32 bits; the bias (< n / 2^32) is
     * far below anything training could notice. */
    return (uint32_t)(((hash >> 32) * n) >> 32);
}

void sn_data_epoch_order(int64_t *order, int64_t n, uint64_t seed, uint64_t epoch,
                         int shuffle)
{
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    if (!shuffle)
        return;
    for (int64_t i = n - 1; i > 0; i--) {
        uint64_t h = sn_data_hash(seed, epoch, (uint64_t)i, SN_STREAM_ORDER);
        int64_t j = sn_data_uniform(h, (uint64_t)i + 1);
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

sn_augment sn_augment_draw(uint64_t seed, uint64_t epoch, int64_t position,
                           int crop_padding, int flip)
{
    sn_augment a = {0, 0, 0};
    uint64_t p = (uint64_t)position;
    if (flip)
        a.flip = (int)(sn_data_hash(seed, epoch, p, SN_STREAM_FLIP) >> 63);
    if (crop_padding > 0) {
        uint64_t span = 2 * (uint64_t)crop_padding + 1;
        a.dy = (int)sn_data_uniform(sn_data_hash(seed, epoch, p, SN_STREAM_CROP_Y), span) -
               crop_padding;
        a.dx = (int)sn_data_uniform(sn_data_hash(seed, epoch, p, SN_STREAM_CROP_X), span) -
               crop_padding;
    }
    return a;
}

void sn_augment_apply(float *out, const uint8_t *in, int channels, int height, int width,
                      const float (*lut)[256], sn_augment aug)
{
    size_t plane = (size_t)height * width;
    for (int c = 0; c < channels; c++) {
        const uint8_t *src = in + c * plane;
        float *dst = out + c * plane;
        const float *map = lut[c];
        for (int y = 0; y < height; y++) {
            int sy = y + aug.dy;
            float *row = dst + (size_t)y * width;
            if (sy < 0 || sy >= height) {
                memset(row, 0, sizeof(float) * (size_t)width);
                continue;
            }
            const uint8_t *src_row = src + (size_t)sy * width;
            for (int x = 0; x < width; x++) {
                int sx = (aug.flip ? width - 1 - x : x) + aug.dx;
                row[x] = (sx >= 0 && sx < width) ? map[src_row[sx]] : 0.0f;
            }
        }
    }
}
