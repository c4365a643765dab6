/* sn_model_prepare: the one-time work of a model on its device, done before
 * its first step so that none of it falls inside a timed one (or makes a
 * first step look hung): conv algorithm decisions for every conv shape, and
 * one pass of each kind on zero images, which builds the kernel families
 * the steps use and has the driver compile their kernels for the launch
 * sizes the steps will use. */
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#include "ops/conv_tune.h"

/* One conv pass at the model's batch capacity. */
typedef struct conv_use {
    sn_conv_pass pass;
    sn_conv_shape shape;
} conv_use;

/* The distinct conv passes the model's steps run; returns how many (the
 * executor computes no input-image gradient: no backward data there). */
static int conv_uses(const sn_model *m, int training, conv_use *uses)
{
    const sn_graph *g = &m->graph;
    int n = 0;
    for (int i = 0; i < g->n_layers; i++) {
        const sn_layer_spec *l = &g->layers[i];
        if (l->op != SN_OP_CONV)
            continue;
        const sn_act_shape *in = &g->acts[l->in], *out = &g->acts[l->out];
        const sn_conv_shape s = {m->batch, in->c, in->h, in->w, out->c, l->kernel, l->stride,
                                 l->pad};
        for (int p = SN_CONV_FORWARD; p <= SN_CONV_BACKWARD_WEIGHTS; p++) {
            if ((p != SN_CONV_FORWARD && !training) || (p == SN_CONV_BACKWARD_DATA && l->in == 0))
                continue;
            int k = 0;
            while (k < n && !(uses[k].pass == (sn_conv_pass)p &&
                              !memcmp(&uses[k].shape, &s, sizeof s)))
                k++;
            if (k == n)
                uses[n++] = (conv_use){(sn_conv_pass)p, s};
        }
    }
    return n;
}

/* Decide every conv pass now; first announce the shapes that will be timed. */
static sn_status decide_convs(sn_model *m, int training)
{
    sn_context *ctx = m->ctx;
    conv_use *uses = calloc((size_t)m->graph.n_layers * 3 + 1, sizeof *uses);
    if (!uses)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "model %s: out of host memory", m->graph.model);
    const int n = conv_uses(m, training, uses);
    int timed_shapes = 0;
    for (int i = 0; i < n; i++) {
        if (!sn_conv_tune_pending(ctx, uses[i].pass, &uses[i].shape))
            continue;
        int seen = 0; /* a shape counts once, whatever its passes */
        for (int k = 0; k < i && !seen; k++)
            seen = !memcmp(&uses[k].shape, &uses[i].shape, sizeof uses[i].shape) &&
                   sn_conv_tune_pending(ctx, uses[k].pass, &uses[k].shape);
        timed_shapes += !seen;
    }
    if (timed_shapes && ctx->notice) {
        char path[4200];
        sn_conv_tune_path(ctx, path, sizeof path);
        sn_notice note = {SN_NOTICE_TUNE, ctx->info.name, "", timed_shapes, path};
        ctx->notice(&note, ctx->notice_user);
    }
    for (int i = 0; i < n; i++) {
        const sn_conv_shape *s = &uses[i].shape;
        sn_conv_choose(ctx, uses[i].pass, s->N, s->C, s->H, s->W, s->OC, s->K, s->stride, s->pad);
    }
    free(uses);
    return SN_OK;
}

/* Copy every BN layer's running statistics to or from the host (save: 1),
 * two [C] vectors each, so that a training pass can leave them unchanged. */
static sn_status running_stats(sn_model *m, float *host, int save)
{
    const sn_graph *g = &m->graph;
    for (int l = 0; l < g->n_layers; l++) {
        if (g->layers[l].op != SN_OP_BN)
            continue;
        sn_tensor *stats[2] = {&m->bn[l].running_mean, &m->bn[l].running_var};
        for (int k = 0; k < 2; k++) {
            SN_TRY(save ? sn_tensor_download(stats[k], host, stats[k]->count)
                        : sn_tensor_upload(stats[k], host, stats[k]->count));
            host += stats[k]->count;
        }
    }
    return SN_OK;
}

static size_t running_stats_floats(const sn_model *m)
{
    size_t n = 0;
    for (int l = 0; l < m->graph.n_layers; l++)
        if (m->graph.layers[l].op == SN_OP_BN)
            n += 2 * m->bn[l].running_mean.count;
    return n;
}

/* One training pass (forward, backward) and one eval forward on a full
 * batch of zero images, or the eval forward alone. */
static sn_status warm_up(sn_model *m, int training)
{
    const size_t image_floats = m->acts[0].count; /* [batch, c, h, w] */
    float *images = calloc(image_floats, sizeof *images);
    int32_t *labels = calloc((size_t)m->batch, sizeof *labels);
    float *stats = calloc(running_stats_floats(m) + 1, sizeof *stats);
    sn_status st = images && labels && stats
                       ? SN_OK
                       : sn_fail(SN_ERR_OUT_OF_MEMORY, "model %s: out of host memory",
                                 m->graph.model);
    if (st == SN_OK && training)
        st = running_stats(m, stats, 1);
    if (st == SN_OK)
        st = sn_model_set_batch(m, images, labels, m->batch);
    if (st == SN_OK && training && (st = sn_model_forward(m, 1)) == SN_OK &&
        (st = sn_model_backward(m, 1.0f / (float)m->batch, 0)) == SN_OK) {
        st = running_stats(m, stats, 0);
        m->params_version++; /* the statistics were written: refold */
        if (st == SN_OK)
            st = sn_tensor_fill(&m->arena[SN_PARAM_GRAD], 0.0f);
    }
    if (st == SN_OK)
        st = sn_model_forward(m, 0);
    if (st == SN_OK)
        st = sn_context_finish(m->ctx);
    m->n = 0; /* the zero batch is not the caller's */
    m->trained_forward = 0;
    free(images);
    free(labels);
    free(stats);
    return st;
}

sn_status sn_model_prepare(sn_model *m, int training)
{
    training = training != 0;
    /* what is prepared: training passes with this BN mode, or eval only */
    const int wanted = training ? 2 + m->frozen_bn : 1;
    if (m->prepared == wanted || (!training && m->prepared >= 1))
        return SN_OK;
    sn_status st = decide_convs(m, training);
    if (st == SN_OK)
        st = warm_up(m, training);
    if (st != SN_OK)
        return sn_fail_context(st, "preparing model %s", m->graph.model);
    m->prepared = wanted;
    return SN_OK;
}
