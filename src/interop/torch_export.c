/* Weights out with PyTorch names: a safetensors file that
 * load_state_dict(strict=True) accepts. No optimizer state: that stays in
 * our checkpoint. A shared weight is written under every key that uses it,
 * as state_dict() does (the format has no aliasing). */
#include "interop/interop_internal.h"
#include "sharesnet/safetensors.h"

#include <stdio.h>
#include <stdlib.h>

static sn_status export_keys(sn_model *m, const sn_torch_key *keys, int n, sn_torch_names names,
                             const sn_train_state *state, const char *path)
{
    const sn_graph *g = sn_model_graph(m);
    sn_safetensors_tensor *t = calloc((size_t)n, sizeof *t);
    float **host = calloc((size_t)n, sizeof *host);
    /* PyTorch counts BN training batches; ours is the optimizer step count. */
    int64_t batches = state ? state->global_step : 0;
    sn_status st = t && host ? SN_OK
                             : sn_fail(SN_ERR_OUT_OF_MEMORY, "export torch %s: out of host memory",
                                       path);
    for (int i = 0; st == SN_OK && i < n; i++) {
        t[i].name = keys[i].key;
        if (keys[i].kind == SN_TORCH_COUNTER) {
            t[i].dtype = SN_SAFETENSORS_I64;
            t[i].ndim = 0;
            t[i].data = &batches;
            continue;
        }
        const sn_tensor *src = sn_torch_key_tensor(m, &keys[i]);
        st = sn_interop_download(src, keys[i].key, &host[i]);
        t[i].dtype = SN_SAFETENSORS_F32;
        t[i].ndim = src->ndim;
        for (int d = 0; d < src->ndim; d++)
            t[i].shape[d] = src->shape[d];
        t[i].data = host[i];
    }
    if (st == SN_OK) {
        sn_safetensors_meta meta[] = {
            {"format", "pt"}, /* what transformers/timm expect of PyTorch weights */
            {"sharesnet.model", g->model},
            {"sharesnet.names", sn_torch_names_name(names)},
        };
        st = sn_safetensors_write(path, t, (size_t)n, meta, sizeof meta / sizeof meta[0]);
    }
    for (int i = 0; host && i < n; i++)
        free(host[i]);
    free(host);
    free(t);
    return st;
}

sn_status sn_export_torch(sn_model *m, sn_torch_names names, const sn_train_state *state,
                          const char *path)
{
    if (!m || !path)
        return sn_fail(SN_ERR_INVALID_ARG, "export torch: model and path are required");
    const sn_graph *g = sn_model_graph(m);
    if (names == SN_TORCH_NAMES_AUTO)
        SN_TRY(sn_torch_names_for(g, &names));
    sn_torch_key *keys;
    int n;
    SN_TRY(sn_torch_keys(g, names, &keys, &n));
    sn_status st = export_keys(m, keys, n, names, state, path);
    free(keys);
    return st;
}
