/* `sharesnet info`: the layer table and parameter accounting of a model, or
 * one line per model of the zoo. */
#include "cli/cli.h"

#include <string.h>

static const char usage[] =
    "usage: sharesnet info MODEL [--classes N] [--in-ch C] [--size S] [--policy P] [--batch B]\n"
    "       sharesnet info --all [--classes N] [--in-ch C] [--size S]\n\n"
    "Prints the layers with output shapes, parameters per stage (specific and shared, with\n"
    "the uses of each shared weight), totals, the saving against the plain model and the\n"
    "memory of a training step. --all prints one line per model of the zoo.";

/* Parameters of g's unshared twin. */
static long long unshared_count(const sn_graph *g, const sn_graph_options *o)
{
    sn_graph_options plain = *o;
    plain.policy = SN_SHARE_NONE;
    sn_graph *p;
    if (sn_graph_build(g->model, &plain, &p) != SN_OK)
        return -1;
    long long n = sn_graph_param_count(p);
    sn_graph_free(p);
    return n;
}

static int info_all(const sn_graph_options *o)
{
    printf("%-16s %-24s %6s %12s %12s %8s %7s  %s\n", "model", "family", "policy", "parameters",
           "unshared", "saving", "uses", "closest plain (parameters)");
    for (const char *const *name = sn_graph_zoo_names(); *name; name++) {
        sn_graph *g;
        sn_status st = sn_graph_build(*name, o, &g);
        if (st != SN_OK) {
            printf("%-16s (not buildable with these options: %s)\n", *name, sn_last_error());
            continue;
        }
        long long count = sn_graph_param_count(g), plain = unshared_count(g, o);
        int uses = 0;
        for (int i = 0; i < g->n_params; i++)
            if (g->params[i].uses > 1)
                uses += g->params[i].uses;
        char closest[64] = "-";
        long long closest_count = 0;
        if (g->policy != SN_SHARE_NONE &&
            sn_graph_closest_plain(g, closest, sizeof closest, &closest_count) == SN_OK) {
            size_t len = strlen(closest);
            snprintf(closest + len, sizeof closest - len, " (%.2fM)", closest_count / 1e6);
        }
        printf("%-16s %-24s %6s %11.2fM %11.2fM %7.1f%% %7d  %s\n", g->model, g->family,
               sn_share_policy_name(g->policy), count / 1e6, plain / 1e6,
               plain > 0 ? 100.0 * (double)(plain - count) / (double)plain : 0.0, uses, closest);
        sn_graph_free(g);
    }
    return 0;
}

int cmd_info(int argc, char **argv)
{
    cli_option opts[] = {
        {"all", 0, "one line per model of the zoo", NULL},
        CLI_GRAPH_OPTIONS,
        {"batch", 1, "batch size for the memory estimate (default 128)", NULL},
    };
    cli_args args = {opts, sizeof opts / sizeof opts[0], NULL, 0};
    int rc = cli_parse_positional(argc, argv, 2, usage, 1, &args);
    int n_pos = args.n_positional;
    const char *name = n_pos ? args.positional[0] : NULL;
    cli_args_free(&args);
    if (rc)
        return rc == 1 ? 0 : rc;
    sn_graph_options o;
    long batch;
    if (!cli_graph_options(&args, &o) || !cli_int(&args, "batch", 128, &batch))
        return 2;
    if (cli_get(&args, "all"))
        return info_all(&o);
    if (n_pos != 1 || batch <= 0) {
        fprintf(stderr, "sharesnet: info needs one MODEL (or --all) and a positive --batch\n");
        return 2;
    }
    sn_graph *g;
    sn_status st = sn_graph_build(name, &o, &g);
    if (st != SN_OK)
        return cli_error("info", st);
    st = sn_graph_describe(g, (int)batch, stdout);
    sn_graph_free(g);
    return st == SN_OK ? 0 : cli_error("info", st);
}
