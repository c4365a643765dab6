/* sharesnet — command-line entry point: dispatches to the sub-commands. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/suggest.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"devices", cmd_devices, "list every OpenCL platform and device"},
    {"selftest", cmd_selftest, "build the kernels on a device and check them against the host"},
    {"compile-kernels", cmd_compile_kernels, "write the kernel program binary of a device"},
    {"info", cmd_info, "layers, parameters and memory of a model, or the whole zoo"},
    {"train", cmd_train, "train a model on a dataset (checkpoints, log, resume)"},
    {"compare", cmd_compare, "train several models with one recipe and compare them"},
    {"eval", cmd_eval, "test a checkpoint on a dataset"},
    {"predict", cmd_predict, "top-k classes of PNG images under a checkpoint"},
    {"export", cmd_export, "a checkpoint as ONNX or PyTorch-named safetensors"},
    {"import", cmd_import, "PyTorch (torchvision/timm, pytorchcv) weights into a checkpoint"},
    {"bench", cmd_bench, "benchmarks: tradeoff, throughput, peer (PyTorch), ops"},
    {"tune", cmd_tune, "time conv algorithms on a model's shapes, keep the fastest"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: sharesnet COMMAND [options]   (sharesnet COMMAND --help for details)\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-16s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nGlobal options (before or after COMMAND):\n"
                 "  --version              print the version and exit\n"
                 "  --no-runtime-compile   never compile OpenCL C at run time, as on an FPGA: the\n"
                 "                         kernels come from SN_KERNEL_BINARY or the cache, and\n"
                 "                         CLBlast is not used (same as SN_NO_RUNTIME_COMPILE=1)\n"
                 "\nEnvironment: SN_DEVICE (device selector), SN_CACHE_DIR, SN_CACHE=0, "
                 "SN_KERNEL_BINARY, SN_NO_RUNTIME_COMPILE=1\n");
}

/* Remove the global options from argv (every command's contexts read them
 * from the environment); returns the new argc. */
static int take_global_options(int argc, char **argv)
{
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && !strcmp(argv[i], "--no-runtime-compile")) {
            setenv("SN_NO_RUNTIME_COMPILE", "1", 1);
            continue;
        }
        argv[n++] = argv[i];
    }
    argv[n] = NULL;
    return n;
}

int main(int argc, char **argv)
{
    argc = take_global_options(argc, argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V") || !strcmp(argv[1], "version")) {
        printf("sharesnet %s\n", SN_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            int rc = cli_dist_start(argv[1]);
            if (rc)
                return rc;
            return cli_dist_end(commands[i].run(argc, argv));
        }
    const char *names[sizeof commands / sizeof commands[0] + 1];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        names[i] = commands[i].name;
    names[sizeof commands / sizeof commands[0]] = NULL;
    const char *near = sn_suggest(argv[1], names);
    if (near)
        fprintf(stderr, "sharesnet: unknown command '%s'; did you mean '%s'?\n\n", argv[1], near);
    else
        fprintf(stderr, "sharesnet: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
