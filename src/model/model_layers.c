/* Forward and backward of each layer kind, side by side. Activations are
 * [n, c, h, w] views of the model's buffers for the current batch.
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

sn_status sn_layer_forward(sn_model *m, int index, int training)
{
    const sn_layer_spec *l = &m->graph.layers[index];
    sn_context *ctx = m->ctx;
    sn_tensor x = act(m, l->in), y = act(m, l->out);
    switch (l->op) {
    case SN_OP_CONV: { /* x [n,C,H,W] * w [OC,C,K,K] -> y [n,OC,OH,OW] */
        sn_conv2d_desc d = {l->kernel, l->stride, l->pad};
        return sn_conv2d_forward(ctx, &d, &x, value(m, l->weight), &y);
    }
    case SN_OP_BN: { /* x [n,C,H,W] -> y, same shape */
        sn_bn_state *s = &m->bn[index];
        const sn_tensor *g = value(m, l->weight), *b = value(m, l->bias);
        if (m->fused_relu[index] >= 0) { /* y = relu(bn(x)), shared with the ReLU's output */
            if (training && !m->frozen_bn)
                return sn_batchnorm_relu_forward_train(ctx, &x, g, b, &s->running_mean,
                                                       &s->running_var, SN_BN_MOMENTUM,
                                                       SN_BN_EPS, &y, &s->save_mean,
                                                       &s->save_invstd);
            return sn_batchnorm_relu_forward_eval(ctx, &x, g, b, &s->running_mean,
                                                  &s->running_var, SN_BN_EPS, &y);
        }
        if (training && !m->frozen_bn)
            return sn_batchnorm_forward_train(ctx, &x, g, b, &s->running_mean, &s->running_var,
                                              SN_BN_MOMENTUM, SN_BN_EPS, &y, &s->save_mean,
                                              &s->save_invstd);
        return sn_batchnorm_forward_eval(ctx, &x, g, b, &s->running_mean, &s->running_var,
                                         SN_BN_EPS, &y);
    }
    case SN_OP_RELU:
        if (m->fused_bn[index] >= 0)
            return SN_OK; /* its BN wrote the output */
        return sn_relu_forward(ctx, &x, &y);
    case SN_OP_ADD: {
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

sn_status sn_layer_backward(sn_model *m, int index)
{
    const sn_layer_spec *l = &m->graph.layers[index];
    sn_context *ctx = m->ctx;
    if (l->op == SN_OP_RELU && m->fused_bn[index] >= 0)
        return SN_OK; /* its BN's backward takes the ReLU's too */
    /* a fused BN's output is its ReLU's: the gradient arrives there */
    const int fused = l->op == SN_OP_BN && m->fused_relu[index] >= 0;
    const int out = fused ? m->graph.layers[m->fused_relu[index]].out : l->out;
    if (!m->grad_written[out])
        return SN_OK; /* nothing downstream depends on this layer */
    sn_tensor x = act(m, l->in), y = act(m, out), dy = dact(m, out);
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
    case SN_OP_BN: {
        sn_bn_state *s = &m->bn[index];
        /* gamma and beta are written together, so one flag serves both */
        int acc = param_acc(m, l->weight);
        param_acc(m, l->bias);
        if (!need_dx)
            return sn_fail(SN_ERR_INTERNAL, "layer %s: BN directly on the input", l->name);
        if (fused && m->frozen_bn)
            return sn_batchnorm_relu_backward_eval(ctx, &dy, &y, &x, value(m, l->weight),
                                                   &s->running_mean, &s->running_var, SN_BN_EPS,
                                                   &dx, act_acc(m, l->in), grad(m, l->weight),
                                                   grad(m, l->bias), acc);
        if (fused)
            return sn_batchnorm_relu_backward(ctx, &dy, &y, &x, value(m, l->weight),
                                              &s->save_mean, &s->save_invstd, &dx,
                                              act_acc(m, l->in), grad(m, l->weight),
                                              grad(m, l->bias), acc);
        if (m->frozen_bn) /* the forward used the running statistics */
            return sn_batchnorm_backward_eval(ctx, &dy, &x, value(m, l->weight), &s->running_mean,
                                              &s->running_var, SN_BN_EPS, &dx, act_acc(m, l->in),
                                              grad(m, l->weight), grad(m, l->bias), acc);
        return sn_batchnorm_backward(ctx, &dy, &x, value(m, l->weight), &s->save_mean,
                                     &s->save_invstd, &dx, act_acc(m, l->in), grad(m, l->weight),
                                     grad(m, l->bias), acc);
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
    }
    return sn_fail(SN_ERR_INTERNAL, "layer %s: unknown op %d", l->name, (int)l->op);
}
