/* The graph builder: appends activations, layers and parameters, checks the
 * spatial sizes, and decides which conv weights are shared. */
#include "graph_internal.h"
#include "runtime/error_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- storage ----------------------------------------------------------- */

/* Make room for one more element in a growing array; 0 on allocation failure. */
static int reserve(sn_builder *b, void **items, int *cap, int count, size_t elem)
{
    if (count < *cap)
        return 1;
    int new_cap = *cap ? *cap * 2 : 64;
    void *grown = realloc(*items, (size_t)new_cap * elem);
    if (!grown) {
        b->status = sn_fail(SN_ERR_OUT_OF_MEMORY,
                            "graph %s: out of host memory after %d layers",
                            b->g->model, b->g->n_layers);
        return 0;
    }
    *items = grown;
    *cap = new_cap;
    return 1;
}

/* printf into a name field; a name that does not fit is a builder bug. */
static int format_name(sn_builder *b, char *dst, size_t size, const char *fmt, ...)
    SN_PRINTF(4, 5);
static int format_name(sn_builder *b, char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size) {
        b->status = sn_fail(SN_ERR_INTERNAL, "graph %s: name '%s...' longer than %zu",
                            b->g->model, dst, size - 1);
        return 0;
    }
    return 1;
}

static int new_act(sn_builder *b, int c, int h, int w)
{
    sn_graph *g = b->g;
    if (!reserve(b, (void **)&g->acts, &b->cap_acts, g->n_acts, sizeof *g->acts))
        return -1;
    g->acts[g->n_acts] = (sn_act_shape){ c, h, w };
    return g->n_acts++;
}

/* A new layer named "<prefix>.<name>" with no inputs or parameters yet. */
static sn_layer_spec *new_layer(sn_builder *b, sn_op_kind op, const char *name)
{
    sn_graph *g = b->g;
    if (!reserve(b, (void **)&g->layers, &b->cap_layers, g->n_layers, sizeof *g->layers))
        return NULL;
    sn_layer_spec *l = &g->layers[g->n_layers];
    memset(l, 0, sizeof *l);
    if (!format_name(b, l->name, sizeof l->name, "%s.%s", b->prefix, name))
        return NULL;
    l->op = op;
    l->stage = b->stage;
    l->block = b->block;
    l->in = l->in2 = l->out = -1;
    l->weight = l->bias = -1;
    g->n_layers++;
    return l;
}

/* A new parameter; `name` is the full name. uses is filled in at the end. */
static int new_param(sn_builder *b, const char *name, sn_param_role role,
                     int ndim, const int *shape)
{
    sn_graph *g = b->g;
    if (!reserve(b, (void **)&g->params, &b->cap_params, g->n_params, sizeof *g->params))
        return -1;
    sn_param_spec *p = &g->params[g->n_params];
    memset(p, 0, sizeof *p);
    if (!format_name(b, p->name, sizeof p->name, "%s", name))
        return -1;
    p->role = role;
    p->ndim = ndim;
    p->count = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->count *= shape[i];
    }
    p->stage = b->stage;
    return g->n_params++;
}

/* A parameter belonging to layer "<prefix>.<layer>", e.g. ".weight". */
static int layer_param(sn_builder *b, const char *layer, const char *suffix,
                       sn_param_role role, int ndim, const int *shape)
{
    char name[sizeof ((sn_param_spec *)0)->name];
    if (!format_name(b, name, sizeof name, "%s.%s.%s", b->prefix, layer, suffix))
        return -1;
    return new_param(b, name, role, ndim, shape);
}

/* ---- position ---------------------------------------------------------- */

void sn_b_enter_stem(sn_builder *b)
{
    b->stage = 0;
    b->block = -1;
    snprintf(b->prefix, sizeof b->prefix, "stem");
}

void sn_b_enter_block(sn_builder *b, int stage, int block)
{
    b->stage = stage;
    b->block = block;
    snprintf(b->prefix, sizeof b->prefix, "stage%d.block%d", stage, block);
}

void sn_b_enter_head(sn_builder *b)
{
    b->stage = 0;
    b->block = -1;
    snprintf(b->prefix, sizeof b->prefix, "head");
}

/* ---- shapes ------------------------------------------------------------- */

/* Output side of a window op; fails when the input is smaller than the stride
 * (the stride pattern of the model does not fit this input size). */
static int window_out(sn_builder *b, const char *layer, int in, int k, int stride, int pad)
{
    int out = (in + 2 * pad - k) / stride + 1;
    if (in < stride || in + 2 * pad < k || out < 1) {
        b->status = sn_fail(SN_ERR_SHAPE,
            "model %s at input size %d: layer %s.%s gets a %dx%d input, too small "
            "for its %dx%d window with stride %d (use a larger size)",
            b->g->model, b->g->size, b->prefix, layer, in, in, k, k, stride);
        return -1;
    }
    return out;
}

static int valid_act(sn_builder *b, int a)
{
    if (b->status != SN_OK)
        return 0;
    if (a < 0 || a >= b->g->n_acts) {
        b->status = sn_fail(SN_ERR_INTERNAL, "graph %s: %s: activation %d out of range",
                            b->g->model, b->prefix, a);
        return 0;
    }
    return 1;
}

/* ---- sharing ------------------------------------------------------------ */

/* Whether this conv takes a stage-shared weight under the graph's policy. */
static int conv_is_shared(const sn_builder *b, const int shape[4], int stride,
                          sn_share_hint hint)
{
    if (b->stage < 1)
        return 0; /* stem and head never share */
    switch (b->g->policy) {
    case SN_SHARE_NONE:
        return 0;
    case SN_SHARE_PAPER:
        return hint == SN_SHARE_HINT_PAPER;
    case SN_SHARE_STAGE:
        return hint == SN_SHARE_HINT_PAPER ||
               (shape[2] == 3 && stride == 1 && shape[0] == shape[1]);
    }
    return 0;
}

/* The stage's shared weight of this shape, made at its first use. */
static int shared_weight(sn_builder *b, const int shape[4])
{
    int same_stage = 0;
    for (int i = 0; i < b->n_slots; i++) {
        sn_share_slot *s = &b->slots[i];
        if (s->stage != b->stage)
            continue;
        same_stage++;
        if (memcmp(s->shape, shape, sizeof s->shape) == 0)
            return s->param;
    }
    const char *what = b->g->policy == SN_SHARE_PAPER ? "conv2" : "conv3x3";
    char name[sizeof ((sn_param_spec *)0)->name];
    int ok = same_stage == 0
        ? format_name(b, name, sizeof name, "stage%d.shared.%s.weight", b->stage, what)
        : format_name(b, name, sizeof name, "stage%d.shared.%s_%dx%d.weight",
                      b->stage, what, shape[0], shape[1]);
    if (!ok)
        return -1;
    int param = new_param(b, name, SN_PARAM_CONV_WEIGHT, 4, shape);
    if (param < 0 || !reserve(b, (void **)&b->slots, &b->cap_slots, b->n_slots, sizeof *b->slots))
        return -1;
    sn_share_slot *slot = &b->slots[b->n_slots++];
    slot->stage = b->stage;
    memcpy(slot->shape, shape, sizeof slot->shape);
    slot->param = param;
    return param;
}

/* ---- layers ------------------------------------------------------------- */

int sn_b_conv(sn_builder *b, int in, const char *name, int out_c, int k,
              int stride, sn_share_hint hint)
{
    if (!valid_act(b, in))
        return -1;
    sn_act_shape x = b->g->acts[in];
    int pad = k / 2;
    int oh = window_out(b, name, x.h, k, stride, pad);
    int ow = oh < 0 ? -1 : window_out(b, name, x.w, k, stride, pad);
    if (ow < 0)
        return -1;
    int shape[4] = { out_c, x.c, k, k };
    int weight = conv_is_shared(b, shape, stride, hint)
        ? shared_weight(b, shape)
        : layer_param(b, name, "weight", SN_PARAM_CONV_WEIGHT, 4, shape);
    int out = weight < 0 ? -1 : new_act(b, out_c, oh, ow);
    sn_layer_spec *l = out < 0 ? NULL : new_layer(b, SN_OP_CONV, name);
    if (!l)
        return -1;
    l->in = in;
    l->out = out;
    l->weight = weight;
    l->kernel = k;
    l->stride = stride;
    l->pad = pad;
    return out;
}

int sn_b_bn(sn_builder *b, int in, const char *name)
{
    if (!valid_act(b, in))
        return -1;
    sn_act_shape x = b->g->acts[in];
    int gamma = layer_param(b, name, "gamma", SN_PARAM_BN_GAMMA, 1, &x.c);
    int beta = gamma < 0 ? -1 : layer_param(b, name, "beta", SN_PARAM_BN_BETA, 1, &x.c);
    int out = beta < 0 ? -1 : new_act(b, x.c, x.h, x.w);
    sn_layer_spec *l = out < 0 ? NULL : new_layer(b, SN_OP_BN, name);
    if (!l)
        return -1;
    l->in = in;
    l->out = out;
    l->weight = gamma;
    l->bias = beta;
    return out;
}

/* A layer whose output has the shape of its input. */
static int same_shape_layer(sn_builder *b, sn_op_kind op, int in, int in2, const char *name)
{
    if (!valid_act(b, in) || (in2 >= 0 && !valid_act(b, in2)))
        return -1;
    sn_act_shape x = b->g->acts[in];
    int out = new_act(b, x.c, x.h, x.w);
    sn_layer_spec *l = out < 0 ? NULL : new_layer(b, op, name);
    if (!l)
        return -1;
    l->in = in;
    l->in2 = in2;
    l->out = out;
    return out;
}

int sn_b_relu(sn_builder *b, int in, const char *name)
{
    return same_shape_layer(b, SN_OP_RELU, in, -1, name);
}

int sn_b_add(sn_builder *b, int x, int y, const char *name)
{
    if (!valid_act(b, x) || !valid_act(b, y))
        return -1;
    sn_act_shape sx = b->g->acts[x], sy = b->g->acts[y];
    if (sx.c != sy.c || sx.h != sy.h || sx.w != sy.w) {
        b->status = sn_fail(SN_ERR_INTERNAL, "graph %s: %s.%s adds %dx%dx%d to %dx%dx%d",
                            b->g->model, b->prefix, name, sx.c, sx.h, sx.w, sy.c, sy.h, sy.w);
        return -1;
    }
    return same_shape_layer(b, SN_OP_ADD, x, y, name);
}

int sn_b_shortcut_a(sn_builder *b, int in, const char *name, int out_c, int stride)
{
    if (!valid_act(b, in))
        return -1;
    sn_act_shape x = b->g->acts[in];
    if (out_c < x.c) {
        b->status = sn_fail(SN_ERR_INTERNAL, "graph %s: %s.%s cannot drop channels (%d -> %d)",
                            b->g->model, b->prefix, name, x.c, out_c);
        return -1;
    }
    /* x[:, ::s, ::s] keeps ceil(H / s) rows: a 1x1 window without padding. */
    int oh = window_out(b, name, x.h, 1, stride, 0);
    int ow = oh < 0 ? -1 : window_out(b, name, x.w, 1, stride, 0);
    int out = ow < 0 ? -1 : new_act(b, out_c, oh, ow);
    sn_layer_spec *l = out < 0 ? NULL : new_layer(b, SN_OP_SHORTCUT_A, name);
    if (!l)
        return -1;
    l->in = in;
    l->out = out;
    l->stride = stride;
    return out;
}

int sn_b_maxpool(sn_builder *b, int in, const char *name, int k, int stride, int pad)
{
    if (!valid_act(b, in))
        return -1;
    sn_act_shape x = b->g->acts[in];
    int oh = window_out(b, name, x.h, k, stride, pad);
    int ow = oh < 0 ? -1 : window_out(b, name, x.w, k, stride, pad);
    int out = ow < 0 ? -1 : new_act(b, x.c, oh, ow);
    sn_layer_spec *l = out < 0 ? NULL : new_layer(b, SN_OP_MAXPOOL, name);
    if (!l)
        return -1;
    l->in = in;
    l->out = out;
    l->kernel = k;
    l->stride = stride;
    l->pad = pad;
    return out;
}

int sn_b_gap(sn_builder *b, int in, const char *name)
{
    if (!valid_act(b, in))
        return -1;
    int out = new_act(b, b->g->acts[in].c, 1, 1);
    sn_layer_spec *l = out < 0 ? NULL : new_layer(b, SN_OP_GAP, name);
    if (!l)
        return -1;
    l->in = in;
    l->out = out;
    return out;
}

int sn_b_linear(sn_builder *b, int in, const char *name, int out_features)
{
    if (!valid_act(b, in))
        return -1;
    sn_act_shape x = b->g->acts[in];
    if (x.h != 1 || x.w != 1) {
        b->status = sn_fail(SN_ERR_INTERNAL, "graph %s: %s.%s needs a [C,1,1] input, got %dx%dx%d",
                            b->g->model, b->prefix, name, x.c, x.h, x.w);
        return -1;
    }
    int wshape[2] = { out_features, x.c };
    int weight = layer_param(b, name, "weight", SN_PARAM_LINEAR_WEIGHT, 2, wshape);
    int bias = weight < 0 ? -1 : layer_param(b, name, "bias", SN_PARAM_LINEAR_BIAS, 1, &out_features);
    int out = bias < 0 ? -1 : new_act(b, out_features, 1, 1);
    sn_layer_spec *l = out < 0 ? NULL : new_layer(b, SN_OP_LINEAR, name);
    if (!l)
        return -1;
    l->in = in;
    l->out = out;
    l->weight = weight;
    l->bias = bias;
    return out;
}

int sn_b_bn_relu(sn_builder *b, int in, int i)
{
    char bn[16], relu[16];
    if (i < 0) {
        snprintf(bn, sizeof bn, "bn");
        snprintf(relu, sizeof relu, "relu");
    } else {
        snprintf(bn, sizeof bn, "bn%d", i);
        snprintf(relu, sizeof relu, "relu%d", i);
    }
    return sn_b_relu(b, sn_b_bn(b, in, bn), relu);
}

int sn_b_channels(const sn_builder *b, int a)
{
    if (b->status != SN_OK || a < 0 || a >= b->g->n_acts)
        return 0;
    return b->g->acts[a].c;
}

void sn_b_head(sn_builder *b, int in, int preact)
{
    sn_b_enter_head(b);
    if (preact)
        in = sn_b_bn_relu(b, in, -1);       /* final BN-ReLU of pre-activation nets */
    int pooled = sn_b_gap(b, in, "pool");   /* [C,H,W] -> [C,1,1] */
    b->g->logits = sn_b_linear(b, pooled, "fc", b->g->classes);
}
