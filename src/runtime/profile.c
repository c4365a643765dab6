/* Kernel profile: the device time of every launch between sn_profile_start
 * and sn_profile_stop, summed per kernel name. Benchmarks use it to see
 * where a training step goes (`sharesnet bench profile`).
 *
 * Each launch gets an OpenCL event (sn_profile_slot); events are kept in a
 * list and read (CL_PROFILING_COMMAND_START / END) when the list is full or
 * the recording stops, so the queue is not drained on every launch. */
#include "runtime/runtime_internal.h"

#include <stdlib.h>
#include <string.h>

enum { SN_PROFILE_MAX_EVENTS = 4096, SN_PROFILE_MAX_NAMES = 256 };

typedef struct sn_profile {
    sn_kernel_time totals[SN_PROFILE_MAX_NAMES];
    int n_names;
    cl_event events[SN_PROFILE_MAX_EVENTS];
    int event_name[SN_PROFILE_MAX_EVENTS]; /* index into totals */
    int n_events;
    sn_status failure; /* first failure while recording; reported by stop */
    char failure_message[256];
} sn_profile;

static void release_events(sn_profile *p)
{
    for (int i = 0; i < p->n_events; i++)
        if (p->events[i])
            clReleaseEvent(p->events[i]);
    p->n_events = 0;
}

/* Wait for the queue, add the recorded events' device times to the totals. */
static sn_status fold_events(sn_context *ctx, sn_profile *p)
{
    SN_CL_TRY(clFinish(ctx->queue), "clFinish (kernel profile)");
    for (int i = 0; i < p->n_events; i++) {
        cl_ulong start = 0, end = 0;
        if (!p->events[i])
            continue; /* the enqueue failed and made no event */
        cl_int e1 = clGetEventProfilingInfo(p->events[i], CL_PROFILING_COMMAND_START,
                                            sizeof start, &start, NULL);
        cl_int e2 = clGetEventProfilingInfo(p->events[i], CL_PROFILING_COMMAND_END, sizeof end,
                                            &end, NULL);
        if (e1 != CL_SUCCESS || e2 != CL_SUCCESS) {
            release_events(p);
            return sn_cl_fail(e1 != CL_SUCCESS ? e1 : e2, "clGetEventProfilingInfo");
        }
        sn_kernel_time *t = &p->totals[p->event_name[i]];
        t->launches++;
        t->ms += end > start ? (double)(end - start) * 1e-6 : 0.0;
    }
    release_events(p);
    return SN_OK;
}

sn_status sn_profile_start(sn_context *ctx)
{
    cl_command_queue_properties qp = 0;
    SN_CL_TRY(clGetCommandQueueInfo(ctx->queue, CL_QUEUE_PROPERTIES, sizeof qp, &qp, NULL),
              "clGetCommandQueueInfo");
    if (!(qp & CL_QUEUE_PROFILING_ENABLE))
        return sn_fail(SN_ERR_INVALID_ARG,
                       "kernel profile: the context was created without profiling = 1");
    if (ctx->profile)
        return sn_fail(SN_ERR_INVALID_ARG, "kernel profile: already recording");
    ctx->profile = calloc(1, sizeof *ctx->profile);
    if (!ctx->profile)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "kernel profile: out of host memory");
    return SN_OK;
}

cl_event *sn_profile_slot(sn_context *ctx, const char *name)
{
    sn_profile *p = ctx->profile;
    if (!p || p->failure != SN_OK)
        return NULL;
    int k = 0;
    while (k < p->n_names && strcmp(p->totals[k].name, name))
        k++;
    if (k == p->n_names) {
        if (p->n_names == SN_PROFILE_MAX_NAMES) {
            p->failure = SN_ERR_INTERNAL;
            snprintf(p->failure_message, sizeof p->failure_message,
                     "kernel profile: more than %d kernel names", SN_PROFILE_MAX_NAMES);
            return NULL;
        }
        snprintf(p->totals[k].name, sizeof p->totals[k].name, "%s", name);
        p->n_names++;
    }
    sn_status st = p->n_events == SN_PROFILE_MAX_EVENTS ? fold_events(ctx, p) : SN_OK;
    if (st != SN_OK) {
        p->failure = st;
        snprintf(p->failure_message, sizeof p->failure_message, "%s", sn_last_error());
        return NULL;
    }
    p->event_name[p->n_events] = k;
    p->events[p->n_events] = NULL; /* stays NULL if the enqueue fails */
    return &p->events[p->n_events++];
}

static int by_time_desc(const void *a, const void *b)
{
    double x = ((const sn_kernel_time *)a)->ms, y = ((const sn_kernel_time *)b)->ms;
    return (x < y) - (x > y);
}

sn_status sn_profile_stop(sn_context *ctx, sn_kernel_time **out, int *count)
{
    *out = NULL;
    *count = 0;
    sn_profile *p = ctx->profile;
    if (!p)
        return sn_fail(SN_ERR_INVALID_ARG, "kernel profile: not recording");
    sn_status st = p->failure != SN_OK ? sn_fail(p->failure, "%s", p->failure_message)
                                        : fold_events(ctx, p);
    if (st == SN_OK && p->n_names > 0) {
        *out = malloc(sizeof **out * (size_t)p->n_names);
        if (!*out)
            st = sn_fail(SN_ERR_OUT_OF_MEMORY, "kernel profile: out of host memory");
        else {
            memcpy(*out, p->totals, sizeof **out * (size_t)p->n_names);
            qsort(*out, (size_t)p->n_names, sizeof **out, by_time_desc);
            *count = p->n_names;
        }
    }
    sn_profile_discard(ctx);
    return st;
}

void sn_profile_discard(sn_context *ctx)
{
    if (!ctx->profile)
        return;
    release_events(ctx->profile);
    free(ctx->profile);
    ctx->profile = NULL;
}
