/* Pieces the training-related commands share: graph options from the
 * command line, opening a context, loading a dataset. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

int cli_graph_options(const cli_args *args, sn_graph_options *o)
{
    sn_graph_options_default(o);
    long v;
    if (!cli_int(args, "classes", 0, &v))
        return 0;
    o->classes = (int)v;
    if (!cli_int(args, "in-ch", 0, &v))
        return 0;
    o->in_channels = (int)v;
    if (!cli_int(args, "size", 0, &v))
        return 0;
    o->size = (int)v;
    const char *policy = cli_get(args, "policy");
    if (policy) {
        int found = -1;
        for (int p = SN_SHARE_NONE; p <= SN_SHARE_STAGE; p++)
            if (!strcmp(policy, sn_share_policy_name((sn_share_policy)p)))
                found = p;
        if (found < 0) {
            fprintf(stderr, "sharesnet: --policy must be none, paper or stage, not '%s'\n", policy);
            return 0;
        }
        o->policy = found;
    }
    const char *shortcut = cli_get(args, "shortcut");
    if (shortcut) {
        if (strcmp(shortcut, "A") && strcmp(shortcut, "B") && strcmp(shortcut, "a") &&
            strcmp(shortcut, "b")) {
            fprintf(stderr, "sharesnet: --shortcut must be A or B, not '%s'\n", shortcut);
            return 0;
        }
        o->shortcut = shortcut[0] & ~0x20;
    }
    const char *stem = cli_get(args, "stem");
    if (stem) {
        if (!strcmp(stem, "small"))
            o->small_stem = 1;
        else if (!strcmp(stem, "imagenet"))
            o->small_stem = 0;
        else {
            fprintf(stderr, "sharesnet: --stem must be small or imagenet, not '%s'\n", stem);
            return 0;
        }
    }
    return 1;
}

/* One-time work announced as it starts rather than looking like a hang:
 * the first compile names the device and the cache, later ones the family. */
static void announce(const sn_notice *n, void *user)
{
    int *compiles = user;
    char kept[4200];
    if (n->kept_in[0])
        snprintf(kept, sizeof kept, "first run only, cached in %s", n->kept_in);
    else
        snprintf(kept, sizeof kept, "caching is off: every run repeats it");
    fflush(stdout); /* in order with what was printed before, in one log file */
    if (n->kind == SN_NOTICE_TUNE)
        fprintf(stderr, "sharesnet: tuning %d conv shape%s for %s (%s)\n", n->count,
                n->count == 1 ? "" : "s", n->device, kept);
    else if ((*compiles)++ == 0)
        fprintf(stderr, "sharesnet: compiling kernels for %s (%s): %s\n", n->device, kept,
                n->what);
    else
        fprintf(stderr, "sharesnet: compiling kernels: %s\n", n->what);
}

static int open_context(const char *device, int tune, sn_context **ctx)
{
    static int compiles; /* notices so far: one process, one line of context */
    sn_context_options o;
    sn_context_options_default(&o);
    o.device = device;
    o.tune = tune;
    o.notice = announce;
    o.notice_user = &compiles;
    sn_status st = sn_context_create(&o, ctx);
    if (st != SN_OK)
        return cli_error("device", st);
    return 0;
}

int cli_open_context(const char *device, sn_context **ctx)
{
    return open_context(device, -1, ctx);
}

int cli_open_context_untimed(const char *device, sn_context **ctx)
{
    /* Stored decisions (those training timed) but no timing, unless SN_TUNE
     * says otherwise: the user asked. */
    return open_context(device, getenv("SN_TUNE") ? -1 : 2, ctx);
}

int cli_load_split(const char *source, sn_split split, const cli_args *args, sn_dataset *out)
{
    return cli_load_split_shaped(source, split, args, 0, 0, out);
}

int cli_load_split_shaped(const char *source, sn_split split, const cli_args *args, int channels,
                          int size, sn_dataset *out)
{
    sn_data_options o;
    memset(&o, 0, sizeof o);
    o.skip_bad = cli_get(args, "skip-bad") != NULL;
    o.reject_wrong_size = cli_get(args, "reject-wrong-size") != NULL;
    long v;
    if (!cli_int(args, "in-ch", channels, &v))
        return 2;
    o.channels = (int)v;
    if (!cli_int(args, "size", size, &v))
        return 2;
    o.height = o.width = (int)v;
    sn_status st = sn_dataset_load(out, source, split, &o);
    if (st != SN_OK)
        return cli_error(split == SN_SPLIT_TRAIN ? "loading training data" : "loading test data", st);
    if (out->skipped)
        fprintf(stderr, "sharesnet: skipped %lld undecodable or wrong-size image(s) in %s\n",
                (long long)out->skipped, source);
    return 0;
}

void cli_format_bytes(char *buf, size_t size, double bytes)
{
    if (bytes >= 1024.0 * 1024 * 1024)
        snprintf(buf, size, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
    else if (bytes >= 1024.0 * 1024)
        snprintf(buf, size, "%.1f MiB", bytes / (1024.0 * 1024));
    else
        snprintf(buf, size, "%.1f KiB", bytes / 1024.0);
}
