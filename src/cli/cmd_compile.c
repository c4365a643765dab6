/* `sharesnet compile-kernels`: the kernel program of one device for
 * devices that cannot compile at run time (FPGAs): an offline binary built
 * here, the source for a vendor's offline compiler, or a vendor's binary
 * wrapped into our format (size, checksum and device key recorded). */
#include "cli/cli.h"

#include <string.h>

int cmd_compile_kernels(int argc, char **argv)
{
    cli_option opts[] = {
        {"device", 1, "device selector (P:D, gpu/cpu/accelerator, or a name part)", NULL},
        {"output", 1, "file to write (also -o FILE)", NULL},
        {"emit-source", 0, "write the OpenCL C program (build options defined) instead", NULL},
        {"wrap", 1, "wrap this binary from a vendor's offline compiler instead", NULL},
    };
    /* Accept the short -o as an alias of --output. */
    for (int i = 2; i + 1 < argc; i++)
        if (!strcmp(argv[i], "-o"))
            argv[i] = "--output";
    cli_args args = {opts, 4, NULL, 0};
    int rc = cli_parse(
        argc, argv, 2,
        "usage: sharesnet compile-kernels --device X -o FILE\n"
        "       sharesnet compile-kernels --device X --emit-source -o FILE.cl\n"
        "       sharesnet compile-kernels --device X --wrap VENDOR_BINARY -o FILE\n\n"
        "Builds the kernel program for one device and writes its binary. Load it\n"
        "later with SN_KERNEL_BINARY=FILE: no OpenCL C is compiled then, and every op\n"
        "(GEMM included) runs from this program (FPGAs, locked-down deployments).\n"
        "The file carries a header (format version, device key, payload size) and a\n"
        "checksum: a truncated, corrupt or foreign file is refused before the driver\n"
        "sees it.\n\n"
        "For a device whose vendor compiles offline (FPGAs): --emit-source writes the\n"
        "program with this device's build options defined, for the vendor's compiler;\n"
        "--wrap then records the vendor's binary with the device key, its size and\n"
        "checksum, as a file SN_KERNEL_BINARY accepts.",
        &args);
    int n_pos = args.n_positional;
    cli_args_free(&args);
    if (rc)
        return rc == 1 ? 0 : rc;
    const char *out = cli_get(&args, "output"), *wrap = cli_get(&args, "wrap");
    const int source = cli_get(&args, "emit-source") != NULL;
    if (!out || n_pos) {
        fprintf(stderr, "sharesnet: compile-kernels needs -o FILE and takes no other arguments\n");
        return 2;
    }
    if (source && wrap) {
        fprintf(stderr, "sharesnet: compile-kernels takes --emit-source or --wrap, not both\n");
        return 2;
    }
    const char *device = cli_get(&args, "device");
    sn_status st = source ? sn_kernel_source_write(device, out)
                   : wrap ? sn_wrap_kernels(device, wrap, out)
                          : sn_compile_kernels(device, out);
    if (st != SN_OK)
        return cli_error("compile-kernels", st);
    sn_device_info d;
    sn_device_select(device, &d);
    printf("wrote %s%s for %s (%s)\n", out,
           source ? " (OpenCL C source)" : wrap ? " (wrapped vendor binary)" : "", d.name,
           d.platform);
    return 0;
}
