/* The batch loader: one background thread fills a small ring of batch slots
 * ahead of the consumer.
 *
 * Slots move FREE -> FILLING (producer, outside the lock) -> READY ->
 * HELD (consumer, until its next call) -> FREE. There are prefetch + 1 slots,
 * so `prefetch` batches can be ready while the consumer holds one. Batch k of
 * an epoch depends only on (options, seed, epoch, k), so restarting an epoch
 * anywhere or racing the threads cannot change what is served. */
#include "sharesnet/data.h"
#include "data_internal.h"
#include "augment.h"
#include "runtime/error_internal.h"

#include <pthread.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum slot_state { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_HELD };

typedef struct slot {
    enum slot_state state;
    sn_batch batch;
} slot;

struct sn_loader {
    const sn_dataset *data;
    sn_loader_options opts;
    int64_t considered;        /* first N examples of the dataset (max_examples) */
    int64_t served;            /* per epoch: considered less a dropped tail */
    int64_t batches;           /* per epoch, every shard's */
    int64_t local_batches;     /* per epoch, this shard's */
    size_t image_size;         /* channels * height * width */
    float mean[SN_DATA_MAX_CHANNELS], std[SN_DATA_MAX_CHANNELS];
    float lut[SN_DATA_MAX_CHANNELS][256];
    int64_t *order;            /* [considered]; written only while the producer is idle */

    slot *slots;
    int slot_count;

    pthread_t thread;
    int thread_started;
    pthread_mutex_t lock;
    pthread_cond_t producer_wake;  /* a slot was freed, work arrived, or quit */
    pthread_cond_t consumer_wake;  /* a slot became READY or stopped FILLING */

    /* Guarded by lock. */
    int quit;
    int have_epoch;
    int64_t epoch;
    int64_t next_to_fill;      /* producer's next batch, counted in this shard */
    int64_t next_to_serve;     /* consumer's next batch, counted in this shard */
    double wait_seconds;
};

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Batch `index` of epoch `epoch` into `b`; touches only b and read-only state. */
static void fill_batch(const sn_loader *l, sn_batch *b, int64_t epoch, int64_t index)
{
    const sn_dataset *d = l->data;
    int64_t first = index * l->opts.batch_size;
    int64_t left = l->served - first;
    int count = left < l->opts.batch_size ? (int)left : l->opts.batch_size;
    b->epoch = epoch;
    b->index = index;
    b->count = count;
    for (int j = 0; j < count; j++) {
        int64_t position = first + j;
        int64_t sample = l->order[position];
        sn_augment aug = sn_augment_draw(l->opts.seed, (uint64_t)epoch, position,
                                         l->opts.crop_padding, l->opts.flip);
        sn_augment_apply(b->images + (size_t)j * l->image_size,
                         d->images + (size_t)sample * l->image_size, d->channels,
                         d->height, d->width, (const float (*)[256])l->lut, aug);
        b->labels[j] = d->labels[sample];
        b->samples[j] = sample;
    }
}

/* The epoch's batch index of this shard's j-th batch. */
static int64_t shard_batch(const sn_loader *l, int64_t j)
{
    const int64_t count = l->opts.shard_count, block = l->opts.shard_block;
    return (j / block) * count * block + l->opts.shard_index * block + j % block;
}

static slot *find_slot(sn_loader *l, enum slot_state state)
{
    for (int i = 0; i < l->slot_count; i++)
        if (l->slots[i].state == state)
            return &l->slots[i];
    return NULL;
}

static void *producer_main(void *arg)
{
    sn_loader *l = arg;
    pthread_mutex_lock(&l->lock);
    while (!l->quit) {
        slot *s = NULL;
        if (l->have_epoch && l->next_to_fill < l->local_batches)
            s = find_slot(l, SLOT_FREE);
        if (!s) {
            pthread_cond_wait(&l->producer_wake, &l->lock);
            continue;
        }
        s->state = SLOT_FILLING;
        int64_t epoch = l->epoch, index = shard_batch(l, l->next_to_fill++);
        pthread_mutex_unlock(&l->lock);
        fill_batch(l, &s->batch, epoch, index);
        pthread_mutex_lock(&l->lock);
        s->state = SLOT_READY;  /* start_epoch frees it if the epoch changed */
        pthread_cond_broadcast(&l->consumer_wake);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

sn_loader_options sn_loader_options_default(void)
{
    sn_loader_options o;
    memset(&o, 0, sizeof o);
    o.batch_size = 128;
    o.shuffle = 1;
    o.normalization = SN_NORM_DATASET;
    o.crop_padding = 4;
    o.flip = 1;
    o.prefetch = 2;
    for (int c = 0; c < SN_DATA_MAX_CHANNELS; c++)
        o.std[c] = 1.0f;
    return o;
}

static sn_status check_options(const sn_dataset *d, const sn_loader_options *o)
{
    if (!d->images || !d->labels || d->count <= 0)
        return sn_fail(SN_ERR_INVALID_ARG, "loader: the dataset is empty");
    if (d->channels < 1 || d->channels > SN_DATA_MAX_CHANNELS)
        return sn_fail(SN_ERR_INVALID_ARG, "loader: %d channels (1..%d supported)",
                       d->channels, SN_DATA_MAX_CHANNELS);
    if (o->batch_size <= 0)
        return sn_fail(SN_ERR_INVALID_ARG, "loader: batch size %d", o->batch_size);
    if (o->prefetch != 0 && (o->prefetch < 2 || o->prefetch > 4))
        return sn_fail(SN_ERR_INVALID_ARG, "loader: prefetch depth %d (2..4)", o->prefetch);
    if (o->crop_padding < 0 || o->crop_padding > d->height || o->crop_padding > d->width)
        return sn_fail(SN_ERR_INVALID_ARG, "loader: crop padding %d for %dx%d images",
                       o->crop_padding, d->width, d->height);
    if (o->shard_count > 1 &&
        (o->shard_index < 0 || o->shard_index >= o->shard_count || o->shard_block < 1))
        return sn_fail(SN_ERR_INVALID_ARG, "loader: shard %d of %d in blocks of %d batches",
                       o->shard_index, o->shard_count, o->shard_block);
    if ((unsigned)o->normalization > SN_NORM_GIVEN)
        return sn_fail(SN_ERR_INVALID_ARG, "loader: unknown normalization %d",
                       (int)o->normalization);
    if (o->normalization == SN_NORM_GIVEN)
        return sn_data_check_normalization(SN_ERR_INVALID_ARG, "loader", d->channels, o->mean,
                                           o->std);
    return SN_OK;
}

sn_status sn_data_check_normalization(sn_status code, const char *what, int channels,
                                      const float *mean, const float *std)
{
    for (int c = 0; c < channels; c++)
        if (!isfinite(mean[c]) || !isfinite(std[c]) || !(std[c] > 0.0f))
            return sn_fail(code, "%s: normalisation of channel %d: mean %g, std %g (both must "
                           "be finite, std > 0)", what, c, mean[c], std[c]);
    return SN_OK;
}

static sn_status set_normalization(sn_loader *l)
{
    const sn_dataset *d = l->data;
    for (int c = 0; c < d->channels; c++) {
        l->mean[c] = 0.0f;
        l->std[c] = 1.0f;
    }
    if (l->opts.normalization == SN_NORM_GIVEN) {
        memcpy(l->mean, l->opts.mean, sizeof l->mean);
        memcpy(l->std, l->opts.std, sizeof l->std);
    } else if (l->opts.normalization == SN_NORM_DATASET) {
        SN_TRY(sn_dataset_channel_stats(d, l->considered, l->mean, l->std));
        for (int c = 0; c < d->channels; c++)
            if (!(l->std[c] > 1e-6f))
                l->std[c] = 1.0f;  /* a constant channel: centre it only */
    }
    for (int c = 0; c < d->channels; c++)
        for (int v = 0; v < 256; v++)
            l->lut[c][v] = (float)(((double)v / 255.0 - l->mean[c]) / l->std[c]);
    return SN_OK;
}

void sn_loader_destroy(sn_loader *l)
{
    if (!l)
        return;
    if (l->thread_started) {
        pthread_mutex_lock(&l->lock);
        l->quit = 1;
        pthread_cond_broadcast(&l->producer_wake);
        pthread_mutex_unlock(&l->lock);
        pthread_join(l->thread, NULL);
        pthread_cond_destroy(&l->consumer_wake);
        pthread_cond_destroy(&l->producer_wake);
        pthread_mutex_destroy(&l->lock);
    }
    if (l->slots)
        for (int i = 0; i < l->slot_count; i++) {
            free(l->slots[i].batch.images);
            free(l->slots[i].batch.labels);
            free(l->slots[i].batch.samples);
        }
    free(l->slots);
    free(l->order);
    free(l);
}

static sn_status allocate(sn_loader *l)
{
    const sn_dataset *d = l->data;
    int bs = l->opts.batch_size;
    l->order = malloc(sizeof(int64_t) * (size_t)l->considered);
    l->slots = calloc((size_t)l->slot_count, sizeof(slot));
    if (!l->order || !l->slots)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "loader: cannot allocate the epoch order");
    for (int i = 0; i < l->slot_count; i++) {
        sn_batch *b = &l->slots[i].batch;
        b->channels = d->channels;
        b->height = d->height;
        b->width = d->width;
        b->images = malloc(sizeof(float) * l->image_size * (size_t)bs);
        b->labels = malloc(sizeof(int32_t) * (size_t)bs);
        b->samples = malloc(sizeof(int64_t) * (size_t)bs);
        if (!b->images || !b->labels || !b->samples)
            return sn_fail(SN_ERR_OUT_OF_MEMORY, "loader: cannot allocate %d batches of %d "
                           "x %d x %d x %d floats", l->slot_count, bs, d->channels,
                           d->height, d->width);
    }
    return SN_OK;
}

static sn_status start_thread(sn_loader *l)
{
    if (pthread_mutex_init(&l->lock, NULL) != 0)
        return sn_fail(SN_ERR_INTERNAL, "loader: pthread_mutex_init failed");
    if (pthread_cond_init(&l->producer_wake, NULL) != 0) {
        pthread_mutex_destroy(&l->lock);
        return sn_fail(SN_ERR_INTERNAL, "loader: pthread_cond_init failed");
    }
    if (pthread_cond_init(&l->consumer_wake, NULL) != 0) {
        pthread_cond_destroy(&l->producer_wake);
        pthread_mutex_destroy(&l->lock);
        return sn_fail(SN_ERR_INTERNAL, "loader: pthread_cond_init failed");
    }
    if (pthread_create(&l->thread, NULL, producer_main, l) != 0) {
        pthread_cond_destroy(&l->consumer_wake);
        pthread_cond_destroy(&l->producer_wake);
        pthread_mutex_destroy(&l->lock);
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "loader: cannot start the loader thread");
    }
    l->thread_started = 1;
    return SN_OK;
}

sn_status sn_loader_create(sn_loader **out, const sn_dataset *data,
                           const sn_loader_options *opts)
{
    if (!out || !data || !opts)
        return sn_fail(SN_ERR_INVALID_ARG, "sn_loader_create: NULL argument");
    *out = NULL;
    SN_TRY(check_options(data, opts));
    sn_loader *l = calloc(1, sizeof *l);
    if (!l)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "loader: cannot allocate");
    l->data = data;
    l->opts = *opts;
    if (l->opts.prefetch == 0)
        l->opts.prefetch = 2;
    l->considered = data->count;
    if (opts->max_examples > 0 && opts->max_examples < l->considered)
        l->considered = opts->max_examples;
    int64_t bs = opts->batch_size;
    l->batches = opts->drop_last ? l->considered / bs : (l->considered + bs - 1) / bs;
    /* With drop_last the tail of each epoch's order is not served: which
     * examples miss out changes from epoch to epoch. */
    l->served = opts->drop_last ? l->batches * bs : l->considered;
    if (l->opts.shard_count <= 1) {
        l->opts.shard_count = l->opts.shard_block = 1;
        l->opts.shard_index = 0;
    }
    l->local_batches = 0;
    while (shard_batch(l, l->local_batches) < l->batches)
        l->local_batches++;
    l->image_size = (size_t)data->channels * data->height * data->width;
    l->slot_count = l->opts.prefetch + 1;

    sn_status status = SN_OK;
    if (l->batches == 0)
        status = sn_fail(SN_ERR_INVALID_ARG, "loader: %lld examples make no batch of %d "
                         "with drop_last", (long long)data->count, opts->batch_size);
    if (status == SN_OK)
        status = set_normalization(l);
    if (status == SN_OK)
        status = allocate(l);
    if (status == SN_OK)
        status = start_thread(l);
    if (status != SN_OK) {
        sn_loader_destroy(l);
        return status;
    }
    *out = l;
    return SN_OK;
}

sn_status sn_loader_start_epoch(sn_loader *l, int64_t epoch, int64_t first_batch)
{
    if (!l)
        return sn_fail(SN_ERR_INVALID_ARG, "sn_loader_start_epoch: NULL loader");
    if (epoch < 0 || first_batch < 0 || first_batch > l->local_batches)
        return sn_fail(SN_ERR_INVALID_ARG, "loader: cannot start epoch %lld at batch %lld "
                       "(%lld batches per epoch)", (long long)epoch, (long long)first_batch,
                       (long long)l->local_batches);
    pthread_mutex_lock(&l->lock);
    /* Stop the producer: no new fill starts, a fill in progress is awaited
     * (it reads the epoch order we are about to rewrite). */
    l->have_epoch = 0;
    while (find_slot(l, SLOT_FILLING))
        pthread_cond_wait(&l->consumer_wake, &l->lock);
    for (int i = 0; i < l->slot_count; i++)
        l->slots[i].state = SLOT_FREE;
    sn_data_epoch_order(l->order, l->considered, l->opts.seed, (uint64_t)epoch,
                        l->opts.shuffle);
    l->epoch = epoch;
    l->next_to_fill = first_batch;
    l->next_to_serve = first_batch;
    l->have_epoch = 1;
    pthread_cond_broadcast(&l->producer_wake);
    pthread_mutex_unlock(&l->lock);
    return SN_OK;
}

sn_status sn_loader_next(sn_loader *l, const sn_batch **batch)
{
    if (!l || !batch)
        return sn_fail(SN_ERR_INVALID_ARG, "sn_loader_next: NULL argument");
    *batch = NULL;
    pthread_mutex_lock(&l->lock);
    slot *held = find_slot(l, SLOT_HELD);
    if (held) {
        held->state = SLOT_FREE;
        pthread_cond_signal(&l->producer_wake);
    }
    if (!l->have_epoch) {
        pthread_mutex_unlock(&l->lock);
        return sn_fail(SN_ERR_INVALID_ARG, "loader: sn_loader_next before "
                       "sn_loader_start_epoch");
    }
    if (l->next_to_serve >= l->local_batches) {
        pthread_mutex_unlock(&l->lock);
        return SN_OK;  /* end of epoch */
    }
    slot *ready = NULL;
    double wait_start = 0.0;
    for (;;) {
        for (int i = 0; i < l->slot_count && !ready; i++)
            if (l->slots[i].state == SLOT_READY &&
                l->slots[i].batch.index == shard_batch(l, l->next_to_serve))
                ready = &l->slots[i];
        if (ready)
            break;
        if (wait_start == 0.0)
            wait_start = now_seconds();
        pthread_cond_wait(&l->consumer_wake, &l->lock);
    }
    if (wait_start != 0.0)
        l->wait_seconds += now_seconds() - wait_start;
    ready->state = SLOT_HELD;
    l->next_to_serve++;
    *batch = &ready->batch;
    pthread_mutex_unlock(&l->lock);
    return SN_OK;
}

int64_t sn_loader_batches_per_epoch(const sn_loader *l)
{
    return l ? l->local_batches : 0;
}

int64_t sn_loader_examples_per_epoch(const sn_loader *l)
{
    return l ? l->served : 0;
}

double sn_loader_wait_seconds(const sn_loader *l)
{
    if (!l)
        return 0.0;
    sn_loader *mutable_l = (sn_loader *)l;  /* the lock is not part of the value */
    pthread_mutex_lock(&mutable_l->lock);
    double seconds = l->wait_seconds;
    pthread_mutex_unlock(&mutable_l->lock);
    return seconds;
}

void sn_loader_normalization(const sn_loader *l, float *mean, float *std)
{
    if (!l)
        return;
    for (int c = 0; c < l->data->channels; c++) {
        if (mean)
            mean[c] = l->mean[c];
        if (std)
            std[c] = l->std[c];
    }
}
