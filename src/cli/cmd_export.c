/* `sharesnet export`: a checkpoint as an ONNX model or PyTorch-named weights. */
#include "cli/cli.h"

#include <string.h>

int cli_model_from_checkpoint(const char *path, sn_context *ctx, int batch, sn_graph **g,
                              sn_model **m, sn_checkpoint_info *info);

static const char usage[] =
    "usage: sharesnet export CHECKPOINT --format onnx|torch -o FILE [--names torchvision|pytorchcv]\n"
    "                        [--device X]\n\n"
    "onnx: an inference graph (opset 13, input 'input' [N,C,H,W] normalised, output 'logits'\n"
    "[N,classes]); each shared weight is one initializer used by every Conv node; the\n"
    "normalisation, class names and sharing map are in metadata_props.\n"
    "torch: weights and BN statistics as safetensors with PyTorch names (torchvision/timm for\n"
    "the plain ImageNet ResNets, pytorchcv otherwise; --names overrides) for\n"
    "load_state_dict(strict=True); a shared weight appears under every key that uses it.";

int cmd_export(int argc, char **argv)
{
    cli_option opts[] = {
        {"format", 1, "onnx or torch", NULL},
        {"o", 1, "output file", NULL},
        {"names", 1, "(torch) key scheme: torchvision or pytorchcv (default: from the model)",
         NULL},
        {"device", 1, "device selector", NULL},
    };
    cli_args args = {opts, sizeof opts / sizeof opts[0], NULL, 0};
    int rc = cli_parse_positional(argc, argv, 2, usage, 1, &args); /* the CHECKPOINT */
    if (rc) {
        cli_args_free(&args);
        return rc == 1 ? 0 : rc;
    }
    const char *format = cli_get(&args, "format"), *out = cli_get(&args, "o");
    const char *names_opt = cli_get(&args, "names");
    sn_torch_names names = SN_TORCH_NAMES_AUTO;
    if (args.n_positional != 1 || !format || !out) {
        fprintf(stderr, "sharesnet: export needs one CHECKPOINT, --format onnx|torch and -o FILE\n");
        rc = 2;
    } else if (strcmp(format, "onnx") && strcmp(format, "torch")) {
        fprintf(stderr, "sharesnet: --format must be onnx or torch, not '%s'\n", format);
        rc = 2;
    } else if (names_opt && !strcmp(names_opt, "torchvision")) {
        names = SN_TORCH_NAMES_TORCHVISION;
    } else if (names_opt && !strcmp(names_opt, "pytorchcv")) {
        names = SN_TORCH_NAMES_PYTORCHCV;
    } else if (names_opt) {
        fprintf(stderr, "sharesnet: --names must be torchvision or pytorchcv, not '%s'\n",
                names_opt);
        rc = 2;
    }
    sn_context *ctx = NULL;
    sn_graph *g = NULL;
    sn_model *m = NULL;
    sn_checkpoint_info info;
    if (!rc)
        rc = cli_open_context(cli_get(&args, "device"), &ctx);
    if (!rc)
        rc = cli_model_from_checkpoint(args.positional[0], ctx, 1, &g, &m, &info);
    if (!rc) {
        sn_status st = !strcmp(format, "onnx") ? sn_export_onnx(m, &info.state, out)
                                               : sn_export_torch(m, names, &info.state, out);
        rc = st == SN_OK ? 0 : cli_error("export", st);
    }
    if (!rc)
        printf("exported %s (%lld parameters) to %s\n", g->model, sn_graph_param_count(g), out);
    sn_model_free(m);
    sn_graph_free(g);
    sn_context_free(ctx);
    cli_args_free(&args);
    return rc;
}
