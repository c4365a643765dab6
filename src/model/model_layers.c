/* Forward and backward of each layer kind, side by side. Activations are
 * [n, c, h, w] views of the model's buffers for the current batch. A BN layer
 * runs with the layers of its group (sn_bn_plan in model_internal.h): those
 * layers do nothing themselves.
 *
 * Backward writes each gradient buffer with accumulate = 0 the first time it
 * is touched in a pass and accumulate = 1 after that: an activation read by
 * two layers (a block input feeds the residual branch and the shortcut) and
 * a shared weight used by several layers both get the sum of their uses. */
#include "model/model_internal.h"

static sn_tensor act(sn_model *m, int a) { return sn_batch_view(&m->acts[a], m->n); }
static sn_tensor dact(sn_model *m, int a) { return sn_batch_view(&m->grads[a], m->n); }

/* Accumulate flag for activation gradient a, marking it written. */
static int act_acc(sn_model *m, int a)
{
    int acc = m->grad_written[a];
    m->grad_written[a] = 1;
    return acc;
}

/* Accumulate flag for parameter gradient p, marking it written. */
static int param_acc(sn_model *m, int p)
{
    int acc = m->params[p].grad_written;
    m->params[p].grad_written = 1;
    m->params[p].reached = 1;
    return acc;
}

static sn_tensor *value(sn_model *m, int p) { return &m->params[p].value; }
static sn_tensor *grad(sn_model *m, int p) { return &m->params[p].grad; }

/* Forward of BN layer `b` and its group (see sn_bn_plan), writing the
 * group's output. */
static sn_status bn_group_forward(sn_model *m, int b, int training)
{
    const sn_layer_spec *l = &m->graph.layers[b];
    const sn_bn_plan *p = &m->plan[b];
    sn_context *ctx = m->ctx;
    sn_bn_state *s = &m->bn[b];
    const sn_tensor *g = value(m, l->weight), *beta = value(m, l->bias);
    sn_tensor x = act(m, l->in), y = act(m, p->out);
    sn_tensor sc = p->shortcut >= 0 ? act(m, p->shortcut) : (sn_tensor){0};
    const sn_tensor *shortcut = p->shortcut >= 0 ? &sc : NULL;
    if (!training && p->conv >= 0) { /* y = act(conv(cx) * scale + shift (+ shortcut)) */
        const sn_layer_spec *c = &m->graph.layers[p->conv];
        sn_conv2d_desc d = {c->kernel, c->stride, c->pad};
        sn_tensor cx = act(m, c->in);
        return sn_conv2d_forward_affine(ctx, &d, &cx, value(m, c->weight), &s->scale, &s->shift,
                                        shortcut, p->relu >= 0, &y);
    }
    if (training && !m->frozen_bn) { /* batch statistics */
        if (shortcut) /* y = relu(bn(x) + shortcut) */
            return sn_batchnorm_add_relu_forward_train(ctx, &x, shortcut, g, beta,
                                                       &s->running_mean, &s->running_var,
                                                       SN_BN_MOMENTUM, SN_BN_EPS, &y,
                                                       &s->save_mean, &s->save_invstd);
        if (p->relu >= 0) /* y = relu(bn(x)) */
            return sn_batchnorm_relu_forward_train(ctx, &x, g, beta, &s->running_mean,
                                                   &s->running_var, SN_BN_MOMENTUM, SN_BN_EPS,
                                                   &y, &s->save_mean, &s->save_invstd);
        return sn_batchnorm_forward_train(ctx, &x, g, beta, &s->running_mean, &s->running_var,
                                          SN_BN_MOMENTUM, SN_BN_EPS, &y, &s->save_mean,
                                          &s->save_invstd);
    }
    /* running statistics: eval without a folded conv, or frozen BN */
    if (shortcut)
        return sn_batchnorm_add_relu_forward_eval(ctx, &x, shortcut, g, beta, &s->running_mean,
                                                  &s->running_var, SN_BN_EPS, &y);
    if (p->relu >= 0)
        return sn_batchnorm_relu_forward_eval(ctx, &x, g, beta, &s->running_mean,
                                              &s->running_var, SN_BN_EPS, &y);
    return sn_batchnorm_forward_eval(ctx, &x, g, beta, &s->running_mean, &s->running_var,
                                     SN_BN_EPS, &y);
}

sn_status sn_layer_forward(sn_model *m, int index, int training)
{
    const sn_layer_spec *l = &m->graph.layers[index];
    sn_context *ctx = m->ctx;
    sn_tensor x = act(m, l->in), y = act(m, l->out);
    switch (l->op) {
    case SN_OP_CONV: { /* x [n,C,H,W] * w [OC,C,K,K] -> y [n,OC,OH,OW] */
        if (!training && m->folded_into[index] >= 0)
            return SN_OK; /* its BN's group runs it */
        sn_conv2d_desc d = {l->kernel, l->stride, l->pad};
        return sn_conv2d_forward(ctx, &d, &x, value(m, l->weight), &y);
    }
    case SN_OP_BN: /* x [n,C,H,W] -> y, same shape */
        if (m->plan[index].add >= 0)
            return SN_OK; /* runs at its ADD, where the shortcut exists */
        return bn_group_forward(m, index, training);
    case SN_OP_RELU:
        if (m->member_of[index] >= 0)
            return SN_OK; /* its BN's group wrote the output */
        return sn_relu_forward(ctx, &x, &y);
    case SN_OP_ADD: {
        if (m->member_of[index] >= 0)
            return bn_group_forward(m, m->member_of[index], training);
        sn_tensor x2 = act(m, l->in2);
        return sn_add_forward(ctx, &x, &x2, &y);
    }
    case SN_OP_SHORTCUT_A: /* x [n,C,H,W] -> y [n,OC,ceil(H/s),ceil(W/s)] */
        return sn_shortcut_a_forward(ctx, &x, l->stride, &y);
    case SN_OP_MAXPOOL:
        return sn_maxpool_forward(ctx, &x, l->kernel, l->stride, l->pad, &y);
    case SN_OP_GAP: /* [n,C,H,W] -> [n,C,1,1] */
        return sn_gap_forward(ctx, &x, &y);
    case SN_OP_LINEAR: /* [n,C,1,1] -> [n,OUT,1,1] */
        return sn_linear_forward(ctx, &x, value(m, l->weight), value(m, l->bias), &y);
    }
    return sn_fail(SN_ERR_INTERNAL, "layer %s: unknown op %d", l->name, (int)l->op);
}

/* Backward of BN layer `b` and its group, from the gradient of the group's
 * output: dx, dgamma, dbeta, and with an ADD the shortcut's gradient. */
static sn_status bn_group_backward(sn_model *m, int b)
{
    const sn_layer_spec *l = &m->graph.layers[b];
    const sn_bn_plan *p = &m->plan[b];
    sn_context *ctx = m->ctx;
    if (!m->grad_written[p->out])
        return SN_OK; /* nothing downstream depends on this group */
    if (l->in == 0)
        return sn_fail(SN_ERR_INTERNAL, "layer %s: BN directly on the input", l->name);
    sn_bn_state *s = &m->bn[b];
    sn_tensor x = act(m, l->in), y = act(m, p->out), dy = dact(m, p->out), dx = dact(m, l->in);
    const sn_tensor *gamma = value(m, l->weight);
    /* gamma and beta are written together, so one flag serves both */
    const int acc = param_acc(m, l->weight);
    param_acc(m, l->bias);
    const int acc_dx = act_acc(m, l->in);
    if (p->shortcut >= 0) {
        /* dy masked by y > 0 is the gradient of both inputs of the add: the
         * BN's backward takes it, and the same pass stores or adds it into
         * the shortcut's gradient (none for the input image) */
        sn_tensor dsc = p->shortcut > 0 ? dact(m, p->shortcut) : (sn_tensor){0};
        sn_tensor *dshortcut = p->shortcut > 0 ? &dsc : NULL;
        const int acc_sc = p->shortcut > 0 ? act_acc(m, p->shortcut) : 0;
        if (m->frozen_bn)
            return sn_batchnorm_add_relu_backward_eval(ctx, &dy, &y, &x, gamma, &s->running_mean,
                                                       &s->running_var, SN_BN_EPS, &dx, acc_dx,
                                                       dshortcut, acc_sc, grad(m, l->weight),
                                                       grad(m, l->bias), acc);
        return sn_batchnorm_add_relu_backward(ctx, &dy, &y, &x, gamma, &s->save_mean,
                                              &s->save_invstd, &dx, acc_dx, dshortcut, acc_sc,
                                              grad(m, l->weight), grad(m, l->bias), acc);
    }
    if (p->relu >= 0 && m->frozen_bn)
        return sn_batchnorm_relu_backward_eval(ctx, &dy, &y, &x, gamma, &s->running_mean,
                                               &s->running_var, SN_BN_EPS, &dx, acc_dx,
                                               grad(m, l->weight), grad(m, l->bias), acc);
    if (p->relu >= 0)
        return sn_batchnorm_relu_backward(ctx, &dy, &y, &x, gamma, &s->save_mean,
                                          &s->save_invstd, &dx, acc_dx, grad(m, l->weight),
                                          grad(m, l->bias), acc);
    if (m->frozen_bn) /* the forward used the running statistics */
        return sn_batchnorm_backward_eval(ctx, &dy, &x, gamma, &s->running_mean, &s->running_var,
                                          SN_BN_EPS, &dx, acc_dx, grad(m, l->weight),
                                          grad(m, l->bias), acc);
    return sn_batchnorm_backward(ctx, &dy, &x, gamma, &s->save_mean, &s->save_invstd, &dx, acc_dx,
                                 grad(m, l->weight), grad(m, l->bias), acc);
}

sn_status sn_layer_backward(sn_model *m, int index)
{
    const sn_layer_spec *l = &m->graph.layers[index];
    sn_context *ctx = m->ctx;
    switch (l->op) { /* groups first: their layers' own outputs are not theirs */
    case SN_OP_BN:
        /* a group with an ADD runs at the ADD's (earlier in backward) */
        return m->plan[index].add >= 0 ? SN_OK : bn_group_backward(m, index);
    case SN_OP_RELU:
        if (m->member_of[index] >= 0)
            return SN_OK; /* its BN's group takes the ReLU's backward too */
        break;
    case SN_OP_ADD:
        if (m->member_of[index] >= 0)
            return bn_group_backward(m, m->member_of[index]);
        break;
    default:
        break;
    }
    if (!m->grad_written[l->out])
        return SN_OK; /* nothing downstream depends on this layer */
    sn_tensor x = act(m, l->in), y = act(m, l->out), dy = dact(m, l->out);
    int need_dx = l->in != 0; /* the input image needs no gradient */
    sn_tensor dx = need_dx ? dact(m, l->in) : (sn_tensor){0};
    switch (l->op) {
    case SN_OP_CONV: {
        sn_conv2d_desc d = {l->kernel, l->stride, l->pad};
        SN_TRY(sn_conv2d_backward_weights(ctx, &d, &x, &dy, grad(m, l->weight),
                                          param_acc(m, l->weight)));
        if (need_dx)
            SN_TRY(sn_conv2d_backward_data(ctx, &d, &dy, value(m, l->weight), &dx,
                                           act_acc(m, l->in)));
        return SN_OK;
    }
    case SN_OP_RELU:
        return need_dx ? sn_relu_backward(ctx, &dy, &y, &dx, act_acc(m, l->in)) : SN_OK;
    case SN_OP_ADD: { /* d in = d in2 = dy */
        int ins[2] = {l->in, l->in2};
        for (int i = 0; i < 2; i++) {
            if (ins[i] == 0)
                continue;
            sn_tensor d = dact(m, ins[i]);
            SN_TRY(act_acc(m, ins[i]) ? sn_axpy(ctx, 1.0f, &dy, &d) : sn_copy(ctx, &dy, &d));
        }
        return SN_OK;
    }
    case SN_OP_SHORTCUT_A:
        return need_dx ? sn_shortcut_a_backward(ctx, &dy, l->stride, &dx, act_acc(m, l->in))
                       : SN_OK;
    case SN_OP_MAXPOOL:
        return need_dx ? sn_maxpool_backward(ctx, &x, &dy, l->kernel, l->stride, l->pad, &dx,
                                             act_acc(m, l->in))
                       : SN_OK;
    case SN_OP_GAP:
        return need_dx ? sn_gap_backward(ctx, &dy, &dx, act_acc(m, l->in)) : SN_OK;
    case SN_OP_LINEAR: {
        int acc = param_acc(m, l->weight);
        param_acc(m, l->bias);
        SN_TRY(sn_linear_backward_params(ctx, &dy, &x, grad(m, l->weight), grad(m, l->bias), acc));
        if (need_dx)
            SN_TRY(sn_linear_backward_data(ctx, &dy, value(m, l->weight), &dx, act_acc(m, l->in)));
        return SN_OK;
    }
    case SN_OP_BN:
        break; /* handled above */
    }
    return sn_fail(SN_ERR_INTERNAL, "layer %s: unknown op %d", l->name, (int)l->op);
}
