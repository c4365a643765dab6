/* What the trainer does differently when several ranks train one model:
 * agree on the run at start, start from rank 0's state, and average the
 * batch-norm running statistics before they are used or saved. */
#include "train/train_internal.h"
#include "dist/dist_internal.h"

#include <stdlib.h>
#include <string.h>

/* Every setting that changes what a rank computes, as numbers; a string
 * is compared by its hash (reduced to a double's exact range). */
sn_status sn_dist_train_check(sn_dist *d, const sn_model *m, const sn_dataset *train,
                              const sn_dataset *test, const sn_train_config *c,
                              const sn_train_state *s)
{
    const sn_graph *g = sn_model_graph(m);
    const double name_hash = (double)(sn_hash64(g->model, strlen(g->model), 0) >> 12);
    static const char *const names[] = {
        "the model",       "the sharing policy", "the parameter count", "the classes",
        "the input channels", "the input size",  "the epochs",          "the batch",
        "the accumulation", "the learning rate", "the schedule",        "the milestones",
        "gamma",           "the warm-up",        "the momentum",        "the weight decay",
        "nesterov",        "the seed",           "the seed's high bits", "the training limit",
        "the test limit",
        "the crop padding", "the flip",          "the evaluation interval", "frozen batch norm",
        "the training examples", "the test examples", "the data's classes",
        "the epochs done", "the steps done",     "the bucket size",     "the data's hash"};
    double milestones = 0;
    for (int i = 0; i < c->lr.n_milestones; i++)
        milestones = milestones * 31 + c->lr.milestones[i];
    /* The first images and labels: a rank given other data shows here. */
    uint64_t data_hash = 0;
    if (train->count > 0) {
        size_t image = (size_t)train->channels * train->height * train->width;
        size_t n = train->count < 64 ? (size_t)train->count : 64;
        data_hash = sn_hash64(train->images, image * n, 0);
        data_hash = sn_hash64(train->labels, sizeof *train->labels * n, data_hash);
    }
    const double values[] = {
        name_hash, g->policy, (double)sn_graph_param_count(g), g->classes, g->in_channels,
        g->size, c->epochs, c->batch, c->accum, c->lr.base_lr, c->lr.kind, milestones,
        c->lr.gamma, c->lr.warmup_epochs, c->momentum, c->weight_decay, c->nesterov,
        (double)(c->seed & 0xffffffffu), (double)(c->seed >> 32), (double)c->limit_train,
        (double)c->limit_test, c->crop_padding, c->flip, c->eval_every, c->freeze_bn,
        (double)train->count, test ? (double)test->count : -1.0, train->classes, s->epoch,
        (double)s->global_step, (double)c->bucket_bytes, (double)(data_hash >> 12)};
    _Static_assert(sizeof names / sizeof names[0] == sizeof values / sizeof values[0],
                   "one name per value");
    return sn_dist_check_fields(d, "the run", names, values, (int)(sizeof values / sizeof values[0]));
}

/* The BN running statistics of the model, all in one host array (or back). */
static size_t bn_floats(sn_model *m)
{
    size_t n = 0;
    for (int l = 0; l < m->graph.n_layers; l++)
        if (m->graph.layers[l].op == SN_OP_BN)
            n += 2 * m->bn[l].running_mean.count;
    return n;
}

static sn_status bn_transfer(sn_model *m, float *host, int upload)
{
    size_t at = 0;
    for (int l = 0; l < m->graph.n_layers; l++) {
        if (m->graph.layers[l].op != SN_OP_BN)
            continue;
        sn_tensor *t[2] = {sn_model_bn_running_mean(m, l), sn_model_bn_running_var(m, l)};
        for (int k = 0; k < 2; k++) {
            SN_TRY(upload ? sn_tensor_upload(t[k], host + at, t[k]->count)
                          : sn_tensor_download(t[k], host + at, t[k]->count));
            at += t[k]->count;
        }
    }
    return SN_OK;
}

sn_status sn_dist_average_bn(sn_dist *d, sn_model *m)
{
    size_t n = bn_floats(m);
    float *host = malloc(sizeof(float) * n + 1);
    if (!host)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "dist: out of host memory");
    sn_status st = bn_transfer(m, host, 0);
    if (st == SN_OK)
        st = sn_dist_mean_floats(d, host, n);
    if (st == SN_OK)
        st = bn_transfer(m, host, 1);
    free(host);
    return st == SN_OK ? st : sn_fail_context(st, "averaging batch-norm statistics across ranks");
}

/* One tensor from rank 0 to every rank, through the host. */
static sn_status broadcast_tensor(sn_dist *d, sn_tensor *t, float *host)
{
    SN_TRY(sn_tensor_download(t, host, t->count));
    SN_TRY(sn_dist_broadcast(d, host, sizeof(float) * t->count));
    return sn_tensor_upload(t, host, t->count);
}

sn_status sn_dist_start_from_root(sn_dist *d, sn_model *m)
{
    size_t n = bn_floats(m);
    if (m->arena[0].count > n)
        n = m->arena[0].count;
    float *host = malloc(sizeof(float) * n + 1);
    if (!host)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "dist: out of host memory");
    m->params_version++; /* the values change under the eval fold */
    sn_status st = broadcast_tensor(d, &m->arena[0], host);
    if (st == SN_OK)
        st = broadcast_tensor(d, &m->arena[2], host);
    if (st == SN_OK)
        st = bn_transfer(m, host, 0);
    if (st == SN_OK)
        st = sn_dist_broadcast(d, host, sizeof(float) * bn_floats(m));
    if (st == SN_OK)
        st = bn_transfer(m, host, 1);
    free(host);
    return st == SN_OK ? st : sn_fail_context(st, "starting every rank from rank 0's model");
}
