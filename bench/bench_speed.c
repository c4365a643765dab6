/* Warm train-step and inference speed of a model through the public model
 * API. Each timed run is bracketed by sn_context_finish() so the wall clock
 * covers exactly that step's work (host enqueue cost and the batch upload
 * included); warm-up runs first absorb kernel compilation, CLBlast's
 * in-process kernel cache and first-touch allocations. */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

typedef struct step_data {
    float *images;
    int32_t *labels;
    int n;
} step_data;

/* One step; under mpirun (reducer set) a train step sums the gradients
 * across ranks as sn_train does. */
static sn_status run_step(sn_model *m, const step_data *d, int train, const sn_sgd_options *sgd,
                          sn_grad_reducer *reducer)
{
    sn_status st = sn_model_set_batch(m, d->images, d->labels, d->n);
    if (st == SN_OK)
        st = sn_model_forward(m, train);
    if (st == SN_OK && train && reducer)
        sn_grad_reducer_arm(reducer);
    if (st == SN_OK && train)
        st = sn_model_backward(m, 1.0f / (float)d->n, 0);
    if (st == SN_OK && train && reducer)
        st = sn_grad_reducer_finish(reducer);
    if (st == SN_OK && train)
        st = sn_model_sgd_step(m, sgd);
    return st;
}

static sn_status time_mode(sn_context *ctx, sn_model *m, const step_data *d, int train,
                           const sn_sgd_options *sgd, sn_grad_reducer *reducer, int warmup,
                           int reps, bench_timing *t)
{
    double *s = malloc((size_t)reps * sizeof *s);
    if (!s)
        return SN_ERR_OUT_OF_MEMORY;
    sn_status st = SN_OK;
    for (int i = 0; i < warmup && st == SN_OK; i++)
        st = run_step(m, d, train, sgd, reducer);
    if (st == SN_OK)
        st = sn_context_finish(ctx);
    for (int i = 0; i < reps && st == SN_OK; i++) {
        double start = sn_now_seconds();
        st = run_step(m, d, train, sgd, reducer);
        if (st == SN_OK)
            st = sn_context_finish(ctx);
        s[i] = sn_now_seconds() - start;
    }
    if (st == SN_OK) {
        t->median_s = bench_median(s, reps);
        t->min_s = s[0];
        t->max_s = s[reps - 1];
        t->reps = reps;
    }
    free(s);
    return st;
}

sn_status bench_model_speed(sn_context *ctx, sn_model *m, int batch, int modes, int warmup,
                            int reps, const sn_sgd_options *sgd, bench_speed *out)
{
    memset(out, 0, sizeof *out);
    out->batch = batch;
    const sn_graph *g = sn_model_graph(m);
    if (reps < 1 || warmup < 0 || batch < 1 || batch > sn_model_batch_capacity(m))
        return SN_ERR_INVALID_ARG;
    size_t per = (size_t)g->in_channels * (size_t)g->size * (size_t)g->size;
    step_data d = {malloc((size_t)batch * per * sizeof(float)),
                   malloc((size_t)batch * sizeof(int32_t)), batch};
    sn_status st = SN_OK;
    if (!d.images || !d.labels)
        st = SN_ERR_OUT_OF_MEMORY;
    if (st == SN_OK) {
        /* Uniform [-1, 1): normalised-image range, no denormals. */
        unsigned long long x = 0x9e3779b97f4a7c15ULL;
        for (size_t i = 0; i < (size_t)batch * per; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            d.images[i] = (float)((double)(x >> 11) / 9007199254740992.0 * 2.0 - 1.0);
        }
        for (int i = 0; i < batch; i++)
            d.labels[i] = i % g->classes;
        sn_context_reset_peak(ctx);
    }
    sn_grad_reducer *reducer = NULL;
    if (st == SN_OK && (modes & BENCH_TRAIN) && cli_dist())
        st = sn_grad_reducer_create(cli_dist(), m, 0, &reducer);
    if (st == SN_OK && (modes & BENCH_TRAIN))
        st = time_mode(ctx, m, &d, 1, sgd, reducer, warmup, reps, &out->train);
    if (st == SN_OK && (modes & BENCH_INFER))
        st = time_mode(ctx, m, &d, 0, sgd, NULL, warmup, reps, &out->infer);
    sn_grad_reducer_free(reducer);
    const int ranks = sn_dist_size(cli_dist()); /* every rank steps at once */
    if (st == SN_OK) {
        sn_mem_stats mem;
        sn_context_mem_stats(ctx, &mem);
        out->peak_device_bytes = mem.peak;
        out->train_img_s =
            out->train.reps && out->train.median_s > 0 ? ranks * batch / out->train.median_s : 0;
        out->infer_img_s =
            out->infer.reps && out->infer.median_s > 0 ? ranks * batch / out->infer.median_s : 0;
    }
    free(d.images);
    free(d.labels);
    return st;
}
