/* Option parsing and error printing shared by the sub-commands. */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/suggest.h"

static void print_usage(const char *usage, const cli_args *args)
{
    printf("%s\n", usage);
    if (args->n_options)
        printf("\nOptions:\n");
    for (int i = 0; i < args->n_options; i++) {
        const cli_option *o = &args->options[i];
        char left[64];
        snprintf(left, sizeof left, "--%s%s", o->name, o->takes_value ? " VALUE" : "");
        printf("  %-24s %s\n", left, o->help);
    }
    printf("  %-24s %s\n", "--help", "show this help");
}

/* "-o" is the one-letter option "o" when the command declares one (export
 * -o FILE); any other word is positional. */
static int is_short_option(const cli_args *args, const char *a)
{
    if (a[0] != '-' || !a[1] || a[1] == '-' || a[2])
        return 0;
    for (int k = 0; k < args->n_options; k++)
        if (args->options[k].name[0] == a[1] && !args->options[k].name[1])
            return 1;
    return 0;
}

/* The option names as a NULL-terminated list for sn_suggest. */
static const char **option_names(const cli_args *args)
{
    const char **names = calloc((size_t)args->n_options + 2, sizeof *names);
    if (!names)
        return NULL;
    for (int i = 0; i < args->n_options; i++)
        names[i] = args->options[i].name;
    names[args->n_options] = "help";
    return names;
}

static void unknown_option(const char *arg, size_t len, const cli_args *args)
{
    char name[128];
    snprintf(name, sizeof name, "%.*s", (int)len, arg + 2);
    const char **names = option_names(args);
    const char *near = names ? sn_suggest(name, names) : NULL;
    if (near)
        fprintf(stderr, "sharesnet: unknown option '%s'; did you mean --%s? (see --help)\n", arg,
                near);
    else
        fprintf(stderr, "sharesnet: unknown option '%s' (see --help)\n", arg);
    free(names);
}

/* A word where only options may be: a value left over from a list option
 * ("--models a b"), or an option written with one dash. */
static void stray_argument(const char *arg, const char *command, int max_positional,
                           const cli_args *args)
{
    const char **names = option_names(args);
    const char *near = names && arg[0] == '-' ? sn_suggest(arg + 1, names) : NULL;
    if (near)
        fprintf(stderr, "sharesnet: unexpected argument '%s'; did you mean --%s?\n", arg, near);
    else if (max_positional == 0)
        fprintf(stderr, "sharesnet: unexpected argument '%s': %s takes only options (lists are "
                        "comma-separated, e.g. --models resnet20,sharesnet20; see --help)\n",
                arg, command);
    else
        fprintf(stderr, "sharesnet: unexpected argument '%s': %s takes %d argument(s) besides "
                        "its options (see --help)\n", arg, command, max_positional);
    free(names);
}

int cli_parse(int argc, char **argv, int first, const char *usage, cli_args *args)
{
    return cli_parse_positional(argc, argv, first, usage, 0, args);
}

int cli_parse_positional(int argc, char **argv, int first, const char *usage, int max_positional,
                         cli_args *args)
{
    args->positional = calloc((size_t)argc + 1, sizeof *args->positional);
    args->n_positional = 0;
    if (!args->positional) {
        fprintf(stderr, "sharesnet: out of memory\n");
        return 2;
    }
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        int short_opt = is_short_option(args, a);
        if (!short_opt && (strncmp(a, "--", 2) != 0 || a[2] == '\0')) {
            if (max_positional >= 0 && args->n_positional >= max_positional) {
                stray_argument(a, argv[first - 1], max_positional, args);
                return 2;
            }
            args->positional[args->n_positional++] = a;
            continue;
        }
        const char *name = a + (short_opt ? 1 : 2);
        if (!strcmp(name, "help")) {
            print_usage(usage, args);
            return 1;
        }
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        cli_option *found = NULL;
        for (int k = 0; k < args->n_options; k++)
            if (strlen(args->options[k].name) == len && !strncmp(args->options[k].name, name, len))
                found = &args->options[k];
        if (!found) {
            unknown_option(a, len, args);
            return 2;
        }
        if (!found->takes_value) {
            if (eq) {
                fprintf(stderr, "sharesnet: option --%s takes no value\n", found->name);
                return 2;
            }
            found->value = "1";
        } else if (eq) {
            found->value = eq + 1;
        } else if (i + 1 < argc) {
            found->value = argv[++i];
        } else {
            fprintf(stderr, "sharesnet: option --%s needs a value\n", found->name);
            return 2;
        }
    }
    return 0;
}

const char *cli_get(const cli_args *args, const char *name)
{
    for (int i = 0; i < args->n_options; i++)
        if (!strcmp(args->options[i].name, name))
            return args->options[i].value;
    return NULL;
}

int cli_int(const cli_args *args, const char *name, long def, long *out)
{
    const char *v = cli_get(args, name);
    *out = def;
    if (!v)
        return 1;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end) {
        fprintf(stderr, "sharesnet: --%s expects an integer, got '%s'\n", name, v);
        return 0;
    }
    /* Callers store counts and sizes in int: never wrap silently. */
    if (x > INT_MAX || x < INT_MIN) {
        fprintf(stderr, "sharesnet: --%s %s is out of range\n", name, v);
        return 0;
    }
    *out = x;
    return 1;
}

int cli_double(const cli_args *args, const char *name, double def, double *out)
{
    const char *v = cli_get(args, name);
    *out = def;
    if (!v)
        return 1;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end) {
        fprintf(stderr, "sharesnet: --%s expects a number, got '%s'\n", name, v);
        return 0;
    }
    *out = x;
    return 1;
}

void cli_args_free(cli_args *args)
{
    free(args->positional);
    args->positional = NULL;
}

int cli_error(const char *what, sn_status status)
{
    char rank[64];
    cli_error_prefix(rank, sizeof rank);
    fprintf(stderr, "sharesnet: %s%s: %s (%s)\n", rank, what, sn_last_error(),
            sn_status_name(status));
    return 1;
}
