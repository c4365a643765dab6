/* `sharesnet train`: train one model on a dataset, with checkpoints, a log
 * and resume. */
#include "cli/train_options.h"

#include <math.h>
#include <string.h>

static const char usage[] =
    "usage: sharesnet train --model M --data D [options]\n\n"
    "Trains a ResNet or ShaResNet (see `sharesnet info --all`) with SGD. With --out DIR,\n"
    "DIR/checkpoint.safetensors is replaced atomically after every epoch and DIR/log.jsonl\n"
    "gets one JSON line per epoch (without --out, DIR is a new runs/MODEL-N, or the resumed\n"
    "checkpoint's directory). --resume FILE continues a run from its checkpoint: the\n"
    "model, sharing, shape, optimizer state and seed come from the file; give the recipe\n"
    "(--epochs is the total) as for the first run. --init FILE fine-tunes: a new run starts\n"
    "from the weights of a checkpoint (e.g. from `sharesnet import`) with its model, sharing\n"
    "and normalisation; a different --classes (or the data's) gets a new classifier head.";

/* --init: the architecture of the checkpoint (model, sharing, channels, stem,
 * shortcut), the classes of --classes or the data, the size of the data.
 * Returns 0, or prints the problem and returns 2. */
static int fine_tune_options(const char *init, const cli_args *args, const char **model_name,
                             sn_checkpoint_info *info, sn_graph_options *o)
{
    sn_status st = sn_checkpoint_info_read(init, info);
    if (st != SN_OK) {
        cli_error("init", st);
        return 2;
    }
    if (*model_name && strcmp(*model_name, info->model) != 0) {
        fprintf(stderr, "sharesnet: --model %s but %s holds %s\n", *model_name, init, info->model);
        return 2;
    }
    *model_name = info->model;
    long classes;
    if (!cli_int(args, "classes", 0, &classes))
        return 2;
    *o = info->graph;
    o->classes = (int)classes; /* 0: the data's */
    o->size = 0;               /* the data's */
    return 0;
}

/* Without --out a run still saves everything: a resumed run continues in
 * its checkpoint's directory, a new one gets runs/<model>-<n>. */
static int default_out_dir(const char *model, const char *resume, char *dir, size_t size,
                           sn_train_config *config)
{
    if (resume) {
        const char *slash = strrchr(resume, '/');
        if (slash)
            snprintf(dir, size, "%.*s", (int)(slash - resume), resume);
        else
            snprintf(dir, size, ".");
    } else if (cli_new_run_dir(model, dir, size)) {
        return 2;
    }
    config->out_dir = dir;
    printf("no --out: writing checkpoints and the log to %s/\n", dir);
    return 0;
}

int cmd_train(int argc, char **argv)
{
    cli_option extra[] = {
        {"model", 1, "model name, e.g. resnet20, sharesnet20, wrn-16-4 (required unless --resume)", NULL},
        {"out", 1, "directory for checkpoints and the epoch log", NULL},
        {"resume", 1, "checkpoint to continue from (its model, sharing and seed; --epochs "
                      "counts the epochs done)", NULL},
        {"init", 1, "checkpoint whose weights a new run starts from (fine-tuning)", NULL},
    };
    cli_option opts[64];
    cli_args args = {opts, train_options(opts, 64, extra, 4), NULL, 0};
    int rc = cli_parse(argc, argv, 2, usage, &args);
    int n_pos = args.n_positional;
    cli_args_free(&args);
    if (rc)
        return rc == 1 ? 0 : rc;
    sn_train_config config;
    if (n_pos || !train_config_from_args(&args, &config)) {
        if (n_pos)
            fprintf(stderr, "sharesnet: train takes no positional arguments (see --help)\n");
        return 2;
    }
    const char *data = cli_get(&args, "data"), *model_name = cli_get(&args, "model");
    const char *resume = cli_get(&args, "resume"), *init = cli_get(&args, "init");
    config.out_dir = cli_get(&args, "out");
    if (!data) {
        fprintf(stderr, "sharesnet: train needs --data (e.g. --data fashion-mnist)\n");
        return 2;
    }
    sn_train_state state = {0};
    sn_checkpoint_info info;
    sn_graph_options init_graph;
    if (init && resume) {
        fprintf(stderr, "sharesnet: --init starts a new run, --resume continues one: not both\n");
        return 2;
    }
    if (init && fine_tune_options(init, &args, &model_name, &info, &init_graph))
        return 2;
    if (resume) {
        if (cli_check_checkpoint_path("resume", resume))
            return 2;
        sn_status st = sn_checkpoint_info_read(resume, &info);
        if (st != SN_OK)
            return cli_error("resume", st);
        if (model_name && strcmp(model_name, info.model) != 0) {
            fprintf(stderr, "sharesnet: --model %s but %s holds %s\n", model_name, resume, info.model);
            return 2;
        }
        model_name = info.model;
        /* The architecture comes from the checkpoint: an option that asks for
         * another one is an error, not silently ignored. */
        static const char *const arch[] = {"policy", "classes", "shortcut", "stem"};
        for (size_t i = 0; i < sizeof arch / sizeof arch[0]; i++)
            if (cli_get(&args, arch[i])) {
                fprintf(stderr, "sharesnet: --%s cannot change a resumed run: %s fixes the "
                                "architecture (%s, policy %s, %d classes)\n",
                        arch[i], resume, info.model,
                        sn_share_policy_name((sn_share_policy)info.graph.policy),
                        info.graph.classes);
                return 2;
            }
        /* The data order and augmentation of the interrupted run. */
        if (!cli_get(&args, "seed") && info.state.seed)
            config.seed = info.state.seed;
    }
    if (!model_name) {
        fprintf(stderr, "sharesnet: train needs --model (see sharesnet info --all)\n");
        return 2;
    }

    sn_dataset train = {0}, test = {0};
    sn_context *ctx = NULL;
    sn_graph *graph = NULL;
    sn_model *model = NULL;
    rc = cli_load_split(data, SN_SPLIT_TRAIN, &args, &train);
    if (!rc && config.limit_test >= 0)
        rc = cli_load_split(data, SN_SPLIT_TEST, &args, &test);
    char device[256];
    if (!rc)
        rc = cli_rank_device(cli_get(&args, "device"), device, sizeof device);
    if (!rc)
        rc = cli_open_context(device, &ctx);
    if (!rc)
        /* A resumed run rebuilds the checkpoint's architecture. */
        rc = build_model_for_data(model_name, &args,
                                  resume ? &info.graph : init ? &init_graph : NULL, resume,
                                  &train, ctx,
                                  config.batch, config.seed, &graph, &model);
    if (!rc && init) {
        int head = 0;
        sn_status st = sn_checkpoint_init_weights(model, init, &head);
        if (st != SN_OK)
            rc = cli_error("init", st);
        else
            printf("initialised %s from %s%s\n", model_name, init,
                   head ? " (new classifier head)" : "");
        /* Pretrained weights expect their own input normalisation. */
        if (info.state.channels == graph->in_channels) {
            state.channels = info.state.channels;
            memcpy(state.mean, info.state.mean, sizeof state.mean);
            memcpy(state.std, info.state.std, sizeof state.std);
        }
    }
    if (!rc && resume) {
        sn_status st = sn_checkpoint_load(model, resume, 1, &state);
        if (st != SN_OK)
            rc = cli_error("resume", st);
        else if (state.epoch >= config.epochs) {
            fprintf(stderr, "sharesnet: %s is at epoch %d: nothing to train with --epochs %d "
                    "(the total, not the epochs to add)\n", resume, state.epoch, config.epochs);
            rc = 2;
        } else
            printf("resumed %s from %s after epoch %d (step %lld, seed %llu)\n", model_name,
                   resume, state.epoch, (long long)state.global_step,
                   (unsigned long long)config.seed);
    }
    char run_dir[4096];
    /* Rank 0 picks the directory; the others write nothing. */
    if (!rc && !config.out_dir && sn_dist_rank(config.dist) == 0)
        rc = default_out_dir(graph->model, resume, run_dir, sizeof run_dir, &config);
    if (!rc) {
        const sn_device_info *d = sn_context_device(ctx);
        char ranks[64] = "";
        if (config.dist)
            snprintf(ranks, sizeof ranks, " x %d ranks", sn_dist_size(config.dist));
        printf("training %s (%lld parameters, policy %s) on %s for %d epoch(s), batch %d x %d%s, "
               "%lld training examples\n",
               graph->model, sn_graph_param_count(graph), sn_share_policy_name(graph->policy),
               d->name, config.epochs, config.batch, config.accum, ranks,
               (long long)(config.limit_train > 0 && config.limit_train < train.count
                               ? config.limit_train
                               : train.count));
        train_printer printer;
        train_printer_init(&printer, graph->model);
        train_printer_set_eval(&printer, &config, config.limit_test >= 0 ? &test : NULL);
        sn_train_callbacks cb = train_printer_callbacks(&printer);
        sn_epoch_report last;
        /* Tuning and kernel compiles now (announced), not in the first step. */
        sn_model_set_frozen_bn(model, config.freeze_bn);
        sn_status st = sn_model_prepare(model, 1);
        if (st == SN_OK)
            st = sn_train(model, &train, config.limit_test >= 0 ? &test : NULL, &config, &state,
                          &cb, &last);
        if (st != SN_OK)
            rc = cli_error("train", st);
        else if (config.out_dir)
            printf("checkpoint %s/checkpoint.safetensors%s%s%s, log %s/log.jsonl\n",
                   config.out_dir, last.evaluated ? " (best test top-1: " : "",
                   last.evaluated ? config.out_dir : "",
                   last.evaluated ? "/best.safetensors)" : "", config.out_dir);
    }
    sn_model_free(model);
    sn_graph_free(graph);
    sn_context_free(ctx);
    sn_dataset_free(&train);
    sn_dataset_free(&test);
    return rc;
}
