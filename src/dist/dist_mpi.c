/* The collectives of data-parallel training on MPI. Only the thread that
 * called sn_dist_init calls MPI (MPI_THREAD_FUNNELED): the loader threads
 * never do. Every MPI error is returned (MPI_ERRORS_RETURN), named. */
#include "dist/dist_internal.h"

#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct sn_dist {
    MPI_Comm comm;
    int rank, size, local_rank, local_size;
    int we_initialised; /* 1: MPI_Finalize is ours to call */
};

struct sn_dist_request {
    MPI_Request request;
};

int sn_dist_built(void)
{
    return 1;
}

static sn_status mpi_fail(int err, const char *what)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error %d", err);
    return sn_fail(SN_ERR_INTERNAL, "%s: %s", what, text);
}

#define MPI_TRY(call, what)                   \
    do {                                      \
        int mpi_err_ = (call);                \
        if (mpi_err_ != MPI_SUCCESS)          \
            return mpi_fail(mpi_err_, (what)); \
    } while (0)

sn_status sn_dist_init(sn_dist **out)
{
    *out = NULL;
    int initialised = 0, provided = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return sn_fail(SN_ERR_INTERNAL, "MPI_Init_thread failed");
    } else {
        MPI_Query_thread(&provided);
    }
    if (provided < MPI_THREAD_FUNNELED)
        return sn_fail(SN_ERR_UNSUPPORTED, "this MPI provides thread level %d; sharesnet needs "
                       "MPI_THREAD_FUNNELED (its loader threads run beside the MPI thread)",
                       provided);
    sn_dist *d = calloc(1, sizeof *d);
    if (!d)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "dist: out of host memory");
    d->we_initialised = !initialised;
    /* Our own communicator, returning errors instead of aborting, so that
     * a failure carries a message to the rank's front end. */
    MPI_Comm local;
    if (MPI_Comm_dup(MPI_COMM_WORLD, &d->comm) != MPI_SUCCESS ||
        MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN) != MPI_SUCCESS ||
        MPI_Comm_rank(d->comm, &d->rank) != MPI_SUCCESS ||
        MPI_Comm_size(d->comm, &d->size) != MPI_SUCCESS ||
        MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &local) !=
            MPI_SUCCESS) {
        free(d);
        return sn_fail(SN_ERR_INTERNAL, "dist: cannot set up the MPI communicator");
    }
    MPI_Comm_rank(local, &d->local_rank);
    MPI_Comm_size(local, &d->local_size);
    MPI_Comm_free(&local);
    *out = d;
    return SN_OK;
}

void sn_dist_finalize(sn_dist *d)
{
    if (!d)
        return;
    MPI_Comm_free(&d->comm);
    if (d->we_initialised)
        MPI_Finalize();
    free(d);
}

void sn_dist_abort(sn_dist *d, int code)
{
    (void)d;
    MPI_Abort(MPI_COMM_WORLD, code);
    exit(code); /* MPI_Abort does not return; this says so to the compiler */
}

int sn_dist_rank(const sn_dist *d)
{
    return d ? d->rank : 0;
}

int sn_dist_size(const sn_dist *d)
{
    return d ? d->size : 1;
}

int sn_dist_local_rank(const sn_dist *d)
{
    return d ? d->local_rank : 0;
}

int sn_dist_local_size(const sn_dist *d)
{
    return d ? d->local_size : 1;
}

sn_status sn_dist_broadcast(sn_dist *d, void *data, size_t size)
{
    /* MPI counts are ints: large buffers go in pieces. */
    for (size_t done = 0; done < size;) {
        size_t n = size - done < (size_t)1 << 30 ? size - done : (size_t)1 << 30;
        MPI_TRY(MPI_Bcast((char *)data + done, (int)n, MPI_BYTE, 0, d->comm), "dist: broadcast");
        done += n;
    }
    return SN_OK;
}

sn_status sn_dist_sum_doubles(sn_dist *d, double *values, int n)
{
    MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_SUM, d->comm),
            "dist: all-reduce of metrics");
    return SN_OK;
}

sn_status sn_dist_mean_floats(sn_dist *d, float *values, size_t n)
{
    for (size_t done = 0; done < n;) {
        size_t k = n - done < (size_t)1 << 28 ? n - done : (size_t)1 << 28;
        MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, values + done, (int)k, MPI_FLOAT, MPI_SUM, d->comm),
                "dist: all-reduce of running statistics");
        done += k;
    }
    const float scale = 1.0f / (float)d->size;
    for (size_t i = 0; i < n; i++)
        values[i] *= scale;
    return SN_OK;
}

sn_status sn_dist_check_fields(sn_dist *d, const char *what, const char *const *names,
                               const double *values, int n)
{
    double *all = malloc(sizeof(double) * (size_t)n * (size_t)d->size + 1);
    if (!all)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "dist: out of host memory checking %s", what);
    int err = MPI_Allgather(values, n, MPI_DOUBLE, all, n, MPI_DOUBLE, d->comm);
    if (err != MPI_SUCCESS) {
        free(all);
        return mpi_fail(err, "dist: agreement check");
    }
    sn_status st = SN_OK;
    for (int r = 1; r < d->size && st == SN_OK; r++)
        for (int i = 0; i < n; i++) {
            double mine = all[(size_t)r * (size_t)n + (size_t)i], first = all[i];
            /* memcmp, not ==: NaN must equal NaN here */
            if (memcmp(&mine, &first, sizeof mine) != 0) {
                st = sn_fail(SN_ERR_INVALID_ARG, "ranks disagree on %s: %s is %.17g on rank 0 "
                             "but %.17g on rank %d (every rank must run the same command)",
                             what, names[i], first, mine, r);
                break;
            }
        }
    free(all);
    return st;
}

sn_status sn_dist_isum_floats(sn_dist *d, float *values, size_t n, sn_dist_request **out)
{
    if (n > INT32_MAX)
        return sn_fail(SN_ERR_INVALID_ARG, "dist: a bucket of %zu floats is too large", n);
    sn_dist_request *r = malloc(sizeof *r);
    if (!r)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "dist: out of host memory");
    int err = MPI_Iallreduce(MPI_IN_PLACE, values, (int)n, MPI_FLOAT, MPI_SUM, d->comm,
                             &r->request);
    if (err != MPI_SUCCESS) {
        free(r);
        return mpi_fail(err, "dist: all-reduce of gradients");
    }
    *out = r;
    return SN_OK;
}

sn_status sn_dist_test(sn_dist *d, sn_dist_request *r, int *done)
{
    (void)d;
    int flag = 0;
    int err = MPI_Test(&r->request, &flag, MPI_STATUS_IGNORE);
    if (err != MPI_SUCCESS)
        return mpi_fail(err, "dist: all-reduce of gradients");
    *done = flag;
    if (flag)
        free(r);
    return SN_OK;
}

sn_status sn_dist_wait(sn_dist *d, sn_dist_request *r)
{
    (void)d;
    int err = MPI_Wait(&r->request, MPI_STATUS_IGNORE);
    free(r);
    if (err != MPI_SUCCESS)
        return mpi_fail(err, "dist: all-reduce of gradients");
    return SN_OK;
}
