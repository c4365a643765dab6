/* `sharesnet devices`: every OpenCL platform and device, as a table. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

static void print_bytes(char *buf, size_t size, unsigned long long b)
{
    if (b >= (1ull << 30))
        snprintf(buf, size, "%.1f GiB", (double)b / (double)(1ull << 30));
    else if (b >= (1ull << 20))
        snprintf(buf, size, "%.1f MiB", (double)b / (double)(1ull << 20));
    else
        snprintf(buf, size, "%.0f KiB", (double)b / 1024.0);
}

int cmd_devices(int argc, char **argv)
{
    cli_args args = {0};
    int rc = cli_parse(argc, argv, 2, "usage: sharesnet devices\n\nLists every OpenCL device; "
                                      "select one with --device P:D, a type or a name part.",
                       &args);
    cli_args_free(&args);
    if (rc)
        return rc == 1 ? 0 : rc;
    sn_device_info *devices;
    int n;
    sn_status st = sn_devices_list(&devices, &n);
    if (st != SN_OK)
        return cli_error("devices", st);
    sn_device_info chosen;
    int have_default = sn_device_select(NULL, &chosen) == SN_OK;
    printf("%-4s %-24s %-36s %-11s %3s %6s %10s %9s %6s %-5s %-5s %-14s %s\n", "P:D", "platform",
           "device", "type", "CUs", "MHz", "global", "local", "maxWG", "fp16", "fp64", "OpenCL C",
           "driver");
    for (int i = 0; i < n; i++) {
        const sn_device_info *d = &devices[i];
        char sel[16], global[32], local[32];
        snprintf(sel, sizeof sel, "%d:%d", d->platform_index, d->device_index);
        print_bytes(global, sizeof global, d->global_mem_bytes);
        print_bytes(local, sizeof local, d->local_mem_bytes);
        const char *cver = d->c_version;
        if (!strncmp(cver, "OpenCL C ", 9))
            cver += 9;
        int is_default = have_default && chosen.platform_index == d->platform_index &&
                         chosen.device_index == d->device_index;
        printf("%-4s %-24.24s %-36.36s %-11s %3u %6u %10s %9s %6zu %-5s %-5s %-14.14s %s%s\n", sel,
               d->platform, d->name, sn_device_type_name(d->type), d->compute_units, d->clock_mhz,
               global, local, d->max_work_group_size, d->fp16 ? "yes" : "no",
               d->fp64 ? "yes" : "no", cver, d->driver_version, is_default ? "  (default)" : "");
    }
    free(devices);
    return 0;
}
