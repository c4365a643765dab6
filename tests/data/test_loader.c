/* The batch loader: determinism, resume, coverage, normalisation,
 * augmentation, shutdown. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/augment.h"
#include "sharesnet/data.h"

TestSuite(loader, .timeout = 60);

/* n examples of c x h x w; pixel values identify (example, channel, y, x). */
static sn_dataset make_dataset(int64_t n, int c, int h, int w)
{
    sn_dataset d;
    memset(&d, 0, sizeof d);
    d.count = n;
    d.channels = c;
    d.height = h;
    d.width = w;
    d.classes = 10;
    d.images = malloc((size_t)(n * c * h * w));
    d.labels = malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        d.labels[i] = (int32_t)(i % 10);
        for (int k = 0; k < c * h * w; k++)
            d.images[i * c * h * w + k] = (uint8_t)((i * 31 + k * 7 + 1) % 251);
    }
    return d;
}

static sn_loader_options train_options(void)
{
    sn_loader_options o = sn_loader_options_default();
    o.batch_size = 10;
    o.seed = 1234;
    o.crop_padding = 2;
    return o;
}

static sn_loader *make_loader(const sn_dataset *d, const sn_loader_options *o)
{
    sn_loader *l = NULL;
    cr_assert_eq(sn_loader_create(&l, d, o), SN_OK, "%s", sn_last_error());
    return l;
}

/* Copy of a batch, to compare batches after the loader moved on. */
typedef struct saved {
    int count;
    int64_t index;
    float *images;
    int32_t labels[64];
    int64_t samples[64];
} saved;

static saved save(const sn_batch *b)
{
    saved s;
    size_t floats = (size_t)b->count * b->channels * b->height * b->width;
    s.count = b->count;
    s.index = b->index;
    s.images = malloc(sizeof(float) * floats);
    memcpy(s.images, b->images, sizeof(float) * floats);
    memcpy(s.labels, b->labels, sizeof(int32_t) * (size_t)b->count);
    memcpy(s.samples, b->samples, sizeof(int64_t) * (size_t)b->count);
    return s;
}

static void check_same(const saved *a, const sn_batch *b, size_t image_floats)
{
    cr_assert_eq(a->count, b->count);
    cr_assert_eq(a->index, b->index);
    cr_assert_eq(memcmp(a->samples, b->samples, sizeof(int64_t) * (size_t)b->count), 0,
                 "batch %lld: different examples", (long long)b->index);
    cr_assert_eq(memcmp(a->labels, b->labels, sizeof(int32_t) * (size_t)b->count), 0);
    cr_assert_eq(memcmp(a->images, b->images, sizeof(float) * image_floats * b->count), 0,
                 "batch %lld: different pixels", (long long)b->index);
}

/* All batches of one epoch (at most 64). */
static int read_epoch(sn_loader *l, int64_t epoch, int64_t first, saved *out)
{
    cr_assert_eq(sn_loader_start_epoch(l, epoch, first), SN_OK, "%s", sn_last_error());
    int n = 0;
    const sn_batch *b;
    for (;;) {
        cr_assert_eq(sn_loader_next(l, &b), SN_OK, "%s", sn_last_error());
        if (!b)
            break;
        cr_assert_eq(b->epoch, epoch);
        cr_assert_eq(b->index, first + n);
        cr_assert_lt(n, 64);
        out[n++] = save(b);
    }
    return n;
}

static void free_saved(saved *s, int n)
{
    for (int i = 0; i < n; i++)
        free(s[i].images);
}

static void sleep_ms(int ms)
{
    struct timespec t = {0, ms * 1000000L};
    nanosleep(&t, NULL);
}

Test(loader, same_seed_and_epoch_give_identical_batches)
{
    sn_dataset d = make_dataset(103, 3, 6, 5);
    sn_loader_options o = train_options();
    sn_loader *a = make_loader(&d, &o);
    o.prefetch = 4;  /* other queue depth and a slow consumer: same batches */
    sn_loader *b = make_loader(&d, &o);
    saved first[64];
    int n = read_epoch(a, 3, 0, first);
    cr_assert_eq(n, 11);
    cr_assert_eq(sn_loader_batches_per_epoch(a), 11);
    cr_assert_eq(first[10].count, 3);  /* the partial last batch is kept */
    cr_assert_eq(sn_loader_start_epoch(b, 3, 0), SN_OK);
    const sn_batch *batch;
    for (int i = 0; i < n; i++) {
        if (i % 3 == 0)
            sleep_ms(5);
        cr_assert_eq(sn_loader_next(b, &batch), SN_OK);
        cr_assert_not_null(batch);
        check_same(&first[i], batch, 3 * 6 * 5);
    }
    cr_assert_eq(sn_loader_next(b, &batch), SN_OK);
    cr_assert_null(batch);
    cr_assert_eq(sn_loader_next(b, &batch), SN_OK);  /* still at the end */
    cr_assert_null(batch);
    cr_assert(sn_loader_wait_seconds(b) >= 0.0);
    free_saved(first, n);
    sn_loader_destroy(a);
    sn_loader_destroy(b);
    sn_dataset_free(&d);
}

Test(loader, epochs_differ_and_seeds_differ)
{
    sn_dataset d = make_dataset(100, 1, 4, 4);
    sn_loader_options o = train_options();
    sn_loader *l = make_loader(&d, &o);
    saved e0[64], e1[64], again[64];
    int n0 = read_epoch(l, 0, 0, e0), n1 = read_epoch(l, 1, 0, e1);
    int n2 = read_epoch(l, 0, 0, again);
    cr_assert_eq(n0, 10);
    cr_assert_eq(n1, 10);
    cr_assert_eq(n2, 10);
    int same_position = 0;
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 10; j++)
            same_position += e0[i].samples[j] == e1[i].samples[j];
    cr_assert_lt(same_position, 20, "epochs 0 and 1 share %d of 100 positions", same_position);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(memcmp(e0[i].samples, again[i].samples, sizeof(int64_t) * 10), 0);
    sn_loader_destroy(l);

    o.seed = 1235;
    l = make_loader(&d, &o);
    saved other[64];
    read_epoch(l, 0, 0, other);
    cr_assert_neq(memcmp(e0[0].samples, other[0].samples, sizeof(int64_t) * 10), 0);
    sn_loader_destroy(l);
    free_saved(e0, 10), free_saved(e1, 10), free_saved(again, 10), free_saved(other, 10);
    sn_dataset_free(&d);
}

Test(loader, resume_at_batch_k)
{
    sn_dataset d = make_dataset(95, 3, 6, 5);
    sn_loader_options o = train_options();
    sn_loader *full = make_loader(&d, &o);
    saved all[64];
    int n = read_epoch(full, 7, 0, all);
    cr_assert_eq(n, 10);
    sn_loader_destroy(full);

    for (int k = 0; k <= n; k++) {
        sn_loader *l = make_loader(&d, &o);
        /* Half-read another epoch first: a restart must discard its prefetch. */
        const sn_batch *b;
        cr_assert_eq(sn_loader_start_epoch(l, 6, 0), SN_OK);
        cr_assert_eq(sn_loader_next(l, &b), SN_OK);
        cr_assert_eq(sn_loader_next(l, &b), SN_OK);
        cr_assert_eq(sn_loader_start_epoch(l, 7, k), SN_OK);
        for (int i = k; i < n; i++) {
            cr_assert_eq(sn_loader_next(l, &b), SN_OK);
            cr_assert_not_null(b);
            check_same(&all[i], b, 3 * 6 * 5);
        }
        cr_assert_eq(sn_loader_next(l, &b), SN_OK);
        cr_assert_null(b);
        sn_loader_destroy(l);
    }
    free_saved(all, n);
    sn_dataset_free(&d);
}

/* Data-parallel slices: shard r of n serves exactly the batches k with
 * (k / block) % n == r, each equal to the unsharded loader's batch k; the
 * shards together serve every batch once (an odd count of batches, blocks
 * of 2, 3 shards: the last step leaves shards without a batch). */
Test(loader, shards_serve_their_blocks_of_the_same_batches)
{
    sn_dataset d = make_dataset(125, 1, 6, 6); /* 13 batches of 10, the last of 5 */
    sn_loader_options o = train_options();
    sn_loader *whole = make_loader(&d, &o);
    saved all[64];
    const int n = read_epoch(whole, 3, 0, all);
    cr_assert_eq(n, 13);
    int served[13] = {0};
    const int shards = 3, block = 2;
    for (int r = 0; r < shards; r++) {
        o.shard_count = shards;
        o.shard_index = r;
        o.shard_block = block;
        sn_loader *l = make_loader(&d, &o);
        cr_assert_eq(sn_loader_examples_per_epoch(l), 125, "examples are the whole epoch's");
        cr_assert_eq(sn_loader_start_epoch(l, 3, 0), SN_OK, "%s", sn_last_error());
        int64_t count = 0;
        const sn_batch *b;
        for (;;) {
            cr_assert_eq(sn_loader_next(l, &b), SN_OK, "%s", sn_last_error());
            if (!b)
                break;
            cr_assert_eq((b->index / block) % shards, r, "shard %d served batch %lld", r,
                         (long long)b->index);
            check_same(&all[b->index], b, 36);
            served[b->index]++;
            count++;
        }
        cr_assert_eq(count, sn_loader_batches_per_epoch(l));
        sn_loader_destroy(l);
    }
    for (int k = 0; k < 13; k++)
        cr_assert_eq(served[k], 1, "batch %d served %d times", k, served[k]);
    o.shard_index = 3; /* out of range */
    sn_loader *bad = NULL;
    cr_assert_eq(sn_loader_create(&bad, &d, &o), SN_ERR_INVALID_ARG);
    free_saved(all, n);
    sn_loader_destroy(whole);
    sn_dataset_free(&d);
}

Test(loader, every_example_once_per_epoch)
{
    sn_dataset d = make_dataset(97, 1, 3, 3);
    sn_loader_options o = train_options();
    sn_loader *l = make_loader(&d, &o);
    for (int epoch = 0; epoch < 3; epoch++) {
        int seen[97] = {0};
        saved s[64];
        int n = read_epoch(l, epoch, 0, s);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < s[i].count; j++) {
                seen[s[i].samples[j]]++;
                cr_assert_eq(s[i].labels[j], d.labels[s[i].samples[j]]);
            }
        for (int i = 0; i < 97; i++)
            cr_assert_eq(seen[i], 1, "epoch %d: example %d seen %d times", epoch, i, seen[i]);
        free_saved(s, n);
    }
    sn_loader_destroy(l);

    /* drop_last: 9 full batches, each example at most once. */
    o.drop_last = 1;
    l = make_loader(&d, &o);
    cr_assert_eq(sn_loader_batches_per_epoch(l), 9);
    cr_assert_eq(sn_loader_examples_per_epoch(l), 90);
    int seen[97] = {0};
    saved s[64];
    int n = read_epoch(l, 0, 0, s);
    cr_assert_eq(n, 9);
    int total = 0;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(s[i].count, 10);
        for (int j = 0; j < 10; j++, total++)
            cr_assert_eq(seen[s[i].samples[j]]++, 0);
    }
    cr_assert_eq(total, 90);
    free_saved(s, n);
    sn_loader_destroy(l);

    /* max_examples: only the first 25, each once, in 3 batches. */
    o.drop_last = 0;
    o.max_examples = 25;
    l = make_loader(&d, &o);
    int seen25[25] = {0};
    n = read_epoch(l, 0, 0, s);
    cr_assert_eq(n, 3);
    cr_assert_eq(s[2].count, 5);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < s[i].count; j++) {
            cr_assert_lt(s[i].samples[j], 25);
            seen25[s[i].samples[j]]++;
        }
    for (int i = 0; i < 25; i++)
        cr_assert_eq(seen25[i], 1);
    free_saved(s, n);
    sn_loader_destroy(l);
    sn_dataset_free(&d);
}

Test(loader, unshuffled_order_is_dataset_order)
{
    sn_dataset d = make_dataset(23, 1, 2, 2);
    sn_loader_options o = train_options();
    o.shuffle = 0;
    o.flip = 0;
    o.crop_padding = 0;
    o.normalization = SN_NORM_NONE;
    sn_loader *l = make_loader(&d, &o);
    saved s[64];
    int n = read_epoch(l, 5, 0, s);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < s[i].count; j++) {
            int64_t e = i * 10 + j;
            cr_assert_eq(s[i].samples[j], e);
            for (int k = 0; k < 4; k++)
                cr_assert_float_eq(s[i].images[j * 4 + k], d.images[e * 4 + k] / 255.0f, 1e-7);
        }
    free_saved(s, n);
    sn_loader_destroy(l);
    sn_dataset_free(&d);
}

Test(loader, normalization_statistics)
{
    /* channel 0: half 0, half 255 -> mean 0.5, std 0.5; channel 1: constant 51
     * -> mean 0.2, std 0 (the loader then divides by 1). */
    sn_dataset d = make_dataset(4, 2, 2, 2);
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 4; k++) {
            d.images[i * 8 + k] = (i + k) % 2 ? 255 : 0;
            d.images[i * 8 + 4 + k] = 51;
        }
    float mean[2], std[2];
    cr_assert_eq(sn_dataset_channel_stats(&d, 0, mean, std), SN_OK);
    cr_assert_float_eq(mean[0], 0.5f, 1e-6);
    cr_assert_float_eq(std[0], 0.5f, 1e-6);
    cr_assert_float_eq(mean[1], 0.2f, 1e-6);
    cr_assert_float_eq(std[1], 0.0f, 1e-6);

    sn_loader_options o = train_options();
    o.batch_size = 4;
    o.flip = 0;
    o.crop_padding = 0;
    sn_loader *l = make_loader(&d, &o);
    float lm[2], ls[2];
    sn_loader_normalization(l, lm, ls);
    cr_assert_float_eq(lm[0], 0.5f, 1e-6);
    cr_assert_float_eq(ls[0], 0.5f, 1e-6);
    cr_assert_float_eq(ls[1], 1.0f, 1e-6);
    const sn_batch *b;
    cr_assert_eq(sn_loader_start_epoch(l, 0, 0), SN_OK);
    cr_assert_eq(sn_loader_next(l, &b), SN_OK);
    double sum = 0, sum_sq = 0;
    for (int j = 0; j < 4; j++)
        for (int k = 0; k < 4; k++) {
            float v = b->images[j * 8 + k];
            cr_assert(fabsf(fabsf(v) - 1.0f) < 1e-6f, "normalised value %f", v);
            sum += v;
            sum_sq += v * v;
            cr_assert_float_eq(b->images[j * 8 + 4 + k], 0.0f, 1e-6);
        }
    cr_assert_float_eq(sum / 16, 0.0, 1e-6);     /* normalised: mean 0, std 1 */
    cr_assert_float_eq(sum_sq / 16, 1.0, 1e-6);
    sn_loader_destroy(l);

    /* given statistics */
    o.normalization = SN_NORM_GIVEN;
    o.mean[0] = 0.25f, o.std[0] = 2.0f;
    o.mean[1] = 0.0f, o.std[1] = 0.1f;
    o.shuffle = 0;
    l = make_loader(&d, &o);
    cr_assert_eq(sn_loader_start_epoch(l, 0, 0), SN_OK);
    cr_assert_eq(sn_loader_next(l, &b), SN_OK);
    cr_assert_float_eq(b->images[0], (0.0f - 0.25f) / 2.0f, 1e-6);
    cr_assert_float_eq(b->images[1], (1.0f - 0.25f) / 2.0f, 1e-6);
    cr_assert_float_eq(b->images[4], 0.2f / 0.1f, 1e-5);
    sn_loader_destroy(l);
    o.std[1] = 0.0f;
    cr_assert_eq(sn_loader_create(&l, &d, &o), SN_ERR_INVALID_ARG);
    sn_dataset_free(&d);
}

/* Pixel (y, x) of a 1 x 4 x 5 image with values 1..20. */
static float img(int y, int x) { return (float)(1 + y * 5 + x); }

Test(loader, augmentation_flip_and_crop_exact)
{
    uint8_t in[20];
    for (int k = 0; k < 20; k++)
        in[k] = (uint8_t)(1 + k);
    float lut[1][256];
    for (int v = 0; v < 256; v++)
        lut[0][v] = (float)v;
    float out[20];

    sn_augment flip = {1, 0, 0};
    sn_augment_apply(out, in, 1, 4, 5, (const float (*)[256])lut, flip);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 5; x++)
            cr_assert_eq(out[y * 5 + x], img(y, 4 - x));

    /* crop of the image padded by 2 at offset (3, 0): shift by dy=+1, dx=-2 */
    sn_augment crop = {0, 1, -2};
    sn_augment_apply(out, in, 1, 4, 5, (const float (*)[256])lut, crop);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 5; x++) {
            int sy = y + 1, sx = x - 2;
            float want = (sy < 4 && sx >= 0) ? img(sy, sx) : 0.0f;
            cr_assert_eq(out[y * 5 + x], want, "(%d, %d): %f, want %f", y, x,
                         out[y * 5 + x], want);
        }
    cr_assert_eq(out[0 * 5 + 2], 6.0f);   /* spot check: input (1, 0) */
    cr_assert_eq(out[3 * 5 + 4], 0.0f);   /* below the image: padding */

    /* crop then flip */
    sn_augment both = {1, -1, 1};
    sn_augment_apply(out, in, 1, 4, 5, (const float (*)[256])lut, both);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 5; x++) {
            int sy = y - 1, sx = 4 - x + 1;
            float want = (sy >= 0 && sx < 5) ? img(sy, sx) : 0.0f;
            cr_assert_eq(out[y * 5 + x], want);
        }
}

/* Does `out` equal image `in` (1 x h x w, /255) under some flip and shift? */
static int matches_some_augmentation(const float *out, const uint8_t *in, int h, int w,
                                     int pad, int *flip_seen, int *shift_seen)
{
    float lut[1][256];
    for (int v = 0; v < 256; v++)
        lut[0][v] = (float)(v / 255.0);
    float *candidate = malloc(sizeof(float) * (size_t)(h * w));
    int found = 0;
    for (int f = 0; f < 2 && !found; f++)
        for (int dy = -pad; dy <= pad && !found; dy++)
            for (int dx = -pad; dx <= pad && !found; dx++) {
                sn_augment a = {f, dy, dx};
                sn_augment_apply(candidate, in, 1, h, w, (const float (*)[256])lut, a);
                if (memcmp(candidate, out, sizeof(float) * (size_t)(h * w)) == 0) {
                    found = 1;
                    flip_seen[f] = 1;
                    shift_seen[(dy + pad) * (2 * pad + 1) + dx + pad] = 1;
                }
            }
    free(candidate);
    return found;
}

Test(loader, loader_applies_random_flip_and_crop)
{
    sn_dataset d = make_dataset(200, 1, 6, 6);
    sn_loader_options o = train_options();
    o.normalization = SN_NORM_NONE;
    o.crop_padding = 1;
    o.flip = 1;
    sn_loader *l = make_loader(&d, &o);
    int flip_seen[2] = {0}, shift_seen[9] = {0};
    const sn_batch *b;
    cr_assert_eq(sn_loader_start_epoch(l, 0, 0), SN_OK);
    while (sn_loader_next(l, &b) == SN_OK && b)
        for (int j = 0; j < b->count; j++)
            cr_assert(matches_some_augmentation(b->images + j * 36,
                                                d.images + b->samples[j] * 36, 6, 6, 1,
                                                flip_seen, shift_seen),
                      "example %lld is not a crop/flip of its image",
                      (long long)b->samples[j]);
    cr_assert(flip_seen[0] && flip_seen[1]);
    for (int i = 0; i < 9; i++)
        cr_assert(shift_seen[i], "shift %d never drawn in 200 examples", i);
    sn_loader_destroy(l);

    /* switched off: the image itself */
    o.flip = 0;
    o.crop_padding = 0;
    l = make_loader(&d, &o);
    cr_assert_eq(sn_loader_start_epoch(l, 0, 0), SN_OK);
    cr_assert_eq(sn_loader_next(l, &b), SN_OK);
    for (int j = 0; j < b->count; j++)
        for (int k = 0; k < 36; k++)
            cr_assert_eq(b->images[j * 36 + k], (float)(d.images[b->samples[j] * 36 + k] / 255.0));
    sn_loader_destroy(l);
    sn_dataset_free(&d);
}

Test(loader, shutdown_mid_epoch)
{
    sn_dataset d = make_dataset(5000, 3, 16, 16);
    sn_loader_options o = train_options();
    o.batch_size = 64;
    o.prefetch = 3;
    for (int round = 0; round < 20; round++) {
        sn_loader *l = make_loader(&d, &o);
        const sn_batch *b;
        cr_assert_eq(sn_loader_start_epoch(l, round, round % 5), SN_OK);
        for (int i = 0; i < round % 4; i++) {
            cr_assert_eq(sn_loader_next(l, &b), SN_OK);
            cr_assert_not_null(b);
        }
        if (round % 2)  /* restart while the producer is busy */
            cr_assert_eq(sn_loader_start_epoch(l, round + 1, 3), SN_OK);
        sn_loader_destroy(l);  /* must neither hang nor crash */
    }
    sn_loader *idle = make_loader(&d, &o);  /* never started */
    sn_loader_destroy(idle);
    sn_loader_destroy(NULL);
    sn_dataset_free(&d);
}

Test(loader, wait_time_is_measured)
{
    sn_dataset d = make_dataset(20000, 3, 32, 32);
    sn_loader_options o = train_options();
    o.batch_size = 256;
    sn_loader *l = make_loader(&d, &o);
    cr_assert_eq(sn_loader_start_epoch(l, 0, 0), SN_OK);
    const sn_batch *b;
    /* a consumer that never pauses outruns the producer and waits */
    int batches = 0;
    while (sn_loader_next(l, &b) == SN_OK && b)
        batches++;
    cr_assert_eq(batches, 79);
    double waited = sn_loader_wait_seconds(l);
    cr_assert(waited > 0.0 && waited < 30.0, "waited %f s", waited);
    sn_loader_destroy(l);
    sn_dataset_free(&d);
}

Test(loader, invalid_use)
{
    sn_dataset d = make_dataset(10, 1, 4, 4);
    sn_loader_options o = train_options();
    sn_loader *l = NULL;
    o.batch_size = 0;
    cr_assert_eq(sn_loader_create(&l, &d, &o), SN_ERR_INVALID_ARG);
    cr_assert_null(l);
    o = train_options();
    o.prefetch = 9;
    cr_assert_eq(sn_loader_create(&l, &d, &o), SN_ERR_INVALID_ARG);
    o = train_options();
    o.batch_size = 11;
    o.drop_last = 1;
    cr_assert_eq(sn_loader_create(&l, &d, &o), SN_ERR_INVALID_ARG);
    o = train_options();
    l = make_loader(&d, &o);
    const sn_batch *b;
    cr_assert_eq(sn_loader_next(l, &b), SN_ERR_INVALID_ARG);
    cr_assert(strstr(sn_last_error(), "start_epoch"), "%s", sn_last_error());
    cr_assert_eq(sn_loader_start_epoch(l, 0, 2), SN_ERR_INVALID_ARG);
    cr_assert_eq(sn_loader_start_epoch(l, 0, 1), SN_OK);  /* at the end: empty */
    cr_assert_eq(sn_loader_next(l, &b), SN_OK);
    cr_assert_null(b);
    sn_loader_destroy(l);
    sn_dataset_free(&d);
}
