/* Double-precision reference executor of an sn_graph (see ref_graph.h).
 * Only reads the graph's fields: no sn_graph_* call, so the reference library
 * needs nothing from libsharesnet but its header. */
#include "ref_graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref_ops.h"

/* Values per sample of activation a. */
static size_t act_size(const sn_graph *g, int a)
{
    const sn_act_shape *s = &g->acts[a];
    return (size_t)s->c * s->h * s->w;
}

static double *zeros(size_t n)
{
    return calloc(n ? n : 1, sizeof(double));
}

double **ref_graph_params_alloc(const sn_graph *g)
{
    double **p = calloc((size_t)g->n_params + 1, sizeof *p);
    if (!p)
        return NULL;
    for (int i = 0; i < g->n_params; i++)
        if (!(p[i] = zeros((size_t)g->params[i].count))) {
            ref_graph_params_free(g, p);
            return NULL;
        }
    return p;
}

void ref_graph_params_free(const sn_graph *g, double **params)
{
    if (!params)
        return;
    for (int i = 0; i < g->n_params; i++)
        free(params[i]);
    free(params);
}

void ref_graph_pass_free(ref_graph_pass *p)
{
    const sn_graph *g = p->g;
    if (!g)
        return;
    for (int a = 0; a < g->n_acts; a++) {
        if (p->acts)
            free(p->acts[a]);
        if (p->dacts)
            free(p->dacts[a]);
    }
    for (int l = 0; l < g->n_layers; l++) {
        if (p->save_mean)
            free(p->save_mean[l]);
        if (p->save_invstd)
            free(p->save_invstd[l]);
        if (p->running_mean)
            free(p->running_mean[l]);
        if (p->running_var)
            free(p->running_var[l]);
        if (p->argmax)
            free(p->argmax[l]);
    }
    free(p->acts);
    free(p->dacts);
    free(p->save_mean);
    free(p->save_invstd);
    free(p->running_mean);
    free(p->running_var);
    free(p->argmax);
    free(p->scratch);
    free(p->labels);
    memset(p, 0, sizeof *p);
}

int ref_graph_pass_init(ref_graph_pass *p, const sn_graph *g, int n)
{
    memset(p, 0, sizeof *p);
    p->g = g;
    p->n = n;
    size_t na = (size_t)g->n_acts, nl = (size_t)g->n_layers;
    p->acts = calloc(na + 1, sizeof *p->acts);
    p->dacts = calloc(na + 1, sizeof *p->dacts);
    p->save_mean = calloc(nl + 1, sizeof *p->save_mean);
    p->save_invstd = calloc(nl + 1, sizeof *p->save_invstd);
    p->running_mean = calloc(nl + 1, sizeof *p->running_mean);
    p->running_var = calloc(nl + 1, sizeof *p->running_var);
    p->argmax = calloc(nl + 1, sizeof *p->argmax);
    p->labels = calloc((size_t)n + 1, sizeof *p->labels);
    if (!p->acts || !p->dacts || !p->save_mean || !p->save_invstd || !p->running_mean ||
        !p->running_var || !p->argmax || !p->labels)
        goto fail;

    size_t largest = 0;
    for (int a = 0; a < g->n_acts; a++) {
        size_t size = (size_t)n * act_size(g, a);
        if (size > largest)
            largest = size;
        if (!(p->acts[a] = zeros(size)) || !(p->dacts[a] = zeros(size)))
            goto fail;
    }
    if (!(p->scratch = zeros(largest)))
        goto fail;

    for (int l = 0; l < g->n_layers; l++) {
        const sn_layer_spec *L = &g->layers[l];
        if (L->op == SN_OP_BN) {
            int C = g->acts[L->in].c;
            if (!(p->save_mean[l] = zeros((size_t)C)) || !(p->save_invstd[l] = zeros((size_t)C)) ||
                !(p->running_mean[l] = zeros((size_t)C)) || !(p->running_var[l] = zeros((size_t)C)))
                goto fail;
            for (int c = 0; c < C; c++)
                p->running_var[l][c] = 1.0;
        } else if (L->op == SN_OP_MAXPOOL) {
            size_t out = (size_t)n * act_size(g, L->out);
            if (!(p->argmax[l] = calloc(out ? out : 1, sizeof(int))))
                goto fail;
        }
    }
    return 0;
fail:
    fprintf(stderr, "ref_graph: out of memory for %s, batch %d\n", g->model, n);
    ref_graph_pass_free(p);
    return -1;
}

/* ---- forward ---- */

static void layer_forward(ref_graph_pass *p, int index, double *const *params)
{
    const sn_graph *g = p->g;
    const sn_layer_spec *L = &g->layers[index];
    const sn_act_shape *is = &g->acts[L->in], *os = &g->acts[L->out];
    const int N = p->n, C = is->c, H = is->h, W = is->w;
    const double *x = p->acts[L->in];
    double *y = p->acts[L->out];
    const size_t count = (size_t)N * act_size(g, L->out);

    switch (L->op) {
    case SN_OP_CONV: /* x [N,C,H,W] * w [OC,C,K,K] -> y [N,OC,OH,OW] */
        ref_conv2d_forward(x, N, C, H, W, params[L->weight], os->c, L->kernel, L->stride, L->pad,
                           y);
        break;
    case SN_OP_BN:
        if (p->training)
            ref_bn_forward_train(x, N, C, H, W, params[L->weight], params[L->bias],
                                 REF_GRAPH_BN_EPS, REF_GRAPH_BN_MOMENTUM, p->running_mean[index],
                                 p->running_var[index], y, p->save_mean[index],
                                 p->save_invstd[index]);
        else
            ref_bn_forward_eval(x, N, C, H, W, params[L->weight], params[L->bias],
                                REF_GRAPH_BN_EPS, p->running_mean[index], p->running_var[index], y);
        break;
    case SN_OP_RELU:
        ref_relu_forward(x, count, y);
        break;
    case SN_OP_ADD:
        ref_add_forward(x, p->acts[L->in2], count, y);
        break;
    case SN_OP_SHORTCUT_A:
        ref_shortcut_a_forward(x, N, C, H, W, os->c, L->stride, y);
        break;
    case SN_OP_MAXPOOL:
        ref_maxpool_forward(x, N, C, H, W, L->kernel, L->stride, L->pad, y, p->argmax[index]);
        break;
    case SN_OP_GAP:
        ref_gap_forward(x, N, C, H, W, y);
        break;
    case SN_OP_LINEAR: /* [N, C*H*W] -> [N, OUT] */
        ref_linear_forward(x, N, (int)act_size(g, L->in), params[L->weight], params[L->bias],
                           os->c, y);
        break;
    }
}

double ref_graph_forward(ref_graph_pass *p, double *const *params, const double *images,
                         const int *labels, int training)
{
    const sn_graph *g = p->g;
    p->training = training;
    memcpy(p->acts[0], images, (size_t)p->n * act_size(g, 0) * sizeof(double));
    memcpy(p->labels, labels, (size_t)p->n * sizeof(int));
    for (int l = 0; l < g->n_layers; l++)
        layer_forward(p, l, params);
    ref_softmax_ce_forward(p->acts[g->logits], p->labels, p->n, g->classes, &p->loss, &p->top1,
                           &p->top5);
    return p->loss;
}

/* ---- backward ---- */

/* dacts[a] += the n values in p->scratch (a = 0, the image, needs none). */
static void add_scratch(ref_graph_pass *p, int a)
{
    if (a == 0)
        return;
    const size_t count = (size_t)p->n * act_size(p->g, a);
    double *d = p->dacts[a];
    for (size_t i = 0; i < count; i++)
        d[i] += p->scratch[i];
}

static void layer_backward(ref_graph_pass *p, int index, double *const *params, double **grads)
{
    const sn_graph *g = p->g;
    const sn_layer_spec *L = &g->layers[index];
    const sn_act_shape *is = &g->acts[L->in], *os = &g->acts[L->out];
    const int N = p->n, C = is->c, H = is->h, W = is->w;
    const double *x = p->acts[L->in], *y = p->acts[L->out], *dy = p->dacts[L->out];
    const size_t count = (size_t)N * act_size(g, L->out);
    double *dx = p->scratch;

    switch (L->op) {
    case SN_OP_CONV:
        /* grads are zeroed before the pass: every use adds its share */
        ref_conv2d_backward_weights(x, N, C, H, W, dy, os->c, L->kernel, L->stride, L->pad,
                                    grads[L->weight], 1);
        if (L->in != 0) {
            ref_conv2d_backward_data(dy, N, C, H, W, params[L->weight], os->c, L->kernel,
                                     L->stride, L->pad, dx);
            add_scratch(p, L->in);
        }
        break;
    case SN_OP_BN:
        if (p->training)
            ref_bn_backward(dy, x, N, C, H, W, params[L->weight], p->save_mean[index],
                            p->save_invstd[index], dx, grads[L->weight], grads[L->bias], 1);
        else /* frozen batch norm: the running statistics are constants */
            ref_bn_backward_eval(dy, x, N, C, H, W, params[L->weight], REF_GRAPH_BN_EPS,
                                 p->running_mean[index], p->running_var[index], dx, 0,
                                 grads[L->weight], grads[L->bias], 1);
        add_scratch(p, L->in);
        break;
    case SN_OP_RELU:
        ref_relu_backward(dy, y, count, dx);
        add_scratch(p, L->in);
        break;
    case SN_OP_ADD:
        memcpy(dx, dy, count * sizeof(double));
        add_scratch(p, L->in);
        add_scratch(p, L->in2);
        break;
    case SN_OP_SHORTCUT_A:
        ref_shortcut_a_backward(dy, N, C, H, W, os->c, L->stride, dx);
        add_scratch(p, L->in);
        break;
    case SN_OP_MAXPOOL:
        ref_maxpool_backward(dy, p->argmax[index], N, C, H, W, L->kernel, L->stride, L->pad, dx);
        add_scratch(p, L->in);
        break;
    case SN_OP_GAP:
        ref_gap_backward(dy, N, C, H, W, dx);
        add_scratch(p, L->in);
        break;
    case SN_OP_LINEAR:
        ref_linear_backward(dy, x, N, (int)act_size(g, L->in), params[L->weight], os->c, dx,
                            grads[L->weight], grads[L->bias], 1);
        add_scratch(p, L->in);
        break;
    }
}

void ref_graph_backward(ref_graph_pass *p, double *const *params, double grad_scale,
                        double **grads)
{
    const sn_graph *g = p->g;
    for (int i = 0; i < g->n_params; i++)
        memset(grads[i], 0, (size_t)g->params[i].count * sizeof(double));
    for (int a = 0; a < g->n_acts; a++)
        memset(p->dacts[a], 0, (size_t)p->n * act_size(g, a) * sizeof(double));

    /* ref_softmax_ce_backward divides by n: rescale to grad_scale. */
    const size_t nk = (size_t)p->n * g->classes;
    double *dlogits = p->dacts[g->logits];
    ref_softmax_ce_backward(p->acts[g->logits], p->labels, p->n, g->classes, dlogits);
    for (size_t i = 0; i < nk; i++)
        dlogits[i] *= grad_scale * p->n;

    for (int l = g->n_layers - 1; l >= 0; l--)
        layer_backward(p, l, params, grads);
}
