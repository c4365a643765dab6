/* sn_graph_closest_plain: the plain model of the same family whose parameter
 * count is closest to a (shared) graph's — the paper's second claim compares
 * a ShaResNet with a plain ResNet of about the same size. */
#include "graph_internal.h"
#include "runtime/error_internal.h"

#include <stdio.h>
#include <string.h>

typedef struct search {
    const sn_graph *g;
    sn_graph_options opts;   /* g's options with policy NONE */
    long long target;
    long long best_count;    /* -1 until a candidate is seen */
    char best[64];
} search;

static long long distance(long long a, long long b)
{
    return a > b ? a - b : b - a;
}

/* Parameter count of plain model m (built under its canonical name). */
static sn_status plain_count(search *s, const sn_model_name *m, long long *count)
{
    char name[64];
    sn_model_name_plain(m, name, sizeof name);
    sn_graph *candidate;
    sn_status st = sn_graph_build_parsed(name, m, &s->opts, &candidate);
    if (st != SN_OK)
        return sn_fail_context(st, "closest plain model to %s", s->g->model);
    *count = sn_graph_param_count(candidate);
    sn_graph_free(candidate);
    return SN_OK;
}

/* Keep plain model m if it is closer than the best so far (ties -> smaller). */
static sn_status consider(search *s, const sn_model_name *m)
{
    long long count;
    SN_TRY(plain_count(s, m, &count));
    long long d = distance(count, s->target), best_d = distance(s->best_count, s->target);
    if (s->best_count < 0 || d < best_d || (d == best_d && count < s->best_count)) {
        s->best_count = count;
        sn_model_name_plain(m, s->best, sizeof s->best);
    }
    return SN_OK;
}

/* Whether the canonical plain name of m builds m (resnet50 and resnet164,
 * say, name other families than He CIFAR). */
static int nameable(const sn_model_name *m)
{
    char name[64];
    sn_model_name parsed;
    sn_model_name_plain(m, name, sizeof name);
    return sn_model_name_parse(name, &parsed) == SN_OK && parsed.family == m->family &&
           parsed.depth == m->depth && parsed.widen == m->widen;
}

/* Depths first + step * n (n >= 1) of one family and width. Counts grow with
 * n, so a galloping then binary search finds the last n at or below the
 * target; the closest nameable depths on either side of it are the only
 * candidates. */
static sn_status scan_depths(search *s, sn_family family, int first, int step, int widen)
{
    int n_max = (SN_GRAPH_MAX_DEPTH - first) / step;
    /* invariant: count(lo) <= target < count(hi); n = 0 and n_max + 1 are virtual */
    int lo = 0, hi = 1;
    for (;;) {
        if (hi > n_max) {
            hi = n_max + 1;
            break;
        }
        sn_model_name m = { family, first + step * hi, widen, 0 };
        long long count;
        SN_TRY(plain_count(s, &m, &count));
        if (count > s->target)
            break;
        lo = hi;
        hi *= 2;
    }
    while (hi - lo > 1) {
        int mid = lo + (hi - lo) / 2;
        sn_model_name m = { family, first + step * mid, widen, 0 };
        long long count;
        SN_TRY(plain_count(s, &m, &count));
        if (count <= s->target)
            lo = mid;
        else
            hi = mid;
    }
    for (int n = lo; n >= 1; n--) {
        sn_model_name m = { family, first + step * n, widen, 0 };
        if (nameable(&m)) {
            SN_TRY(consider(s, &m));
            break;
        }
    }
    for (int n = hi; n <= n_max; n++) {
        sn_model_name m = { family, first + step * n, widen, 0 };
        if (nameable(&m)) {
            SN_TRY(consider(s, &m));
            break;
        }
    }
    return SN_OK;
}

sn_status sn_graph_closest_plain(const sn_graph *g, char *name, size_t name_size,
                                 long long *count)
{
    if (!g || !name || name_size == 0)
        return sn_fail(SN_ERR_INVALID_ARG, "sn_graph_closest_plain: NULL graph or name buffer");
    sn_model_name m;
    SN_TRY(sn_model_name_parse(g->model, &m));

    search s = { .g = g, .target = sn_graph_param_count(g), .best_count = -1 };
    sn_graph_options_default(&s.opts);
    s.opts.classes = g->classes;
    s.opts.in_channels = g->in_channels;
    s.opts.size = g->size;
    s.opts.policy = SN_SHARE_NONE;
    s.opts.shortcut = g->shortcut ? g->shortcut : 'A';
    s.opts.small_stem = g->small_stem;

    switch (m.family) {
    case SN_FAMILY_CIFAR:
        SN_TRY(scan_depths(&s, SN_FAMILY_CIFAR, 2, 6, 1));
        break;
    case SN_FAMILY_PREACT:
        SN_TRY(scan_depths(&s, SN_FAMILY_PREACT, 2, 9, 1));
        break;
    case SN_FAMILY_WRN:
        for (int k = 1; k <= 16; k++)
            SN_TRY(scan_depths(&s, SN_FAMILY_WRN, 4, 6, k));
        break;
    case SN_FAMILY_IMAGENET: {
        static const int depths[] = { 18, 34, 50, 101, 152 };
        for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++) {
            sn_model_name c = { SN_FAMILY_IMAGENET, depths[i], 1, 0 };
            SN_TRY(consider(&s, &c));
        }
        break;
    }
    }
    if (s.best_count < 0)
        return sn_fail(SN_ERR_INVALID_ARG, "no plain model of the family of %s fits", g->model);
    size_t len = strlen(s.best);
    if (len >= name_size)
        return sn_fail(SN_ERR_INVALID_ARG, "sn_graph_closest_plain: name %s needs %zu bytes, buffer has %zu",
                       s.best, len + 1, name_size);
    memcpy(name, s.best, len + 1);
    if (count)
        *count = s.best_count;
    return SN_OK;
}
