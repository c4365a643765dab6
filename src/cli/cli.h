/* The sharesnet command-line tool: shared helpers of the sub-commands. */
#ifndef SN_CLI_H
#define SN_CLI_H

#include <stdio.h>

#include "sharesnet.h"
#include "sharesnet/data.h"
#include "sharesnet/graph.h"
#include "sharesnet/model.h"
#include "sharesnet/train.h"

/* Simple "--name value" / "--name=value" / "--flag" option parser. Options
 * are declared up front so an unknown option is an error, not ignored. */
typedef struct cli_option {
    const char *name;    /* without dashes, e.g. "device" */
    int takes_value;     /* 0: a flag */
    const char *help;
    const char *value;   /* filled by cli_parse; flags get "1" */
} cli_option;

typedef struct cli_args {
    cli_option *options;
    int n_options;
    const char **positional;
    int n_positional;
} cli_args;

/* Parse argv[first..argc). Returns 0, or prints the problem and returns 2.
 * "--help" prints usage (with `usage` and the options) and returns 1.
 * An unknown option is an error with a did-you-mean, and so is any argument
 * that is not an option: `--models a b` must not drop b silently. */
int cli_parse(int argc, char **argv, int first, const char *usage, cli_args *args);
/* The same for a command that takes up to `max_positional` other arguments
 * (-1: any number), e.g. predict's images. */
int cli_parse_positional(int argc, char **argv, int first, const char *usage, int max_positional,
                         cli_args *args);
const char *cli_get(const cli_args *args, const char *name);
/* Integer/float option with default; a malformed value prints and returns 0. */
int cli_int(const cli_args *args, const char *name, long def, long *out);
int cli_double(const cli_args *args, const char *name, double def, double *out);
void cli_args_free(cli_args *args);

/* Print "sharesnet: <what>: <last error>" to stderr; returns 1. */
int cli_error(const char *what, sn_status status);

/* The options cli_graph_options reads, for a command's option table. */
#define CLI_GRAPH_OPTIONS                                                                   \
    {"classes", 1, "classes (default: the data's, else 10 CIFAR families, 1000 ImageNet)", NULL}, \
    {"in-ch", 1, "input channels (default: the data's, else 3)", NULL},                      \
    {"size", 1, "input size (default: the data's, else 32 CIFAR families, 224 ImageNet)", NULL}, \
    {"policy", 1, "weight sharing: none | paper | stage (default: from the name)", NULL},    \
    {"shortcut", 1, "He CIFAR shortcuts: A (zero-pad) or B (projection)", NULL},             \
    {"stem", 1, "ImageNet families: small (3x3) or imagenet (7x7 + pool)", NULL}

/* Graph options from --classes --in-ch --size --policy --shortcut --stem.
 * Returns 0 (after printing why) on a malformed value. */
int cli_graph_options(const cli_args *args, sn_graph_options *o);
/* Open a context on `device` (NULL: default); prints and returns 1 on error. */
int cli_open_context(const char *device, sn_context **ctx);
/* The same without timing conv candidates (stored decisions, else the
 * device defaults): for a few images, where timing every candidate of every
 * shape costs far more than any choice can save. */
int cli_open_context_untimed(const char *device, sn_context **ctx);
/* Load one split (uses --skip-bad, --reject-wrong-size, --in-ch, --size). */
int cli_load_split(const char *source, sn_split split, const cli_args *args, sn_dataset *out);
/* Load one split with --in-ch/--size defaulting to `channels`/`size` (0: the
 * data's): eval converts PNG folders to the model's input shape. */
int cli_load_split_shaped(const char *source, sn_split split, const cli_args *args, int channels,
                          int size, sn_dataset *out);
void cli_format_bytes(char *buf, size_t size, double bytes);
/* 0 when `path` (given to --option) may be a checkpoint file; 2 after
 * printing when it is a directory (naming the checkpoint inside a run's). */
int cli_check_checkpoint_path(const char *option, const char *path);
/* Note on stderr when a PNG is not the model's input shape (it will be
 * converted, cropped or padded); 1 after printing when it is unreadable. */
int cli_check_image_shape(const char *path, const sn_graph *g);

/* Run argv[0] (found in PATH) with argv in directory cwd (NULL: this one);
 * quiet sends its stdout and stderr to /dev/null. Its exit status, 127 when
 * it could not be started, -1 when it died of a signal. */
int cli_run(char *const argv[], const char *cwd, int quiet);
/* Write s as one CSV field (quoted when it holds a comma, quote or newline). */
void cli_csv_field(FILE *f, const char *s);
/* ",value" in fmt, or an empty field for NaN (not measured). */
void cli_csv_number(FILE *f, double v, const char *fmt);
/* The first lines of a gnuplot script drawing `png` (pngcairo when there). */
void cli_gnuplot_terminal(FILE *f, const char *png, int width, int height);
/* Draw `png` by running gnuplot on `script` in `dir`; prints where it went,
 * or how to draw it later when gnuplot is missing (not an error). 1 (after
 * printing) when gnuplot failed. */
int cli_gnuplot(const char *dir, const char *script, const char *png);

/* Create runs/<name>-<n> with the smallest free n into `dir`; 0, or 2
 * after printing. */
int cli_new_run_dir(const char *name, char *dir, size_t size);

/* Machine load around a measurement (see cli_load.c). */
typedef struct cli_load {
    double load_before; /* 1-minute load average when it began, -1 unknown */
    int cores;
    double wall0, cpu0;
} cli_load;
void cli_load_begin(cli_load *l);
/* One sentence on the load since cli_load_begin; 1 when other work ran. */
int cli_load_note(const cli_load *l, char *buf, size_t size);
/* "load 1.93": the 1-minute load average now, for progress lines. */
void cli_load_now(char *buf, size_t size);

/* Under mpirun (cli_dist.c). cli_dist_start, from main before the command:
 * joins the job when mpirun started several ranks (train and compare only),
 * silencing stdout on ranks other than 0; 0, or an exit code after
 * printing. cli_dist_end(rc) after the command: rc != 0 ends every rank of
 * the job (MPI_Abort), else finalises; returns rc. */
int cli_dist_start(const char *command);
int cli_dist_end(int rc);
sn_dist *cli_dist(void); /* NULL outside a multi-rank job */
/* "rank R of N: " in a multi-rank job, else "" (error messages). */
void cli_error_prefix(char *buf, size_t size);
/* This rank's device selector into out: the (local rank mod n)-th entry of
 * a comma-separated --device (or SN_DEVICE), else round-robin over the
 * host's GPUs (every device when it has none); "" means the default. 0, or
 * 2 after printing. */
int cli_rank_device(const char *device, char *out, size_t size);

int cmd_devices(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_selftest(int argc, char **argv);
int cmd_compile_kernels(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);

#endif
