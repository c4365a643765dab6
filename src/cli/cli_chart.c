/* Results files: CSV fields, running helper programs (gnuplot for charts,
 * python for the PyTorch peer)
 * and drawing a chart from a gnuplot script. Shared by `compare` and by
 * `sharesnet-bench tradeoff`: one place knows how a chart is made and how a
 * missing gnuplot is reported. */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int cli_run(char *const argv[], const char *cwd, int quiet)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return 127;
    if (pid == 0) {
        if (quiet && (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)))
            _exit(127);
        if (cwd && chdir(cwd) != 0)
            _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void cli_gnuplot_terminal(FILE *f, const char *png, int width, int height)
{
    /* pngcairo draws better, but gnuplot-nox builds may lack it. */
    fprintf(f, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
               "    set terminal pngcairo size %d,%d noenhanced font ',10'\n"
               "} else {\n"
               "    set terminal png size %d,%d noenhanced\n"
               "}\n"
               "set output '%s'\n",
            width, height, width, height, png);
}

int cli_gnuplot(const char *dir, const char *script, const char *png)
{
    char *argv[] = {"gnuplot", (char *)script, NULL};
    int status = cli_run(argv, dir, 0);
    if (status == 127) {
        /* The numbers are written already; the chart is a convenience. */
        printf("chart: skipped: gnuplot not found (Debian: apt install gnuplot-nox); "
               "draw it later with: cd %s && gnuplot %s\n", dir, script);
        return 0;
    }
    if (status != 0) {
        fprintf(stderr, "sharesnet: gnuplot %s/%s failed (exit %d)\n", dir, script, status);
        return 1;
    }
    printf("wrote %s/%s (gnuplot)\n", dir, png);
    return 0;
}

void cli_csv_number(FILE *f, double v, const char *fmt)
{
    fputc(',', f);
    if (!isnan(v))
        fprintf(f, fmt, v);
}

void cli_csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}
