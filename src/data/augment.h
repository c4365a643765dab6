/* Counter-based randomness, epoch order and per-example augmentation.
 *
 * Every random choice is a hash of (seed, epoch, counter, stream), so the
 * result for any example is independent of which thread computes it and of
 * what was computed before: the basis of resumable, reproducible batches. */
#ifndef SN_DATA_AUGMENT_H
#define SN_DATA_AUGMENT_H

#include <stdint.h>

/* Independent random streams drawn from the same (seed, epoch). */
enum {
    SN_STREAM_ORDER = 1,   /* Fisher-Yates swaps of the epoch order */
    SN_STREAM_FLIP = 2,    /* flip of the example at a position     */
    SN_STREAM_CROP_Y = 3,  /* vertical crop offset                  */
    SN_STREAM_CROP_X = 4   /* horizontal crop offset                */
};

/* 64 well-mixed bits from (seed, epoch, counter, stream). */
uint64_t sn_data_hash(uint64_t seed, uint64_t epoch, uint64_t counter, uint64_t stream);

/* Uniform integer in [0, n) from a hash (n <= 2^32). */
uint32_t sn_data_uniform(uint64_t hash, uint64_t n);

/* order[0..n) = the epoch's order of example indices 0..n-1: a Fisher-Yates
 * shuffle keyed by (seed, epoch), or the identity when !shuffle. */
void sn_data_epoch_order(int64_t *order, int64_t n, uint64_t seed, uint64_t epoch,
                         int shuffle);

/* The augmentation of one example: output(y, x) reads input
 * (y + dy, flip ? width-1-x + dx : x + dx), 0 outside the image.
 * dy, dx lie in [-P, P] for crop padding P (the crop of the padded image at
 * offset (dy + P, dx + P)); the flip is applied after the crop. */
typedef struct sn_augment {
    int flip;
    int dy, dx;
} sn_augment;

/* The augmentation of the example at `position` of epoch `epoch`. */
sn_augment sn_augment_draw(uint64_t seed, uint64_t epoch, int64_t position,
                           int crop_padding, int flip);

/* out[c][h][w] = lut[c][in[c][y'][x']] for the augmented coordinates, 0 for a
 * pixel of the padding. lut[c][v] is the normalised value of byte v. */
void sn_augment_apply(float *out, const uint8_t *in, int channels, int height, int width,
                      const float (*lut)[256], sn_augment aug);

#endif
