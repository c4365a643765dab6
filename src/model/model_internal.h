/* Internal state of a model on a device (see include/sharesnet/model.h). */
#ifndef SN_MODEL_INTERNAL_H
#define SN_MODEL_INTERNAL_H

#include "runtime/runtime_internal.h"
#include "sharesnet/model.h"
#include "sharesnet/ops.h"

typedef struct sn_param_state {
    sn_tensor value, grad, momentum; /* one of each per parameter */
    int grad_written;                /* grad holds a value to add to (accumulate) */
    int reached;                     /* some layer's backward wrote it this pass */
} sn_param_state;

typedef struct sn_bn_state {
    sn_tensor running_mean, running_var; /* [C], persistent */
    sn_tensor save_mean, save_invstd;    /* [C], from the last training forward */
} sn_bn_state;

struct sn_model {
    sn_context *ctx;
    sn_graph graph;        /* own deep copy */
    int batch;             /* capacity */
    int n;                 /* samples in the current batch */
    int trained_forward;   /* last forward was in training mode */
    int frozen_bn;         /* BN uses running statistics in training too */

    sn_param_state *params;  /* [graph.n_params] */
    sn_bn_state *bn;         /* [graph.n_layers], used for BN layers only */
    sn_tensor *acts;         /* [graph.n_acts], [batch, c, h, w] */
    sn_tensor *grads;        /* [graph.n_acts], none for acts[0] */
    int *grad_written;       /* [graph.n_acts] this backward wrote grads[a] */

    /* BN + ReLU fusion (sn_model_create): a BN layer whose output only the
     * ReLU layer right after it reads runs as one fused op writing the
     * ReLU's output, and the ReLU layer does nothing. The two activations
     * share one buffer (acts[bn.out] borrows nothing, acts[relu.out] borrows
     * it), and so do their gradients (grads[bn.out] borrows grads[relu.out]),
     * the BN backward reading d(relu.out) and masking it by relu.out > 0. */
    int *fused_relu;         /* [graph.n_layers] BN layer -> its ReLU layer, else -1 */
    int *fused_bn;           /* [graph.n_layers] ReLU layer -> its BN layer, else -1 */
    unsigned char *act_borrowed;  /* [graph.n_acts] acts[a] is another's buffer */
    unsigned char *grad_borrowed; /* [graph.n_acts] grads[a] is another's buffer */

    sn_tensor labels;        /* [batch], class indices as floats */
    sn_tensor per_sample;    /* [batch, 2]: loss, rank */
    float *host_labels;      /* staging for set_batch */
};

/* The first n samples of a [batch, ...] tensor (same buffer). */
sn_tensor sn_batch_view(const sn_tensor *t, int n);

/* Forward / backward of one layer for the current batch (model_layers.c). */
sn_status sn_layer_forward(sn_model *m, int layer, int training);
sn_status sn_layer_backward(sn_model *m, int layer);

#endif
