/* sharesnet — a graph instantiated on a device: parameters, gradients,
 * optimizer state, activations, and the forward/backward schedule.
 *
 * Memory layout (the ShaResNet invariant): one value, one gradient and one
 * momentum buffer per parameter of the graph. A shared 3x3 weight is one
 * parameter referred to by several layers, so its memory exists once per
 * stage; forward enqueues the same buffer once per use, and backward adds
 * every use's gradient into its one gradient buffer (the ops' accumulate
 * flag). The optimizer updates each parameter once per step.
 *
 * A training step:
 *   sn_model_set_batch   upload images and labels (n <= the batch capacity)
 *   sn_model_forward     every layer in order, then the loss per sample
 *   sn_model_backward    every layer in reverse; gradients overwrite, or add
 *                        when accumulating micro-batches
 *   sn_model_sgd_step    each parameter once
 *   sn_model_metrics     one blocking read: loss, top-1, top-5
 */
#ifndef SHARESNET_MODEL_H
#define SHARESNET_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "sharesnet/graph.h"
#include "sharesnet/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sn_model sn_model;

/* Batch norm hyper-parameters used by every BN layer (PyTorch defaults). */
#define SN_BN_MOMENTUM 0.1f
#define SN_BN_EPS 1e-5f

/* Instantiate `graph` on ctx for batches of up to `batch` samples. The model
 * keeps its own copy of the graph. Parameters are initialised from `seed`:
 * conv weights N(0, sqrt(2 / (K*K*OC))), BN gamma 1 and beta 0, linear
 * weights U(-1/sqrt(IN), 1/sqrt(IN)) and bias 0; running mean 0, var 1. */
SN_API sn_status sn_model_create(sn_context *ctx, const sn_graph *graph, int batch, uint64_t seed,
                          sn_model **out);
SN_API void sn_model_free(sn_model *m);

SN_API const sn_graph *sn_model_graph(const sn_model *m);
SN_API int sn_model_batch_capacity(const sn_model *m);

/* Do the one-time work of running this model on its device now, rather
 * than inside its first step (where it would count in the step's time, or
 * make it look hung): the convolution algorithm of every conv shape of the
 * model at its batch capacity is decided (timed where the context times:
 * how many shapes is announced first through sn_context_options.notice;
 * the choices are kept in the tuning file), and one training pass (forward
 * and backward) and one eval forward run on a full batch of zero images,
 * so that every kernel family they use is built (compiles announced too)
 * and the driver compiles the kernels for the launch sizes of the steps.
 * training = 0 prepares the eval forward alone (evaluation, inference).
 * Parameters, running statistics and momentum stay as they were; the
 * gradients are zeroed and the current batch is dropped. Once done (for
 * this frozen-BN setting) it returns at once. sn_train calls it. */
SN_API sn_status sn_model_prepare(sn_model *m, int training);

/* Upload n images (float32 NCHW, the graph's input shape) and their labels
 * (class indices). Labels outside [0, classes) are SN_ERR_INVALID_ARG. */
SN_API sn_status sn_model_set_batch(sn_model *m, const float *images, const int32_t *labels, int n);

/* Enqueue the forward pass of the current batch. training = 1 uses batch
 * statistics in BN (and updates the running ones) unless BN is frozen (see
 * sn_model_set_frozen_bn), 0 the running ones. The per-sample loss is
 * computed too. */
SN_API sn_status sn_model_forward(sn_model *m, int training);

/* Frozen batch norm (fine-tuning, or micro-batches too small for batch
 * statistics): when on, a training forward normalises with the running
 * statistics and leaves them unchanged, and backward treats them as
 * constants (sn_bn_desc mode SN_BN_EVAL); gamma and beta still train. Off
 * after sn_model_create. Changing it discards the last forward: run a new
 * one before backward. */
SN_API void sn_model_set_frozen_bn(sn_model *m, int frozen);
SN_API int sn_model_frozen_bn(const sn_model *m);

/* Enqueue the backward pass of the last training forward. The loss gradient
 * is scaled by grad_scale (1/n for the batch mean; 1/(n*k) when k
 * micro-batches are accumulated). accumulate = 0 overwrites the parameter
 * gradients, 1 adds to them. */
SN_API sn_status sn_model_backward(sn_model *m, float grad_scale, int accumulate);

/* Blocking: mean loss of the current batch and the number of samples whose
 * label is the top-1 / within the top-5 logits. */
SN_API sn_status sn_model_metrics(sn_model *m, double *mean_loss, int *top1, int *top5);

/* SGD with momentum (torch.optim.SGD rule) on every parameter, once each. */
typedef struct sn_sgd_options {
    float lr, momentum, weight_decay;
    int nesterov;
} sn_sgd_options;
SN_API sn_status sn_model_sgd_step(sn_model *m, const sn_sgd_options *opt);

/* Blocking: copy the logits [n, classes] of the current batch to the host. */
SN_API sn_status sn_model_logits(sn_model *m, float *out, int n);

/* ---- parameters and state, for checkpoints and tests ---- */

/* The value, gradient or momentum tensor of parameter i (graph order).
 * An eval forward runs batch norm folded into the conv before it, from a
 * scale and shift computed when the parameters or running statistics may
 * have changed; handing out a value tensor (or a running-statistics tensor
 * below) counts as such a change. So write through the pointer before the
 * next forward, or ask for it again after. */
typedef enum sn_param_buffer { SN_PARAM_VALUE, SN_PARAM_GRAD, SN_PARAM_MOMENTUM } sn_param_buffer;
SN_API sn_tensor *sn_model_param(sn_model *m, int i, sn_param_buffer which);

/* Running mean / var of the BN layer at graph layer index `layer`; NULL when
 * that layer is not BN. */
SN_API sn_tensor *sn_model_bn_running_mean(sn_model *m, int layer);
SN_API sn_tensor *sn_model_bn_running_var(sn_model *m, int layer);

/* The activation tensor a of the graph (batch capacity as first dim), and
 * its gradient (NULL for the input, which has none). A BN layer whose output
 * only the ReLU layer right after it reads runs fused with it
 * (sn_bn_desc ops SN_BN_RELU), and one whose output only a residual ADD
 * reads, followed by a ReLU alone reading the sum, runs fused with both
 * (SN_BN_ADD_RELU): the activations of such a group are one buffer
 * holding the ReLU's output, and their gradients one buffer holding the
 * gradient of the ReLU's output. After an eval forward the output of a conv
 * followed by BN is not written (the BN runs in the conv's store). */
SN_API sn_tensor *sn_model_activation(sn_model *m, int a);
SN_API sn_tensor *sn_model_activation_grad(sn_model *m, int a);

/* Device bytes this model holds, per category. */
typedef struct sn_model_memory {
    size_t params, grads, optimizer, activations, other;
    size_t param_buffers; /* parameter tensors (a shared weight is one) */
    /* Bytes between parameters in each of the three parameter arenas
     * (values, gradients, momentum: one buffer each), which align every
     * parameter for the device (less than its base-address alignment per
     * parameter). The context allocated params + param_padding bytes of
     * parameters, and as much for gradients and for momentum. */
    size_t param_padding;
} sn_model_memory;
SN_API void sn_model_memory_usage(const sn_model *m, sn_model_memory *out);

#ifdef __cplusplus
}
#endif
#endif
