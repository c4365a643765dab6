/* sn_graph_describe: the `sharesnet info` table — a summary (sharing, counts,
 * closest plain model, compute, memory) and one row per layer. */
#include "graph_internal.h"
#include "runtime/error_internal.h"

#include <stdlib.h>
#include <string.h>

/* 1234567 -> "1,234,567" */
static const char *grouped(char buf[32], long long v)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%lld", v < 0 ? -v : v);
    int o = 0;
    if (v < 0)
        buf[o++] = '-';
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

static const char *paper_rule(const sn_graph *g)
{
    if (strcmp(g->family, "imagenet-basic") == 0)
        return "second 3x3 of every block";
    if (strcmp(g->family, "imagenet-bottleneck") == 0)
        return "3x3 of every block whose 3x3 has stride 1";
    if (strcmp(g->family, "cifar-preact-bottleneck") == 0)
        return "middle 3x3 of every block but the first";
    return "second 3x3 of every block but the first";
}

static void print_sharing(const sn_graph *g, FILE *out)
{
    int shared = 0, uses = 0;
    for (int p = 0; p < g->n_params; p++)
        if (g->params[p].uses > 1) {
            shared++;
            uses += g->params[p].uses;
        }
    const char *rule = g->policy == SN_SHARE_PAPER ? paper_rule(g)
                     : g->policy == SN_SHARE_STAGE ? "every stride-1 3x3 with in = out channels"
                     : "no weight shared";
    fprintf(out, "sharing      %s: %s", sn_share_policy_name(g->policy), rule);
    if (g->policy != SN_SHARE_NONE)
        fprintf(out, ", one weight per stage (%d shared tensors, %d uses)", shared, uses);
    fprintf(out, "\n");
}

/* Parameter counts of g, its unshared twin and the closest plain model. */
static sn_status print_counts(const sn_graph *g, FILE *out)
{
    char a[32], b[32];
    long long count = sn_graph_param_count(g);
    fprintf(out, "parameters   %s", grouped(a, count));
    if (g->policy != SN_SHARE_NONE) {
        sn_graph_options o;
        sn_graph_options_default(&o);
        o.classes = g->classes;
        o.in_channels = g->in_channels;
        o.size = g->size;
        o.policy = SN_SHARE_NONE;
        o.shortcut = g->shortcut ? g->shortcut : 'A';
        o.small_stem = g->small_stem;
        sn_graph *plain;
        SN_TRY(sn_graph_build(g->model, &o, &plain));
        long long plain_count = sn_graph_param_count(plain);
        sn_graph_free(plain);
        fprintf(out, " (unshared: %s, %+.1f%%)", grouped(b, plain_count),
                100.0 * (double)(count - plain_count) / (double)plain_count);
    }
    fprintf(out, "\n");

    char closest[64];
    long long closest_count;
    SN_TRY(sn_graph_closest_plain(g, closest, sizeof closest, &closest_count));
    fprintf(out, "closest      plain %s with %s parameters\n", closest, grouped(a, closest_count));
    return SN_OK;
}

static void print_memory(const sn_graph *g, int batch, FILE *out)
{
    long long act_floats = 0;
    for (int a = 0; a < g->n_acts; a++)
        act_floats += (long long)g->acts[a].c * g->acts[a].h * g->acts[a].w;
    double mib = 1024.0 * 1024.0;
    fprintf(out, "memory       batch %d: parameters + gradients + momentum %.1f MiB, "
                 "activations %.1f MiB (fp32, all kept for backward)\n",
            batch, 3.0 * 4.0 * (double)sn_graph_param_count(g) / mib,
            4.0 * (double)act_floats * batch / mib);
}

/* "3/1/1" for windows, "s2" for shortcut A, "" otherwise. */
static void window_text(const sn_layer_spec *l, char *buf, size_t size)
{
    buf[0] = '\0';
    if (l->op == SN_OP_CONV || l->op == SN_OP_MAXPOOL)
        snprintf(buf, size, "%d/%d/%d", l->kernel, l->stride, l->pad);
    else if (l->op == SN_OP_SHORTCUT_A)
        snprintf(buf, size, "s%d", l->stride);
}

static void print_layers(const sn_graph *g, FILE *out, int *seen_uses)
{
    fprintf(out, "\n%5s  %-30s %-10s %-13s %-6s %11s %8s  %s\n", "#", "layer", "op",
            "output", "k/s/p", "params", "MMAC", "weight");
    for (int i = 0; i < g->n_layers; i++) {
        const sn_layer_spec *l = &g->layers[i];
        const sn_act_shape *y = &g->acts[l->out];
        char shape[32], window[16], params[32] = "", macs[16] = "", weight[128] = "";
        snprintf(shape, sizeof shape, "%dx%dx%d", y->c, y->h, y->w);
        window_text(l, window, sizeof window);

        /* a parameter's count shows at its first use only, so the column sums up */
        long long new_params = 0;
        int refs[2] = { l->weight, l->bias };
        for (int r = 0; r < 2; r++)
            if (refs[r] >= 0 && seen_uses[refs[r]]++ == 0)
                new_params += g->params[refs[r]].count;
        if (new_params)
            grouped(params, new_params);
        else if (l->weight >= 0)
            snprintf(params, sizeof params, "(shared)");

        if (l->op == SN_OP_CONV || l->op == SN_OP_LINEAR) {
            const sn_param_spec *w = &g->params[l->weight];
            double m = (double)y->c * y->h * y->w * (double)(w->count / w->shape[0]) / 1e6;
            snprintf(macs, sizeof macs, "%.2f", m);
            if (w->uses > 1)
                snprintf(weight, sizeof weight, "%s (use %d/%d)", w->name,
                         seen_uses[l->weight], w->uses);
            else
                snprintf(weight, sizeof weight, "%s", w->name);
        }
        char row[512];
        int n = snprintf(row, sizeof row, "%5d  %-30s %-10s %-13s %-6s %11s %8s  %s", i, l->name,
                         sn_op_name(l->op), shape, window, params, macs, weight);
        if (n > (int)sizeof row - 1)
            n = (int)sizeof row - 1;
        while (n > 0 && row[n - 1] == ' ')
            row[--n] = '\0';
        fprintf(out, "%s\n", row);
    }
}

sn_status sn_graph_describe(const sn_graph *g, int batch, FILE *out)
{
    if (!g || !out)
        return sn_fail(SN_ERR_INVALID_ARG, "sn_graph_describe: NULL graph or stream");
    if (batch < 1)
        return sn_fail(SN_ERR_INVALID_ARG, "sn_graph_describe: batch %d must be positive", batch);

    char a[32];
    fprintf(out, "model        %s: %s, depth %d", g->model, g->family, g->depth);
    if (strcmp(g->family, "cifar-wrn") == 0)
        fprintf(out, ", widening %d", g->widen);
    if (g->shortcut)
        fprintf(out, ", shortcut %c", g->shortcut);
    if (g->small_stem >= 0)
        fprintf(out, ", %s stem", g->small_stem ? "3x3/1" : "7x7/2 + max pool");
    fprintf(out, "\ninput        %dx%dx%d -> %d classes\n", g->in_channels, g->size, g->size,
            g->classes);
    print_sharing(g, out);
    SN_TRY(print_counts(g, out));
    fprintf(out, "compute      %.2f MMAC per sample, forward\n", (double)sn_graph_macs(g) / 1e6);
    print_memory(g, batch, out);

    int *seen_uses = calloc((size_t)g->n_params + 1, sizeof(int));
    if (!seen_uses)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "sn_graph_describe: out of host memory");
    print_layers(g, out, seen_uses);
    free(seen_uses);

    fprintf(out, "\nk/s/p = kernel/stride/pad; a shared weight's parameters count at its first use\n");
    fprintf(out, "total        %d layers, %d activations, %d parameter tensors, %s parameters\n",
            g->n_layers, g->n_acts, g->n_params, grouped(a, sn_graph_param_count(g)));
    if (ferror(out))
        return sn_fail(SN_ERR_IO, "sn_graph_describe: writing the table failed");
    return SN_OK;
}
