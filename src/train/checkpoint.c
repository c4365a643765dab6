/* Checkpoints: a model's tensors and run state in a safetensors file.
 *
 * Tensors (float32, little-endian): every parameter under its graph name (a
 * shared weight once, e.g. "stage1.shared.conv2.weight"), BN running
 * statistics as "<bn layer>.running_mean/var", and momentum buffers as
 * "optimizer.momentum.<param>". Metadata (strings): the model and graph
 * options needed to rebuild it, epoch, step, normalisation and the sharing
 * map; docs/CHECKPOINT.md lists every key. */
#include "train/train_internal.h"
#include "data/data_internal.h"
#include "train/safetensors_internal.h"
#include "sharesnet/interop.h"

#include <math.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECKPOINT_FORMAT "sharesnet-checkpoint-1"

typedef struct tensor_list {
    sn_safetensors_tensor *items;
    char (*names)[128];
    float **data;
    size_t count, capacity;
} tensor_list;

static void list_free(tensor_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->data[i]);
    free(l->items);
    free(l->names);
    free(l->data);
}

/* Download t and append it under `name`; with `finite`, a NaN or an
 * infinity in it is SN_ERR_NUMERIC. */
static sn_status list_add(tensor_list *l, const char *name, const sn_tensor *t, int finite)
{
    if (l->count == l->capacity) {
        size_t cap = l->capacity ? 2 * l->capacity : 64;
        sn_safetensors_tensor *items = realloc(l->items, cap * sizeof *items);
        if (items)
            l->items = items;
        char(*names)[128] = realloc(l->names, cap * sizeof *names);
        if (names)
            l->names = names;
        float **data = realloc(l->data, cap * sizeof *data);
        if (data)
            l->data = data;
        if (!items || !names || !data)
            return sn_fail(SN_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory");
        l->capacity = cap;
    }
    float *host = malloc(t->count * sizeof *host);
    if (!host)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory for %s", name);
    sn_status st = sn_tensor_download(t, host, t->count);
    if (st != SN_OK) {
        free(host);
        return sn_fail_context(st, "checkpoint: reading %s", name);
    }
    for (size_t k = 0; finite && k < t->count; k++)
        if (!isfinite(host[k])) {
            sn_status bad = sn_fail(SN_ERR_NUMERIC, "checkpoint: %s[%zu] is %s", name, k,
                                    isnan(host[k]) ? "NaN" : "infinite");
            free(host);
            return bad;
        }
    size_t i = l->count++;
    snprintf(l->names[i], sizeof l->names[i], "%s", name);
    l->data[i] = host;
    sn_safetensors_tensor *e = &l->items[i];
    memset(e, 0, sizeof *e);
    e->dtype = SN_SAFETENSORS_F32;
    e->ndim = t->ndim;
    for (int d = 0; d < t->ndim; d++)
        e->shape[d] = t->shape[d];
    e->data = host;
    return SN_OK;
}

static void momentum_name(char *out, size_t size, const char *param)
{
    snprintf(out, size, "optimizer.momentum.%s", param);
}

static void bn_names(const sn_layer_spec *l, char *mean, char *var, size_t size)
{
    snprintf(mean, size, "%s.running_mean", l->name);
    snprintf(var, size, "%s.running_var", l->name);
}

static void float_list(char *out, size_t size, const float *v, int n)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, i ? ",%.9g" : "%.9g", (double)v[i]);
}

static sn_status save(sn_model *m, const sn_train_state *s, const char *path, int finite)
{
    const sn_graph *g = sn_model_graph(m);
    tensor_list l = {0};
    sn_status st = SN_OK;
    char name[128], name2[128];
    for (int i = 0; st == SN_OK && i < g->n_params; i++)
        st = list_add(&l, g->params[i].name, sn_model_param(m, i, SN_PARAM_VALUE), finite);
    for (int i = 0; st == SN_OK && i < g->n_layers; i++) {
        if (g->layers[i].op != SN_OP_BN)
            continue;
        bn_names(&g->layers[i], name, name2, sizeof name);
        st = list_add(&l, name, sn_model_bn_running_mean(m, i), finite);
        if (st == SN_OK)
            st = list_add(&l, name2, sn_model_bn_running_var(m, i), finite);
    }
    for (int i = 0; st == SN_OK && i < g->n_params; i++) {
        momentum_name(name, sizeof name, g->params[i].name);
        st = list_add(&l, name, sn_model_param(m, i, SN_PARAM_MOMENTUM), finite);
    }
    if (st != SN_OK) {
        list_free(&l);
        return st;
    }
    for (size_t i = 0; i < l.count; i++)
        l.items[i].name = l.names[i];

    char classes[16], in_ch[16], size[16], shortcut[8], stem[8], epoch[24], step[24], chans[8],
        params[24], mean[128], stdv[128], seed[24];
    snprintf(classes, sizeof classes, "%d", g->classes);
    snprintf(in_ch, sizeof in_ch, "%d", g->in_channels);
    snprintf(size, sizeof size, "%d", g->size);
    snprintf(shortcut, sizeof shortcut, "%c", g->shortcut ? g->shortcut : '-');
    snprintf(stem, sizeof stem, "%d", g->small_stem);
    snprintf(epoch, sizeof epoch, "%d", s ? s->epoch : 0);
    snprintf(step, sizeof step, "%lld", s ? (long long)s->global_step : 0LL);
    snprintf(chans, sizeof chans, "%d", s ? s->channels : 0);
    snprintf(seed, sizeof seed, "%llu", s ? (unsigned long long)s->seed : 0ULL);
    snprintf(params, sizeof params, "%lld", sn_graph_param_count(g));
    float_list(mean, sizeof mean, s ? s->mean : NULL, s ? s->channels : 0);
    float_list(stdv, sizeof stdv, s ? s->std : NULL, s ? s->channels : 0);
    char *sharing;
    st = sn_sharing_map_json(g, &sharing);
    if (st != SN_OK) {
        list_free(&l);
        return st;
    }
    sn_safetensors_meta meta[] = {
        {"format", CHECKPOINT_FORMAT},
        {"model", g->model},
        {"policy", sn_share_policy_name(g->policy)},
        {"classes", classes},
        {"in_channels", in_ch},
        {"size", size},
        {"shortcut", shortcut},
        {"small_stem", stem},
        {"parameters", params},
        {"epoch", epoch},
        {"global_step", step},
        {"seed", seed},
        {"norm_channels", chans},
        {"norm_mean", mean},
        {"norm_std", stdv},
        {"class_names", s ? s->class_names : ""},
        {"sharing", sharing},
        {"log_line", s ? s->log_line : ""},
    };
    /* a test may make the write fail on this model's context */
    st = sn_safetensors_write_failing(path, l.items, l.count, meta, sizeof meta / sizeof meta[0],
                                      m->ctx->test.file_failpoint);
    free(sharing);
    list_free(&l);
    return st;
}

sn_status sn_checkpoint_save(sn_model *m, const sn_train_state *s, const char *path)
{
    return save(m, s, path, 0);
}

sn_status sn_checkpoint_save_finite(sn_model *m, const sn_train_state *s, const char *path)
{
    return save(m, s, path, 1);
}

/* ---- reading ---- */

static sn_status meta_int(const sn_safetensors *f, const char *key, long long lo, long long hi,
                          long long *out)
{
    const char *v = sn_safetensors_metadata(f, key);
    char *end;
    if (!v)
        return sn_fail(SN_ERR_FORMAT, "checkpoint %s: metadata '%s' is missing",
                       sn_safetensors_path(f), key);
    errno = 0;
    *out = strtoll(v, &end, 10);
    if (errno || end == v || *end)
        return sn_fail(SN_ERR_FORMAT, "checkpoint %s: metadata '%s' = '%s' is not an integer",
                       sn_safetensors_path(f), key, v);
    if (*out < lo || *out > hi)
        return sn_fail(SN_ERR_FORMAT, "checkpoint %s: metadata '%s' = %s is outside [%lld, %lld]",
                       sn_safetensors_path(f), key, v, lo, hi);
    return SN_OK;
}

static sn_status meta_floats(const sn_safetensors *f, const char *key, float *out, int n)
{
    const char *v = sn_safetensors_metadata(f, key);
    if (!v)
        return sn_fail(SN_ERR_FORMAT, "checkpoint %s: metadata '%s' is missing",
                       sn_safetensors_path(f), key);
    for (int i = 0; i < n; i++) {
        char *end;
        out[i] = strtof(v, &end);
        if (end == v || (i + 1 < n ? *end != ',' : *end != '\0'))
            return sn_fail(SN_ERR_FORMAT, "checkpoint %s: metadata '%s' = '%s' is not %d numbers",
                           sn_safetensors_path(f), key, v, n);
        v = end + 1;
    }
    return SN_OK;
}

static sn_status read_info(const sn_safetensors *f, sn_checkpoint_info *info)
{
    memset(info, 0, sizeof *info);
    const char *path = sn_safetensors_path(f);
    const char *format = sn_safetensors_metadata(f, "format");
    if (!format || strcmp(format, CHECKPOINT_FORMAT) != 0)
        return sn_fail(SN_ERR_FORMAT, "%s is not a sharesnet checkpoint (format '%s', expected '%s')",
                       path, format ? format : "(none)", CHECKPOINT_FORMAT);
    const char *model = sn_safetensors_metadata(f, "model");
    const char *policy = sn_safetensors_metadata(f, "policy");
    const char *shortcut = sn_safetensors_metadata(f, "shortcut");
    if (!model || !policy || !shortcut)
        return sn_fail(SN_ERR_FORMAT, "checkpoint %s: metadata model/policy/shortcut missing", path);
    snprintf(info->model, sizeof info->model, "%s", model);
    sn_graph_options_default(&info->graph);
    info->graph.policy = -1;
    for (int p = SN_SHARE_NONE; p <= SN_SHARE_STAGE; p++)
        if (!strcmp(policy, sn_share_policy_name((sn_share_policy)p)))
            info->graph.policy = p;
    if (info->graph.policy < 0)
        return sn_fail(SN_ERR_FORMAT, "checkpoint %s: unknown sharing policy '%s'", path, policy);
    info->graph.shortcut = shortcut[0] == '-' ? 0 : shortcut[0];
    long long v;
    SN_TRY(meta_int(f, "classes", 1, INT_MAX, &v));
    info->graph.classes = (int)v;
    SN_TRY(meta_int(f, "in_channels", 1, INT_MAX, &v));
    info->graph.in_channels = (int)v;
    SN_TRY(meta_int(f, "size", 1, INT_MAX, &v));
    info->graph.size = (int)v;
    SN_TRY(meta_int(f, "small_stem", -1, 1, &v));
    info->graph.small_stem = (int)v;
    SN_TRY(meta_int(f, "epoch", 0, INT_MAX, &v));
    info->state.epoch = (int)v;
    SN_TRY(meta_int(f, "global_step", 0, LLONG_MAX, &v));
    info->state.global_step = v;
    SN_TRY(meta_int(f, "norm_channels", 0, SN_DATA_MAX_CHANNELS, &v));
    info->state.channels = (int)v;
    const char *seed = sn_safetensors_metadata(f, "seed"); /* optional */
    if (seed) {
        char *end;
        info->state.seed = strtoull(seed, &end, 10);
        if (end == seed || *end)
            return sn_fail(SN_ERR_FORMAT, "checkpoint %s: metadata 'seed' = '%s' is not an integer",
                           path, seed);
    }
    const char *line = sn_safetensors_metadata(f, "log_line"); /* optional */
    snprintf(info->state.log_line, sizeof info->state.log_line, "%s", line ? line : "");
    const char *names = sn_safetensors_metadata(f, "class_names");
    snprintf(info->state.class_names, sizeof info->state.class_names, "%s", names ? names : "");
    if (v > 0) {
        SN_TRY(meta_floats(f, "norm_mean", info->state.mean, (int)v));
        SN_TRY(meta_floats(f, "norm_std", info->state.std, (int)v));
        /* Here, not in each command: eval, predict and resume all read the
         * metadata through this function (a std of 0 once reached predict). */
        char what[4200];
        snprintf(what, sizeof what, "checkpoint %s: metadata norm_mean/norm_std", path);
        SN_TRY(sn_data_check_normalization(SN_ERR_FORMAT, what, (int)v, info->state.mean,
                                           info->state.std));
    }
    return SN_OK;
}

sn_status sn_checkpoint_info_read(const char *path, sn_checkpoint_info *info)
{
    sn_safetensors *f;
    SN_TRY(sn_safetensors_open(path, &f));
    sn_status st = read_info(f, info);
    sn_safetensors_close(f);
    return st;
}

/* Check the tensor `name` of f: dtype F32, shape[0..ndim-1], every value
 * finite (a NaN weight can hide behind a ReLU in eval and only show up an
 * epoch into a resumed run). With t, upload it too. */
static sn_status load_tensor(const sn_safetensors *f, const char *name, int ndim,
                             const int *shape, sn_tensor *t)
{
    int64_t shape64[4];
    size_t count = 1;
    for (int d = 0; d < ndim; d++) {
        shape64[d] = shape[d];
        count *= (size_t)shape[d];
    }
    const void *data;
    SN_TRY(sn_safetensors_get(f, name, SN_SAFETENSORS_F32, ndim, shape64, &data));
    if (t)
        return sn_tensor_upload(t, data, count);
    const float *v = data;
    for (size_t k = 0; k < count; k++)
        if (!isfinite(v[k]))
            return sn_fail(SN_ERR_NUMERIC, "checkpoint %s: tensor %s[%zu] is %s",
                           sn_safetensors_path(f), name, k, isnan(v[k]) ? "NaN" : "infinite");
    return SN_OK;
}

/* Every tensor graph g keeps in a checkpoint, with the shape g gives it:
 * checked only when m is NULL (no device needed), uploaded into m else. */
static sn_status load_tensors(const sn_graph *g, sn_model *m, const sn_safetensors *f,
                              int with_optimizer)
{
    char name[128], name2[128];
    for (int i = 0; i < g->n_params; i++) {
        const sn_param_spec *p = &g->params[i];
        SN_TRY(load_tensor(f, p->name, p->ndim, p->shape,
                           m ? sn_model_param(m, i, SN_PARAM_VALUE) : NULL));
    }
    for (int i = 0; i < g->n_layers; i++) {
        if (g->layers[i].op != SN_OP_BN)
            continue;
        const sn_param_spec *gamma = &g->params[g->layers[i].weight]; /* [C], as the statistics */
        bn_names(&g->layers[i], name, name2, sizeof name);
        SN_TRY(load_tensor(f, name, gamma->ndim, gamma->shape,
                           m ? sn_model_bn_running_mean(m, i) : NULL));
        SN_TRY(load_tensor(f, name2, gamma->ndim, gamma->shape,
                           m ? sn_model_bn_running_var(m, i) : NULL));
    }
    for (int i = 0; with_optimizer && i < g->n_params; i++) {
        const sn_param_spec *p = &g->params[i];
        momentum_name(name, sizeof name, p->name);
        SN_TRY(load_tensor(f, name, p->ndim, p->shape,
                           m ? sn_model_param(m, i, SN_PARAM_MOMENTUM) : NULL));
    }
    return SN_OK;
}

/* The metadata of f describes graph g, and f holds every tensor of g with
 * its shape and finite values: nothing is uploaded, no device is needed. */
static sn_status check_all(const sn_graph *g, const sn_safetensors *f, int with_optimizer)
{
    sn_checkpoint_info info;
    SN_TRY(read_info(f, &info));
    if (strcmp(info.model, g->model) != 0 || info.graph.policy != (int)g->policy ||
        info.graph.classes != g->classes || info.graph.in_channels != g->in_channels)
        return sn_fail(SN_ERR_SHAPE,
                       "checkpoint %s holds %s (policy %s, %d classes, %d channels) but the model "
                       "is %s (policy %s, %d classes, %d channels)",
                       sn_safetensors_path(f), info.model,
                       sn_share_policy_name((sn_share_policy)info.graph.policy), info.graph.classes,
                       info.graph.in_channels, g->model, sn_share_policy_name(g->policy),
                       g->classes, g->in_channels);
    /* Optional: checkpoints from before the map was recorded lack it. */
    const char *sharing = sn_safetensors_metadata(f, "sharing");
    if (sharing)
        SN_TRY(sn_sharing_map_check(g, sharing, sn_safetensors_path(f)));
    return load_tensors(g, NULL, f, with_optimizer);
}

sn_status sn_checkpoint_check(const char *path, const sn_graph *g, int with_optimizer)
{
    sn_safetensors *f;
    SN_TRY(sn_safetensors_open(path, &f));
    sn_status st = check_all(g, f, with_optimizer);
    sn_safetensors_close(f);
    return st;
}

static sn_status load_all(sn_model *m, const sn_safetensors *f, int with_optimizer)
{
    const sn_graph *g = sn_model_graph(m);
    /* Check everything first, so that a bad file changes nothing. */
    SN_TRY(check_all(g, f, with_optimizer));
    SN_TRY(load_tensors(g, m, f, with_optimizer));
    return sn_context_finish(m->ctx);
}

sn_status sn_checkpoint_load(sn_model *m, const char *path, int with_optimizer,
                             sn_train_state *state)
{
    sn_safetensors *f;
    SN_TRY(sn_safetensors_open(path, &f));
    sn_status st = load_all(m, f, with_optimizer);
    if (st == SN_OK && state) {
        sn_checkpoint_info info;
        st = read_info(f, &info);
        if (st == SN_OK)
            *state = info.state;
    }
    sn_safetensors_close(f);
    return st;
}

/* The tensor names of a BN layer's running statistics, for other readers of
 * checkpoints (checkpoint_init.c). */
void sn_checkpoint_bn_names(const sn_layer_spec *l, char *mean, char *var, size_t size)
{
    bn_names(l, mean, var, size);
}
