/* `sharesnet compare`: train several models with the same data, recipe,
 * budget and seed, then print them side by side. The main job of the
 * README runs ResNet-20 against ShaResNet-20 on Fashion-MNIST. */
#include "cli/train_options.h"

#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sharesnet compare --models A,B,... --data D [train options]\n\n"
    "Trains every model with the same data, recipe, budget and seed, then prints a table:\n"
    "parameters, parameter+gradient+momentum memory, peak device memory, test accuracy,\n"
    "train and eval images/s, wall time.";

#define MAX_MODELS 8

typedef struct row {
    char model[64];
    long long params;
    size_t state_bytes, peak_bytes;
    sn_epoch_report report;
    double seconds;
} row;

static int train_one(const char *name, const cli_args *args, const sn_train_config *config,
                     const sn_dataset *train, const sn_dataset *test, sn_context *ctx, row *r)
{
    sn_graph *g = NULL;
    sn_model *m = NULL;
    int rc = build_model_for_data(name, args, NULL, train, ctx, config->batch, config->seed, &g,
                                  &m);
    if (rc)
        return rc;
    snprintf(r->model, sizeof r->model, "%s", g->model);
    r->params = sn_graph_param_count(g);
    sn_model_memory mem;
    sn_model_memory_usage(m, &mem);
    r->state_bytes = mem.params + mem.grads + mem.optimizer;
    printf("== %s: %lld parameters\n", g->model, r->params);
    fflush(stdout);
    train_printer printer;
    train_printer_init(&printer, g->model);
    sn_train_callbacks cb = train_printer_callbacks(&printer);
    sn_train_state state = {0};
    sn_train_config c = *config;
    char dir[4096];
    if (config->out_dir) {
        snprintf(dir, sizeof dir, "%s/%s", config->out_dir, g->model);
        c.out_dir = dir;
    }
    double start = sn_now_seconds();
    sn_status st = sn_train(m, train, test, &c, &state, &cb, &r->report);
    r->seconds = sn_now_seconds() - start;
    r->peak_bytes = r->report.peak_device_bytes;
    if (st != SN_OK)
        rc = cli_error(g->model, st);
    sn_model_free(m);
    sn_graph_free(g);
    return rc;
}

/* The names alone, before any data is read: a typo fails at once. Two
 * equal names would train into the same DIR/MODEL/. */
static int check_names(char *const *names, int n, const cli_args *args)
{
    sn_graph_options o;
    if (!cli_graph_options(args, &o))
        return 0;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < i; k++)
            if (!strcmp(names[k], names[i])) {
                fprintf(stderr, "sharesnet: --models lists %s twice\n", names[i]);
                return 0;
            }
        sn_graph *g = NULL;
        sn_status st = sn_graph_build(names[i], &o, &g);
        sn_graph_free(g);
        if (st != SN_OK) {
            cli_error("--models", st);
            return 0;
        }
    }
    return 1;
}

int cmd_compare(int argc, char **argv)
{
    cli_option extra[] = {
        {"models", 1, "comma-separated models (default resnet20,sharesnet20)", NULL},
        {"out", 1, "directory for each model's checkpoint and log (DIR/MODEL/)", NULL},
    };
    cli_option opts[64];
    cli_args args = {opts, train_options(opts, 64, extra, 2), NULL, 0};
    int rc = cli_parse(argc, argv, 2, usage, &args);
    cli_args_free(&args);
    if (rc)
        return rc == 1 ? 0 : rc;
    sn_train_config config;
    if (!train_config_from_args(&args, &config))
        return 2;
    config.out_dir = cli_get(&args, "out");
    const char *data = cli_get(&args, "data");
    const char *list = cli_get(&args, "models");
    if (!data) {
        fprintf(stderr, "sharesnet: compare needs --data\n");
        return 2;
    }
    char models[1024];
    snprintf(models, sizeof models, "%s", list ? list : "resnet20,sharesnet20");
    char *names[MAX_MODELS];
    int n = 0;
    for (char *tok = strtok(models, ","); tok; tok = strtok(NULL, ",")) {
        if (n == MAX_MODELS) {
            fprintf(stderr, "sharesnet: --models lists more than %d models\n", MAX_MODELS);
            return 2;
        }
        names[n++] = tok;
    }
    if (n == 0) {
        fprintf(stderr, "sharesnet: --models is empty\n");
        return 2;
    }
    if (!check_names(names, n, &args))
        return 2;

    sn_dataset train = {0}, test = {0};
    sn_context *ctx = NULL;
    row rows[MAX_MODELS];
    memset(rows, 0, sizeof rows);
    rc = cli_load_split(data, SN_SPLIT_TRAIN, &args, &train);
    if (!rc && config.limit_test >= 0)
        rc = cli_load_split(data, SN_SPLIT_TEST, &args, &test);
    /* Every model with the data's shape, before the device and the first
     * epoch: a bad combination must not wait for the models before it. */
    for (int i = 0; !rc && i < n; i++) {
        sn_graph *g = NULL;
        rc = graph_for_data(names[i], &args, NULL, &train, &g);
        sn_graph_free(g);
    }
    if (!rc)
        rc = cli_open_context(cli_get(&args, "device"), &ctx);
    int done = 0;
    for (; !rc && done < n; done++)
        rc = train_one(names[done], &args, &config, &train, config.limit_test >= 0 ? &test : NULL,
                       ctx, &rows[done]);
    if (!rc) {
        const sn_device_info *d = sn_context_device(ctx);
        long long train_n = config.limit_train > 0 && config.limit_train < train.count
                                ? config.limit_train
                                : train.count;
        printf("\n%s: %d epoch(s), %lld training images, batch %d, seed %llu, on %s (%s)\n\n",
               data, config.epochs, train_n, config.batch * config.accum,
               (unsigned long long)config.seed, d->name, d->platform);
        printf("| %-14s | %10s | %8s | %14s | %12s | %9s | %9s | %11s | %10s | %8s |\n", "model",
               "parameters", "vs first", "param+grad+mom", "peak device", "test top1",
               "test top5", "train img/s", "eval img/s", "time s");
        printf("|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", "----------------", "------------",
               "----------", "----------------", "--------------", "-----------", "-----------",
               "-------------", "------------", "----------");
        for (int i = 0; i < n; i++) {
            const row *r = &rows[i];
            char state[32], peak[32];
            cli_format_bytes(state, sizeof state, (double)r->state_bytes);
            cli_format_bytes(peak, sizeof peak, (double)r->peak_bytes);
            printf("| %-14s | %10lld | %+7.1f%% | %14s | %12s | %8.2f%% | %8.2f%% | %11.0f | %10.0f | "
                   "%8.1f |\n",
                   r->model, r->params, 100.0 * (double)(r->params - rows[0].params) / (double)rows[0].params,
                   state, peak, 100 * r->report.test_top1, 100 * r->report.test_top5,
                   r->report.train_images_per_second, r->report.eval_images_per_second, r->seconds);
        }
    }
    sn_context_free(ctx);
    sn_dataset_free(&train);
    sn_dataset_free(&test);
    return rc;
}
