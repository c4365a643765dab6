/* `sharesnet-bench allreduce`: what data-parallel training moves per step,
 * from the models themselves, and a ring all-reduce model of its cost on a
 * cluster.
 *
 * Each model is instantiated (batch 1) on the device, so the bytes are
 * those of its gradient arena, exactly what every rank all-reduces per step
 * (parameters plus the alignment gaps between them; a shared weight once).
 * The cost model is the bandwidth-optimal ring (Patarasuk and Yuan 2009;
 * NCCL's and Horovod's default):
 *
 *   T(p) = 2 (p - 1) / p * S / B  +  2 (p - 1) * a
 *
 * S bytes per rank, p nodes, B the link's bandwidth, a the latency of one
 * message; each of the 2 (p - 1) phases sends S / p bytes. With buckets the
 * latency term is paid once per bucket. */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sharesnet-bench allreduce [--models M,...] [--nodes P,...] [--gbps G]\n"
    "                                 [--latency-us A] [--bucket-kib K] [--device D]\n\n"
    "Bytes every rank all-reduces per step (the gradient arena of each model, built on the\n"
    "device) and the ring all-reduce time T(p) = 2(p-1)/p * S/B + 2(p-1) * a * buckets for\n"
    "p nodes on a link of G Gbit/s with message latency A; and the compute time per step\n"
    "above which the all-reduce costs under 10% even without any overlap (9 T).";

#define MAX_MODELS 16
#define MAX_NODES 8

int bench_allreduce_main(int argc, char **argv)
{
    cli_option opts[] = {
        {"models", 1, "models (default resnet20,sharesnet20,resnet50,sharesnet50,resnet152,"
                      "sharesnet152)", NULL},
        {"nodes", 1, "node counts (default 2,8,64)", NULL},
        {"gbps", 1, "link bandwidth in Gbit/s (default 25: 25 GbE)", NULL},
        {"latency-us", 1, "latency of one message in microseconds (default 25, TCP)", NULL},
        {"bucket-kib", 1, "all-reduce bucket in KiB, as train --bucket-kib (default: train's, "
                          "1/16 of the gradients, 64 KiB to 64 MiB)", NULL},
        {"device", 1, "device to build the models on (default: the default device)", NULL},
    };
    cli_args args = {opts, sizeof opts / sizeof opts[0], NULL, 0};
    int rc = cli_parse(argc, argv, 1, usage, &args);
    cli_args_free(&args);
    if (rc)
        return rc == 1 ? 0 : rc;
    char models_text[1024];
    snprintf(models_text, sizeof models_text, "%s",
             cli_get(&args, "models") ? cli_get(&args, "models")
                                      : "resnet20,sharesnet20,resnet50,sharesnet50,resnet152,"
                                        "sharesnet152");
    char *models[MAX_MODELS];
    int n_models = bench_split(models_text, models, MAX_MODELS);
    int nodes[MAX_NODES], n_nodes = 0;
    if (n_models <= 0 ||
        !bench_int_list("nodes", cli_get(&args, "nodes") ? cli_get(&args, "nodes") : "2,8,64",
                        nodes, MAX_NODES, &n_nodes))
        return 2;
    double gbps, latency_us, bucket_kib;
    if (!cli_double(&args, "gbps", 25, &gbps) || !cli_double(&args, "latency-us", 25, &latency_us) ||
        !cli_double(&args, "bucket-kib", 0, &bucket_kib))
        return 2;
    if (!(gbps > 0) || !(latency_us >= 0) || !(bucket_kib >= 0)) {
        fprintf(stderr, "sharesnet-bench: --gbps and --bucket-kib must be positive, "
                        "--latency-us >= 0\n");
        return 2;
    }
    sn_context *ctx = NULL;
    if (cli_open_context_untimed(cli_get(&args, "device"), &ctx))
        return 1;
    const double bandwidth = gbps * 1e9 / 8; /* bytes per second */
    printf("ring all-reduce on %g Gbit/s, %g us per message, buckets of ", gbps, latency_us);
    if (bucket_kib > 0)
        printf("%g KiB\n\n", bucket_kib);
    else
        printf("1/16 of the gradients (64 KiB to 64 MiB, train's default)\n\n");
    printf("| model | parameters | all-reduced per step | buckets |");
    for (int k = 0; k < n_nodes; k++)
        printf(" T(%d) | 9 T(%d) |", nodes[k], nodes[k]);
    printf("\n|---|---:|---:|---:|");
    for (int k = 0; k < n_nodes; k++)
        printf("---:|---:|");
    printf("\n");
    for (int i = 0; i < n_models && !rc; i++) {
        sn_graph *g = NULL;
        sn_model *m = NULL;
        sn_graph_options o;
        sn_graph_options_default(&o);
        sn_status st = sn_graph_build(models[i], &o, &g);
        if (st == SN_OK)
            st = sn_model_create(ctx, g, 1, 1, &m);
        if (st != SN_OK) {
            rc = cli_error(models[i], st);
            sn_graph_free(g);
            break;
        }
        sn_model_memory mem;
        sn_model_memory_usage(m, &mem);
        const double bytes = (double)(mem.grads + mem.param_padding);
        const double bucket = bucket_kib > 0 ? bucket_kib * 1024
                                             : (double)sn_dist_default_bucket_bytes((size_t)bytes);
        const double buckets = ceil(bytes / bucket);
        char params[32], size[32];
        cli_format_bytes(size, sizeof size, bytes);
        printf("| %s | %s | %s | %.0f |", g->model,
               bench_grouped(params, sizeof params, sn_graph_param_count(g)), size, buckets);
        for (int k = 0; k < n_nodes; k++) {
            const double p = nodes[k];
            const double t = 2 * (p - 1) / p * bytes / bandwidth +
                             2 * (p - 1) * latency_us * 1e-6 * buckets;
            printf(" %.1f ms | %.0f ms |", 1e3 * t, 9e3 * t);
        }
        printf("\n");
        sn_model_free(m);
        sn_graph_free(g);
    }
    sn_context_free(ctx);
    return rc;
}
