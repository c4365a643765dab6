/* `sharesnet bench ...`: runs the benchmark program, sharesnet-bench (bench/),
 * with the same arguments. The suite is a program of its own so that the
 * product CLI carries none of it; this keeps the familiar spelling. It looks
 * next to this executable (installed: both in bin/), then in the build tree
 * (build/src/cli -> build/bench), then on PATH. */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

int cmd_bench(int argc, char **argv)
{
    char exe[PATH_MAX], path[PATH_MAX + 64];
    argv[1] = "sharesnet-bench"; /* argv[1..] becomes the program's argv */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            const char *places[] = {"%s/sharesnet-bench", "%s/../../bench/sharesnet-bench"};
            for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
                snprintf(path, sizeof path, places[i], exe);
                if (access(path, X_OK) == 0) {
                    execv(path, argv + 1);
                    fprintf(stderr, "sharesnet: bench: cannot run %s: %s\n", path,
                            strerror(errno));
                    return 1;
                }
            }
        }
    }
    (void)argc;
    execvp("sharesnet-bench", argv + 1);
    fprintf(stderr, "sharesnet: bench: cannot run sharesnet-bench (not next to sharesnet, not on "
                    "PATH): %s\n",
            strerror(errno));
    return 1;
}
