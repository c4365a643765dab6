/* sharesnet — interoperability: the sharing map, ONNX export, and PyTorch
 * (safetensors) weights out and in.
 *
 * Sharing map: a JSON object from each shared parameter (used by more than
 * one layer) to the names of the layers that use it, in execution order:
 *   {"stage1.shared.conv2.weight": ["stage1.block1.conv2", "stage1.block2.conv2"]}
 * A parameter that is not in the map belongs to the one layer its name starts
 * with. Checkpoints store it under the metadata key "sharing" (docs/CHECKPOINT.md).
 *
 * ONNX (opset 13): input "input" [N, C, H, W] (N dynamic, the normalised
 * image), output "logits" [N, classes]. Every parameter is ONE initializer
 * under its graph name, so a shared weight is stored once and referenced by
 * every Conv node that uses it; BN layers are BatchNormalization nodes (their
 * running statistics "<bn layer>.running_mean/var"), option-A shortcuts a
 * strided Slice and a channel Pad. metadata_props: sharesnet.model,
 * sharesnet.policy, sharesnet.sharing, norm_mean, norm_std (comma-separated,
 * per channel), class_names (newline-separated).
 *
 * PyTorch names: torchvision/timm ResNet keys ("conv1", "bn1", "layerS.B.convK",
 * "layerS.B.bnK", "layerS.B.downsample.0/1", "fc") for the plain ImageNet
 * ResNets, pytorchcv keys ("features.init_block.conv.{conv,bn}",
 * "features.stageS.unitU.body.convK.{conv,bn}",
 * "features.stageS.unitU.identity_conv.{conv,bn}", "output"; U from 1) for the
 * ShaResNets and the He CIFAR ResNets. A shared weight appears under the key
 * of every layer that uses it, as PyTorch's state_dict() does; BN layers have
 * weight, bias, running_mean, running_var and num_batches_tracked (I64).
 */
#ifndef SHARESNET_INTEROP_H
#define SHARESNET_INTEROP_H

#include "sharesnet/graph.h"
#include "sharesnet/model.h"
#include "sharesnet/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The sharing map of g as a NUL-terminated JSON string ("{}" without
 * shared parameters); free() it. */
SN_API sn_status sn_sharing_map_json(const sn_graph *g, char **json);

/* Check a recorded sharing map against g's: SN_ERR_FORMAT naming `what`
 * (e.g. the file) and the first parameter that differs. */
SN_API sn_status sn_sharing_map_check(const sn_graph *g, const char *json, const char *what);

/* Write the model (eval mode: BN with running statistics) as an ONNX file at
 * `path`, atomically; `state` (may be NULL) supplies the normalisation and
 * class names for metadata_props. Errors name the file or the tensor
 * (SN_ERR_IO, SN_ERR_OUT_OF_MEMORY, device errors reading the weights). */
SN_API sn_status sn_export_onnx(sn_model *m, const sn_train_state *state, const char *path);

typedef enum sn_torch_names {
    SN_TORCH_NAMES_AUTO,        /* import: detect; export: from the model */
    SN_TORCH_NAMES_TORCHVISION, /* torchvision / timm ResNet */
    SN_TORCH_NAMES_PYTORCHCV    /* pytorchcv ResNet / ShaResNet */
} sn_torch_names;

/* The scheme a model exports to: torchvision for the plain ImageNet ResNets,
 * pytorchcv for the rest of the ImageNet and He CIFAR families;
 * SN_ERR_UNSUPPORTED (naming the family) for the pre-activation ones. */
SN_API sn_status sn_torch_names_for(const sn_graph *g, sn_torch_names *names);
SN_API const char *sn_torch_names_name(sn_torch_names names);

/* Write the model's weights and BN statistics (no optimizer state) as a
 * safetensors file with PyTorch names (`names` AUTO: sn_torch_names_for),
 * atomically. Metadata: format "pt", the model, the naming scheme. */
SN_API sn_status sn_export_torch(sn_model *m, sn_torch_names names, const sn_train_state *state,
                          const char *path);

/* Load a safetensors file with PyTorch names into m (every layer's key must
 * be there with the right shape, every key of the file must be used, the
 * keys of one shared weight must hold equal values; F32 only). `names` AUTO
 * detects the scheme; *detected (may be NULL) receives it. Errors name the
 * file and the key. On failure nothing has been uploaded. */
SN_API sn_status sn_import_torch(sn_model *m, const char *path, sn_torch_names names,
                          sn_torch_names *detected);

/* Fine-tuning: start m from the weights and BN statistics of the checkpoint
 * at `path` (no optimizer state), matching tensors by name: every one must
 * be there with m's shape, except the classifier head (the LINEAR layer's
 * weight and bias), which keeps m's initialisation when its shape differs
 * (another number of classes); *head_replaced (may be NULL) says whether it
 * did. The architecture must match (model, policy), else SN_ERR_SHAPE. */
SN_API sn_status sn_checkpoint_init_weights(sn_model *m, const char *path, int *head_replaced);

#ifdef __cplusplus
}
#endif
#endif
