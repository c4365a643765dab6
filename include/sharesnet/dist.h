/* sharesnet — data-parallel training over MPI.
 *
 * `mpirun -np N` starts N processes (ranks); each drives one device and
 * holds a replica of the model. sn_train with config->dist set splits every
 * optimizer step's micro-batches over the ranks, sums the gradients across
 * them (non-blocking all-reduce in buckets, overlapping backward) and takes
 * the same SGD step on every rank. N ranks x batch B x accum A train exactly
 * as one process with batch B and accum N*A, except for batch-norm running
 * statistics: each rank's follow its own micro-batches and are averaged
 * across ranks before every evaluation and checkpoint (as PyTorch DDP
 * without SyncBN, see docs/ARCHITECTURE.md).
 *
 * The library is built with MPI when meson finds it (-Dmpi=auto); without
 * it sn_dist_init fails with SN_ERR_UNSUPPORTED and everything else works
 * as in one process.
 */
#ifndef SHARESNET_DIST_H
#define SHARESNET_DIST_H

#include <stddef.h>

#include "sharesnet/error.h"
#include "sharesnet/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sn_dist sn_dist;

/* 1 when the library was built with MPI. */
SN_API int sn_dist_built(void);

/* The number of processes the environment says this one was started among
 * by mpirun (Open MPI, MPICH or a PMI launcher); 1 when not started by one.
 * Needs no MPI call, so a front end can decide whether to call
 * sn_dist_init. */
SN_API int sn_dist_launched_size(void);

/* Initialise MPI (once per process; MPI_THREAD_FUNNELED: only the calling
 * thread uses MPI) and a communicator over every rank of the job.
 * Errors: SN_ERR_UNSUPPORTED when built without MPI. */
SN_API sn_status sn_dist_init(sn_dist **out);

/* Finalise MPI (after the last collective call of every rank). NULL is
 * accepted. */
SN_API void sn_dist_finalize(sn_dist *dist);

/* End every rank of the job now with exit code `code` (MPI_Abort): for a
 * front end whose rank failed alone, so that the others do not wait for it
 * in a collective call forever. Does not return. */
SN_API void sn_dist_abort(sn_dist *dist, int code);

SN_API int sn_dist_rank(const sn_dist *dist);       /* 0 .. size-1 */
SN_API int sn_dist_size(const sn_dist *dist);
SN_API int sn_dist_local_rank(const sn_dist *dist); /* among the ranks of this host */
SN_API int sn_dist_local_size(const sn_dist *dist);

/* The all-reduce bucket of a model whose gradients take `gradient_bytes`
 * when none is asked for: a sixteenth of them, so that reduction starts
 * early in backward whatever the model's size, but at least 64 KiB and at
 * most 64 MiB (each bucket pays a message latency per ring phase). Measured
 * in bench/RESULTS.md. */
SN_API size_t sn_dist_default_bucket_bytes(size_t gradient_bytes);

/* ---- the gradient reducer: for a training loop of one's own ----
 *
 * sn_train uses it; a loop of one's own does the same per optimizer step:
 *
 *   for each of this rank's micro-batches k of the step:
 *       sn_model_set_batch, sn_model_forward(m, 1)
 *       if k is the last: sn_grad_reducer_arm(r)
 *       sn_model_backward(m, 1 / samples of the whole step on every rank, k > 0)
 *   sn_grad_reducer_finish(r)   (or sn_grad_reducer_zero(r) when this rank
 *                                had no micro-batch in the step)
 *   sn_model_sgd_step(m, ...)   the same step on every rank
 *
 * It sums the model's gradients across ranks bucket by bucket as backward
 * finishes them: a bucket is a contiguous range of the gradient arena,
 * final after the backward step that writes its last parameter for the
 * last time (a shared weight: its first use in the graph). While backward
 * is enqueued, each finished bucket gets a non-blocking read to a host
 * buffer; finish starts each bucket's MPI_Iallreduce as soon as its read
 * is done, so the reduction overlaps the rest of backward, then writes the
 * sums back. Every rank must make the same calls in the same order. */
typedef struct sn_grad_reducer sn_grad_reducer;

/* Collective (it times one all-reduce of the buckets). bucket_bytes 0:
 * sn_dist_default_bucket_bytes of the model's gradient arena. */
SN_API sn_status sn_grad_reducer_create(sn_dist *dist, sn_model *m, size_t bucket_bytes,
                                        sn_grad_reducer **out);
SN_API void sn_grad_reducer_free(sn_grad_reducer *r);
/* Before the backward of this rank's last micro-batch of the step. */
SN_API void sn_grad_reducer_arm(sn_grad_reducer *r);
/* After that backward: returns when the gradients hold the sum over ranks. */
SN_API sn_status sn_grad_reducer_finish(sn_grad_reducer *r);
/* Instead of arm + backward + finish on a rank with no micro-batch in the
 * step: it contributes zeros, and its gradients get the sum. */
SN_API sn_status sn_grad_reducer_zero(sn_grad_reducer *r);

/* Collective: rank 0's `size` bytes at `data` to every rank. */
SN_API sn_status sn_dist_broadcast(sn_dist *dist, void *data, size_t size);

#ifdef __cplusplus
}
#endif
#endif
