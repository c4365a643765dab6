/* Graph core: options, building a model by name, freeing, counting,
 * looking up layers and parameters. */
#include "graph_internal.h"
#include "runtime/error_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Limits that keep every activation and parameter size inside an int. */
#define MAX_SIZE 8192
#define MAX_CHANNELS 4096
#define MAX_CLASSES 1000000

void sn_graph_options_default(sn_graph_options *o)
{
    o->classes = 0;
    o->in_channels = 0;
    o->size = 0;
    o->policy = -1;
    o->shortcut = 'A';
    o->small_stem = -1;
}

const char *sn_op_name(sn_op_kind op)
{
    switch (op) {
    case SN_OP_CONV: return "conv";
    case SN_OP_BN: return "bn";
    case SN_OP_RELU: return "relu";
    case SN_OP_ADD: return "add";
    case SN_OP_SHORTCUT_A: return "shortcut_a";
    case SN_OP_MAXPOOL: return "maxpool";
    case SN_OP_GAP: return "gap";
    case SN_OP_LINEAR: return "linear";
    }
    return "?";
}

const char *sn_share_policy_name(sn_share_policy policy)
{
    switch (policy) {
    case SN_SHARE_NONE: return "none";
    case SN_SHARE_PAPER: return "paper";
    case SN_SHARE_STAGE: return "stage";
    }
    return "?";
}

static const char *family_name(const sn_model_name *m)
{
    switch (m->family) {
    case SN_FAMILY_CIFAR: return "cifar-basic";
    case SN_FAMILY_PREACT: return "cifar-preact-bottleneck";
    case SN_FAMILY_WRN: return "cifar-wrn";
    case SN_FAMILY_IMAGENET: return m->depth >= 50 ? "imagenet-bottleneck" : "imagenet-basic";
    }
    return "?";
}

/* Option `value` (0 = default) in [1, max]; else SN_ERR_INVALID_ARG. */
static sn_status pick(const char *model, const char *what, int value, int fallback,
                      int max, int *out)
{
    if (value < 0 || value > max)
        return sn_fail(SN_ERR_INVALID_ARG, "model %s: %s %d out of range (1 to %d, 0 = default)",
                       model, what, value, max);
    *out = value ? value : fallback;
    return SN_OK;
}

/* Fill the graph's header from the name and the options. */
static sn_status resolve_options(sn_graph *g, const sn_model_name *m, const sn_graph_options *o)
{
    int imagenet = m->family == SN_FAMILY_IMAGENET;
    SN_TRY(pick(g->model, "classes", o->classes, imagenet ? 1000 : 10, MAX_CLASSES, &g->classes));
    SN_TRY(pick(g->model, "in_channels", o->in_channels, 3, MAX_CHANNELS, &g->in_channels));
    SN_TRY(pick(g->model, "size", o->size, imagenet ? 224 : 32, MAX_SIZE, &g->size));

    if (o->policy == -1)
        g->policy = m->shared ? SN_SHARE_PAPER : SN_SHARE_NONE;
    else if (o->policy >= SN_SHARE_NONE && o->policy <= SN_SHARE_STAGE)
        g->policy = (sn_share_policy)o->policy;
    else
        return sn_fail(SN_ERR_INVALID_ARG, "model %s: sharing policy %d unknown "
                       "(-1 = from the name, 0 none, 1 paper, 2 stage)", g->model, o->policy);

    g->shortcut = 0;
    if (m->family == SN_FAMILY_CIFAR) {
        int s = toupper(o->shortcut ? o->shortcut : 'A');
        if (s != 'A' && s != 'B')
            return sn_fail(SN_ERR_INVALID_ARG, "model %s: shortcut option %d must be 'A' or 'B'",
                           g->model, o->shortcut);
        g->shortcut = s;
    }

    g->small_stem = -1;
    if (imagenet) {
        if (o->small_stem < -1 || o->small_stem > 1)
            return sn_fail(SN_ERR_INVALID_ARG, "model %s: small_stem %d must be -1, 0 or 1",
                           g->model, o->small_stem);
        g->small_stem = o->small_stem == -1 ? g->size < 112 : o->small_stem;
    }
    return SN_OK;
}

/* uses = how many layers refer to each parameter. */
static void count_uses(sn_graph *g)
{
    for (int p = 0; p < g->n_params; p++)
        g->params[p].uses = 0;
    for (int i = 0; i < g->n_layers; i++) {
        const sn_layer_spec *l = &g->layers[i];
        if (l->weight >= 0)
            g->params[l->weight].uses++;
        if (l->bias >= 0)
            g->params[l->bias].uses++;
    }
}

static sn_status build_family(sn_builder *b, const sn_model_name *m)
{
    switch (m->family) {
    case SN_FAMILY_CIFAR: return sn_zoo_cifar(b, m);
    case SN_FAMILY_PREACT: return sn_zoo_preact(b, m);
    case SN_FAMILY_WRN: return sn_zoo_wrn(b, m);
    case SN_FAMILY_IMAGENET: return sn_zoo_imagenet(b, m);
    }
    return sn_fail(SN_ERR_INTERNAL, "unknown family %d", (int)m->family);
}

/* Lower-case copy of a model name; names longer than the graph's field fail. */
static sn_status lower_name(char *dst, size_t size, const char *model)
{
    size_t len = strlen(model);
    if (len == 0 || len >= size)
        return sn_fail(SN_ERR_INVALID_ARG, "model name '%.64s%s' is %s", model,
                       len >= size ? "..." : "", len ? "too long" : "empty");
    for (size_t i = 0; i <= len; i++)
        dst[i] = (char)tolower((unsigned char)model[i]);
    return SN_OK;
}

/* Run the family builder on a graph whose header is filled in. */
static sn_status build_layers(sn_graph *g, const sn_model_name *m)
{
    sn_builder b = { .g = g, .status = SN_OK, .cap_acts = 256 };
    g->acts = malloc((size_t)b.cap_acts * sizeof *g->acts);
    if (!g->acts)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "graph %s: out of host memory", g->model);
    g->acts[0] = (sn_act_shape){ g->in_channels, g->size, g->size }; /* the input image */
    g->n_acts = 1;

    sn_status st = build_family(&b, m);
    free(b.slots);
    if (st != SN_OK)
        return st;
    count_uses(g);
    st = sn_graph_check(g);
    if (st != SN_OK)
        return sn_fail_context(SN_ERR_INTERNAL, "builder of %s made an invalid graph", g->model);
    return SN_OK;
}

sn_status sn_graph_build_parsed(const char *model, const sn_model_name *m,
                                const sn_graph_options *opts, sn_graph **out)
{
    sn_graph_options defaults;
    sn_graph_options_default(&defaults);
    *out = NULL;
    sn_graph *g = calloc(1, sizeof *g);
    if (!g)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "sn_graph_build: out of host memory");
    sn_status st = lower_name(g->model, sizeof g->model, model);
    if (st == SN_OK)
        st = resolve_options(g, m, opts ? opts : &defaults);
    if (st == SN_OK) {
        snprintf(g->family, sizeof g->family, "%s", family_name(m));
        g->depth = m->depth;
        g->widen = m->widen;
        g->logits = -1;
        st = build_layers(g, m);
    }
    if (st != SN_OK) {
        sn_graph_free(g);
        return st;
    }
    *out = g;
    return SN_OK;
}

sn_status sn_graph_build(const char *model, const sn_graph_options *opts, sn_graph **out)
{
    if (!out)
        return sn_fail(SN_ERR_INVALID_ARG, "sn_graph_build: out is NULL");
    *out = NULL;
    if (!model)
        return sn_fail(SN_ERR_INVALID_ARG, "sn_graph_build: model name is NULL");
    char lower[sizeof ((sn_graph *)0)->model];
    SN_TRY(lower_name(lower, sizeof lower, model));

    sn_model_name m;
    SN_TRY(sn_model_name_parse(lower, &m));
    return sn_graph_build_parsed(lower, &m, opts, out);
}

void sn_graph_free(sn_graph *g)
{
    if (!g)
        return;
    free(g->acts);
    free(g->layers);
    free(g->params);
    free(g);
}

long long sn_graph_param_count(const sn_graph *g)
{
    long long total = 0;
    for (int p = 0; g && p < g->n_params; p++)
        total += g->params[p].count;
    return total;
}

long long sn_graph_macs(const sn_graph *g)
{
    long long total = 0;
    for (int i = 0; g && i < g->n_layers; i++) {
        const sn_layer_spec *l = &g->layers[i];
        if (l->op != SN_OP_CONV && l->op != SN_OP_LINEAR)
            continue;
        const sn_act_shape *y = &g->acts[l->out];
        /* every output element takes one MAC per weight of its filter row */
        long long per_output = g->params[l->weight].count / g->params[l->weight].shape[0];
        total += (long long)y->c * y->h * y->w * per_output;
    }
    return total;
}

int sn_graph_find_param(const sn_graph *g, const char *name)
{
    for (int p = 0; g && name && p < g->n_params; p++)
        if (strcmp(g->params[p].name, name) == 0)
            return p;
    return -1;
}

int sn_graph_find_layer(const sn_graph *g, const char *name)
{
    for (int i = 0; g && name && i < g->n_layers; i++)
        if (strcmp(g->layers[i].name, name) == 0)
            return i;
    return -1;
}
