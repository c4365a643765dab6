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

/* ---- the gradient reducer (grad_reducer.c; its API is in sharesnet/dist.h) ---- */

typedef struct sn_grad_reducer_stats {
    size_t bytes;        /* all-reduced per step: the parameters, gaps included */
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
} sn_grad_reducer_stats;

void sn_grad_reducer_stats_get(const sn_grad_reducer *r, sn_grad_reducer_stats *out);

#endif
