/* Model names: parsing "resnet56", "sharesnet164", "preresnet1001",
 * "wrn-28-10", "sharewrn-40-4", "resnet50" into a family and its sizes, and
 * the list of names `sharesnet info --all` shows. */
#include "graph_internal.h"
#include "runtime/error_internal.h"
#include "runtime/suggest.h"

#include <stdio.h>
#include <string.h>

#define NAME_FORMS \
    "resnetD/sharesnetD (He CIFAR, D = 6n+2; pre-activation bottleneck for " \
    "D = 9n+2 >= 164; ImageNet for D = 18, 34, 50, 101, 152), preresnetD " \
    "(D = 9n+2), wrn-D-K/sharewrn-D-K (D = 6n+4, K >= 1)"

/* Decimal number without sign or leading zeros, at most 6 digits; -1 if not. */
static int parse_number(const char *s, const char **end)
{
    int value = 0, digits = 0;
    while (*s >= '0' && *s <= '9') {
        if (digits == 0 && *s == '0' && s[1] >= '0' && s[1] <= '9')
            return -1;
        if (++digits > 6)
            return -1;
        value = value * 10 + (*s++ - '0');
    }
    *end = s;
    return digits ? value : -1;
}

static int is_imagenet_depth(int d)
{
    return d == 18 || d == 34 || d == 50 || d == 101 || d == 152;
}

/* resnetD / sharesnetD: ImageNet, then pre-act bottleneck, then He CIFAR. */
static int resolve_resnet_depth(int d, sn_family *family)
{
    if (is_imagenet_depth(d))
        *family = SN_FAMILY_IMAGENET;
    else if (d >= 164 && (d - 2) % 9 == 0)
        *family = SN_FAMILY_PREACT;
    else if (d >= 8 && (d - 2) % 6 == 0)
        *family = SN_FAMILY_CIFAR;
    else
        return 0;
    return 1;
}

/* Names a typo is most likely of: the zoo and the small He CIFAR depths. */
static const char *const suggestable[] = {
    "resnet8", "sharesnet8", "resnet14", "sharesnet14", "resnet20", "sharesnet20",
    "resnet26", "sharesnet26", "resnet32", "sharesnet32", "resnet44", "sharesnet44",
    "resnet56", "sharesnet56", "resnet110", "sharesnet110", "resnet1202", "sharesnet1202",
    "preresnet164", "sharesnet164", "preresnet1001", "sharesnet1001",
    "wrn-16-4", "sharewrn-16-4", "wrn-28-10", "sharewrn-28-10", "wrn-40-4", "sharewrn-40-4",
    "resnet18", "sharesnet18", "resnet34", "sharesnet34", "resnet50", "sharesnet50",
    "resnet101", "sharesnet101", "resnet152", "sharesnet152", NULL};

static sn_status unknown(const char *name, const char *why)
{
    const char *near = sn_suggest(name, suggestable);
    if (near)
        return sn_fail(SN_ERR_INVALID_ARG, "unknown model '%s'%s%s; did you mean '%s'? (see "
                       "sharesnet info --all)", name, why[0] ? ": " : "", why, near);
    return sn_fail(SN_ERR_INVALID_ARG, "unknown model '%s'%s%s; expected " NAME_FORMS,
                   name, why[0] ? ": " : "", why);
}

static sn_status parse_wrn(const char *name, const char *s, sn_model_name *out)
{
    const char *end;
    int depth = parse_number(s, &end);
    if (depth < 0 || *end != '-')
        return unknown(name, "");
    int widen = parse_number(end + 1, &end);
    if (widen < 0 || *end != '\0')
        return unknown(name, "");
    if (depth < 10 || (depth - 4) % 6 != 0 || depth > SN_GRAPH_MAX_DEPTH)
        return unknown(name, "WRN depth must be 6n+4 (10, 16, 22, 28, 40, ...)");
    if (widen < 1 || widen > SN_GRAPH_MAX_WIDEN)
        return unknown(name, "WRN widening factor must be 1 to 64");
    out->family = SN_FAMILY_WRN;
    out->depth = depth;
    out->widen = widen;
    return SN_OK;
}

static sn_status parse_depth_name(const char *name, const char *s, sn_model_name *out,
                                  int preact_only)
{
    const char *end;
    int depth = parse_number(s, &end);
    if (depth < 0 || *end != '\0')
        return unknown(name, "");
    if (depth > SN_GRAPH_MAX_DEPTH)
        return unknown(name, "deeper than 10000");
    if (preact_only) {
        if (depth < 11 || (depth - 2) % 9 != 0)
            return unknown(name, "pre-activation depth must be 9n+2 (11, 20, ..., 164, 1001)");
        out->family = SN_FAMILY_PREACT;
    } else if (!resolve_resnet_depth(depth, &out->family)) {
        return unknown(name, "no family has this depth");
    }
    out->depth = depth;
    out->widen = 1;
    return SN_OK;
}

sn_status sn_model_name_parse(const char *name, sn_model_name *out)
{
    memset(out, 0, sizeof *out);
    out->widen = 1;
    if (strncmp(name, "sharewrn-", 9) == 0) {
        out->shared = 1;
        return parse_wrn(name, name + 9, out);
    }
    if (strncmp(name, "wrn-", 4) == 0)
        return parse_wrn(name, name + 4, out);
    if (strncmp(name, "preresnet", 9) == 0)
        return parse_depth_name(name, name + 9, out, 1);
    if (strncmp(name, "sharesnet", 9) == 0) {
        out->shared = 1;
        return parse_depth_name(name, name + 9, out, 0);
    }
    if (strncmp(name, "resnet", 6) == 0)
        return parse_depth_name(name, name + 6, out, 0);
    return unknown(name, "");
}

void sn_model_name_plain(const sn_model_name *m, char *buf, size_t size)
{
    switch (m->family) {
    case SN_FAMILY_WRN:
        snprintf(buf, size, "wrn-%d-%d", m->depth, m->widen);
        break;
    case SN_FAMILY_PREACT:
        snprintf(buf, size, "preresnet%d", m->depth);
        break;
    case SN_FAMILY_CIFAR:
    case SN_FAMILY_IMAGENET:
        snprintf(buf, size, "resnet%d", m->depth);
        break;
    }
}

const char *const *sn_graph_zoo_names(void)
{
    static const char *const names[] = {
        "resnet20", "sharesnet20", "resnet32", "sharesnet32",
        "resnet44", "sharesnet44", "resnet56", "sharesnet56",
        "resnet110", "sharesnet110", "resnet1202", "sharesnet1202",
        "preresnet164", "sharesnet164", "preresnet1001", "sharesnet1001",
        "wrn-28-10", "sharewrn-28-10",
        "wrn-40-4", "sharewrn-40-4",
        "resnet18", "sharesnet18", "resnet34", "sharesnet34",
        "resnet50", "sharesnet50", "resnet101", "sharesnet101",
        "resnet152", "sharesnet152",
        NULL
    };
    return names;
}
