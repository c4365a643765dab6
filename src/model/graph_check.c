/* sn_graph_check: the invariants the executor relies on. Used after every
 * build (a failure there is a builder bug) and by the tests. */
#include "graph_internal.h"
#include "runtime/error_internal.h"

#include <stdlib.h>

typedef struct checker {
    const sn_graph *g;
    int *writer;        /* writer[a] = layer that wrote activation a, -1 if none */
} checker;

static int same_shape(sn_act_shape a, sn_act_shape b)
{
    return a.c == b.c && a.h == b.h && a.w == b.w;
}

static sn_status bad(const checker *c, int i, const char *what)
{
    const sn_graph *g = c->g;
    return sn_fail(SN_ERR_INVALID_ARG, "graph %s: layer %d (%s, %s): %s", g->model, i,
                   g->layers[i].name, sn_op_name(g->layers[i].op), what);
}

/* Activation a exists and was written before layer i (or is the input). */
static int readable(const checker *c, int a)
{
    return a >= 0 && a < c->g->n_acts && (a == 0 || c->writer[a] >= 0);
}

/* Parameter p exists and has this role, rank and leading dimensions. */
static int param_is(const sn_graph *g, int p, sn_param_role role, int ndim, int d0, int d1)
{
    if (p < 0 || p >= g->n_params)
        return 0;
    const sn_param_spec *s = &g->params[p];
    return s->role == role && s->ndim == ndim && s->shape[0] == d0 && (ndim < 2 || s->shape[1] == d1);
}

static int window_fits(int in, int out, int k, int stride, int pad)
{
    return k >= 1 && stride >= 1 && pad >= 0 && in + 2 * pad >= k &&
           out == (in + 2 * pad - k) / stride + 1;
}

static sn_status check_layer(checker *c, int i)
{
    const sn_graph *g = c->g;
    const sn_layer_spec *l = &g->layers[i];
    if (!readable(c, l->in))
        return bad(c, i, "input activation missing or not yet written");
    if (l->out < 1 || l->out >= g->n_acts)
        return bad(c, i, "output activation out of range");
    if (c->writer[l->out] >= 0)
        return bad(c, i, "output activation already written by another layer");
    if (l->op == SN_OP_ADD ? !readable(c, l->in2) : l->in2 != -1)
        return bad(c, i, "second input wrong (only ADD has one)");

    sn_act_shape x = g->acts[l->in], y = g->acts[l->out];
    int has_bias = l->op == SN_OP_BN || l->op == SN_OP_LINEAR;
    int has_weight = has_bias || l->op == SN_OP_CONV;
    if (!has_weight && l->weight != -1)
        return bad(c, i, "unexpected weight");
    if (!has_bias && l->bias != -1)
        return bad(c, i, "unexpected bias");

    switch (l->op) {
    case SN_OP_CONV:
        if (!param_is(g, l->weight, SN_PARAM_CONV_WEIGHT, 4, y.c, x.c) ||
            g->params[l->weight].shape[2] != l->kernel || g->params[l->weight].shape[3] != l->kernel)
            return bad(c, i, "weight is not [out_c, in_c, K, K]");
        if (!window_fits(x.h, y.h, l->kernel, l->stride, l->pad) ||
            !window_fits(x.w, y.w, l->kernel, l->stride, l->pad))
            return bad(c, i, "output size does not follow from kernel/stride/pad");
        break;
    case SN_OP_BN:
        if (!param_is(g, l->weight, SN_PARAM_BN_GAMMA, 1, x.c, 0) ||
            !param_is(g, l->bias, SN_PARAM_BN_BETA, 1, x.c, 0))
            return bad(c, i, "gamma/beta are not [C]");
        /* fall through */
    case SN_OP_RELU:
        if (!same_shape(x, y))
            return bad(c, i, "output shape differs from input");
        break;
    case SN_OP_ADD:
        if (!same_shape(x, y) || !same_shape(g->acts[l->in2], y))
            return bad(c, i, "inputs and output differ in shape");
        break;
    case SN_OP_SHORTCUT_A:
        if (y.c < x.c || !window_fits(x.h, y.h, 1, l->stride, 0) || !window_fits(x.w, y.w, 1, l->stride, 0))
            return bad(c, i, "output is not [C' >= C, ceil(H/s), ceil(W/s)]");
        break;
    case SN_OP_MAXPOOL:
        if (y.c != x.c || !window_fits(x.h, y.h, l->kernel, l->stride, l->pad) ||
            !window_fits(x.w, y.w, l->kernel, l->stride, l->pad))
            return bad(c, i, "output size does not follow from kernel/stride/pad");
        break;
    case SN_OP_GAP:
        if (y.c != x.c || y.h != 1 || y.w != 1)
            return bad(c, i, "output is not [C,1,1]");
        break;
    case SN_OP_LINEAR:
        if (x.h != 1 || x.w != 1 || y.h != 1 || y.w != 1)
            return bad(c, i, "input and output must be [C,1,1]");
        if (!param_is(g, l->weight, SN_PARAM_LINEAR_WEIGHT, 2, y.c, x.c) ||
            !param_is(g, l->bias, SN_PARAM_LINEAR_BIAS, 1, y.c, 0))
            return bad(c, i, "weight/bias are not [OUT,IN]/[OUT]");
        break;
    default:
        return bad(c, i, "unknown op");
    }
    c->writer[l->out] = i;
    return SN_OK;
}

static sn_status check_params(const sn_graph *g, const int *uses)
{
    for (int p = 0; p < g->n_params; p++) {
        const sn_param_spec *s = &g->params[p];
        long long count = 1;
        for (int d = 0; d < s->ndim && d < 4; d++)
            count *= s->shape[d];
        if (s->ndim < 1 || s->ndim > 4 || count != s->count || count < 1)
            return sn_fail(SN_ERR_INVALID_ARG, "graph %s: parameter %s: count %lld does not match its shape",
                           g->model, s->name, s->count);
        if (uses[p] != s->uses || uses[p] < 1)
            return sn_fail(SN_ERR_INVALID_ARG, "graph %s: parameter %s: uses %d but %d layers refer to it",
                           g->model, s->name, s->uses, uses[p]);
    }
    return SN_OK;
}

sn_status sn_graph_check(const sn_graph *g)
{
    if (!g || g->n_acts < 1 || !g->acts || (g->n_layers > 0 && !g->layers) ||
        (g->n_params > 0 && !g->params))
        return sn_fail(SN_ERR_INVALID_ARG, "sn_graph_check: empty or NULL graph");
    for (int a = 0; a < g->n_acts; a++)
        if (g->acts[a].c < 1 || g->acts[a].h < 1 || g->acts[a].w < 1)
            return sn_fail(SN_ERR_INVALID_ARG, "graph %s: activation %d has shape %dx%dx%d",
                           g->model, a, g->acts[a].c, g->acts[a].h, g->acts[a].w);

    checker c = { g, malloc((size_t)g->n_acts * sizeof(int)) };
    int *uses = calloc((size_t)g->n_params + 1, sizeof(int));
    sn_status st = SN_OK;
    if (!c.writer || !uses) {
        st = sn_fail(SN_ERR_OUT_OF_MEMORY, "sn_graph_check: out of host memory");
        goto done;
    }
    for (int a = 0; a < g->n_acts; a++)
        c.writer[a] = -1;

    for (int i = 0; i < g->n_layers && st == SN_OK; i++) {
        st = check_layer(&c, i);
        if (st == SN_OK && g->layers[i].weight >= 0)
            uses[g->layers[i].weight]++;
        if (st == SN_OK && g->layers[i].bias >= 0)
            uses[g->layers[i].bias]++;
    }
    for (int a = 1; a < g->n_acts && st == SN_OK; a++)
        if (c.writer[a] < 0)
            st = sn_fail(SN_ERR_INVALID_ARG, "graph %s: activation %d is never written", g->model, a);
    if (st == SN_OK)
        st = check_params(g, uses);
    if (st == SN_OK && (g->logits < 1 || g->logits >= g->n_acts || g->acts[g->logits].c != g->classes ||
                        g->acts[g->logits].h != 1 || g->acts[g->logits].w != 1))
        st = sn_fail(SN_ERR_INVALID_ARG, "graph %s: logits activation %d is not [%d,1,1]",
                     g->model, g->logits, g->classes);
done:
    free(c.writer);
    free(uses);
    return st;
}
