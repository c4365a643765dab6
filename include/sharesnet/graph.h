/* sharesnet — host-side model description ("graph").
 *
 * A graph is a flat list of layers in execution order. Layers read and write
 * activations by index and refer to parameters by index, so a weight shared by
 * several layers (ShaResNet) is one parameter referenced several times. The
 * device executor walks this list forward, and backward in reverse; a shared
 * weight's gradient is the sum over its uses.
 *
 * Model names (case-insensitive):
 *   resnetD, sharesnetD      He et al. CIFAR ResNet: post-activation basic
 *                            blocks, 16/32/64 channels, D = 6n+2.
 *   preresnetD, sharesnetD   pre-activation bottleneck (ResNet-164 of "Identity
 *                            mappings"), 64/128/256 channels, D = 9n+2.
 *   wrn-D-K, sharewrn-D-K    Wide ResNet, pre-activation basic blocks,
 *                            16K/32K/64K channels, D = 6n+4, K >= 1.
 *   resnetD, sharesnetD      ImageNet ResNet (torchvision layout, stride on the
 *                            3x3 of bottlenecks) for D = 18, 34, 50, 101, 152.
 * resnetD / sharesnetD resolve in this order: 18/34/50/101/152 -> ImageNet;
 * D = 9n+2 with D >= 164 -> pre-activation bottleneck (so sharesnet164 and
 * resnet164 are ResNet-164, sharesnet1001 is ResNet-1001); otherwise
 * D = 6n+2 -> He CIFAR (20, 32, 44, 56, 110, 1202, ...). preresnetD accepts
 * any D = 9n+2 (11, 20, ...). Depths are at most SN_GRAPH_MAX_DEPTH.
 *
 * Sharing (policy PAPER, Boulch 2017; weights are shared within one stage):
 *   He CIFAR            second 3x3 of every block but the stage's first block
 *   pre-act bottleneck  the middle 3x3 of every block but the first
 *   WRN                 the second 3x3 of every block but the first
 *   ImageNet basic      the second 3x3 of every block (first block included)
 *   ImageNet bottleneck the 3x3 of every block whose 3x3 has stride 1
 * Batch norm and shortcut projections are never shared.
 *
 * Parameter names: "<layer>.weight" for conv and linear weights, "<layer>.bias"
 * for linear biases, "<layer>.gamma" / "<layer>.beta" for batch norm, and
 * "stageS.shared.conv2.weight" (PAPER) or "stageS.shared.conv3x3.weight"
 * (STAGE) for shared ones. Layer names: "stem.conv", "stage2.block0.conv1",
 * "stage2.block0.shortcut.conv", "head.fc"; blocks are numbered from 0 in
 * names as in the `block` field. BN running mean/var are not parameters: the
 * executor keeps them per BN layer as "<layer>.running_mean" / "running_var".
 *
 * Activation shapes are per sample (C, H, W). Output sizes:
 *   conv / maxpool  OH = (H + 2*pad - K) / stride + 1, pad = K/2 for convs
 *   shortcut A      OH = (H + stride - 1) / stride, channels zero-padded
 *   GAP             [C,1,1]; LINEAR reads it as a vector of C features.
 * Every strided layer needs an input at least as large as its stride;
 * smaller inputs fail the build with SN_ERR_SHAPE naming the layer.
 */
#ifndef SHARESNET_GRAPH_H
#define SHARESNET_GRAPH_H

#include <stddef.h>
#include <stdio.h>

#include "sharesnet/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SN_GRAPH_MAX_DEPTH 10000 /* deepest network the builder accepts */
#define SN_GRAPH_MAX_WIDEN 64    /* widest WRN factor K the builder accepts */

typedef enum {
    SN_SHARE_NONE,  /* every conv has its own weight                         */
    SN_SHARE_PAPER, /* the family rule above (Boulch 2017)                   */
    SN_SHARE_STAGE  /* every stride-1 3x3 conv of a stage with in == out
                       channels shares one weight per stage and shape (first
                       blocks included when the shape matches)               */
} sn_share_policy;

typedef enum {
    SN_OP_CONV,       /* in [C,H,W] -> out [OC,OH,OW]; weight [OC,C,K,K], no bias */
    SN_OP_BN,         /* in -> out, same shape; weight = gamma [C], bias = beta [C] */
    SN_OP_RELU,       /* in -> out, same shape                                */
    SN_OP_ADD,        /* in + in2 -> out, all three the same shape            */
    SN_OP_SHORTCUT_A, /* in [C,H,W] -> out [OC>=C,OH,OW]: x[:, ::s, ::s], zero
                         channels appended (option A of He et al.)            */
    SN_OP_MAXPOOL,    /* in [C,H,W] -> out [C,OH,OW]; kernel, stride, pad     */
    SN_OP_GAP,        /* in [C,H,W] -> out [C,1,1], mean over H*W             */
    SN_OP_LINEAR      /* in [C,1,1] -> out [OUT,1,1]; weight [OUT,C], bias [OUT] */
} sn_op_kind;

typedef enum {
    SN_PARAM_CONV_WEIGHT,
    SN_PARAM_BN_GAMMA,
    SN_PARAM_BN_BETA,
    SN_PARAM_LINEAR_WEIGHT,
    SN_PARAM_LINEAR_BIAS
} sn_param_role;

typedef struct sn_act_shape { int c, h, w; } sn_act_shape; /* per sample */

typedef struct sn_param_spec {
    char name[96];      /* e.g. "stage2.block3.conv2.weight", "stage2.shared.conv2.weight" */
    sn_param_role role;
    int ndim;
    int shape[4];       /* conv [OC,C,K,K], bn [C], linear weight [OUT,IN], bias [OUT] */
    long long count;    /* product of the shape */
    int stage;          /* 0 for stem/head, 1.. for stages */
    int uses;           /* number of layers referring to it (> 1 when shared) */
} sn_param_spec;

typedef struct sn_layer_spec {
    sn_op_kind op;
    char name[96];          /* e.g. "stage1.block2.bn1" */
    int stage, block;       /* stage 0 = stem/head; block 0-based, -1 outside stages */
    int in, in2, out;       /* activation indices; in2 only for ADD, else -1 */
    int weight, bias;       /* param indices (conv weight; bn gamma, beta;
                               linear weight, bias), -1 if none */
    int kernel, stride, pad;/* CONV, MAXPOOL; SHORTCUT_A uses stride; else 0 */
} sn_layer_spec;

typedef struct sn_graph_options {
    int classes, in_channels, size; /* 0 -> family defaults (10/3/32 CIFAR, 1000/3/224 ImageNet) */
    int policy;      /* -1 = from the name (resnet/preresnet/wrn -> NONE,
                        sharesnet/sharewrn -> PAPER), else an sn_share_policy */
    int shortcut;    /* 'A' or 'B' for He CIFAR resnets (0 -> 'A'); ignored elsewhere */
    int small_stem;  /* ImageNet families: -1 auto (3x3/1 stem without max pool
                        when size < 112), 0 = 7x7/2 + maxpool 3x3/2, 1 = 3x3/1 */
} sn_graph_options;

typedef struct sn_graph {
    char model[64];          /* the name asked for, lower case */
    char family[32];         /* "cifar-basic", "cifar-preact-bottleneck", "cifar-wrn",
                                "imagenet-basic" or "imagenet-bottleneck" */
    sn_share_policy policy;
    int classes, in_channels, size;
    sn_act_shape *acts; int n_acts;      /* acts[0] = input image */
    sn_layer_spec *layers; int n_layers; /* execution order; each activation but
                                            acts[0] written by exactly one layer */
    sn_param_spec *params; int n_params; /* each parameter once, shared ones once */
    int logits;                          /* activation index of the output [classes,1,1] */
    /* Additions to the contract: the resolved options and architecture. */
    int shortcut;    /* 'A' or 'B' (He CIFAR), 0 elsewhere */
    int small_stem;  /* 1 or 0 (ImageNet), -1 elsewhere */
    int depth;       /* D of the name */
    int widen;       /* WRN K, 1 elsewhere */
} sn_graph;

/* Defaults: everything from the family and the name. */
SN_API void sn_graph_options_default(sn_graph_options *o);

/* Build the graph of `model` (see the names above); opts may be NULL.
 * SN_ERR_INVALID_ARG for an unknown name or a bad option, SN_ERR_SHAPE when
 * the input size shrinks below a layer's stride, SN_ERR_OUT_OF_MEMORY. */
SN_API sn_status sn_graph_build(const char *model, const sn_graph_options *opts,
                         sn_graph **out);
SN_API void sn_graph_free(sn_graph *g);

/* Trainable parameters, each shared parameter counted once. */
SN_API long long sn_graph_param_count(const sn_graph *g);

/* Forward multiply-accumulates per sample (convs and the linear layer). */
SN_API long long sn_graph_macs(const sn_graph *g);

/* Check the invariants the executor relies on: indices in range, each
 * activation written once and before it is read, every op's shapes fit,
 * parameter `uses` right. SN_ERR_INTERNAL with the offending layer if not. */
SN_API sn_status sn_graph_check(const sn_graph *g);

/* The plain (unshared) model of the same family, with the same classes,
 * in_channels, size and stem/shortcut options, whose parameter count is the
 * closest to g's (ties -> the smaller model). Searched: He CIFAR depths 6n+2,
 * pre-act bottleneck depths 9n+2, WRN depths 6n+4 with K = 1..16, the five
 * ImageNet depths. Writes its name and (if count is not NULL) its count. */
SN_API sn_status sn_graph_closest_plain(const sn_graph *g, char *name,
                                 size_t name_size, long long *count);

/* The `sharesnet info` table: summary, one row per layer, totals; memory
 * estimates for `batch` samples. */
SN_API sn_status sn_graph_describe(const sn_graph *g, int batch, FILE *out);

/* NULL-terminated list of the names `sharesnet info --all` shows. */
SN_API const char *const *sn_graph_zoo_names(void);

/* Short names: "conv", "bn", ...; "none", "paper", "stage". */
SN_API const char *sn_op_name(sn_op_kind op);
SN_API const char *sn_share_policy_name(sn_share_policy policy);

/* Index of the parameter / layer called `name`, or -1. */
SN_API int sn_graph_find_param(const sn_graph *g, const char *name);
SN_API int sn_graph_find_layer(const sn_graph *g, const char *name);

#ifdef __cplusplus
}
#endif
#endif
