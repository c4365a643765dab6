/* What needs no MPI: whether mpirun started this process, read from the
 * environment each launcher sets, so that a front end decides before any
 * MPI call (MPI_Init in a process not started by mpirun costs time and,
 * with some MPIs, fails); the default all-reduce bucket. */
#include "sharesnet/dist.h"

#include <stdlib.h>

size_t sn_dist_default_bucket_bytes(size_t gradient_bytes)
{
    const size_t low = (size_t)64 << 10, high = (size_t)64 << 20;
    size_t b = gradient_bytes / 16;
    return b < low ? low : b > high ? high : b;
}

int sn_dist_launched_size(void)
{
    /* Open MPI, then MPICH / Hydra and other PMI launchers. */
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE",
                                       "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            long n = strtol(v, NULL, 10);
            if (n >= 1 && n < 1 << 24)
                return (int)n;
        }
    }
    return 1;
}
