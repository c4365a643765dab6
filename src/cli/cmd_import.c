/* `sharesnet import`: PyTorch weights (torchvision/timm or pytorchcv names,
 * safetensors) into a sharesnet checkpoint that predicts and trains. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sharesnet import FILE.safetensors --model M -o CHECKPOINT [--names torchvision|pytorchcv]\n"
    "                        [--mean a,b,c --std a,b,c] [--class-names FILE] [graph options]\n\n"
    "Reads weights saved with PyTorch names (detected: torchvision/timm 'conv1.weight',\n"
    "pytorchcv 'features.init_block...') into model M. Strict: every key of the model must be\n"
    "in the file with its shape, no key may be left over, and the keys of a shared weight\n"
    "must hold equal values. Classes and input channels default to the file's head and\n"
    "stem. Normalisation defaults to ImageNet's mean/std for 3 channels (pixels / 255\n"
    "otherwise); --class-names gives one class name per line.";

/* "a,b,c" -> v[0..n); 0 (after printing) when malformed or the count is not n. */
static int parse_floats(const char *opt, const char *s, float *v, int n)
{
    for (int i = 0; i < n; i++) {
        char *end;
        v[i] = strtof(s, &end);
        if (end == s || (i + 1 < n ? *end != ',' : *end != '\0')) {
            fprintf(stderr, "sharesnet: --%s expects %d comma-separated numbers, got '%s'\n", opt,
                    n, s);
            return 0;
        }
        s = end + 1;
    }
    return 1;
}

/* Defaults the file decides: classes from the head, channels from the stem. */
static int shapes_from_file(const char *path, sn_graph_options *o)
{
    sn_safetensors *f;
    if (sn_safetensors_open(path, &f) != SN_OK)
        return cli_error("import", SN_ERR_IO);
    static const char *const heads[] = {"fc.weight", "output.weight"};
    static const char *const stems[] = {"conv1.weight", "features.init_block.conv.conv.weight"};
    for (int i = 0; i < 2; i++) {
        const sn_safetensors_tensor *h = sn_safetensors_find(f, heads[i]);
        const sn_safetensors_tensor *s = sn_safetensors_find(f, stems[i]);
        if (!o->classes && h && h->ndim == 2)
            o->classes = (int)h->shape[0];
        if (!o->in_channels && s && s->ndim == 4)
            o->in_channels = (int)s->shape[1];
    }
    sn_safetensors_close(f);
    return 0;
}

static int read_class_names(const char *path, sn_train_state *s)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(s->class_names, 1, sizeof s->class_names - 1, f) : 0;
    int bad = !f || ferror(f) || !feof(f);
    if (f)
        fclose(f);
    if (bad) {
        fprintf(stderr, "sharesnet: --class-names %s: cannot read it (or longer than %zu bytes)\n",
                path, sizeof s->class_names - 1);
        return 2;
    }
    while (n && (s->class_names[n - 1] == '\n' || s->class_names[n - 1] == '\r'))
        n--;
    s->class_names[n] = '\0';
    return 0;
}

int cmd_import(int argc, char **argv)
{
    cli_option opts[] = {
        {"model", 1, "model the weights are for, e.g. resnet50, sharesnet50", NULL},
        {"o", 1, "checkpoint to write", NULL},
        {"names", 1, "key scheme: torchvision or pytorchcv (default: detected)", NULL},
        {"mean", 1, "per-channel mean of pixels/255 (default: ImageNet's for 3 channels)", NULL},
        {"std", 1, "per-channel std (default: ImageNet's for 3 channels)", NULL},
        {"class-names", 1, "file with one class name per line", NULL},
        {"device", 1, "device selector", NULL},
        CLI_GRAPH_OPTIONS,
    };
    cli_args args = {opts, sizeof opts / sizeof opts[0], NULL, 0};
    int rc = cli_parse_positional(argc, argv, 2, usage, 1, &args); /* the FILE */
    if (rc) {
        cli_args_free(&args);
        return rc == 1 ? 0 : rc;
    }
    const char *model = cli_get(&args, "model"), *out = cli_get(&args, "o");
    const char *names_opt = cli_get(&args, "names");
    const char *mean = cli_get(&args, "mean"), *std = cli_get(&args, "std");
    sn_torch_names names = SN_TORCH_NAMES_AUTO, detected;
    sn_graph_options o;
    sn_train_state state;
    memset(&state, 0, sizeof state);
    if (args.n_positional != 1 || !model || !out) {
        fprintf(stderr, "sharesnet: import needs one FILE, --model M and -o CHECKPOINT\n");
        rc = 2;
    } else if (names_opt && strcmp(names_opt, "torchvision") && strcmp(names_opt, "pytorchcv")) {
        fprintf(stderr, "sharesnet: --names must be torchvision or pytorchcv, not '%s'\n",
                names_opt);
        rc = 2;
    } else if (!cli_graph_options(&args, &o)) {
        rc = 2;
    }
    if (names_opt && !rc)
        names = names_opt[0] == 't' ? SN_TORCH_NAMES_TORCHVISION : SN_TORCH_NAMES_PYTORCHCV;
    if (!rc)
        rc = shapes_from_file(args.positional[0], &o);
    if (!rc && (!mean) != (!std)) {
        fprintf(stderr, "sharesnet: --mean and --std go together\n");
        rc = 2;
    }
    sn_context *ctx = NULL;
    sn_graph *g = NULL;
    sn_model *m = NULL;
    sn_status st = SN_OK;
    if (!rc && (st = sn_graph_build(model, &o, &g)) != SN_OK)
        rc = cli_error("import", st);
    if (!rc) {
        static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
        static const float imagenet_std[3] = {0.229f, 0.224f, 0.225f};
        if (mean) {
            state.channels = g->in_channels;
            if (!parse_floats("mean", mean, state.mean, g->in_channels) ||
                !parse_floats("std", std, state.std, g->in_channels))
                rc = 2;
        } else if (g->in_channels == 3) {
            state.channels = 3;
            memcpy(state.mean, imagenet_mean, sizeof imagenet_mean);
            memcpy(state.std, imagenet_std, sizeof imagenet_std);
        }
    }
    if (!rc && cli_get(&args, "class-names"))
        rc = read_class_names(cli_get(&args, "class-names"), &state);
    if (!rc)
        rc = cli_open_context(cli_get(&args, "device"), &ctx);
    if (!rc && (st = sn_model_create(ctx, g, 1, 0, &m)) != SN_OK)
        rc = cli_error("import", st);
    if (!rc && (st = sn_import_torch(m, args.positional[0], names, &detected)) != SN_OK)
        rc = cli_error("import", st);
    if (!rc && (st = sn_checkpoint_save(m, &state, out)) != SN_OK)
        rc = cli_error("import", st);
    if (!rc)
        printf("imported %s (%s names, %d classes, %d channels, size %d) into %s\n", g->model,
               sn_torch_names_name(detected), g->classes, g->in_channels, g->size, out);
    sn_model_free(m);
    sn_graph_free(g);
    sn_context_free(ctx);
    cli_args_free(&args);
    return rc;
}
