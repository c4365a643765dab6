/* Double-precision reference executor of an sn_graph, built on the ref_* ops.
 *
 * The definition the device executor (src/model) is tested against: layers
 * run in graph order, backward in reverse; the gradient of an activation is
 * the sum over the layers that read it, and the gradient of a parameter is
 * the sum over the layers that use it (a shared ShaResNet weight gets the sum
 * of all its uses). Loss: mean softmax cross-entropy over the batch.
 *
 * Parameters and gradients are arrays of double arrays indexed like
 * graph->params: params[i] holds graph->params[i].count values in the
 * parameter's shape order.
 *
 *   ref_graph_pass p;
 *   ref_graph_pass_init(&p, g, n);
 *   double loss = ref_graph_forward(&p, params, images, labels, 1);
 *   ref_graph_backward(&p, params, 1.0 / n, grads);
 *   ref_graph_pass_free(&p);
 */
#ifndef SN_REF_GRAPH_H
#define SN_REF_GRAPH_H

#include "sharesnet/graph.h"

/* The state of one batch through the graph. */
typedef struct ref_graph_pass {
    const sn_graph *g;       /* borrowed; must outlive the pass */
    int n;                   /* samples */
    int training;            /* mode of the last forward */
    int *labels;             /* [n], copy of the last forward's labels */
    double **acts;           /* [g->n_acts]: n * c*h*w values each */
    double **dacts;          /* [g->n_acts]: their gradients (backward) */
    double **save_mean;      /* [g->n_layers]: BN layers, batch mean [C] */
    double **save_invstd;    /* [g->n_layers]: BN layers, 1/sqrt(var+eps) [C] */
    double **running_mean;   /* [g->n_layers]: BN layers, start 0, updated by
                                training forwards, used by eval forwards */
    double **running_var;    /* [g->n_layers]: BN layers, start 1 */
    int **argmax;            /* [g->n_layers]: max-pool layers, winners */
    double *scratch;         /* the largest activation, for op outputs */
    double loss;             /* mean loss of the last forward */
    int top1, top5;          /* hits of the last forward */
} ref_graph_pass;

/* BN hyper-parameters of the reference (the executor's SN_BN_*). */
#define REF_GRAPH_BN_EPS 1e-5
#define REF_GRAPH_BN_MOMENTUM 0.1

/* Allocate a pass of g for n samples. 0 on success, -1 out of memory or a
 * graph this executor cannot run (a message on stderr). */
int ref_graph_pass_init(ref_graph_pass *p, const sn_graph *g, int n);
void ref_graph_pass_free(ref_graph_pass *p);

/* Forward: images [n, in_c, size, size] (NCHW), labels [n] in [0, classes).
 * training = 1 normalises with batch statistics and updates the running
 * ones; 0 normalises with the running ones. Returns the mean softmax-CE loss;
 * the logits [n, classes] are then p->acts[g->logits]. */
double ref_graph_forward(ref_graph_pass *p, double *const *params, const double *images,
                         const int *labels, int training);

/* Backward of the last forward with the same params: the loss gradient is
 * (softmax - onehot) * grad_scale per sample (1/n for the mean loss), and
 * grads[i] (g->params[i].count values) is overwritten with the gradient of
 * parameter i, summed over its uses. After an eval forward (training = 0)
 * this is the backward of frozen batch norm: the running statistics are
 * constants. */
void ref_graph_backward(ref_graph_pass *p, double *const *params, double grad_scale,
                        double **grads);

/* One zeroed double array per parameter of g (NULL when out of memory). */
double **ref_graph_params_alloc(const sn_graph *g);
void ref_graph_params_free(const sn_graph *g, double **params);

#endif
