/* Options shared by `train` and `compare` (the progress printer is
 * train_printer.c). */
#include "cli/train_options.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_option common[] = {
    {"data", 1, "dataset: fashion-mnist, or a path (IDX, CIFAR binary, PNG folders)", NULL},
    {"device", 1, "device selector (P:D, gpu/cpu/accelerator, or a name part)", NULL},
    {"epochs", 1, "epochs to train, in total (default 1)", NULL},
    {"batch", 1, "micro-batch size (default 128)", NULL},
    {"accum", 1, "micro-batches per optimizer step (default 1)", NULL},
    {"lr", 1, "base learning rate (default 0.1)", NULL},
    {"schedule", 1, "multistep | cosine | constant (default multistep)", NULL},
    {"milestones", 1, "multistep epochs, comma-separated (default 50%,75% of epochs)", NULL},
    {"gamma", 1, "multistep factor (default 0.1)", NULL},
    {"warmup", 1, "linear warm-up epochs (default 0)", NULL},
    {"momentum", 1, "SGD momentum (default 0.9)", NULL},
    {"wd", 1, "weight decay (default 5e-4)", NULL},
    {"no-nesterov", 0, "plain momentum instead of Nesterov", NULL},
    {"crop-pad", 1, "random-crop padding in pixels, 0 disables (default 4)", NULL},
    {"no-flip", 0, "no random horizontal flip", NULL},
    {"seed", 1, "seed of weights, data order and augmentation (default 1)", NULL},
    {"limit-train", 1, "use the first N training examples", NULL},
    {"limit-test", 1, "use the first N test examples (-1: no evaluation)", NULL},
    {"eval-every", 1, "evaluate every K epochs (default 1)", NULL},
    {"bucket-kib", 1, "under mpirun: gradient all-reduce bucket in KiB (default: 1/16 of the "
                      "gradients, 64 KiB to 64 MiB)", NULL},
    {"freeze-bn", 0, "batch norm uses its running statistics in training (fine-tuning, tiny batches)", NULL},
    CLI_GRAPH_OPTIONS,
    {"skip-bad", 0, "skip (and count) PNG files that fail to decode", NULL},
    {"reject-wrong-size", 0, "PNG images of another size are errors (default: crop/pad)", NULL},
};

int train_options(cli_option *out, int capacity, const cli_option *extra, int n_extra)
{
    int n = 0;
    for (size_t i = 0; i < sizeof common / sizeof common[0] && n < capacity; i++)
        out[n++] = common[i];
    for (int i = 0; i < n_extra && n < capacity; i++)
        out[n++] = extra[i];
    return n;
}

int train_config_from_args(const cli_args *args, sn_train_config *c)
{
    long epochs, v;
    if (!cli_int(args, "epochs", 1, &epochs))
        return 0;
    sn_train_config_default(c, (int)epochs);
    double d;
    if (!cli_int(args, "batch", 128, &v))
        return 0;
    c->batch = (int)v;
    if (!cli_int(args, "accum", 1, &v))
        return 0;
    c->accum = (int)v;
    if (!cli_double(args, "lr", 0.1, &c->lr.base_lr) || !cli_double(args, "gamma", 0.1, &c->lr.gamma) ||
        !cli_double(args, "warmup", 0, &c->lr.warmup_epochs) ||
        !cli_double(args, "momentum", 0.9, &c->momentum) ||
        !cli_double(args, "wd", 5e-4, &c->weight_decay))
        return 0;
    const char *s = cli_get(args, "schedule");
    if (s) {
        if (!strcmp(s, "multistep"))
            c->lr.kind = SN_LR_MULTISTEP;
        else if (!strcmp(s, "cosine"))
            c->lr.kind = SN_LR_COSINE;
        else if (!strcmp(s, "constant"))
            c->lr.kind = SN_LR_CONSTANT;
        else {
            fprintf(stderr, "sharesnet: --schedule must be multistep, cosine or constant\n");
            return 0;
        }
    }
    const char *ms = cli_get(args, "milestones");
    if (ms) {
        c->lr.n_milestones = 0;
        while (*ms) {
            char *end;
            d = strtod(ms, &end);
            if (end == ms || (*end && *end != ',') || c->lr.n_milestones == SN_MAX_MILESTONES) {
                fprintf(stderr, "sharesnet: --milestones expects up to %d comma-separated epochs\n",
                        SN_MAX_MILESTONES);
                return 0;
            }
            /* A decreasing list would silently skip a decay (the schedule counts
             * milestones passed): refuse it. */
            if (c->lr.n_milestones > 0 && !(d > c->lr.milestones[c->lr.n_milestones - 1])) {
                fprintf(stderr, "sharesnet: --milestones must increase (%g after %g)\n", d,
                        c->lr.milestones[c->lr.n_milestones - 1]);
                return 0;
            }
            c->lr.milestones[c->lr.n_milestones++] = d;
            ms = *end ? end + 1 : end;
        }
    }
    c->nesterov = cli_get(args, "no-nesterov") == NULL;
    c->flip = cli_get(args, "no-flip") == NULL;
    c->freeze_bn = cli_get(args, "freeze-bn") != NULL;
    if (!cli_int(args, "crop-pad", 4, &v))
        return 0;
    c->crop_padding = (int)v;
    if (!cli_int(args, "seed", 1, &v))
        return 0;
    c->seed = (uint64_t)v;
    if (!cli_int(args, "limit-train", 0, &v))
        return 0;
    c->limit_train = v;
    if (!cli_int(args, "limit-test", 0, &v))
        return 0;
    c->limit_test = v;
    if (!cli_int(args, "eval-every", 1, &v))
        return 0;
    c->eval_every = (int)v;
    if (!cli_int(args, "bucket-kib", 0, &v))
        return 0;
    if (v < 0 || v > 1 << 20 || (v == 0 && cli_get(args, "bucket-kib"))) {
        fprintf(stderr, "sharesnet: --bucket-kib must be 1 to %d (1 GiB)\n", 1 << 20);
        return 0;
    }
    c->bucket_bytes = (size_t)v * 1024;
    c->dist = cli_dist();
    if (c->epochs <= 0 || c->batch <= 0 || c->accum <= 0 || c->eval_every <= 0) {
        fprintf(stderr, "sharesnet: --epochs, --batch, --accum and --eval-every must be positive\n");
        return 0;
    }
    if (c->crop_padding < 0 || c->limit_train < 0 || c->limit_test < -1) {
        fprintf(stderr, "sharesnet: --crop-pad and --limit-train must be >= 0, --limit-test >= -1\n");
        return 0;
    }
    /* The library's rule for the hyper-parameters, before any data loads. */
    sn_status st = sn_train_config_check(c);
    if (st != SN_OK) {
        cli_error("train", st);
        return 0;
    }
    return 1;
}

int build_model_for_data(const char *model, const cli_args *args, const sn_graph_options *given,
                         const char *checkpoint, const sn_dataset *train, sn_context *ctx,
                         int batch, uint64_t seed, sn_graph **g, sn_model **m)
{
    int rc = graph_for_data(model, args, given, train, g);
    if (rc)
        return rc;
    /* A resumed checkpoint is checked against the graph before the model
     * takes any device memory. */
    const char *stage = "resume";
    sn_status st = checkpoint ? sn_checkpoint_check(checkpoint, *g, 1) : SN_OK;
    if (st == SN_OK) {
        stage = "model";
        st = sn_model_create(ctx, *g, batch, seed, m);
    }
    if (st != SN_OK) {
        sn_graph_free(*g);
        *g = NULL;
        return cli_error(stage, st);
    }
    return 0;
}

int graph_for_data(const char *model, const cli_args *args, const sn_graph_options *given,
                   const sn_dataset *train, sn_graph **g)
{
    sn_graph_options o;
    if (given)
        o = *given;
    else if (!cli_graph_options(args, &o))
        return 2;
    if (!o.classes)
        o.classes = train->classes;
    if (!o.in_channels)
        o.in_channels = train->channels;
    if (!o.size)
        o.size = train->height;
    if (train->height != train->width) {
        fprintf(stderr, "sharesnet: images are %dx%d; models take square inputs\n", train->height,
                train->width);
        return 2;
    }
    sn_status st = sn_graph_build(model, &o, g);
    if (st != SN_OK)
        return cli_error("model", st);
    return 0;
}
