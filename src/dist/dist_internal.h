/* The collective operations the trainer uses (dist_mpi.c with MPI,
 * dist_none.c without), and the gradient reducer built on them. */
#ifndef SN_DIST_INTERNAL_H
#define SN_DIST_INTERNAL_H

#include "runtime/runtime_internal.h"
#include "sharesnet/dist.h"
#include "sharesnet/model.h"

/* ---- collectives (every rank calls each one, in the same order) ---- */

sn_status sn_dist_sum_doubles(sn_dist *d, double *values, int n);
/* Element-wise mean across ranks, in place. */
sn_status sn_dist_mean_floats(sn_dist *d, float *values, size_t n);

/* Fails on every rank alike unless every rank passed the same values: the
 * message names `what`, the field (names[i]) and the first rank that
 * differs from rank 0, with both values. */
sn_status sn_dist_check_fields(sn_dist *d, const char *what, const char *const *names,
                               const double *values, int n);

/* A non-blocking in-place sum of floats across ranks. */
typedef struct sn_dist_request sn_dist_request;
sn_status sn_dist_isum_floats(sn_dist *d, float *values, size_t n, sn_dist_request **out);
/* 1 when done (the request is then freed), 0 when not yet; progresses
 * every outstanding operation. */
sn_status sn_dist_test(sn_dist *d, sn_dist_request *r, int *done);
sn_status sn_dist_wait(sn_dist *d, sn_dist_request *r);

/* ---- the gradient reducer (grad_reducer.c) ----
 *
 * Sums the model's gradient arena across ranks, bucket by bucket as
 * backward finishes them. A bucket is a contiguous range of the arena
 * (parameters in graph order, the gaps between them zero); it is ready
 * after the backward step that writes the last of its parameters for the
 * last time (a shared weight: its first use in the graph). While backward
 * is enqueued, each ready bucket gets a non-blocking read to a host fusion
 * buffer; sn_reducer_finish then starts each bucket's all-reduce as soon as
 * its read completes (so reduction overlaps the rest of backward on the
 * device), writes the sums back and returns when the arena holds them. */
typedef struct sn_reducer sn_reducer;

typedef struct sn_reducer_stats {
    size_t bytes;        /* all-reduced per step: the parameters, gaps included */
    size_t param_bytes;  /* of which parameters (4 x the parameter count) */
    int buckets;
    double alone_seconds;   /* one all-reduce of every bucket with no backward
                               running, measured at creation (the transfer cost) */
    /* Summed over steps: */
    double reduce_seconds;  /* each bucket's all-reduce, from its start until it
                               was seen done (waiting for slower ranks included) */
    double hidden_seconds;  /* of reduce_seconds, before this rank's backward ended */
    double wait_seconds;    /* from the end of backward until the sums were ready:
                               what the step lost to communication and peers */
    int64_t steps;
} sn_reducer_stats;

/* bucket_bytes 0: sn_dist_default_bucket_bytes. */
sn_status sn_reducer_create(sn_dist *d, sn_model *m, size_t bucket_bytes, sn_reducer **out);
void sn_reducer_free(sn_reducer *r);
/* The backward of this rank's last micro-batch of the step is about to be
 * enqueued: the model calls sn_reducer_step_done after each of its steps. */
void sn_reducer_arm(sn_reducer *r);
/* This rank had no micro-batch in the step: its contribution is zero. */
sn_status sn_reducer_zero(sn_reducer *r);
sn_status sn_reducer_finish(sn_reducer *r);
void sn_reducer_stats_get(const sn_reducer *r, sn_reducer_stats *out);

#endif
