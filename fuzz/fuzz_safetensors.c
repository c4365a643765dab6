/* libFuzzer: the safetensors reader. Any input must give SN_OK or an error
 * status, never a crash, a leak or an out-of-bounds read; when the reader
 * accepts a file, every byte of every tensor it hands out is read (so ASan
 * checks the spans). fuzz_checkpoint covers the checkpoint loader on top. */
#include "fuzz_util.h"
#include "sharesnet.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("in.safetensors", data, size);
    sn_safetensors *f;
    if (sn_safetensors_open(path, &f) == SN_OK) {
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < sn_safetensors_tensor_count(f); i++) {
            const sn_safetensors_tensor *t = sn_safetensors_tensor_at(f, i);
            size_t bytes = (size_t)sn_safetensors_numel(t) * sn_safetensors_dtype_size(t->dtype);
            const uint8_t *p = t->data;
            for (size_t k = 0; k < bytes; k++)
                sink ^= p[k];
            if (sn_safetensors_find(f, t->name) != t)
                __builtin_trap(); /* names are unique: find must return this one */
        }
        for (size_t i = 0; i < sn_safetensors_metadata_count(f); i++) {
            const sn_safetensors_meta *m = sn_safetensors_metadata_at(f, i);
            sink ^= (uint8_t)(strlen(m->key) + strlen(m->value));
        }
        (void)sink;
        sn_safetensors_close(f);
    }
    return 0;
}
