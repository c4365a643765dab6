/* Host copies of a model's tensors and run-state strings, shared by the
 * ONNX and PyTorch exporters. */
#include "interop/interop_internal.h"

#include <stdio.h>
#include <stdlib.h>

sn_status sn_interop_download(const sn_tensor *t, const char *name, float **out)
{
    *out = malloc((t->count ? t->count : 1) * sizeof **out);
    if (!*out)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "export: out of host memory for %s (%zu floats)",
                       name, t->count);
    sn_status st = sn_tensor_download(t, *out, t->count);
    if (st != SN_OK) {
        free(*out);
        *out = NULL;
        return sn_fail_context(st, "export: reading %s", name);
    }
    return SN_OK;
}

static void join(char *out, size_t size, const float *v, int n)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, i ? ",%.9g" : "%.9g", (double)v[i]);
}

void sn_interop_norm_strings(const sn_train_state *state, char *mean, char *std, size_t size)
{
    int n = state ? state->channels : 0;
    join(mean, size, state ? state->mean : NULL, n);
    join(std, size, state ? state->std : NULL, n);
}
