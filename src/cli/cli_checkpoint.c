/* Checkpoint paths given on the command line: a run directory where a file
 * is expected is the commonest slip (`--checkpoint runs/s20`), so say which
 * file inside it was meant instead of a bare "is a directory". And inputs
 * checked against the checkpoint's model. */
#include "cli/cli.h"

#include "data/data_internal.h"

#include <string.h>
#include <sys/stat.h>

int cli_check_checkpoint_path(const char *option, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return 0; /* a missing or unreadable file: loading names the problem */
    /* A resumed run continues from its last epoch; eval and predict want the
     * best model first. */
    static const char *const files[] = {"best.safetensors", "checkpoint.safetensors"};
    char found[2][4200];
    int n = 0;
    for (size_t i = strcmp(option, "resume") ? 0 : 1; i < sizeof files / sizeof files[0]; i++) {
        snprintf(found[n], sizeof found[n], "%s/%s", path, files[i]);
        if (stat(found[n], &st) == 0 && S_ISREG(st.st_mode))
            n++;
    }
    if (n == 0)
        fprintf(stderr, "sharesnet: --%s %s is a directory, not a checkpoint file\n", option,
                path);
    else if (n == 1)
        fprintf(stderr, "sharesnet: --%s %s is a run directory; did you mean --%s %s?\n", option,
                path, option, found[0]);
    else
        fprintf(stderr, "sharesnet: --%s %s is a run directory; did you mean --%s %s (best test "
                        "top-1) or %s (last epoch)?\n", option, path, option, found[0], found[1]);
    return 2;
}

int cli_check_image_shape(const char *path, const sn_graph *g)
{
    int channels, height, width;
    sn_status st = sn_png_probe(path, &channels, &height, &width);
    if (st != SN_OK)
        return cli_error("predict", st);
    /* Converting is documented, but a silent crop of a 224-pixel photo to a
     * 28-pixel model's centre gives answers about a different picture. */
    if (height != g->size || width != g->size)
        fprintf(stderr, "sharesnet: note: %s is %dx%d, %s takes %dx%d: center-%s to fit\n", path,
                width, height, g->model, g->size, g->size,
                height > g->size || width > g->size ? "cropped" : "padded");
    if (channels != g->in_channels)
        fprintf(stderr, "sharesnet: note: %s has %d channel(s), %s takes %d: converted\n", path,
                channels, g->model, g->in_channels);
    return 0;
}
