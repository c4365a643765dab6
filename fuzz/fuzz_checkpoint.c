/* libFuzzer: the checkpoint loader without a device. A file whose metadata
 * the reader accepts is checked against the graph that metadata names
 * (sn_checkpoint_check: every tensor's dtype, shape and finite values), the
 * path eval, predict and resume take before they allocate the model. Its
 * seeds include a real checkpoint (fuzz/make_corpus.py --sharesnet).
 *
 * Besides not crashing, what the loader accepts must be usable (the
 * defects of issue 15): normalisation std finite and > 0, and every
 * parameter of the graph present and finite when the check passes. */
#include "fuzz_util.h"
#include "sharesnet.h"

#include <math.h>

/* Every parameter tensor of g in f is F32 and finite (an oracle written
 * apart from the loader's own check). */
static int params_finite(const char *path, const sn_graph *g)
{
    sn_safetensors *f;
    if (sn_safetensors_open(path, &f) != SN_OK)
        return 0;
    int ok = 1;
    for (int i = 0; ok && i < g->n_params; i++) {
        const sn_safetensors_tensor *t = sn_safetensors_find(f, g->params[i].name);
        ok = t && t->dtype == SN_SAFETENSORS_F32 && sn_safetensors_numel(t) == g->params[i].count;
        const float *v = ok ? t->data : NULL;
        for (long long k = 0; ok && k < g->params[i].count; k++)
            ok = isfinite(v[k]);
    }
    sn_safetensors_close(f);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("checkpoint.safetensors", data, size);
    sn_checkpoint_info info;
    if (sn_checkpoint_info_read(path, &info) != SN_OK)
        return 0;
    for (int c = 0; c < info.state.channels; c++)
        if (!isfinite(info.state.mean[c]) || !isfinite(info.state.std[c]) ||
            !(info.state.std[c] > 0))
            __builtin_trap();
    sn_graph *g;
    if (sn_graph_build(info.model, &info.graph, &g) == SN_OK) {
        if (sn_checkpoint_check(path, g, 1) == SN_OK && !params_finite(path, g))
            __builtin_trap();
        (void)sn_checkpoint_check(path, g, 0);
        sn_graph_free(g);
    }
    return 0;
}
