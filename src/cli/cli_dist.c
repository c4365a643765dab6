/* The CLI under mpirun: one communicator for the process, a device per
 * rank, the run's output from rank 0 only, and a failing rank ending the
 * whole job (the others would wait for it in a collective forever). */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

static sn_dist *the_dist;

sn_dist *cli_dist(void)
{
    return the_dist;
}

/* Commands that train one model across ranks (sharesnet-bench's
 * throughput suite among them); anything else started by mpirun on several
 * ranks would run N copies side by side. */
static int runs_distributed(const char *command)
{
    return !strcmp(command, "train") || !strcmp(command, "compare") ||
           !strcmp(command, "throughput");
}

int cli_dist_start(const char *command)
{
    const int size = sn_dist_launched_size();
    if (size <= 1)
        return 0;
    if (!runs_distributed(command)) {
        fprintf(stderr, "sharesnet: %s does not run on several ranks (mpirun -np %d): only "
                        "train, compare and sharesnet-bench throughput train data-parallel\n",
                command, size);
        return 2;
    }
    sn_status st = sn_dist_init(&the_dist);
    if (st != SN_OK)
        return cli_error("mpirun", st);
    /* One copy of the run's output: the other ranks print only errors. */
    if (sn_dist_rank(the_dist) != 0 && !freopen("/dev/null", "w", stdout)) {
        fprintf(stderr, "sharesnet: rank %d: cannot silence stdout\n", sn_dist_rank(the_dist));
        return 1;
    }
    return 0;
}

int cli_dist_end(int rc)
{
    if (!the_dist)
        return rc;
    if (rc != 0) {
        /* Whatever failed here may have failed here alone: the others must
         * not wait for this rank, so the whole job ends now. */
        fflush(stdout);
        fflush(stderr);
        sn_dist_abort(the_dist, rc);
    }
    sn_dist_finalize(the_dist);
    the_dist = NULL;
    return rc;
}

void cli_error_prefix(char *buf, size_t size)
{
    if (the_dist)
        snprintf(buf, size, "rank %d of %d: ", sn_dist_rank(the_dist), sn_dist_size(the_dist));
    else
        buf[0] = '\0';
}

/* --device A,B,... gives rank r of a host the (r mod n)-th selector; one
 * selector (or none) is every rank's. Without one, ranks of a host take the
 * GPUs found round-robin, or every device when there is no GPU. */
int cli_rank_device(const char *device, char *out, size_t size)
{
    const int local = sn_dist_local_rank(the_dist);
    if (!device || !*device)
        device = getenv("SN_DEVICE");
    if (device && *device) {
        int n = 1;
        for (const char *c = device; *c; c++)
            n += *c == ',';
        const char *item = device;
        for (int k = 0; k < local % n; k++)
            item = strchr(item, ',') + 1;
        size_t len = strcspn(item, ",");
        if (len == 0 || len >= size) {
            fprintf(stderr, "sharesnet: --device '%s' has an empty or too long entry\n", device);
            return 2;
        }
        memcpy(out, item, len);
        out[len] = '\0';
        return 0;
    }
    out[0] = '\0';
    if (!the_dist)
        return 0;
    sn_device_info *devices = NULL;
    int count = 0;
    sn_status st = sn_devices_list(&devices, &count);
    if (st != SN_OK)
        return cli_error("device", st);
    int gpus = 0;
    for (int i = 0; i < count; i++)
        gpus += devices[i].type == SN_DEVICE_GPU;
    int pick = -1, seen = 0;
    for (int i = 0; i < count && pick < 0; i++)
        if (!gpus || devices[i].type == SN_DEVICE_GPU)
            if (seen++ == local % (gpus ? gpus : count))
                pick = i;
    if (pick >= 0)
        snprintf(out, size, "%d:%d", devices[pick].platform_index, devices[pick].device_index);
    free(devices);
    return 0;
}
