/* Internal interface of the graph builders: the parsed model name, and a
 * builder that appends layers, activations and parameters and applies the
 * sharing policy. Builder calls after a failure do nothing and return -1, so a
 * family builder can chain calls and check b->status once at the end. */
#ifndef SN_GRAPH_INTERNAL_H
#define SN_GRAPH_INTERNAL_H

#include "sharesnet/graph.h"

typedef enum {
    SN_FAMILY_CIFAR,    /* He et al. CIFAR ResNet, post-activation basic */
    SN_FAMILY_PREACT,   /* pre-activation bottleneck (ResNet-164) */
    SN_FAMILY_WRN,      /* Wide ResNet, pre-activation basic */
    SN_FAMILY_IMAGENET  /* torchvision ResNet-18/34/50/101/152 */
} sn_family;

typedef struct sn_model_name {
    sn_family family;
    int depth;
    int widen;   /* WRN K; 1 elsewhere */
    int shared;  /* the name asks for sharing (sharesnet..., sharewrn-...) */
} sn_model_name;

/* Parse a model name (already lower case). SN_ERR_INVALID_ARG if unknown. */
sn_status sn_model_name_parse(const char *name, sn_model_name *out);

/* The canonical name of a plain model: "resnet20", "preresnet164",
 * "wrn-40-4", "resnet50". */
void sn_model_name_plain(const sn_model_name *m, char *buf, size_t size);

/* sn_graph_build for an already parsed name (`model` is only recorded). */
sn_status sn_graph_build_parsed(const char *model, const sn_model_name *m,
                                const sn_graph_options *opts, sn_graph **out);

typedef struct sn_share_slot {
    int stage;
    int shape[4];
    int param;
} sn_share_slot;

typedef struct sn_builder {
    sn_graph *g;
    int cap_acts, cap_layers, cap_params;
    sn_status status;        /* first failure; SN_OK while all went well */
    int stage, block;        /* current position (sn_b_enter_*) */
    char prefix[48];         /* "stem", "stage2.block3", "head" */
    sn_share_slot *slots;    /* shared weights made so far */
    int n_slots, cap_slots;
} sn_builder;

/* Whether a conv belongs to the family's PAPER-shared set. */
typedef enum { SN_SHARE_HINT_OWN = 0, SN_SHARE_HINT_PAPER = 1 } sn_share_hint;

/* Position: names and the stage of new layers/parameters. */
void sn_b_enter_stem(sn_builder *b);
void sn_b_enter_block(sn_builder *b, int stage, int block);
void sn_b_enter_head(sn_builder *b);

/* Layer appenders: each returns the index of its new output activation, or
 * -1 once the builder has failed. `name` is local ("conv1", "shortcut.bn"). */

/* [C,H,W] -> [out_c, OH, OW], kernel k, pad k/2; the weight is the layer's own
 * or a stage-shared one, decided by g->policy and `hint`. */
int sn_b_conv(sn_builder *b, int in, const char *name, int out_c, int k,
              int stride, sn_share_hint hint);
int sn_b_bn(sn_builder *b, int in, const char *name);               /* same shape */
int sn_b_relu(sn_builder *b, int in, const char *name);             /* same shape */
int sn_b_add(sn_builder *b, int x, int y, const char *name);        /* same shape */
int sn_b_shortcut_a(sn_builder *b, int in, const char *name, int out_c, int stride);
int sn_b_maxpool(sn_builder *b, int in, const char *name, int k, int stride, int pad);
int sn_b_gap(sn_builder *b, int in, const char *name);              /* -> [C,1,1] */
int sn_b_linear(sn_builder *b, int in, const char *name, int out);  /* [C,1,1] -> [out,1,1] */

/* Channels of activation a (0 once the builder has failed). */
int sn_b_channels(const sn_builder *b, int a);

/* BN then ReLU, named "bn<i>" / "relu<i>" (or "bn"/"relu" when i < 0). */
int sn_b_bn_relu(sn_builder *b, int in, int i);

/* Common head: [BN-ReLU if preact], GAP, linear to g->classes; sets g->logits. */
void sn_b_head(sn_builder *b, int in, int preact);

/* Family builders: append everything after acts[0]; return b->status. */
sn_status sn_zoo_cifar(sn_builder *b, const sn_model_name *m);
sn_status sn_zoo_preact(sn_builder *b, const sn_model_name *m);
sn_status sn_zoo_wrn(sn_builder *b, const sn_model_name *m);
sn_status sn_zoo_imagenet(sn_builder *b, const sn_model_name *m);

#endif
