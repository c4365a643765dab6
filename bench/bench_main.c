/* sharesnet-bench: the benchmark suite (see bench.h and bench/README.md);
 * `sharesnet bench ...` runs this program.
 *
 *   sharesnet-bench tradeoff   [options]   plain vs ShaResNet vs equal-parameter plain
 *   sharesnet-bench throughput [options]   warm img/s per device, model and batch (JSON)
 *   sharesnet-bench peer       [options]   the same, next to PyTorch on the CPU
 *   sharesnet-bench ops        [options]   per-op timings (= sharesnet-bench-ops)
 *   sharesnet-bench profile    [options]   device time per kernel of a warm step
 *   sharesnet-bench allreduce  [options]   bytes all-reduced per step, ring cost model */
#include "bench.h"

#include <string.h>

typedef struct bench_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} bench_command;

static const bench_command commands[] = {
    {"tradeoff", bench_tradeoff_main,
     "train plain, ShaResNet and equal-parameter plain models over seeds: table, CSV, chart"},
    {"throughput", bench_throughput_main,
     "warm train / inference img/s of models at batch sizes on every device (JSON)"},
    {"peer", bench_peer_main, "our img/s next to PyTorch's on the CPU for the same models"},
    {"ops", bench_ops_main, "median time and GFLOP/s of the conv2d passes (sharesnet-bench-ops)"},
    {"profile", bench_profile_main,
     "device time per kernel and kind of op of a warm train step or inference pass"},
    {"allreduce", bench_allreduce_main,
     "bytes each rank all-reduces per step (from the models) and a ring cost model"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: sharesnet-bench SUITE [options]   (or sharesnet bench SUITE ...; "
                 "SUITE --help for details)\n\n"
                 "Every figure is warm (compilation and first steps excluded), the median of several\n"
                 "repetitions, and printed with the machine and device it came from.\n\nSuites:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            /* Under mpirun: throughput measures data-parallel training. */
            int rc = cli_dist_start(argv[1]);
            if (rc)
                return rc;
            return cli_dist_end(commands[i].run(argc - 1, argv + 1));
        }
    fprintf(stderr, "sharesnet-bench: unknown suite '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
