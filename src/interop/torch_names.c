/* PyTorch state_dict names of a graph (docs/ARCHITECTURE.md, "Sharing
 * rules, initialisation and interop names"): torchvision/timm for the plain
 * ImageNet ResNets, pytorchcv for the ShaResNets and the He CIFAR ResNets.
 * Both the exporter and the importer walk this one list, so
 * the two directions cannot disagree on a name. */
#include "interop/interop_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sn_torch_names_name(sn_torch_names names)
{
    switch (names) {
    case SN_TORCH_NAMES_TORCHVISION: return "torchvision";
    case SN_TORCH_NAMES_PYTORCHCV: return "pytorchcv";
    case SN_TORCH_NAMES_AUTO: break;
    }
    return "auto";
}

sn_status sn_torch_names_for(const sn_graph *g, sn_torch_names *names)
{
    int imagenet = !strncmp(g->family, "imagenet-", 9);
    if (imagenet && g->policy == SN_SHARE_NONE)
        *names = SN_TORCH_NAMES_TORCHVISION;
    else if (imagenet || !strcmp(g->family, "cifar-basic"))
        *names = SN_TORCH_NAMES_PYTORCHCV;
    else
        return sn_fail(SN_ERR_UNSUPPORTED,
                       "PyTorch names: model %s (family %s) has no torchvision/pytorchcv "
                       "naming here (supported: ImageNet ResNets/ShaResNets, He CIFAR ResNets)",
                       g->model, g->family);
    return SN_OK;
}

/* Our layer name -> the module path of `names` (no parameter suffix). */
static sn_status layer_prefix(sn_torch_names names, const char *layer, char *out, size_t size)
{
    int tv = names == SN_TORCH_NAMES_TORCHVISION;
    int stage, block, k, used = 0;
    char rest[64] = "";
    if (!strcmp(layer, "stem.conv"))
        snprintf(out, size, "%s", tv ? "conv1" : "features.init_block.conv.conv");
    else if (!strcmp(layer, "stem.bn"))
        snprintf(out, size, "%s", tv ? "bn1" : "features.init_block.conv.bn");
    else if (!strcmp(layer, "head.fc"))
        snprintf(out, size, "%s", tv ? "fc" : "output");
    else if (sscanf(layer, "stage%d.block%d.%63s%n", &stage, &block, rest, &used) == 3 &&
             !layer[used]) {
        char unit[64];
        if (tv)
            snprintf(unit, sizeof unit, "layer%d.%d", stage, block);
        else
            snprintf(unit, sizeof unit, "features.stage%d.unit%d", stage, block + 1);
        if (!strcmp(rest, "shortcut.conv") || !strcmp(rest, "shortcut.bn"))
            snprintf(out, size, "%s.%s", unit,
                     tv ? (rest[9] == 'c' ? "downsample.0" : "downsample.1")
                        : (rest[9] == 'c' ? "identity_conv.conv" : "identity_conv.bn"));
        else if (sscanf(rest, "conv%d%n", &k, &used) == 1 && !rest[used])
            snprintf(out, size, tv ? "%s.conv%d" : "%s.body.conv%d.conv", unit, k);
        else if (sscanf(rest, "bn%d%n", &k, &used) == 1 && !rest[used])
            snprintf(out, size, tv ? "%s.bn%d" : "%s.body.conv%d.bn", unit, k);
        else
            rest[0] = '\0';
        if (!rest[0])
            return sn_fail(SN_ERR_UNSUPPORTED, "PyTorch names (%s): no name for layer %s",
                           sn_torch_names_name(names), layer);
    } else
        return sn_fail(SN_ERR_UNSUPPORTED, "PyTorch names (%s): no name for layer %s",
                       sn_torch_names_name(names), layer);
    return SN_OK;
}

static void push(sn_torch_key *keys, int *n, const char *prefix, const char *suffix,
                 sn_torch_kind kind, int layer, int param)
{
    sn_torch_key *k = &keys[(*n)++];
    snprintf(k->key, sizeof k->key, "%s.%s", prefix, suffix);
    k->kind = kind;
    k->layer = layer;
    k->param = param;
}

sn_status sn_torch_keys(const sn_graph *g, sn_torch_names names, sn_torch_key **keys, int *count)
{
    *keys = calloc((size_t)g->n_layers * 5 + 1, sizeof **keys); /* at most 5 per layer (BN) */
    *count = 0;
    if (!*keys)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "PyTorch names of %s: out of host memory", g->model);
    for (int l = 0; l < g->n_layers; l++) {
        const sn_layer_spec *L = &g->layers[l];
        if (L->op != SN_OP_CONV && L->op != SN_OP_BN && L->op != SN_OP_LINEAR)
            continue;
        char prefix[160];
        sn_status st = layer_prefix(names, L->name, prefix, sizeof prefix);
        if (st != SN_OK) {
            free(*keys);
            *keys = NULL;
            return st;
        }
        push(*keys, count, prefix, "weight", SN_TORCH_PARAM, l, L->weight);
        if (L->op == SN_OP_CONV)
            continue;
        push(*keys, count, prefix, "bias", SN_TORCH_PARAM, l, L->bias);
        if (L->op == SN_OP_BN) {
            push(*keys, count, prefix, "running_mean", SN_TORCH_RUNNING_MEAN, l, -1);
            push(*keys, count, prefix, "running_var", SN_TORCH_RUNNING_VAR, l, -1);
            push(*keys, count, prefix, "num_batches_tracked", SN_TORCH_COUNTER, l, -1);
        }
    }
    return SN_OK;
}

sn_tensor *sn_torch_key_tensor(sn_model *m, const sn_torch_key *k)
{
    switch (k->kind) {
    case SN_TORCH_PARAM: return sn_model_param(m, k->param, SN_PARAM_VALUE);
    case SN_TORCH_RUNNING_MEAN: return sn_model_bn_running_mean(m, k->layer);
    case SN_TORCH_RUNNING_VAR: return sn_model_bn_running_var(m, k->layer);
    case SN_TORCH_COUNTER: break;
    }
    return NULL;
}
