/* `sharesnet compare`: train several models with the same data, recipe,
 * budget and seed, then print them side by side. The main job of the
 * README runs ResNet-20 against ShaResNet-20 on Fashion-MNIST. */
#include "cli/compare_report.h"
#include "cli/train_options.h"

#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sharesnet compare --models A,B,... --data D [train options]\n\n"
    "Trains every model with the same data, recipe, budget and seed, then prints a table:\n"
    "parameters, parameter+gradient+momentum memory, peak device memory, test accuracy,\n"
    "train and eval images/s, wall time. Writes the table (compare.md, compare.csv), every\n"
    "epoch (epochs.csv) and a chart (compare.png: accuracy per epoch, parameters vs accuracy;\n"
    "needs gnuplot) into --out, by default a new runs/compare-N.";

#define MAX_MODELS 8

/* Keeps every epoch's report for the files, then prints as usual. */
typedef struct recorder {
    sn_train_callbacks printer;
    compare_row *row;
    int capacity;
} recorder;

static void record_progress(const sn_train_progress *p, void *user)
{
    recorder *rec = user;
    if (rec->printer.progress) /* NULL on ranks other than 0 */
        rec->printer.progress(p, rec->printer.user);
}

static void record_evaluating(int64_t done, int64_t total, void *user)
{
    recorder *rec = user;
    if (rec->printer.evaluating)
        rec->printer.evaluating(done, total, rec->printer.user);
}

static void record_epoch(const sn_epoch_report *r, void *user)
{
    recorder *rec = user;
    if (rec->row->n_epochs < rec->capacity)
        rec->row->epochs[rec->row->n_epochs++] = *r;
    rec->printer.epoch(r, rec->printer.user);
}

/* Train model `index` of `count` (the progress ETA covers those after it). */
static int train_one(const char *name, int index, int count, const cli_args *args,
                     const sn_train_config *config, const sn_dataset *train,
                     const sn_dataset *test, sn_context *ctx, compare_row *r)
{
    sn_graph *g = NULL;
    sn_model *m = NULL;
    int rc = build_model_for_data(name, args, NULL, NULL, train, ctx, config->batch, config->seed, &g,
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
    train_printer_set_eval(&printer, config, test);
    train_printer_set_run(&printer, index, count);
    recorder rec = {train_printer_callbacks(&printer), r, config->epochs};
    r->epochs = calloc((size_t)config->epochs, sizeof *r->epochs);
    if (!r->epochs) {
        sn_model_free(m);
        sn_graph_free(g);
        fprintf(stderr, "sharesnet: out of memory\n");
        return 1;
    }
    sn_train_callbacks cb = {.progress = record_progress, .epoch = record_epoch, .user = &rec,
                             .evaluating = record_evaluating};
    sn_train_state state = {0};
    sn_train_config c = *config;
    char dir[4096];
    if (config->out_dir) {
        snprintf(dir, sizeof dir, "%s/%s", config->out_dir, g->model);
        c.out_dir = dir;
    }
    /* One-time work (tuning, kernel compiles: the first model pays them)
     * before the clock starts, so the models compare on equal terms. */
    sn_model_set_frozen_bn(m, c.freeze_bn);
    sn_status st = sn_model_prepare(m, 1);
    double start = sn_now_seconds();
    if (st == SN_OK)
        st = sn_train(m, train, test, &c, &state, &cb, &r->report);
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
        {"out", 1, "directory for the results and each model's checkpoints and log (DIR/MODEL/); "
                   "default: a new runs/compare-N", NULL},
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
    const char *out = cli_get(&args, "out");
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
    compare_row rows[MAX_MODELS];
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
    char device[256];
    if (!rc)
        rc = cli_rank_device(cli_get(&args, "device"), device, sizeof device);
    if (!rc)
        rc = cli_open_context(device, &ctx);
    /* The results must land somewhere: a new run directory unless --out.
     * Under mpirun rank 0 writes them (sn_train writes only there too). */
    const int writer = sn_dist_rank(config.dist) == 0;
    char run_dir[4096] = "";
    if (!rc && out) {
        snprintf(run_dir, sizeof run_dir, "%s", out);
    } else if (!rc && writer) {
        rc = cli_new_run_dir("compare", run_dir, sizeof run_dir);
        if (!rc)
            printf("no --out: writing the results, checkpoints and logs to %s/\n", run_dir);
    }
    config.out_dir = run_dir;
    cli_load load;
    cli_load_begin(&load);
    int done = 0;
    for (; !rc && done < n; done++)
        rc = train_one(names[done], done, n, &args, &config, &train,
                       config.limit_test >= 0 ? &test : NULL, ctx, &rows[done]);
    if (!rc) {
        compare_report report = {data, &config, 0, sn_context_device(ctx), "", rows, n};
        report.train_n = config.limit_train > 0 && config.limit_train < train.count
                             ? config.limit_train
                             : train.count;
        cli_load_note(&load, report.load_note, sizeof report.load_note);
        printf("\n");
        compare_print_table(&report, stdout);
        if (writer)
            rc = compare_write_files(&report, run_dir);
    }
    for (int i = 0; i < n; i++)
        free(rows[i].epochs);
    sn_context_free(ctx);
    sn_dataset_free(&train);
    sn_dataset_free(&test);
    return rc;
}
