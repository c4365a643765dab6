/* Summing the gradient arena across ranks while backward still runs
 * (Horovod's tensor fusion, on the parameter arena).
 *
 *   sn_grad_reducer_arm     before the last micro-batch's backward is enqueued
 *   (backward hook)    after each backward step: a bucket whose parameters
 *                      are all final gets a non-blocking read to the host
 *   sn_grad_reducer_finish  each bucket's MPI_Iallreduce starts as soon as its
 *                      read completes, while the device runs the rest of
 *                      backward; then the sums go back in one write
 *
 * Open MPI progresses non-blocking collectives only inside MPI calls, so
 * the wait loop tests them while it polls the reads' events. */
#include "dist/dist_internal.h"
#include "model/model_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct bucket {
    size_t begin, end;        /* floats of the arena */
    int ready_step;           /* backward step after which it is final */
    cl_event read;            /* its read to the host, once enqueued */
    sn_dist_request *request; /* its all-reduce, once started */
    int started, done;
    double start_time, done_time;
} bucket;

struct sn_grad_reducer {
    sn_dist *dist;
    sn_model *model;
    float *host;   /* [floats]: the fusion buffer, laid out as the arena */
    size_t floats;
    bucket *buckets; /* in the order backward finishes them */
    int n_buckets;
    int armed;
    sn_grad_reducer_stats stats;
};

static sn_status measure_alone(sn_grad_reducer *r);

/* Bucket boundaries: walking the arena from its end (the parameters
 * backward finishes first), a bucket closes once it holds bucket_bytes. */
static sn_status plan_buckets(sn_grad_reducer *r, size_t bucket_bytes)
{
    const sn_model *m = r->model;
    const sn_graph *g = &m->graph;
    int n = g->n_params;
    /* parameters by decreasing offset */
    int *order = malloc(sizeof(int) * (size_t)n + 1);
    r->buckets = calloc((size_t)n + 1, sizeof *r->buckets);
    if (!order || !r->buckets) {
        free(order);
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "dist: out of host memory");
    }
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = 1; i < n; i++) /* insertion sort: the arena is nearly in order */
        for (int j = i; j > 0 && m->param_offset[order[j]] > m->param_offset[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    size_t end = r->floats;
    bucket *b = NULL;
    for (int k = 0; k < n; k++) {
        int p = order[k];
        if (!b) {
            b = &r->buckets[r->n_buckets++];
            b->end = end;
            b->ready_step = -1;
        }
        b->begin = m->param_offset[p];
        if (m->steps.param_last_step[p] > b->ready_step)
            b->ready_step = m->steps.param_last_step[p];
        if ((b->end - b->begin) * sizeof(float) >= bucket_bytes || k == n - 1) {
            end = b->begin;
            b = NULL;
        }
    }
    free(order);
    r->buckets[r->n_buckets - 1].begin = 0; /* any leading gap */
    /* Reductions start in the order backward finishes the buckets. */
    for (int i = 1; i < r->n_buckets; i++)
        for (int j = i; j > 0 && r->buckets[j].ready_step < r->buckets[j - 1].ready_step; j--) {
            bucket t = r->buckets[j];
            r->buckets[j] = r->buckets[j - 1];
            r->buckets[j - 1] = t;
        }
    r->stats.buckets = r->n_buckets;
    r->stats.bytes = sizeof(float) * r->floats;
    return SN_OK;
}

sn_status sn_grad_reducer_create(sn_dist *d, sn_model *m, size_t bucket_bytes, sn_grad_reducer **out)
{
    *out = NULL;
    if (bucket_bytes == 0)
        bucket_bytes = sn_dist_default_bucket_bytes(sizeof(float) * m->arena[1].count);
    sn_grad_reducer *r = calloc(1, sizeof *r);
    if (!r)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "dist: out of host memory");
    r->dist = d;
    r->model = m;
    r->floats = m->arena[1].count;
    r->host = calloc(r->floats ? r->floats : 1, sizeof(float));
    sn_status st = r->host ? plan_buckets(r, bucket_bytes)
                           : sn_fail(SN_ERR_OUT_OF_MEMORY, "dist: cannot allocate the %zu-byte "
                                     "gradient fusion buffer", sizeof(float) * r->floats);
    if (st == SN_OK)
        st = measure_alone(r);
    if (st != SN_OK) {
        sn_grad_reducer_free(r);
        return st;
    }
    *out = r;
    return SN_OK;
}

static void release_events(sn_grad_reducer *r)
{
    for (int i = 0; i < r->n_buckets; i++)
        if (r->buckets[i].read) {
            clReleaseEvent(r->buckets[i].read);
            r->buckets[i].read = NULL;
        }
}

void sn_grad_reducer_free(sn_grad_reducer *r)
{
    if (!r)
        return;
    if (r->model && r->model->backward_hook_user == r)
        r->model->backward_hook = NULL;
    release_events(r);
    /* An error between arm and finish leaves reductions in flight: wait
     * for them (the peers take part in them anyway), their buffer is ours. */
    for (int i = 0; i < r->n_buckets; i++)
        if (r->buckets[i].request)
            sn_dist_wait(r->dist, r->buckets[i].request);
    free(r->buckets);
    free(r->host);
    free(r);
}

/* The backward hook: read every bucket that `step` completed. */
static sn_status step_done(void *user, int step)
{
    sn_grad_reducer *r = user;
    sn_context *ctx = r->model->ctx;
    for (int i = 0; i < r->n_buckets; i++) {
        bucket *b = &r->buckets[i];
        if (b->ready_step != step)
            continue;
        cl_int err = clEnqueueReadBuffer(ctx->queue, (cl_mem)r->model->arena[1].buffer, CL_FALSE,
                                         sizeof(float) * b->begin,
                                         sizeof(float) * (b->end - b->begin), r->host + b->begin,
                                         0, NULL, &b->read);
        if (err != CL_SUCCESS)
            return sn_fail(SN_ERR_OPENCL, "dist: reading gradient bucket %d (%zu bytes): %s", i,
                           sizeof(float) * (b->end - b->begin), sn_cl_error_name(err));
    }
    /* Let the device start on what is enqueued while the host goes on. */
    clFlush(ctx->queue);
    return SN_OK;
}

void sn_grad_reducer_arm(sn_grad_reducer *r)
{
    for (int i = 0; i < r->n_buckets; i++) {
        r->buckets[i].started = r->buckets[i].done = 0;
        r->buckets[i].request = NULL;
    }
    r->model->backward_hook = step_done;
    r->model->backward_hook_user = r;
    r->armed = 1;
}

/* Sleep between polls, 20 us after something happened, doubling to 1 ms
 * while nothing does: on a CPU device the host thread shares the cores
 * with the kernels it waits for, and tight polling slowed them. */
static void nap(long *us)
{
    struct timespec t = {0, *us * 1000};
    nanosleep(&t, NULL);
    *us = *us < 1000 ? 2 * *us : 1000;
}

/* Progress the started reductions; *all_done when every bucket is summed;
 * *nap_us back to its shortest when one finished. */
static sn_status progress(sn_grad_reducer *r, int *all_done, long *nap_us)
{
    *all_done = 1;
    for (int i = 0; i < r->n_buckets; i++) {
        bucket *b = &r->buckets[i];
        if (b->started && !b->done) {
            SN_TRY(sn_dist_test(r->dist, b->request, &b->done));
            if (b->done) {
                b->request = NULL;
                b->done_time = sn_now();
                *nap_us = 20;
            }
        }
        *all_done &= b->done;
    }
    return SN_OK;
}

static sn_status start(sn_grad_reducer *r, bucket *b)
{
    b->started = 1;
    b->start_time = sn_now();
    return sn_dist_isum_floats(r->dist, r->host + b->begin, b->end - b->begin, &b->request);
}

/* Wait for every reduction, then write the sums to the arena. */
static sn_status complete(sn_grad_reducer *r, double backward_end)
{
    long nap_us = 20;
    for (int all_done = 0;;) {
        SN_TRY(progress(r, &all_done, &nap_us));
        if (all_done)
            break;
        nap(&nap_us);
    }
    double end = sn_now();
    for (int i = 0; i < r->n_buckets; i++) {
        const bucket *b = &r->buckets[i];
        r->stats.reduce_seconds += b->done_time - b->start_time;
        if (b->start_time < backward_end)
            r->stats.hidden_seconds +=
                (b->done_time < backward_end ? b->done_time : backward_end) - b->start_time;
    }
    r->stats.wait_seconds += end - backward_end;
    r->stats.steps++;
    cl_int err = clEnqueueWriteBuffer(r->model->ctx->queue, (cl_mem)r->model->arena[1].buffer,
                                      CL_TRUE, 0, sizeof(float) * r->floats, r->host, 0, NULL,
                                      NULL);
    if (err != CL_SUCCESS)
        return sn_fail(SN_ERR_OPENCL, "dist: writing the summed gradients (%zu bytes): %s",
                       sizeof(float) * r->floats, sn_cl_error_name(err));
    return SN_OK;
}

sn_status sn_grad_reducer_finish(sn_grad_reducer *r)
{
    r->model->backward_hook = NULL;
    if (!r->armed)
        return sn_fail(SN_ERR_INTERNAL, "dist: gradient reduction finished without a backward");
    r->armed = 0;
    sn_status st = SN_OK;
    long nap_us = 20;
    /* Start each bucket's reduction when its read is done, in order: every
     * rank starts them in the same order, as MPI requires. */
    for (int next = 0; next < r->n_buckets && st == SN_OK;) {
        bucket *b = &r->buckets[next];
        if (!b->read) {
            st = sn_fail(SN_ERR_INTERNAL, "dist: gradient bucket %d was never read", next);
            break;
        }
        cl_int status = CL_QUEUED;
        cl_int err = clGetEventInfo(b->read, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status,
                                    &status, NULL);
        if (err != CL_SUCCESS || status < 0) {
            st = sn_fail(SN_ERR_OPENCL, "dist: backward failed before gradient bucket %d was "
                         "read: %s", next, sn_cl_error_name(err != CL_SUCCESS ? err : status));
            break;
        }
        if (status == CL_COMPLETE) {
            st = start(r, b);
            next++;
            nap_us = 20;
            continue;
        }
        int all_done;
        st = progress(r, &all_done, &nap_us);
        nap(&nap_us);
    }
    double backward_end = sn_now();
    release_events(r);
    if (st != SN_OK)
        return st;
    return complete(r, backward_end);
}

sn_status sn_grad_reducer_zero(sn_grad_reducer *r)
{
    r->model->backward_hook = NULL;
    r->armed = 0;
    memset(r->host, 0, sizeof(float) * r->floats);
    double t = sn_now();
    for (int i = 0; i < r->n_buckets; i++) {
        r->buckets[i].done = 0;
        SN_TRY(start(r, &r->buckets[i]));
    }
    return complete(r, t);
}

/* The transfer cost alone: every bucket's all-reduce after a barrier,
 * nothing else running; the best of three. Collective. */
static sn_status measure_alone(sn_grad_reducer *r)
{
    double best = INFINITY;
    for (int rep = 0; rep < 3; rep++) {
        double sync = 0;
        SN_TRY(sn_dist_sum_doubles(r->dist, &sync, 1));
        double t = sn_now();
        for (int i = 0; i < r->n_buckets; i++) {
            bucket *b = &r->buckets[i];
            SN_TRY(sn_dist_isum_floats(r->dist, r->host + b->begin, b->end - b->begin,
                                       &b->request));
        }
        for (int i = 0; i < r->n_buckets; i++) {
            sn_status st = sn_dist_wait(r->dist, r->buckets[i].request);
            r->buckets[i].request = NULL;
            SN_TRY(st);
        }
        best = fmin(best, sn_now() - t);
    }
    r->stats.alone_seconds = best;
    return SN_OK;
}

void sn_grad_reducer_stats_get(const sn_grad_reducer *r, sn_grad_reducer_stats *out)
{
    *out = r->stats;
}
