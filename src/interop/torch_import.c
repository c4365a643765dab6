/* Weights in from PyTorch names (torchvision/timm or pytorchcv). Strict like
 * load_state_dict(strict=True): every key of the model must be in the file
 * with its shape, every key of the file must be used, and the keys of one
 * shared weight must hold equal values (else the file is not a ShaResNet of
 * this sharing rule). Everything is checked before anything is uploaded. */
#include "interop/interop_internal.h"
#include "sharesnet/safetensors.h"

#include <stdlib.h>
#include <string.h>

static sn_status detect(const sn_safetensors *f, sn_torch_names *names)
{
    if (sn_safetensors_find(f, "conv1.weight"))
        *names = SN_TORCH_NAMES_TORCHVISION;
    else if (sn_safetensors_find(f, "features.init_block.conv.conv.weight"))
        *names = SN_TORCH_NAMES_PYTORCHCV;
    else
        return sn_fail(SN_ERR_FORMAT,
                       "import %s: neither torchvision/timm ('conv1.weight') nor pytorchcv "
                       "('features.init_block.conv.conv.weight') names",
                       sn_safetensors_path(f));
    return SN_OK;
}

/* Key k of the file against the model: present, F32, same shape; equal to
 * the first key of the same shared parameter. Returns the data in *data. */
static sn_status check_key(sn_model *m, const sn_safetensors *f, const sn_torch_key *keys, int i,
                           const void **data)
{
    const sn_torch_key *k = &keys[i];
    const char *path = sn_safetensors_path(f);
    if (k->kind == SN_TORCH_COUNTER) { /* any integer scalar; not loaded */
        const sn_safetensors_tensor *t = sn_safetensors_find(f, k->key);
        if (!t)
            return sn_fail(SN_ERR_FORMAT, "import %s: key %s is missing", path, k->key);
        *data = NULL;
        return SN_OK;
    }
    const sn_tensor *dst = sn_torch_key_tensor(m, k);
    int64_t shape[4];
    for (int d = 0; d < dst->ndim; d++)
        shape[d] = dst->shape[d];
    SN_TRY(sn_safetensors_get(f, k->key, SN_SAFETENSORS_F32, dst->ndim, shape, data));
    for (int j = 0; k->kind == SN_TORCH_PARAM && j < i; j++) {
        if (keys[j].kind != SN_TORCH_PARAM || keys[j].param != k->param)
            continue;
        const void *first;
        SN_TRY(sn_safetensors_get(f, keys[j].key, SN_SAFETENSORS_F32, dst->ndim, shape, &first));
        if (memcmp(first, *data, dst->count * sizeof(float)))
            return sn_fail(SN_ERR_FORMAT,
                           "import %s: %s and %s differ, but the model shares one weight "
                           "(%s, policy %s) between them",
                           path, keys[j].key, k->key, sn_model_graph(m)->params[k->param].name,
                           sn_share_policy_name(sn_model_graph(m)->policy));
        break;
    }
    return SN_OK;
}

static sn_status import_keys(sn_model *m, const sn_safetensors *f, const sn_torch_key *keys, int n)
{
    const char *path = sn_safetensors_path(f);
    size_t count = sn_safetensors_tensor_count(f);
    for (size_t t = 0; t < count; t++) {
        const char *name = sn_safetensors_tensor_at(f, t)->name;
        int used = 0;
        for (int i = 0; i < n && !used; i++)
            used = !strcmp(keys[i].key, name);
        if (!used)
            return sn_fail(SN_ERR_FORMAT, "import %s: unexpected key %s (not a layer of %s)",
                           path, name, sn_model_graph(m)->model);
    }
    for (int i = 0; i < n; i++) {
        const void *data;
        SN_TRY(check_key(m, f, keys, i, &data));
    }
    sn_context *ctx = NULL;
    for (int i = 0; i < n; i++) {
        sn_tensor *dst = sn_torch_key_tensor(m, &keys[i]);
        const void *data;
        if (!dst)
            continue;
        SN_TRY(sn_safetensors_get(f, keys[i].key, SN_SAFETENSORS_F32, 0, NULL, &data));
        SN_TRY(sn_tensor_upload(dst, data, dst->count));
        ctx = dst->ctx;
    }
    return ctx ? sn_context_finish(ctx) : SN_OK;
}

sn_status sn_import_torch(sn_model *m, const char *path, sn_torch_names names,
                          sn_torch_names *detected)
{
    if (!m || !path)
        return sn_fail(SN_ERR_INVALID_ARG, "import: model and path are required");
    sn_safetensors *f;
    SN_TRY(sn_safetensors_open(path, &f));
    sn_status st = names == SN_TORCH_NAMES_AUTO ? detect(f, &names) : SN_OK;
    sn_torch_key *keys = NULL;
    int n = 0;
    if (st == SN_OK)
        st = sn_torch_keys(sn_model_graph(m), names, &keys, &n);
    if (st == SN_OK)
        st = import_keys(m, f, keys, n);
    if (st == SN_OK && detected)
        *detected = names;
    free(keys);
    sn_safetensors_close(f);
    return st;
}
