/* Internals of the interop area (exporters and the importer). */
#ifndef SN_INTEROP_INTERNAL_H
#define SN_INTEROP_INTERNAL_H

#include "sharesnet/interop.h"
#include "runtime/error_internal.h"

/* Copy of device tensor t in a new host array (*out, free() it); `name`
 * goes into the error message. */
sn_status sn_interop_download(const sn_tensor *t, const char *name, float **out);

/* Normalisation and class names of `state` as metadata strings: mean and
 * std comma-separated ("" when the state has none). */
void sn_interop_norm_strings(const sn_train_state *state, char *mean, char *std, size_t size);

/* One key of a PyTorch state_dict and where its values live in the model. */
typedef enum sn_torch_kind {
    SN_TORCH_PARAM,        /* a parameter (conv/linear weight, bias, BN gamma/beta) */
    SN_TORCH_RUNNING_MEAN, /* BN running statistics of `layer` */
    SN_TORCH_RUNNING_VAR,
    SN_TORCH_COUNTER       /* BN num_batches_tracked: I64 scalar, no model tensor */
} sn_torch_kind;

typedef struct sn_torch_key {
    char key[192];
    sn_torch_kind kind;
    int layer; /* graph layer the key belongs to */
    int param; /* SN_TORCH_PARAM: the parameter index (a shared one has several keys) */
} sn_torch_key;

/* Every key of g's state_dict under `names` (not AUTO), in layer order:
 * *keys (free() it), *count. SN_ERR_UNSUPPORTED for a layer the scheme has
 * no name for. */
sn_status sn_torch_keys(const sn_graph *g, sn_torch_names names, sn_torch_key **keys, int *count);

/* The model tensor behind a key (NULL for SN_TORCH_COUNTER). */
sn_tensor *sn_torch_key_tensor(sn_model *m, const sn_torch_key *k);

#endif
