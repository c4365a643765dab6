/* Data-parallel training in a library built without MPI: sn_dist_init
 * says so, and no sn_dist can exist, so the collectives are never reached. */
#include "dist/dist_internal.h"

#include <stdlib.h>

int sn_dist_built(void)
{
    return 0;
}

sn_status sn_dist_init(sn_dist **out)
{
    *out = NULL;
    return sn_fail(SN_ERR_UNSUPPORTED, "this sharesnet was built without MPI (install Open MPI, "
                   "e.g. libopenmpi-dev, and rebuild with meson -Dmpi=enabled)");
}

void sn_dist_finalize(sn_dist *d)
{
    (void)d;
}

void sn_dist_abort(sn_dist *d, int code)
{
    (void)d;
    exit(code);
}

int sn_dist_rank(const sn_dist *d)
{
    (void)d;
    return 0;
}

int sn_dist_size(const sn_dist *d)
{
    (void)d;
    return 1;
}

int sn_dist_local_rank(const sn_dist *d)
{
    (void)d;
    return 0;
}

int sn_dist_local_size(const sn_dist *d)
{
    (void)d;
    return 1;
}

static sn_status no_mpi(void)
{
    return sn_fail(SN_ERR_UNSUPPORTED, "this sharesnet was built without MPI");
}

sn_status sn_dist_broadcast(sn_dist *d, void *data, size_t size)
{
    (void)d, (void)data, (void)size;
    return no_mpi();
}

sn_status sn_dist_sum_doubles(sn_dist *d, double *values, int n)
{
    (void)d, (void)values, (void)n;
    return no_mpi();
}

sn_status sn_dist_mean_floats(sn_dist *d, float *values, size_t n)
{
    (void)d, (void)values, (void)n;
    return no_mpi();
}

sn_status sn_dist_check_fields(sn_dist *d, const char *what, const char *const *names,
                               const double *values, int n)
{
    (void)d, (void)what, (void)names, (void)values, (void)n;
    return no_mpi();
}

sn_status sn_dist_isum_floats(sn_dist *d, float *values, size_t n, sn_dist_request **out)
{
    (void)d, (void)values, (void)n, (void)out;
    return no_mpi();
}

sn_status sn_dist_test(sn_dist *d, sn_dist_request *r, int *done)
{
    (void)d, (void)r, (void)done;
    return no_mpi();
}

sn_status sn_dist_wait(sn_dist *d, sn_dist_request *r)
{
    (void)d, (void)r;
    return no_mpi();
}
