/* libFuzzer: the checkpoint loader without a device. A file whose metadata
 * the reader accepts is checked against the graph that metadata names
 * (sn_checkpoint_check: every tensor's dtype, shape and finite values), the
 * path eval, predict and resume take before they allocate the model. Its
 * seeds include a real checkpoint (fuzz/make_corpus.py --sharesnet). */
#include "fuzz_util.h"
#include "sharesnet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("checkpoint.safetensors", data, size);
    sn_checkpoint_info info;
    if (sn_checkpoint_info_read(path, &info) != SN_OK)
        return 0;
    sn_graph *g;
    if (sn_graph_build(info.model, &info.graph, &g) == SN_OK) {
        (void)sn_checkpoint_check(path, g, 1);
        (void)sn_checkpoint_check(path, g, 0);
        sn_graph_free(g);
    }
    return 0;
}
