/* Forward and backward of each step of the plan (model_plan.c), side by
 * side. Activations are [n, c, h, w] views of the model's buffers for the
 * current batch. A BN step runs its whole group (sn_bn_plan in
 * model_internal.h); the layers it absorbs have no step.
 *
 * Every accumulate flag comes from the step (decided when the plan was
 * compiled): 0 for a gradient's first writer in the pass, 1 after, so an
 * activation read by two layers (a block input feeds the residual branch and
 * the shortcut) and a shared weight used by several layers both get the sum
 * of their uses. */
#include "model/model_internal.h"

static sn_tensor act(sn_model *m, int a) { return sn_batch_view(&m->acts[a], m->n); }
static sn_tensor dact(sn_model *m, int a) { return sn_batch_view(&m->grads[a], m->n); }

static sn_tensor *value(sn_model *m, int p) { return &m->params[p].value; }
static sn_tensor *grad(sn_model *m, int p) { return &m->params[p].grad; }

/* A BN group's tensors for the current batch and the descriptor that points
 * at them. The views follow the batch size, so they are made at each call;
 * what the group computes (its ops) was fixed when the plan was compiled. */
typedef struct bn_call {
    sn_tensor x, y, shortcut, dy, dx, dshortcut;
    sn_bn_desc d;
} bn_call;

/* The forward's half of the descriptor of BN step st, in `mode`: batch
 * statistics (SN_BN_TRAIN) or the running ones (eval, frozen BN). */
static void bn_call_init(sn_model *m, const sn_step *st, sn_bn_mode mode, bn_call *c)
{
    const sn_layer_spec *l = &m->graph.layers[st->layer];
    const sn_bn_plan *p = &m->plan[st->layer];
    sn_bn_state *s = &m->bn[st->layer];
    c->x = act(m, l->in);
    c->y = act(m, p->out);
    c->d = (sn_bn_desc){.ops = st->bn_ops,
                        .mode = mode,
                        .momentum = SN_BN_MOMENTUM,
                        .eps = SN_BN_EPS,
                        .x = &c->x,
                        .y = &c->y,
                        .gamma = value(m, l->weight),
                        .beta = value(m, l->bias),
                        .running_mean = &s->running_mean,
                        .running_var = &s->running_var,
                        .save_mean = &s->save_mean,
                        .save_invstd = &s->save_invstd};
    if (st->bn_ops == SN_BN_ADD_RELU) { /* y = relu(bn(x) + shortcut) */
        c->shortcut = act(m, p->shortcut);
        c->d.shortcut = &c->shortcut;
    }
}

/* Forward of the BN group of step s, writing the group's output. */
static sn_status bn_group_forward(sn_model *m, const sn_step *s, int training)
{
    if (s->fold_conv >= 0) { /* eval: y = act(conv(cx) * scale + shift (+ shortcut)) */
        const sn_bn_plan *p = &m->plan[s->layer];
        const sn_layer_spec *c = &m->graph.layers[s->fold_conv];
        sn_conv2d_desc d = {c->kernel, c->stride, c->pad};
        sn_tensor cx = act(m, c->in), y = act(m, p->out);
        sn_tensor sc = p->shortcut >= 0 ? act(m, p->shortcut) : (sn_tensor){0};
        sn_bn_state *st = &m->bn[s->layer];
        return sn_conv2d_forward_affine(m->ctx, &d, &cx, value(m, c->weight), &st->scale,
                                        &st->shift, p->shortcut >= 0 ? &sc : NULL, p->relu >= 0,
                                        &y);
    }
    /* batch statistics in training; the running ones in eval and frozen BN */
    bn_call c;
    bn_call_init(m, s, training && !m->frozen_bn ? SN_BN_TRAIN : SN_BN_EVAL, &c);
    return sn_batchnorm_forward(m->ctx, &c.d);
}

sn_status sn_step_forward(sn_model *m, const sn_step *s, int training)
{
    const sn_layer_spec *l = &m->graph.layers[s->layer];
    sn_context *ctx = m->ctx;
    sn_tensor x = act(m, l->in), y = act(m, l->out);
    switch (s->kind) {
    case SN_STEP_CONV: { /* x [n,C,H,W] * w [OC,C,K,K] -> y [n,OC,OH,OW] */
        sn_conv2d_desc d = {l->kernel, l->stride, l->pad};
        return sn_conv2d_forward(ctx, &d, &x, value(m, l->weight), &y);
    }
    case SN_STEP_BN: /* x [n,C,H,W] -> the group's output, same shape */
        return bn_group_forward(m, s, training);
    case SN_STEP_RELU:
        return sn_relu_forward(ctx, &x, &y);
    case SN_STEP_ADD: {
        sn_tensor x2 = act(m, l->in2);
        return sn_add_forward(ctx, &x, &x2, &y);
    }
    case SN_STEP_SHORTCUT_A: /* x [n,C,H,W] -> y [n,OC,ceil(H/s),ceil(W/s)] */
        return sn_shortcut_a_forward(ctx, &x, l->stride, &y);
    case SN_STEP_MAXPOOL:
        return sn_maxpool_forward(ctx, &x, l->kernel, l->stride, l->pad, &y);
    case SN_STEP_GAP: /* [n,C,H,W] -> [n,C,1,1] */
        return sn_gap_forward(ctx, &x, &y);
    case SN_STEP_LINEAR: /* [n,C,1,1] -> [n,OUT,1,1] */
        return sn_linear_forward(ctx, &x, value(m, l->weight), value(m, l->bias), &y);
    }
    return sn_fail(SN_ERR_INTERNAL, "layer %s: unknown step %d", l->name, (int)s->kind);
}

/* Backward of the BN group of step s, from the gradient of the group's
 * output: dx, dgamma, dbeta, and with an ADD the shortcut's gradient. The
 * mode is the training forward's: frozen BN used the running statistics. */
static sn_status bn_group_backward(sn_model *m, const sn_step *s, int acc)
{
    const sn_layer_spec *l = &m->graph.layers[s->layer];
    const sn_bn_plan *p = &m->plan[s->layer];
    if (l->in == 0)
        return sn_fail(SN_ERR_INTERNAL, "layer %s: BN directly on the input", l->name);
    bn_call c;
    bn_call_init(m, s, m->frozen_bn ? SN_BN_EVAL : SN_BN_TRAIN, &c);
    c.dy = dact(m, p->out);
    c.dx = dact(m, l->in);
    c.d.dy = &c.dy;
    c.d.dx = &c.dx;
    c.d.accumulate_dx = s->acc_in;
    c.d.dgamma = grad(m, l->weight);
    c.d.dbeta = grad(m, l->bias);
    c.d.accumulate_params = acc;
    if (s->bn_ops == SN_BN_ADD_RELU && p->shortcut > 0) {
        /* dy masked by y > 0 is the gradient of both inputs of the add: the
         * same pass stores or adds it into the shortcut's gradient (none for
         * the input image) */
        c.dshortcut = dact(m, p->shortcut);
        c.d.dshortcut = &c.dshortcut;
        c.d.accumulate_shortcut = s->acc_in2;
    }
    return sn_batchnorm_backward(m->ctx, &c.d);
}

sn_status sn_step_backward(sn_model *m, const sn_step *s, int accumulate)
{
    const sn_layer_spec *l = &m->graph.layers[s->layer];
    sn_context *ctx = m->ctx;
    /* a parameter adds from its second use on, and from the second micro-batch */
    const int acc_param = s->acc_param || accumulate;
    if (s->kind == SN_STEP_BN)
        return bn_group_backward(m, s, acc_param);
    sn_tensor x = act(m, l->in), y = act(m, l->out), dy = dact(m, l->out);
    const int need_dx = l->in != 0; /* the input image needs no gradient */
    sn_tensor dx = need_dx ? dact(m, l->in) : (sn_tensor){0};
    switch (s->kind) {
    case SN_STEP_CONV: {
        sn_conv2d_desc d = {l->kernel, l->stride, l->pad};
        SN_TRY(sn_conv2d_backward_weights(ctx, &d, &x, &dy, grad(m, l->weight), acc_param));
        if (need_dx)
            SN_TRY(sn_conv2d_backward_data(ctx, &d, &dy, value(m, l->weight), &dx, s->acc_in));
        return SN_OK;
    }
    case SN_STEP_RELU:
        return need_dx ? sn_relu_backward(ctx, &dy, &y, &dx, s->acc_in) : SN_OK;
    case SN_STEP_ADD: { /* d in = d in2 = dy */
        const int ins[2] = {l->in, l->in2}, acc[2] = {s->acc_in, s->acc_in2};
        for (int i = 0; i < 2; i++) {
            if (ins[i] == 0)
                continue;
            sn_tensor d = dact(m, ins[i]);
            SN_TRY(acc[i] ? sn_axpy(ctx, 1.0f, &dy, &d) : sn_copy(ctx, &dy, &d));
        }
        return SN_OK;
    }
    case SN_STEP_SHORTCUT_A:
        return need_dx ? sn_shortcut_a_backward(ctx, &dy, l->stride, &dx, s->acc_in) : SN_OK;
    case SN_STEP_MAXPOOL:
        return need_dx ? sn_maxpool_backward(ctx, &x, &dy, l->kernel, l->stride, l->pad, &dx,
                                             s->acc_in)
                       : SN_OK;
    case SN_STEP_GAP:
        return need_dx ? sn_gap_backward(ctx, &dy, &dx, s->acc_in) : SN_OK;
    case SN_STEP_LINEAR:
        SN_TRY(sn_linear_backward_params(ctx, &dy, &x, grad(m, l->weight), grad(m, l->bias),
                                         acc_param));
        if (need_dx)
            SN_TRY(sn_linear_backward_data(ctx, &dy, value(m, l->weight), &dx, s->acc_in));
        return SN_OK;
    case SN_STEP_BN:
        break; /* handled above */
    }
    return sn_fail(SN_ERR_INTERNAL, "layer %s: unknown step %d", l->name, (int)s->kind);
}
