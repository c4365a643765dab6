/* A graph on a device: allocation, initialisation, the training step
 * schedule (forward in order, backward in reverse) and the optimizer. */
#include "model/model_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

sn_tensor sn_batch_view(const sn_tensor *t, int n)
{
    sn_tensor v = *t;
    if (v.ndim > 0 && v.shape[0] > 0) {
        v.count = v.count / (size_t)v.shape[0] * (size_t)n;
        v.shape[0] = n;
    }
    return v;
}

/* ---- graph copy ---- */

static void *dup_array(const void *src, size_t count, size_t size)
{
    void *p = malloc(count ? count * size : 1);
    if (p && count)
        memcpy(p, src, count * size);
    return p;
}

static sn_status copy_graph(sn_graph *dst, const sn_graph *src)
{
    *dst = *src;
    dst->acts = dup_array(src->acts, (size_t)src->n_acts, sizeof *src->acts);
    dst->layers = dup_array(src->layers, (size_t)src->n_layers, sizeof *src->layers);
    dst->params = dup_array(src->params, (size_t)src->n_params, sizeof *src->params);
    if (!dst->acts || !dst->layers || !dst->params)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "model %s: out of host memory", src->model);
    return SN_OK;
}

/* ---- initialisation (host RNG, then one upload per parameter) ---- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *s) { return ((double)(splitmix64(s) >> 11) + 0.5) / 9007199254740992.0; }

static double normal(uint64_t *s)
{
    /* Box-Muller; one value per call keeps the stream simple. */
    double u1 = uniform01(s), u2 = uniform01(s);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static sn_status init_param(sn_model *m, int i, uint64_t seed)
{
    const sn_param_spec *p = &m->graph.params[i];
    size_t n = (size_t)p->count;
    float *host = malloc(n * sizeof *host);
    if (!host)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "init %s: out of host memory", p->name);
    /* Each parameter draws from its own stream: adding a layer does not
     * change the initial values of the others. */
    uint64_t s = seed ^ (0x51ed270b2f4a3c1dULL * (uint64_t)(i + 1));
    switch (p->role) {
    case SN_PARAM_CONV_WEIGHT: {
        double std = sqrt(2.0 / ((double)p->shape[2] * p->shape[3] * p->shape[0]));
        for (size_t k = 0; k < n; k++)
            host[k] = (float)(std * normal(&s));
        break;
    }
    case SN_PARAM_LINEAR_WEIGHT: {
        double bound = 1.0 / sqrt((double)p->shape[1]);
        for (size_t k = 0; k < n; k++)
            host[k] = (float)(bound * (2.0 * uniform01(&s) - 1.0));
        break;
    }
    case SN_PARAM_BN_GAMMA:
        for (size_t k = 0; k < n; k++)
            host[k] = 1.0f;
        break;
    case SN_PARAM_BN_BETA:
    case SN_PARAM_LINEAR_BIAS:
        for (size_t k = 0; k < n; k++)
            host[k] = 0.0f;
        break;
    }
    sn_status st = sn_tensor_upload(&m->params[i].value, host, n);
    free(host);
    return st;
}

/* ---- create / free ---- */

/* The three arenas (values, gradients, momentum), zeroed, and every
 * parameter's views into them at aligned offsets. */
static sn_status alloc_params(sn_model *m)
{
    const sn_graph *g = &m->graph;
    const size_t align = sn_view_align_floats(m->ctx);
    size_t total = 0;
    for (int i = 0; i < g->n_params; i++) {
        m->param_offset[i] = total;
        total += ((size_t)g->params[i].count + align - 1) / align * align;
    }
    if (total > 0x7fffffffu)
        return sn_fail(SN_ERR_UNSUPPORTED, "model %s: %zu parameter floats (2^31-1 at most)",
                       g->model, total);
    static const sn_mem_category category[3] = {SN_MEM_PARAM, SN_MEM_GRAD, SN_MEM_OPTIM};
    const int shape[1] = {(int)total};
    for (int a = 0; a < 3; a++) {
        SN_TRY(sn_tensor_alloc(m->ctx, &m->arena[a], 1, shape, category[a]));
        SN_TRY(sn_tensor_fill(&m->arena[a], 0.0f));
    }
    for (int i = 0; i < g->n_params; i++) {
        const sn_param_spec *p = &g->params[i];
        sn_param_state *s = &m->params[i];
        sn_status st = sn_tensor_view(&m->arena[0], m->param_offset[i], p->ndim, p->shape,
                                      &s->value);
        if (st == SN_OK)
            st = sn_tensor_view(&m->arena[1], m->param_offset[i], p->ndim, p->shape, &s->grad);
        if (st == SN_OK)
            st = sn_tensor_view(&m->arena[2], m->param_offset[i], p->ndim, p->shape,
                                &s->momentum);
        if (st != SN_OK)
            return sn_fail_context(st, "model %s: parameter %s", g->model, p->name);
    }
    return SN_OK;
}

static sn_status alloc_bn(sn_model *m, int layer)
{
    const sn_layer_spec *l = &m->graph.layers[layer];
    sn_bn_state *s = &m->bn[layer];
    int c[1] = {m->graph.acts[l->in].c};
    SN_TRY(sn_tensor_alloc(m->ctx, &s->running_mean, 1, c, SN_MEM_OTHER));
    SN_TRY(sn_tensor_alloc(m->ctx, &s->running_var, 1, c, SN_MEM_OTHER));
    SN_TRY(sn_tensor_alloc(m->ctx, &s->save_mean, 1, c, SN_MEM_ACTIVATION));
    SN_TRY(sn_tensor_alloc(m->ctx, &s->save_invstd, 1, c, SN_MEM_ACTIVATION));
    if (m->plan[layer].conv >= 0) {
        SN_TRY(sn_tensor_alloc(m->ctx, &s->scale, 1, c, SN_MEM_OTHER));
        SN_TRY(sn_tensor_alloc(m->ctx, &s->shift, 1, c, SN_MEM_OTHER));
    }
    SN_TRY(sn_tensor_fill(&s->running_mean, 0.0f));
    return sn_tensor_fill(&s->running_var, 1.0f);
}

/* Number of times the layers read activation a (an ADD of a with itself
 * counts twice). */
static int readers(const sn_graph *g, int a)
{
    int k = 0;
    for (int l = 0; l < g->n_layers; l++)
        k += (g->layers[l].in == a) + (g->layers[l].op == SN_OP_ADD && g->layers[l].in2 == a);
    return k;
}

/* The layer reading activation a, when exactly one layer reads it once;
 * else -1. */
static int only_reader(const sn_graph *g, int a)
{
    if (readers(g, a) != 1)
        return -1;
    for (int l = 0; l < g->n_layers; l++)
        if (g->layers[l].in == a || (g->layers[l].op == SN_OP_ADD && g->layers[l].in2 == a))
            return l;
    return -1;
}

/* The layer at `l` when it is a ReLU reading `a` alone (the only reader of
 * a, and not in place); else -1. */
static int relu_of(const sn_graph *g, int l, int a)
{
    if (l < 0 || l >= g->n_layers || a == g->logits)
        return -1;
    const sn_layer_spec *r = &g->layers[l];
    return r->op == SN_OP_RELU && r->in == a && r->out != a && only_reader(g, a) == l ? l : -1;
}

/* The groups of sn_bn_plan: each BN with the ReLU, or the ADD and the ReLU,
 * that it can run with, and the conv it can fold in eval mode. */
static void find_fusions(sn_model *m)
{
    const sn_graph *g = &m->graph;
    for (int l = 0; l < g->n_layers; l++) {
        m->member_of[l] = m->folded_into[l] = -1;
        m->plan[l] = (sn_bn_plan){-1, -1, -1, -1, g->layers[l].out};
    }
    for (int l = 0; l < g->n_layers; l++) {
        const sn_layer_spec *bn = &g->layers[l];
        if (bn->op != SN_OP_BN)
            continue;
        sn_bn_plan *p = &m->plan[l];
        const int reader = bn->out == g->logits ? -1 : only_reader(g, bn->out);
        if (reader >= 0 && relu_of(g, reader, bn->out) == reader && reader == l + 1) {
            p->relu = reader;
        } else if (reader >= 0 && g->layers[reader].op == SN_OP_ADD) {
            const sn_layer_spec *add = &g->layers[reader];
            const int shortcut = add->in == bn->out ? add->in2 : add->in;
            const int relu = relu_of(g, reader + 1, add->out);
            /* the shortcut's gradient must be a buffer apart from dx's; when
             * both inputs of the add are BN outputs (a projection shortcut),
             * the first BN, the residual branch's, takes the add */
            if (relu >= 0 && shortcut != bn->in && m->member_of[reader] < 0) {
                p->add = reader;
                p->relu = relu;
                p->shortcut = shortcut;
            }
        }
        if (p->relu >= 0) {
            p->out = g->layers[p->relu].out;
            m->member_of[p->relu] = l;
        }
        if (p->add >= 0)
            m->member_of[p->add] = l;
        /* eval: the conv whose output only this BN reads */
        for (int c = 0; c < l; c++)
            if (g->layers[c].out == bn->in) {
                if (g->layers[c].op == SN_OP_CONV && only_reader(g, bn->in) == l) {
                    p->conv = c;
                    m->folded_into[c] = l;
                }
                break;
            }
    }
}

static sn_status alloc_activations(sn_model *m)
{
    const sn_graph *g = &m->graph;
    /* inside a group, the BN's and the ADD's outputs (and gradients) borrow
     * the buffers of the group's output */
    for (int l = 0; l < g->n_layers; l++) {
        if (g->layers[l].op != SN_OP_BN || m->plan[l].relu < 0)
            continue;
        const int inner[2] = {g->layers[l].out,
                              m->plan[l].add >= 0 ? g->layers[m->plan[l].add].out : -1};
        for (int k = 0; k < 2; k++)
            if (inner[k] >= 0)
                m->act_borrowed[inner[k]] = m->grad_borrowed[inner[k]] = 1;
    }
    for (int a = 0; a < g->n_acts; a++) {
        const sn_act_shape *s = &g->acts[a];
        int shape[4] = {m->batch, s->c, s->h, s->w};
        if (!m->act_borrowed[a])
            SN_TRY(sn_tensor_alloc(m->ctx, &m->acts[a], 4, shape,
                                   a == 0 ? SN_MEM_OTHER : SN_MEM_ACTIVATION));
        if (a > 0 && !m->grad_borrowed[a])
            SN_TRY(sn_tensor_alloc(m->ctx, &m->grads[a], 4, shape, SN_MEM_ACTIVATION));
    }
    for (int l = 0; l < g->n_layers; l++) {
        if (g->layers[l].op != SN_OP_BN || m->plan[l].relu < 0)
            continue;
        const int out = m->plan[l].out;
        const int inner[2] = {g->layers[l].out,
                              m->plan[l].add >= 0 ? g->layers[m->plan[l].add].out : -1};
        for (int k = 0; k < 2; k++)
            if (inner[k] >= 0) {
                m->acts[inner[k]] = m->acts[out];
                m->grads[inner[k]] = m->grads[out];
            }
    }
    int lshape[1] = {m->batch}, sshape[2] = {m->batch, 2};
    SN_TRY(sn_tensor_alloc(m->ctx, &m->labels, 1, lshape, SN_MEM_OTHER));
    return sn_tensor_alloc(m->ctx, &m->per_sample, 2, sshape, SN_MEM_OTHER);
}

sn_status sn_model_create(sn_context *ctx, const sn_graph *graph, int batch, uint64_t seed,
                          sn_model **out)
{
    *out = NULL;
    if (batch <= 0)
        return sn_fail(SN_ERR_INVALID_ARG, "model %s: batch size %d must be positive", graph->model,
                       batch);
    SN_TRY(sn_graph_check(graph));
    sn_model *m = calloc(1, sizeof *m);
    if (!m)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "model %s: out of host memory", graph->model);
    m->ctx = ctx;
    m->batch = batch;
    if (ctx->tune_batch < batch) /* conv decisions are made for the full batch */
        ctx->tune_batch = batch;
    sn_status st = copy_graph(&m->graph, graph);
    const sn_graph *g = &m->graph;
    if (st == SN_OK) {
        m->params = calloc((size_t)g->n_params + 1, sizeof *m->params);
        m->param_offset = calloc((size_t)g->n_params + 1, sizeof *m->param_offset);
        m->bn = calloc((size_t)g->n_layers + 1, sizeof *m->bn);
        m->acts = calloc((size_t)g->n_acts, sizeof *m->acts);
        m->grads = calloc((size_t)g->n_acts, sizeof *m->grads);
        m->host_labels = calloc((size_t)batch, sizeof *m->host_labels);
        m->plan = calloc((size_t)g->n_layers + 1, sizeof *m->plan);
        m->member_of = calloc((size_t)g->n_layers + 1, sizeof *m->member_of);
        m->folded_into = calloc((size_t)g->n_layers + 1, sizeof *m->folded_into);
        m->act_borrowed = calloc((size_t)g->n_acts, sizeof *m->act_borrowed);
        m->grad_borrowed = calloc((size_t)g->n_acts, sizeof *m->grad_borrowed);
        if (!m->params || !m->param_offset || !m->bn || !m->acts || !m->grads ||
            !m->host_labels || !m->plan || !m->member_of || !m->folded_into ||
            !m->act_borrowed || !m->grad_borrowed)
            st = sn_fail(SN_ERR_OUT_OF_MEMORY, "model %s: out of host memory", g->model);
        else
            find_fusions(m);
    }
    if (st == SN_OK)
        st = sn_plan_compile(m);
    if (st == SN_OK)
        st = alloc_params(m);
    for (int i = 0; st == SN_OK && i < g->n_params; i++) {
        st = init_param(m, i, seed);
        if (st != SN_OK)
            sn_fail_context(st, "model %s: parameter %s", g->model, g->params[i].name);
    }
    for (int l = 0; st == SN_OK && l < g->n_layers; l++)
        if (g->layers[l].op == SN_OP_BN)
            st = alloc_bn(m, l);
    if (st == SN_OK) {
        st = alloc_activations(m);
        if (st != SN_OK)
            sn_fail_context(st, "model %s: activations for batch %d", g->model, batch);
    }
    if (st != SN_OK) {
        sn_model_free(m);
        return st;
    }
    m->params_version = 1; /* the eval fold is still to compute */
    *out = m;
    return SN_OK;
}

void sn_model_free(sn_model *m)
{
    if (!m)
        return;
    sn_graph *g = &m->graph;
    if (m->params)
        for (int i = 0; i < g->n_params; i++) {
            sn_tensor_release(&m->params[i].value);
            sn_tensor_release(&m->params[i].grad);
            sn_tensor_release(&m->params[i].momentum);
        }
    for (int a = 0; a < 3; a++) /* after their views */
        sn_tensor_release(&m->arena[a]);
    free(m->param_offset);
    if (m->bn)
        for (int l = 0; l < g->n_layers; l++) {
            sn_tensor_release(&m->bn[l].running_mean);
            sn_tensor_release(&m->bn[l].running_var);
            sn_tensor_release(&m->bn[l].save_mean);
            sn_tensor_release(&m->bn[l].save_invstd);
            sn_tensor_release(&m->bn[l].scale);
            sn_tensor_release(&m->bn[l].shift);
        }
    if (m->acts && m->grads && m->act_borrowed && m->grad_borrowed) {
        /* the borrowers first: a borrowed buffer is released by its owner */
        for (int a = 0; a < g->n_acts; a++) {
            if (m->act_borrowed[a])
                memset(&m->acts[a], 0, sizeof m->acts[a]);
            if (m->grad_borrowed[a])
                memset(&m->grads[a], 0, sizeof m->grads[a]);
        }
        for (int a = 0; a < g->n_acts; a++) {
            sn_tensor_release(&m->acts[a]);
            sn_tensor_release(&m->grads[a]);
        }
    }
    sn_tensor_release(&m->labels);
    sn_tensor_release(&m->per_sample);
    free(m->params);
    free(m->bn);
    free(m->acts);
    free(m->grads);
    sn_plan_free(&m->steps);
    free(m->host_labels);
    free(m->plan);
    free(m->member_of);
    free(m->folded_into);
    free(m->act_borrowed);
    free(m->grad_borrowed);
    free(g->acts);
    free(g->layers);
    free(g->params);
    free(m);
}

const sn_graph *sn_model_graph(const sn_model *m) { return &m->graph; }
int sn_model_batch_capacity(const sn_model *m) { return m->batch; }

/* ---- the training step ---- */

sn_status sn_model_set_batch(sn_model *m, const float *images, const int32_t *labels, int n)
{
    if (n <= 0 || n > m->batch)
        return sn_fail(SN_ERR_SHAPE, "model %s: batch of %d samples, capacity is %d",
                       m->graph.model, n, m->batch);
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= m->graph.classes)
            return sn_fail(SN_ERR_INVALID_ARG, "model %s: label %d of sample %d is outside [0, %d)",
                           m->graph.model, (int)labels[i], i, m->graph.classes);
        m->host_labels[i] = (float)labels[i];
    }
    /* the activations of the last forward no longer match images and labels */
    m->trained_forward = 0;
    sn_tensor x = sn_batch_view(&m->acts[0], n), y = sn_batch_view(&m->labels, n);
    m->n = 0; /* no batch until both uploads succeed */
    SN_TRY(sn_tensor_upload(&x, images, x.count));
    SN_TRY(sn_tensor_upload(&y, m->host_labels, (size_t)n));
    m->n = n;
    return SN_OK;
}

/* The eval fold's scale and shift of every BN with a folded conv, when the
 * parameters or statistics may have changed since they were computed. */
static sn_status refresh_fold(sn_model *m)
{
    if (m->folded_version == m->params_version)
        return SN_OK;
    const sn_graph *g = &m->graph;
    for (int l = 0; l < g->n_layers; l++) {
        if (g->layers[l].op != SN_OP_BN || m->plan[l].conv < 0)
            continue;
        sn_bn_state *s = &m->bn[l];
        sn_status st = sn_batchnorm_fold(m->ctx, &m->params[g->layers[l].weight].value,
                                         &m->params[g->layers[l].bias].value, &s->running_mean,
                                         &s->running_var, SN_BN_EPS, &s->scale, &s->shift);
        if (st != SN_OK)
            return sn_fail_context(st, "fold of layer %s", g->layers[l].name);
    }
    m->folded_version = m->params_version;
    return SN_OK;
}

sn_status sn_model_forward(sn_model *m, int training)
{
    if (m->n <= 0)
        return sn_fail(SN_ERR_INVALID_ARG, "model %s: forward before set_batch", m->graph.model);
    m->trained_forward = 0; /* set again only when this forward completes */
    if (training && !m->frozen_bn)
        m->params_version++; /* the running statistics move */
    if (!training)
        SN_TRY(refresh_fold(m));
    const sn_step *steps = training ? m->steps.train : m->steps.eval;
    const int n_steps = training ? m->steps.n_train : m->steps.n_eval;
    for (int i = 0; i < n_steps; i++) {
        sn_status st = sn_step_forward(m, &steps[i], training);
        if (st != SN_OK)
            return sn_fail_context(st, "forward of layer %s", m->graph.layers[steps[i].layer].name);
    }
    m->trained_forward = training;
    sn_tensor logits = sn_batch_view(&m->acts[m->graph.logits], m->n);
    sn_tensor labels = sn_batch_view(&m->labels, m->n);
    sn_tensor stats = sn_batch_view(&m->per_sample, m->n);
    return sn_softmax_ce_forward(m->ctx, &logits, &labels, &stats);
}

void sn_model_set_frozen_bn(sn_model *m, int frozen)
{
    frozen = frozen != 0;
    if (frozen != m->frozen_bn)
        m->trained_forward = 0; /* its BN backward would be the other one */
    m->frozen_bn = frozen;
}

int sn_model_frozen_bn(const sn_model *m) { return m->frozen_bn; }

sn_status sn_model_backward(sn_model *m, float grad_scale, int accumulate)
{
    if (!m->trained_forward)
        return sn_fail(SN_ERR_INVALID_ARG,
                       "model %s: backward needs a training-mode forward of the same batch",
                       m->graph.model);
    const sn_graph *g = &m->graph;
    sn_tensor logits = sn_batch_view(&m->acts[g->logits], m->n);
    sn_tensor labels = sn_batch_view(&m->labels, m->n);
    sn_tensor dlogits = sn_batch_view(&m->grads[g->logits], m->n);
    SN_TRY(sn_softmax_ce_backward(m->ctx, &logits, &labels, grad_scale, &dlogits, 0));
    for (int i = 0; i < m->steps.n_backward; i++) {
        const sn_step *s = &m->steps.backward[i];
        sn_status st = sn_step_backward(m, s, accumulate);
        if (st == SN_OK && m->backward_hook)
            st = m->backward_hook(m->backward_hook_user, i);
        if (st != SN_OK)
            return sn_fail_context(st, "backward of layer %s", g->layers[s->layer].name);
    }
    return SN_OK;
}

sn_status sn_model_metrics(sn_model *m, double *mean_loss, int *top1, int *top5)
{
    sn_tensor stats = sn_batch_view(&m->per_sample, m->n);
    return sn_softmax_ce_summary(m->ctx, &stats, mean_loss, top1, top5);
}

/* One launch over the arenas: every parameter gets the same rule, and the
 * zero gaps between parameters stay zero (zero gradient, value, momentum). */
sn_status sn_model_sgd_step(sn_model *m, const sn_sgd_options *o)
{
    m->params_version++;
    sn_status st = sn_sgd_step(m->ctx, &m->arena[0], &m->arena[1], &m->arena[2], o->lr,
                               o->momentum, o->weight_decay, o->nesterov);
    return st == SN_OK ? st : sn_fail_context(st, "sgd step of model %s", m->graph.model);
}

sn_status sn_model_logits(sn_model *m, float *out, int n)
{
    if (n != m->n)
        return sn_fail(SN_ERR_SHAPE, "model %s: asked for %d logits rows, batch has %d",
                       m->graph.model, n, m->n);
    sn_tensor logits = sn_batch_view(&m->acts[m->graph.logits], m->n);
    return sn_tensor_download(&logits, out, logits.count);
}

/* ---- accessors ---- */

sn_tensor *sn_model_param(sn_model *m, int i, sn_param_buffer which)
{
    if (i < 0 || i >= m->graph.n_params)
        return NULL;
    sn_param_state *p = &m->params[i];
    if (which == SN_PARAM_VALUE)
        m->params_version++; /* the caller may write it: the eval fold is stale */
    return which == SN_PARAM_VALUE ? &p->value : which == SN_PARAM_GRAD ? &p->grad : &p->momentum;
}

static sn_bn_state *bn_of(sn_model *m, int layer)
{
    if (layer < 0 || layer >= m->graph.n_layers || m->graph.layers[layer].op != SN_OP_BN)
        return NULL;
    return &m->bn[layer];
}

/* Handing out a writable statistics tensor makes the eval fold stale. */
sn_tensor *sn_model_bn_running_mean(sn_model *m, int layer)
{
    sn_bn_state *s = bn_of(m, layer);
    m->params_version += s != NULL;
    return s ? &s->running_mean : NULL;
}

sn_tensor *sn_model_bn_running_var(sn_model *m, int layer)
{
    sn_bn_state *s = bn_of(m, layer);
    m->params_version += s != NULL;
    return s ? &s->running_var : NULL;
}

sn_tensor *sn_model_activation(sn_model *m, int a)
{
    return a >= 0 && a < m->graph.n_acts ? &m->acts[a] : NULL;
}

sn_tensor *sn_model_activation_grad(sn_model *m, int a)
{
    return a > 0 && a < m->graph.n_acts ? &m->grads[a] : NULL;
}

void sn_model_memory_usage(const sn_model *m, sn_model_memory *out)
{
    memset(out, 0, sizeof *out);
    const sn_graph *g = &m->graph;
    for (int i = 0; i < g->n_params; i++) {
        out->params += m->params[i].value.count * sizeof(float);
        out->grads += m->params[i].grad.count * sizeof(float);
        out->optimizer += m->params[i].momentum.count * sizeof(float);
        out->param_buffers++;
    }
    out->param_padding = m->arena[0].count * sizeof(float) - out->params;
    for (int l = 0; l < g->n_layers; l++) {
        const sn_bn_state *s = &m->bn[l];
        out->other += (s->running_mean.count + s->running_var.count + s->scale.count +
                       s->shift.count) *
                      sizeof(float);
        out->activations += (s->save_mean.count + s->save_invstd.count) * sizeof(float);
    }
    for (int a = 0; a < g->n_acts; a++) {
        /* a buffer shared by the activations of a fused group counts once */
        size_t bytes = m->act_borrowed[a] ? 0 : m->acts[a].count * sizeof(float);
        if (a == 0)
            out->other += bytes;
        else
            out->activations +=
                bytes + (m->grad_borrowed[a] ? 0 : m->grads[a].count * sizeof(float));
    }
    out->other += (m->labels.count + m->per_sample.count) * sizeof(float);
}
