/* A fresh run directory, runs/<name>-<n>, for commands given no --out: a
 * training run must never end with nothing saved, nor overwrite an earlier
 * run. mkdir is the claim, so two runs started at once get different ones. */
#include "cli/cli.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

int cli_new_run_dir(const char *name, char *dir, size_t size)
{
    if (mkdir("runs", 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "sharesnet: cannot create runs/: %s (give --out DIR)\n", strerror(errno));
        return 2;
    }
    for (int n = 1; n < 100000; n++) {
        snprintf(dir, size, "runs/%s-%d", name, n);
        if (mkdir(dir, 0755) == 0)
            return 0;
        if (errno != EEXIST) {
            fprintf(stderr, "sharesnet: cannot create %s: %s (give --out DIR)\n", dir,
                    strerror(errno));
            return 2;
        }
    }
    fprintf(stderr, "sharesnet: runs/ holds too many %s-N directories (give --out DIR)\n", name);
    return 2;
}
