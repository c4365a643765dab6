/* The sharesnet command-line tool: shared helpers of the sub-commands. */
#ifndef SN_CLI_H
#define SN_CLI_H

#include <stdio.h>

#include "sharesnet.h"

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
 * "--help" prints usage (with `usage` and the options) and returns 1. */
int cli_parse(int argc, char **argv, int first, const char *usage, cli_args *args);
const char *cli_get(const cli_args *args, const char *name);
/* Integer/float option with default; a malformed value prints and returns 0. */
int cli_int(const cli_args *args, const char *name, long def, long *out);
int cli_double(const cli_args *args, const char *name, double def, double *out);
void cli_args_free(cli_args *args);

/* Print "sharesnet: <what>: <last error>" to stderr; returns 1. */
int cli_error(const char *what, sn_status status);

int cmd_devices(int argc, char **argv);
int cmd_selftest(int argc, char **argv);
int cmd_compile_kernels(int argc, char **argv);

#endif
