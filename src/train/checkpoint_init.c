/* Fine-tuning: a new run starts from a checkpoint's weights (our own, or one
 * written by `sharesnet import`), with a fresh head when the number of
 * classes changes. Unlike resume, no optimizer state or run state is taken. */
#include "train/train_internal.h"
#include "sharesnet/interop.h"
#include "sharesnet/safetensors.h"

#include <string.h>

/* Whether parameter p is the classifier's weight or bias. */
static int is_head(const sn_graph *g, int p)
{
    for (int l = 0; l < g->n_layers; l++)
        if (g->layers[l].op == SN_OP_LINEAR && (g->layers[l].weight == p || g->layers[l].bias == p))
            return 1;
    return 0;
}

/* Check (upload == 0) or upload `name` into t; a head tensor of another
 * shape is skipped. */
static sn_status take(const sn_safetensors *f, const char *name, sn_tensor *t, int head,
                      int upload, int *replaced)
{
    const sn_safetensors_tensor *src = sn_safetensors_find(f, name);
    int64_t shape[4];
    for (int d = 0; d < t->ndim; d++)
        shape[d] = t->shape[d];
    if (head && src && (src->ndim != t->ndim || memcmp(src->shape, shape, sizeof(int64_t) * (size_t)t->ndim))) {
        *replaced = 1;
        return SN_OK;
    }
    const void *data;
    SN_TRY(sn_safetensors_get(f, name, SN_SAFETENSORS_F32, t->ndim, shape, &data));
    return upload ? sn_tensor_upload(t, data, t->count) : SN_OK;
}

static sn_status take_all(sn_model *m, const sn_safetensors *f, int upload, int *replaced)
{
    const sn_graph *g = sn_model_graph(m);
    char mean[128], var[128];
    for (int p = 0; p < g->n_params; p++)
        SN_TRY(take(f, g->params[p].name, sn_model_param(m, p, SN_PARAM_VALUE), is_head(g, p),
                    upload, replaced));
    for (int l = 0; l < g->n_layers; l++) {
        if (g->layers[l].op != SN_OP_BN)
            continue;
        sn_checkpoint_bn_names(&g->layers[l], mean, var, sizeof mean);
        SN_TRY(take(f, mean, sn_model_bn_running_mean(m, l), 0, upload, replaced));
        SN_TRY(take(f, var, sn_model_bn_running_var(m, l), 0, upload, replaced));
    }
    return SN_OK;
}

static sn_status init_from(sn_model *m, const sn_safetensors *f, int *replaced)
{
    const sn_graph *g = sn_model_graph(m);
    sn_checkpoint_info info;
    SN_TRY(sn_checkpoint_info_read(sn_safetensors_path(f), &info));
    if (strcmp(info.model, g->model) || info.graph.policy != (int)g->policy)
        return sn_fail(SN_ERR_SHAPE, "init from %s: it holds %s (policy %s), the model is %s "
                       "(policy %s)", sn_safetensors_path(f), info.model,
                       sn_share_policy_name((sn_share_policy)info.graph.policy), g->model,
                       sn_share_policy_name(g->policy));
    *replaced = 0;
    SN_TRY(take_all(m, f, 0, replaced)); /* check everything before changing anything */
    SN_TRY(take_all(m, f, 1, replaced));
    return sn_context_finish(m->ctx);
}

sn_status sn_checkpoint_init_weights(sn_model *m, const char *path, int *head_replaced)
{
    sn_safetensors *f;
    SN_TRY(sn_safetensors_open(path, &f));
    int replaced = 0;
    sn_status st = init_from(m, f, &replaced);
    sn_safetensors_close(f);
    if (st == SN_OK && head_replaced)
        *head_replaced = replaced;
    return st;
}
