/* Options shared by `train` and `compare`: data, model shape, recipe. */
#ifndef SN_CLI_TRAIN_OPTIONS_H
#define SN_CLI_TRAIN_OPTIONS_H

#include "cli/cli.h"

/* The option table (terminated by a NULL name); `extra` options are
 * appended by the command. Returns the count. */
int train_options(cli_option *out, int capacity, const cli_option *extra, int n_extra);

/* Fill the config from the parsed options; 0 (after printing) on error. */
int train_config_from_args(const cli_args *args, sn_train_config *c);

/* Progress and epoch printers (progress bar on a TTY, plain lines otherwise;
 * train_printer.c): learning rate, ETA of the whole run, the evaluation. */
typedef struct train_printer {
    const char *model;
    int tty;
    double run_start;        /* derived from the first progress report */
    int64_t first_step;      /* global step before that report */
    int64_t eval_images;     /* per evaluation; 0: the run does not evaluate */
    int eval_every;
    int epoch, epochs;       /* of the last progress report (0: not training) */
    int eval_quarter;        /* quarters of the evaluation reported (not a TTY) */
    double eval_start;
    int run, runs;           /* this training among those of the command (compare) */
} train_printer;
void train_printer_init(train_printer *p, const char *model);
/* What each evaluation covers, so the printer can say when one runs. */
void train_printer_set_eval(train_printer *p, const sn_train_config *c, const sn_dataset *test);
/* This is training `run` (from 0) of `runs` of the same length (compare's
 * models): the ETA then covers the ones after it too. */
void train_printer_set_run(train_printer *p, int run, int runs);
sn_train_callbacks train_printer_callbacks(train_printer *p);

/* Build the graph of `model` for the dataset (classes, channels, size from
 * the data unless given) and the model for `batch`. The graph options are
 * `given` (a checkpoint's, to resume), else those of the command line; with
 * `checkpoint` (resume), its tensors are checked against the graph before
 * the model takes any device memory. */
int build_model_for_data(const char *model, const cli_args *args, const sn_graph_options *given,
                         const char *checkpoint, const sn_dataset *train, sn_context *ctx,
                         int batch, uint64_t seed, sn_graph **g, sn_model **m);

/* Only the graph of build_model_for_data: commands that train several
 * models check every one of them before training the first. */
int graph_for_data(const char *model, const cli_args *args, const sn_graph_options *given,
                   const sn_dataset *train, sn_graph **g);

#endif
