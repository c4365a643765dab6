/* Internal state of a model on a device (see include/sharesnet/model.h). */
#ifndef SN_MODEL_INTERNAL_H
#define SN_MODEL_INTERNAL_H

#include "runtime/runtime_internal.h"
#include "sharesnet/model.h"
#include "sharesnet/ops.h"

typedef struct sn_param_state {
    sn_tensor value, grad, momentum; /* views into the model's arenas */
} sn_param_state;

typedef struct sn_bn_state {
    sn_tensor running_mean, running_var; /* [C], persistent */
    sn_tensor save_mean, save_invstd;    /* [C], from the last training forward */
    sn_tensor scale, shift;              /* [C], eval fold (only with a folded conv) */
} sn_bn_state;

/* How a BN layer runs with its neighbours (find_fusions in model.c). A BN
 * group writes one activation, `out`, and the activations inside the group
 * (the BN's output, the ADD's) borrow its buffer, their gradients too.
 *   BN + ReLU        the BN's output is read only by the ReLU right after it:
 *                    ops SN_BN_RELU, at the BN's position.
 *   BN + ADD + ReLU  the BN's output is read only by an ADD whose output only
 *                    the ReLU right after it reads (a post-activation block's
 *                    tail): ops SN_BN_ADD_RELU, at the ADD's position
 *                    (where the shortcut exists; a projection shortcut's conv
 *                    and BN run between the BN and the ADD). Backward writes
 *                    the masked gradient straight into the shortcut's.
 *   eval: CONV + group  the conv whose output only this BN reads is folded in
 *                    too: sn_conv2d_forward_affine with the BN as a
 *                    per-channel scale and shift in the conv's store. Training
 *                    (frozen BN included) keeps the conv apart: the BN's
 *                    backward needs the conv's output. */
typedef struct sn_bn_plan {
    int relu;     /* ReLU layer in the group, else -1 */
    int add;      /* ADD layer in the group, else -1 */
    int shortcut; /* the ADD's other input (activation), else -1 */
    int conv;     /* CONV layer folded in eval mode, else -1 */
    int out;      /* activation the group writes: the ReLU's output, else the BN's */
} sn_bn_plan;

/* ---- the compiled plan (model_plan.c) ---- */

typedef enum sn_step_kind {
    SN_STEP_CONV,
    SN_STEP_BN, /* a BN group: the BN with its fused neighbours (bn_ops, fold_conv) */
    SN_STEP_RELU,
    SN_STEP_ADD,
    SN_STEP_SHORTCUT_A,
    SN_STEP_MAXPOOL,
    SN_STEP_GAP,
    SN_STEP_LINEAR
} sn_step_kind;

/* One step of a pass. Backward flags: 1 adds into the gradient (a previous
 * step of the pass wrote it), 0 overwrites; acc_in2 is the ADD's second
 * input or the BN group's shortcut. */
typedef struct sn_step {
    sn_step_kind kind;
    int layer;         /* the graph layer; for SN_STEP_BN the group's BN */
    sn_bn_ops bn_ops;  /* SN_STEP_BN: what the group adds to the BN (sharesnet/ops.h) */
    int fold_conv;     /* eval SN_STEP_BN: the conv run in its store, else -1 */
    int acc_in, acc_in2, acc_param;
} sn_step;

typedef struct sn_plan {
    sn_step *train, *eval, *backward; /* forward in training / eval mode; backward */
    int n_train, n_eval, n_backward;
    /* [graph.n_params]: the backward step that writes the parameter's
     * gradient last (a shared weight: at its first use in the graph); after
     * it the gradient is final, and a data-parallel reduction may start. */
    int *param_last_step;
} sn_plan;

/* Compile m->steps from the graph and the fusions (after find_fusions). */
sn_status sn_plan_compile(sn_model *m);
void sn_plan_free(sn_plan *p);
const char *sn_step_kind_name(sn_step_kind kind);

struct sn_model {
    sn_context *ctx;
    sn_graph graph;        /* own deep copy */
    int batch;             /* capacity */
    int n;                 /* samples in the current batch */
    int trained_forward;   /* last forward was in training mode */
    int frozen_bn;         /* BN uses running statistics in training too */

    sn_param_state *params;  /* [graph.n_params]: views into the arenas */
    /* Parameter arenas: every parameter's value, gradient and momentum live
     * in one buffer each (values, grads, momentum), at the same offsets
     * (aligned for sub-buffers; the gaps hold zeros): one SGD launch updates
     * them all, and a gradient all-reduce or an export reads one buffer. A
     * shared weight is one region, like any parameter. */
    sn_tensor arena[3];
    size_t *param_offset;    /* [graph.n_params] floats into each arena */
    sn_bn_state *bn;         /* [graph.n_layers], used for BN layers only */
    sn_tensor *acts;         /* [graph.n_acts], [batch, c, h, w] */
    sn_tensor *grads;        /* [graph.n_acts], none for acts[0] */

    /* Fusions (sn_model_create, see sn_bn_plan): a ReLU or ADD inside a BN
     * group does nothing itself, its BN's group runs it; so does a conv
     * folded into a group in eval mode. */
    sn_bn_plan *plan;        /* [graph.n_layers], BN layers only */
    int *member_of;          /* [graph.n_layers] ReLU / ADD layer -> its BN, else -1 */
    int *folded_into;        /* [graph.n_layers] CONV layer -> its BN (eval), else -1 */
    unsigned char *act_borrowed;  /* [graph.n_acts] acts[a] is another's buffer */
    unsigned char *grad_borrowed; /* [graph.n_acts] grads[a] is another's buffer */

    /* The eval fold's scale and shift depend on gamma, beta and the running
     * statistics: params_version counts the events that may change them (an
     * SGD step, a training forward, a writable parameter or statistics
     * tensor handed out), folded_version is the count the fold was last
     * computed at; an eval forward refolds when they differ. */
    unsigned long params_version, folded_version;

    sn_plan steps;           /* the passes as step lists (model_plan.c) */
    /* What sn_model_prepare has done (model_prepare.c): 0 nothing, 1 the
     * eval forward, 2 + frozen_bn the training passes in that BN mode. */
    int prepared;

    /* While set, called after each backward step is enqueued, with its
     * index (the data-parallel gradient reducer reads finished buckets). */
    sn_status (*backward_hook)(void *user, int step);
    void *backward_hook_user;

    sn_tensor labels;        /* [batch], class indices as floats */
    sn_tensor per_sample;    /* [batch, 2]: loss, rank */
    float *host_labels;      /* staging for set_batch */
};

/* The first n samples of a [batch, ...] tensor (same buffer). */
sn_tensor sn_batch_view(const sn_tensor *t, int n);

/* Forward / backward of one layer for the current batch (model_layers.c). */
/* Run one step of the plan (model_layers.c). accumulate: the micro-batch
 * flag of sn_model_backward, ORed into the parameter's. */
sn_status sn_step_forward(sn_model *m, const sn_step *s, int training);
sn_status sn_step_backward(sn_model *m, const sn_step *s, int accumulate);

#endif
