/* `sharesnet compile-kernels`: an offline program binary for one device. */
#include "cli/cli.h"

#include <string.h>

int cmd_compile_kernels(int argc, char **argv)
{
    cli_option opts[] = {
        {"device", 1, "device selector (P:D, gpu/cpu/accelerator, or a name part)", NULL},
        {"output", 1, "file to write (also -o FILE)", NULL},
    };
    /* Accept the short -o as an alias of --output. */
    for (int i = 2; i + 1 < argc; i++)
        if (!strcmp(argv[i], "-o"))
            argv[i] = "--output";
    cli_args args = {opts, 2, NULL, 0};
    int rc = cli_parse(argc, argv, 2,
                       "usage: sharesnet compile-kernels --device X -o FILE\n\n"
                       "Builds the kernel program for one device and writes its binary. Load it\n"
                       "later with SN_KERNEL_BINARY=FILE: no OpenCL C is compiled then (FPGAs,\n"
                       "locked-down deployments).",
                       &args);
    int n_pos = args.n_positional;
    cli_args_free(&args);
    if (rc)
        return rc == 1 ? 0 : rc;
    const char *out = cli_get(&args, "output");
    if (!out || n_pos) {
        fprintf(stderr, "sharesnet: compile-kernels needs -o FILE and takes no other arguments\n");
        return 2;
    }
    sn_status st = sn_compile_kernels(cli_get(&args, "device"), out);
    if (st != SN_OK)
        return cli_error("compile-kernels", st);
    sn_device_info d;
    sn_device_select(cli_get(&args, "device"), &d);
    printf("wrote %s for %s (%s)\n", out, d.name, d.platform);
    return 0;
}
