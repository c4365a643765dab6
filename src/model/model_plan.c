/* The compiled plan: what a forward or backward pass runs, decided once in
 * sn_model_create, so that execution (model.c) is a straight loop over steps.
 *
 * A step is one launch group: a layer's op, or a BN group (the BN with the
 * ReLU, or the ADD and the ReLU, it runs with; in eval the conv folded into
 * it too, see sn_bn_plan). The layers a group absorbs have no step of their
 * own. Backward steps carry their accumulate flags, fixed here by walking
 * the pass in order: a gradient's first writer overwrites (0), every later
 * one adds (1), so an activation read by two layers and a shared weight
 * used by several both get the sum of their uses. A parameter's flag is
 * ORed at run time with the micro-batch accumulation of sn_model_backward
 * (every write adds from the second micro-batch on). A layer whose output
 * gradient nothing writes gets no backward step (none in a checked graph),
 * and a parameter no step writes fails the plan instead of keeping a stale
 * gradient. */
#include "model/model_internal.h"

#include <stdlib.h>
#include <string.h>

const char *sn_step_kind_name(sn_step_kind kind)
{
    static const char *const names[] = {"conv",   "bn",   "relu",   "add",
                                        "shortcut_a", "maxpool", "gap", "linear"};
    return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}

static sn_step_kind kind_of(sn_op_kind op)
{
    switch (op) {
    case SN_OP_CONV: return SN_STEP_CONV;
    case SN_OP_BN: return SN_STEP_BN;
    case SN_OP_RELU: return SN_STEP_RELU;
    case SN_OP_ADD: return SN_STEP_ADD;
    case SN_OP_SHORTCUT_A: return SN_STEP_SHORTCUT_A;
    case SN_OP_MAXPOOL: return SN_STEP_MAXPOOL;
    case SN_OP_GAP: return SN_STEP_GAP;
    case SN_OP_LINEAR: return SN_STEP_LINEAR;
    }
    return SN_STEP_CONV;
}

/* The BN group layer l belongs to and runs at (its BN), or -1 when l runs
 * alone. A BN with an ADD runs at the ADD's position (where the shortcut
 * exists), so the BN itself has no step then. */
static int group_at(const sn_model *m, int l, int *skip)
{
    const sn_layer_spec *layer = &m->graph.layers[l];
    *skip = 0;
    if (layer->op == SN_OP_BN) {
        *skip = m->plan[l].add >= 0;
        return l;
    }
    if (layer->op == SN_OP_ADD && m->member_of[l] >= 0)
        return m->member_of[l];
    if (layer->op == SN_OP_RELU && m->member_of[l] >= 0)
        *skip = 1; /* its BN's group writes the output */
    return -1;
}

static sn_step bn_step(const sn_model *m, int bn)
{
    const sn_bn_plan *p = &m->plan[bn];
    sn_step s = {SN_STEP_BN, bn, SN_BN_PLAIN, -1, 0, 0, 0};
    s.bn_ops = p->add >= 0 ? SN_BN_ADD_RELU : p->relu >= 0 ? SN_BN_RELU : SN_BN_PLAIN;
    return s;
}

/* Forward steps of one mode into out (room for n_layers steps). */
static int plan_forward(const sn_model *m, int training, sn_step *out)
{
    const sn_graph *g = &m->graph;
    int n = 0;
    for (int l = 0; l < g->n_layers; l++) {
        int skip;
        const int group = group_at(m, l, &skip);
        if (skip)
            continue;
        if (group >= 0) {
            sn_step s = bn_step(m, group);
            if (!training)
                s.fold_conv = m->plan[group].conv; /* y = act(conv * scale + shift ...) */
            out[n++] = s;
            continue;
        }
        if (!training && g->layers[l].op == SN_OP_CONV && m->folded_into[l] >= 0)
            continue; /* its BN's group runs it */
        out[n++] = (sn_step){kind_of(g->layers[l].op), l, SN_BN_PLAIN, -1, 0, 0, 0};
    }
    return n;
}

/* First write of gradient buffer `*written` in this pass: 0, later 1. */
static int accumulate_flag(unsigned char *written)
{
    const int acc = *written;
    *written = 1;
    return acc;
}

/* Backward steps in execution order into out; SN_ERR_INTERNAL when a
 * parameter would get no gradient. */
static sn_status plan_backward(sn_model *m, sn_step *out, int *count)
{
    const sn_graph *g = &m->graph;
    unsigned char *act = calloc((size_t)g->n_acts + 1, 1);
    unsigned char *param = calloc((size_t)g->n_params + 1, 1);
    if (!act || !param) {
        free(act);
        free(param);
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "model %s: out of host memory", g->model);
    }
    act[g->logits] = 1; /* the loss writes it */
    int n = 0;
    for (int l = g->n_layers - 1; l >= 0; l--) {
        int skip;
        const int group = group_at(m, l, &skip);
        if (skip)
            continue;
        if (group >= 0) {
            const sn_layer_spec *bn = &g->layers[group];
            const sn_bn_plan *p = &m->plan[group];
            if (!act[p->out])
                continue; /* nothing downstream depends on this group */
            sn_step s = bn_step(m, group);
            /* gamma and beta are written together: one flag serves both */
            s.acc_param = accumulate_flag(&param[bn->weight]);
            param[bn->bias] = 1;
            m->steps.param_last_step[bn->weight] = m->steps.param_last_step[bn->bias] = n;
            s.acc_in = accumulate_flag(&act[bn->in]);
            if (p->shortcut > 0) /* the input image needs no gradient */
                s.acc_in2 = accumulate_flag(&act[p->shortcut]);
            out[n++] = s;
            continue;
        }
        const sn_layer_spec *layer = &g->layers[l];
        if (!act[layer->out])
            continue;
        sn_step s = {kind_of(layer->op), l, SN_BN_PLAIN, -1, 0, 0, 0};
        if (layer->op == SN_OP_CONV || layer->op == SN_OP_LINEAR) {
            s.acc_param = accumulate_flag(&param[layer->weight]);
            m->steps.param_last_step[layer->weight] = n;
            if (layer->op == SN_OP_LINEAR) {
                param[layer->bias] = 1;
                m->steps.param_last_step[layer->bias] = n;
            }
        }
        /* in order: an ADD of an activation with itself adds the second copy */
        if (layer->in != 0)
            s.acc_in = accumulate_flag(&act[layer->in]);
        if (layer->op == SN_OP_ADD && layer->in2 != 0)
            s.acc_in2 = accumulate_flag(&act[layer->in2]);
        out[n++] = s;
    }
    sn_status st = SN_OK;
    for (int i = 0; i < g->n_params && st == SN_OK; i++)
        if (!param[i])
            st = sn_fail(SN_ERR_INTERNAL, "model %s: parameter %s would get no gradient",
                         g->model, g->params[i].name);
    free(act);
    free(param);
    *count = n;
    return st;
}

sn_status sn_plan_compile(sn_model *m)
{
    const int n = m->graph.n_layers + 1;
    sn_plan *p = &m->steps;
    p->train = calloc((size_t)n, sizeof *p->train);
    p->eval = calloc((size_t)n, sizeof *p->eval);
    p->backward = calloc((size_t)n, sizeof *p->backward);
    p->param_last_step = calloc((size_t)m->graph.n_params + 1, sizeof *p->param_last_step);
    if (!p->train || !p->eval || !p->backward || !p->param_last_step)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "model %s: out of host memory", m->graph.model);
    p->n_train = plan_forward(m, 1, p->train);
    p->n_eval = plan_forward(m, 0, p->eval);
    return plan_backward(m, p->backward, &p->n_backward);
}

void sn_plan_free(sn_plan *p)
{
    free(p->train);
    free(p->eval);
    free(p->backward);
    free(p->param_last_step);
    memset(p, 0, sizeof *p);
}
