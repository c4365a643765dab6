/* How busy the machine was while speed figures were taken. On a shared
 * machine one model can look 3x faster than another only because the other
 * ran while something else did, so every img/s we print comes with the load
 * average before the run and the CPU time this process got. */
#include "cli/cli.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

static double cpu_seconds(void)
{
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u) != 0)
        return 0;
    return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec +
           (double)u.ru_stime.tv_sec + 1e-6 * (double)u.ru_stime.tv_usec;
}

void cli_load_begin(cli_load *l)
{
    double avg[1] = {-1};
    l->load_before = getloadavg(avg, 1) == 1 ? avg[0] : -1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    l->cores = cores > 0 ? (int)cores : 1;
    l->wall0 = sn_now_seconds();
    l->cpu0 = cpu_seconds();
}

int cli_load_note(const cli_load *l, char *buf, size_t size)
{
    double wall = sn_now_seconds() - l->wall0;
    double used = wall > 0 ? (cpu_seconds() - l->cpu0) / wall : 0;
    /* Other work: a load before we started, or CPUs we wanted but did not get
     * (POCL runs a thread per core). */
    int busy = l->load_before >= 0.5 || used < 0.75 * l->cores;
    snprintf(buf, size, "load average %.2f on %d CPUs before the run; this process used %.2f "
             "CPUs%s", l->load_before, l->cores, used,
             busy ? ": other work was running, speed figures are lower than on a quiet machine"
                  : "");
    return busy;
}

void cli_load_now(char *buf, size_t size)
{
    double avg[1] = {-1};
    if (getloadavg(avg, 1) == 1)
        snprintf(buf, size, "load %.2f", avg[0]);
    else
        snprintf(buf, size, "load n/a");
}
