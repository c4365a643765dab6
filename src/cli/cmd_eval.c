/* `sharesnet eval`: test a checkpoint on a dataset split. */
#include "cli/train_options.h"

#include <jansson.h>
#include <math.h>

static const char usage[] =
    "usage: sharesnet eval --checkpoint FILE --data D [--limit-test N] [--device X] [--batch B]\n"
    "                      [--json]\n\n"
    "Loads the model a checkpoint describes and reports loss, top-1 and top-5 accuracy on\n"
    "the test split of D, normalised with the checkpoint's training statistics. --json prints\n"
    "one JSON object (checkpoint, model, epoch, data, images, loss, top1, top5 as fractions,\n"
    "images_per_second) instead.";

/* Build the graph a checkpoint describes and load its weights. */
int cli_model_from_checkpoint(const char *path, sn_context *ctx, int batch, sn_graph **g,
                              sn_model **m, sn_checkpoint_info *info)
{
    if (cli_check_checkpoint_path("checkpoint", path))
        return 2;
    sn_status st = sn_checkpoint_info_read(path, info);
    if (st == SN_OK)
        st = sn_graph_build(info->model, &info->graph, g);
    /* The file's tensors before the device memory: metadata naming a huge
     * model must not allocate it first. */
    if (st == SN_OK)
        st = sn_checkpoint_check(path, *g, 0);
    if (st == SN_OK)
        st = sn_model_create(ctx, *g, batch, 0, m);
    if (st == SN_OK)
        st = sn_checkpoint_load(*m, path, 0, NULL);
    if (st != SN_OK)
        return cli_error("checkpoint", st);
    return 0;
}

static int print_json(const char *checkpoint, const sn_graph *g, const sn_checkpoint_info *info,
                      const char *data, long long images, double loss, double top1, double top5,
                      double ips)
{
    json_t *o = json_pack("{s:s,s:s,s:i,s:s,s:I,s:f,s:f,s:f,s:f}", "checkpoint", checkpoint,
                          "model", g->model, "epoch", info->state.epoch, "data", data, "images",
                          (json_int_t)images, "loss", loss, "top1", top1, "top5", top5,
                          "images_per_second", ips);
    int failed = !o || json_dumpf(o, stdout, JSON_INDENT(1) | JSON_REAL_PRECISION(17)) != 0;
    json_decref(o);
    if (failed) {
        fprintf(stderr, "sharesnet: eval: cannot build the JSON output (out of memory)\n");
        return 1;
    }
    putchar('\n');
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    cli_option opts[] = {
        {"checkpoint", 1, "checkpoint file (safetensors) written by sharesnet train", NULL},
        {"data", 1, "dataset: fashion-mnist, or a path", NULL},
        {"limit-test", 1, "use the first N test examples", NULL},
        {"device", 1, "device selector", NULL},
        {"batch", 1, "batch size (default 256)", NULL},
        {"skip-bad", 0, "skip PNG files that fail to decode", NULL},
        {"reject-wrong-size", 0, "PNG images of another size are errors", NULL},
        {"in-ch", 1, "(PNG folders) channels to convert to; default: the model's", NULL},
        {"size", 1, "(PNG folders) image size; default: the model's", NULL},
        {"json", 0, "print the metrics as one JSON object", NULL},
    };
    cli_args args = {opts, sizeof opts / sizeof opts[0], NULL, 0};
    int rc = cli_parse(argc, argv, 2, usage, &args);
    cli_args_free(&args);
    if (rc)
        return rc == 1 ? 0 : rc;
    const char *path = cli_get(&args, "checkpoint"), *data = cli_get(&args, "data");
    long limit, batch;
    if (!path || !data) {
        fprintf(stderr, "sharesnet: eval needs --checkpoint FILE and --data D\n");
        return 2;
    }
    if (!cli_int(&args, "limit-test", 0, &limit) || !cli_int(&args, "batch", 256, &batch))
        return 2;
    if (batch <= 0 || limit < 0) {
        fprintf(stderr, "sharesnet: --batch must be positive and --limit-test >= 0\n");
        return 2;
    }
    sn_context *ctx = NULL;
    sn_graph *g = NULL;
    sn_model *m = NULL;
    sn_dataset test = {0};
    sn_checkpoint_info info;
    rc = cli_open_context(cli_get(&args, "device"), &ctx);
    if (!rc)
        rc = cli_model_from_checkpoint(path, ctx, (int)batch, &g, &m, &info);
    if (!rc)
        rc = cli_load_split_shaped(data, SN_SPLIT_TEST, &args, g->in_channels, g->size, &test);
    if (!rc && (test.channels != g->in_channels || test.height != g->size)) {
        fprintf(stderr, "sharesnet: %s images are %dx%dx%d, the model takes %dx%dx%d\n", data,
                test.channels, test.height, test.width, g->in_channels, g->size, g->size);
        rc = 2;
    }
    if (!rc && test.classes != g->classes) {
        /* Labels would still index the logits, so a top-1 would come out:
         * a meaningless one. */
        fprintf(stderr, "sharesnet: %s has %d classes, but %s (%s) was trained for %d\n", data,
                test.classes, path, g->model, g->classes);
        rc = 2;
    }
    if (!rc) {
        double loss, top1, top5, ips;
        /* A checkpoint saved without normalisation (sn_checkpoint_save with no
         * state) means inputs in [0, 1]: mean 0, std 1. */
        for (int c = info.state.channels; c < SN_DATA_MAX_CHANNELS; c++) {
            info.state.mean[c] = 0.0f;
            info.state.std[c] = 1.0f;
        }
        /* A large test split takes a while: show how far it is. */
        train_printer printer;
        train_printer_init(&printer, g->model);
        sn_train_callbacks cb = train_printer_callbacks(&printer);
        sn_status st = sn_evaluate_with_progress(m, &test, limit, info.state.mean, info.state.std,
                                                 &cb, &loss, &top1, &top5, &ips);
        long long images = limit > 0 && limit < test.count ? limit : test.count;
        if (st != SN_OK)
            rc = cli_error("eval", st);
        else if (cli_get(&args, "json"))
            rc = print_json(path, g, &info, data, images, loss, top1, top5, ips);
        else
            printf("%s (epoch %d) on %s: loss %.4f  top-1 %.2f%%  top-5 %.2f%%  (%lld images, "
                   "%.0f img/s)\n",
                   g->model, info.state.epoch, data, loss, 100 * top1, 100 * top5, images, ips);
        /* Finite weights can still overflow on the data: a script must not
         * take such an evaluation for a result. */
        if (st == SN_OK && !isfinite(loss)) {
            fprintf(stderr, "sharesnet: eval: the loss is %s: the model's outputs overflow on "
                            "%s (diverged checkpoint?)\n", isnan(loss) ? "NaN" : "infinite", data);
            rc = 1;
        }
    }
    sn_model_free(m);
    sn_graph_free(g);
    sn_context_free(ctx);
    sn_dataset_free(&test);
    return rc;
}
