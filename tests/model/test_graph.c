/* Tests of the host-side model description: published parameter counts,
 * exact counts against PyTorch/torchvision, the sharing rule of every family,
 * graph invariants (checked here independently of sn_graph_check), options,
 * errors, the closest plain model and the `info` table. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sharesnet/graph.h"

/* ---- helpers ------------------------------------------------------------ */

static sn_graph_options options(int classes, int in_channels, int size, int policy)
{
    sn_graph_options o;
    sn_graph_options_default(&o);
    o.classes = classes;
    o.in_channels = in_channels;
    o.size = size;
    o.policy = policy;
    return o;
}

static sn_graph *build(const char *model, const sn_graph_options *o)
{
    sn_graph *g = NULL;
    sn_status st = sn_graph_build(model, o, &g);
    cr_assert_eq(st, SN_OK, "build %s: %s: %s", model, sn_status_name(st), sn_last_error());
    cr_assert_not_null(g);
    return g;
}

static long long count_of(const char *model, const sn_graph_options *o)
{
    sn_graph *g = build(model, o);
    long long n = sn_graph_param_count(g);
    sn_graph_free(g);
    return n;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static const sn_layer_spec *layer(const sn_graph *g, const char *name)
{
    int i = sn_graph_find_layer(g, name);
    cr_assert_geq(i, 0, "%s has no layer %s", g->model, name);
    return &g->layers[i];
}

static int same(sn_act_shape a, sn_act_shape b)
{
    return a.c == b.c && a.h == b.h && a.w == b.w;
}

/* Independent structural check: indices, each activation written once and
 * before use, every op's output shape recomputed here, parameter shapes and
 * use counts. */
static void check_structure(const sn_graph *g)
{
    int *writes = calloc((size_t)g->n_acts, sizeof(int));
    int *uses = calloc((size_t)g->n_params + 1, sizeof(int));
    cr_assert(writes && uses);
    cr_assert_gt(g->n_layers, 0);
    cr_assert(same(g->acts[0], (sn_act_shape){ g->in_channels, g->size, g->size }));

    for (int i = 0; i < g->n_layers; i++) {
        const sn_layer_spec *l = &g->layers[i];
        cr_assert(l->in >= 0 && l->in < g->n_acts, "%s: in", l->name);
        cr_assert(l->in == 0 || writes[l->in] == 1, "%s reads an unwritten activation", l->name);
        cr_assert(l->out > 0 && l->out < g->n_acts, "%s: out", l->name);
        cr_assert_eq(writes[l->out], 0, "%s: activation %d written twice", l->name, l->out);
        writes[l->out] = 1;
        cr_assert(l->weight >= -1 && l->weight < g->n_params, "%s: weight index", l->name);
        cr_assert(l->bias >= -1 && l->bias < g->n_params, "%s: bias index", l->name);
        if (l->weight >= 0)
            uses[l->weight]++;
        if (l->bias >= 0)
            uses[l->bias]++;
        cr_assert(l->op == SN_OP_ADD ? l->in2 >= 0 : l->in2 == -1, "%s: in2", l->name);
        cr_assert(l->stage == 0 ? l->block == -1 : l->block >= 0, "%s: stage/block", l->name);

        sn_act_shape x = g->acts[l->in], y = g->acts[l->out];
        sn_act_shape want = x;
        const sn_param_spec *w = l->weight >= 0 ? &g->params[l->weight] : NULL;
        const sn_param_spec *b = l->bias >= 0 ? &g->params[l->bias] : NULL;
        switch (l->op) {
        case SN_OP_CONV:
            cr_assert(w && !b && w->role == SN_PARAM_CONV_WEIGHT && w->ndim == 4, "%s", l->name);
            cr_assert(w->shape[1] == x.c && w->shape[2] == l->kernel && w->shape[3] == l->kernel,
                      "%s: weight shape", l->name);
            cr_assert_eq(l->pad, l->kernel / 2, "%s: pad", l->name);
            want.c = w->shape[0];
            want.h = (x.h + 2 * l->pad - l->kernel) / l->stride + 1;
            want.w = (x.w + 2 * l->pad - l->kernel) / l->stride + 1;
            break;
        case SN_OP_BN:
            cr_assert(w && b && w->role == SN_PARAM_BN_GAMMA && b->role == SN_PARAM_BN_BETA, "%s", l->name);
            cr_assert(w->ndim == 1 && w->shape[0] == x.c && b->shape[0] == x.c, "%s", l->name);
            break;
        case SN_OP_RELU:
            cr_assert(!w && !b);
            break;
        case SN_OP_ADD:
            cr_assert(!w && !b);
            cr_assert(l->in2 < g->n_acts && (l->in2 == 0 || writes[l->in2]), "%s: in2", l->name);
            cr_assert(same(g->acts[l->in2], x), "%s: add of different shapes", l->name);
            break;
        case SN_OP_SHORTCUT_A:
            cr_assert(!w && !b && y.c >= x.c, "%s", l->name);
            want.c = y.c;
            want.h = (x.h + l->stride - 1) / l->stride;
            want.w = (x.w + l->stride - 1) / l->stride;
            break;
        case SN_OP_MAXPOOL:
            want.h = (x.h + 2 * l->pad - l->kernel) / l->stride + 1;
            want.w = (x.w + 2 * l->pad - l->kernel) / l->stride + 1;
            break;
        case SN_OP_GAP:
            want.h = want.w = 1;
            break;
        case SN_OP_LINEAR:
            cr_assert(x.h == 1 && x.w == 1, "%s", l->name);
            cr_assert(w && b && w->role == SN_PARAM_LINEAR_WEIGHT && b->role == SN_PARAM_LINEAR_BIAS);
            cr_assert(w->shape[1] == x.c && w->shape[0] == b->shape[0], "%s", l->name);
            want.c = w->shape[0];
            break;
        }
        cr_assert(same(y, want), "%s (%s): output %dx%dx%d, expected %dx%dx%d", l->name,
                  sn_op_name(l->op), y.c, y.h, y.w, want.c, want.h, want.w);
    }
    for (int a = 1; a < g->n_acts; a++)
        cr_assert_eq(writes[a], 1, "%s: activation %d never written", g->model, a);
    for (int p = 0; p < g->n_params; p++) {
        const sn_param_spec *s = &g->params[p];
        long long n = 1;
        for (int d = 0; d < s->ndim; d++)
            n *= s->shape[d];
        cr_assert_eq(n, s->count, "%s: count", s->name);
        cr_assert_eq(uses[p], s->uses, "%s: uses %d, referenced %d times", s->name, s->uses, uses[p]);
        cr_assert_geq(s->uses, 1, "%s unused", s->name);
        for (int q = 0; q < p; q++)
            cr_assert_str_neq(s->name, g->params[q].name, "parameter name repeated");
    }
    cr_assert(same(g->acts[g->logits], (sn_act_shape){ g->classes, 1, 1 }));
    cr_assert_eq(g->layers[g->n_layers - 1].out, g->logits);
    cr_assert_eq(sn_graph_check(g), SN_OK, "%s", sn_last_error());
    free(writes);
    free(uses);
}

/* ---- published counts (Boulch 2017, plain -> shared) --------------------- */

typedef struct published {
    const char *plain, *shared;
    int classes;
    double plain_m, shared_m; /* millions */
    int decimals;             /* precision of the published number */
} published;

static const published paper[] = {
    { "resnet164", "sharesnet164", 10, 1.70, 0.93, 2 },
    { "wrn-40-4", "sharewrn-40-4", 10, 8.95, 5.85, 2 },
    { "wrn-28-10", "sharewrn-28-10", 100, 36.54, 26.86, 2 },
    { "resnet34", "sharesnet34", 1000, 21.8, 13.6, 1 },
    { "resnet50", "sharesnet50", 1000, 25.6, 20.5, 1 },
    { "resnet101", "sharesnet101", 1000, 44.5, 29.4, 1 },
    { "resnet152", "sharesnet152", 1000, 60.2, 36.8, 1 },
};

static double rounded_millions(long long count, int decimals)
{
    double scale = pow(10.0, decimals);
    return round((double)count / 1e6 * scale) / scale;
}

Test(published, paper_counts)
{
    for (size_t i = 0; i < sizeof paper / sizeof paper[0]; i++) {
        const published *p = &paper[i];
        sn_graph_options o = options(p->classes, 0, 0, -1);
        long long plain = count_of(p->plain, &o), shared = count_of(p->shared, &o);
        cr_expect_float_eq(rounded_millions(plain, p->decimals), p->plain_m, 1e-9,
                           "%s: %lld", p->plain, plain);
        cr_expect_float_eq(rounded_millions(shared, p->decimals), p->shared_m, 1e-9,
                           "%s: %lld", p->shared, shared);
    }
    /* the ImageNet counts also hold at 0.01M precision */
    sn_graph_options o = options(1000, 0, 0, -1);
    cr_expect_float_eq(rounded_millions(count_of("resnet34", &o), 2), 21.80, 1e-9);
    cr_expect_float_eq(rounded_millions(count_of("sharesnet34", &o), 2), 13.61, 1e-9);
    cr_expect_float_eq(rounded_millions(count_of("resnet20", NULL), 2), 0.27, 1e-9);
}

/* Exact counts computed with PyTorch 1.13 (torchvision 0.14 for ImageNet;
 * the CIFAR families written as nn.Modules, sharing by reusing one Conv2d). */
Test(published, exact_counts_match_pytorch)
{
    static const struct { const char *model; int classes, in_channels, shortcut; long long count; } ref[] = {
        { "resnet20", 10, 3, 'A', 269722 },
        { "resnet20", 10, 3, 'B', 272474 },
        { "resnet20", 10, 1, 'A', 269434 },
        { "sharesnet20", 10, 3, 'A', 221338 },
        { "resnet8", 10, 3, 'A', 75290 },
        { "resnet14", 10, 3, 'A', 172506 },
        { "resnet32", 10, 3, 'A', 464154 },
        { "sharesnet32", 10, 3, 'A', 319002 },
        { "resnet44", 10, 3, 'A', 658586 },
        { "resnet56", 10, 3, 'A', 853018 },
        { "sharesnet56", 10, 3, 'A', 514330 },
        { "resnet110", 10, 3, 'A', 1727962 },
        { "resnet110", 10, 3, 'B', 1730714 },
        { "sharesnet110", 10, 3, 'A', 953818 },
        { "resnet1202", 10, 3, 'A', 19421274 },
        { "sharesnet1202", 10, 3, 'A', 9841242 },
        { "preresnet164", 10, 3, 'A', 1703258 },
        { "sharesnet164", 10, 3, 'A', 929114 },
        { "preresnet1001", 10, 3, 'A', 10327706 },
        { "sharesnet1001", 10, 3, 'A', 5053850 },
        { "wrn-40-4", 10, 3, 'A', 8949210 },
        { "sharewrn-40-4", 10, 3, 'A', 5852634 },
        { "wrn-28-10", 100, 3, 'A', 36536884 },
        { "sharewrn-28-10", 100, 3, 'A', 26860084 },
        { "wrn-28-10", 10, 3, 'A', 36479194 },
        { "wrn-16-4", 10, 3, 'A', 2748890 },
        { "resnet18", 1000, 3, 'A', 11689512 },
        { "sharesnet18", 1000, 3, 'A', 8556072 },
        { "resnet34", 1000, 3, 'A', 21797672 },
        { "sharesnet34", 1000, 3, 'A', 13613864 },
        { "resnet50", 1000, 3, 'A', 25557032 },
        { "sharesnet50", 1000, 3, 'A', 20469800 },
        { "resnet101", 1000, 3, 'A', 44549160 },
        { "sharesnet101", 1000, 3, 'A', 29434920 },
        { "resnet152", 1000, 3, 'A', 60192808 },
        { "sharesnet152", 1000, 3, 'A', 36821032 },
    };
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        sn_graph_options o = options(ref[i].classes, ref[i].in_channels, 0, -1);
        o.shortcut = ref[i].shortcut;
        cr_expect_eq(count_of(ref[i].model, &o), ref[i].count, "%s (%d classes, %d ch, %c)",
                     ref[i].model, ref[i].classes, ref[i].in_channels, ref[i].shortcut);
    }
}

/* Forward MACs per sample, from PyTorch forward hooks (torchvision). */
Test(published, macs_match_pytorch)
{
    sn_graph *g = build("resnet50", NULL);
    cr_expect_eq(sn_graph_macs(g), 4089184256LL);
    sn_graph_free(g);
    g = build("resnet20", NULL);
    cr_expect_eq(sn_graph_macs(g), 40551040LL);
    sn_graph_free(g);
}

/* ---- sharing rules ------------------------------------------------------ */

/* The family rule (docs/ARCHITECTURE.md, "Sharing rules"), written from layer names. */
static int paper_rule_shares(const sn_graph *g, const sn_layer_spec *l)
{
    if (l->op != SN_OP_CONV || l->stage < 1 || !ends_with(l->name, ".conv2"))
        return 0;
    if (strcmp(g->family, "imagenet-basic") == 0)
        return 1;
    if (strcmp(g->family, "imagenet-bottleneck") == 0)
        return l->stride == 1;
    return l->block > 0; /* CIFAR families: all but the stage's first block */
}

static void check_paper_sharing(const char *model, const sn_graph_options *o)
{
    sn_graph *g = build(model, o);
    cr_assert_eq(g->policy, SN_SHARE_PAPER);
    check_structure(g);
    int stage_param[8], stage_uses[8];
    for (int s = 0; s < 8; s++)
        stage_param[s] = -1, stage_uses[s] = 0;
    for (int i = 0; i < g->n_layers; i++) {
        const sn_layer_spec *l = &g->layers[i];
        int p = l->weight;
        if (p < 0)
            continue;
        int shared_name = strstr(g->params[p].name, ".shared.") != NULL;
        if (!paper_rule_shares(g, l)) {
            cr_expect_eq(g->params[p].uses, 1, "%s: %s should be its own", model, l->name);
            cr_expect(!shared_name, "%s: %s uses %s", model, l->name, g->params[p].name);
            continue;
        }
        cr_assert(shared_name, "%s: %s has weight %s", model, l->name, g->params[p].name);
        cr_assert_eq(g->params[p].stage, l->stage);
        if (stage_param[l->stage] < 0)
            stage_param[l->stage] = p;
        cr_expect_eq(p, stage_param[l->stage], "%s: one shared weight per stage", l->name);
        stage_uses[l->stage]++;
    }
    for (int s = 1; s < 8; s++)
        if (stage_param[s] >= 0) {
            char name[64];
            snprintf(name, sizeof name, "stage%d.shared.conv2.weight", s);
            cr_expect_str_eq(g->params[stage_param[s]].name, name);
            cr_expect_eq(g->params[stage_param[s]].uses, stage_uses[s]);
        }
    sn_graph_free(g);
}

Test(sharing, paper_rule_every_family)
{
    const char *models[] = { "sharesnet20", "sharesnet56", "sharesnet110", "sharesnet164",
                             "sharewrn-40-4", "sharewrn-22-8", "sharesnet18", "sharesnet34",
                             "sharesnet50", "sharesnet101", "sharesnet152" };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        check_paper_sharing(models[i], NULL);
    sn_graph_options o = options(100, 0, 0, -1);
    check_paper_sharing("sharewrn-28-10", &o);
    o = options(10, 1, 28, -1);
    check_paper_sharing("sharesnet50", &o);
}

Test(sharing, uses_per_stage)
{
    static const struct { const char *model; int uses[4]; } expect[] = {
        { "sharesnet20", { 2, 2, 2, 0 } },
        { "sharesnet164", { 17, 17, 17, 0 } },
        { "sharewrn-40-4", { 5, 5, 5, 0 } },
        { "sharesnet34", { 3, 4, 6, 3 } },
        { "sharesnet50", { 3, 3, 5, 2 } },     /* stage 1's first block shares */
        { "sharesnet101", { 3, 3, 22, 2 } },
        { "sharesnet152", { 3, 7, 35, 2 } },
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        sn_graph *g = build(expect[i].model, NULL);
        for (int s = 0; s < 4; s++) {
            char name[64];
            snprintf(name, sizeof name, "stage%d.shared.conv2.weight", s + 1);
            int p = sn_graph_find_param(g, name);
            if (expect[i].uses[s] == 0) {
                cr_expect_eq(p, -1, "%s: %s", expect[i].model, name);
                continue;
            }
            cr_assert_geq(p, 0, "%s: no %s", expect[i].model, name);
            cr_expect_eq(g->params[p].uses, expect[i].uses[s], "%s: %s", expect[i].model, name);
        }
        sn_graph_free(g);
    }
}

Test(sharing, which_layers_share_in_sharesnet50)
{
    sn_graph *g = build("sharesnet50", NULL);
    int shared1 = sn_graph_find_param(g, "stage1.shared.conv2.weight");
    int shared2 = sn_graph_find_param(g, "stage2.shared.conv2.weight");
    cr_expect_eq(layer(g, "stage1.block0.conv2")->weight, shared1);
    cr_expect_eq(layer(g, "stage1.block2.conv2")->weight, shared1);
    cr_expect_neq(layer(g, "stage2.block0.conv2")->weight, shared2);
    cr_expect_eq(layer(g, "stage2.block0.conv2")->stride, 2);
    cr_expect_str_eq(g->params[layer(g, "stage2.block0.conv2")->weight].name,
                     "stage2.block0.conv2.weight");
    cr_expect_eq(layer(g, "stage2.block1.conv2")->weight, shared2);
    cr_expect_eq(g->params[layer(g, "stage2.block1.conv1")->weight].uses, 1);
    cr_expect_eq(g->params[layer(g, "stage2.block0.shortcut.conv")->weight].uses, 1);
    sn_graph_free(g);
}

Test(sharing, stage_policy_shares_at_least_paper)
{
    const sn_graph_options paper_o = options(0, 0, 0, SN_SHARE_PAPER);
    const sn_graph_options stage_o = options(0, 0, 0, SN_SHARE_STAGE);
    const char *models[] = { "resnet20", "resnet110", "preresnet164", "wrn-40-4", "wrn-16-1",
                             "resnet18", "resnet34", "resnet50", "resnet152" };
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        sn_graph *p = build(models[m], &paper_o), *s = build(models[m], &stage_o);
        check_structure(s);
        cr_assert_eq(s->policy, SN_SHARE_STAGE);
        cr_assert_eq(p->n_layers, s->n_layers);
        cr_expect_leq(sn_graph_param_count(s), sn_graph_param_count(p), "%s", models[m]);
        for (int i = 0; i < s->n_layers; i++) {
            const sn_layer_spec *lp = &p->layers[i], *ls = &s->layers[i];
            cr_assert_str_eq(lp->name, ls->name);
            if (ls->op != SN_OP_CONV)
                continue;
            const sn_param_spec *wp = &p->params[lp->weight], *ws = &s->params[ls->weight];
            /* every conv PAPER shares, STAGE shares too */
            if (wp->uses > 1)
                cr_expect_gt(ws->uses, 1, "%s: %s", models[m], ls->name);
            int eligible = ls->stage > 0 && ls->kernel == 3 && ls->stride == 1 &&
                           ws->shape[0] == ws->shape[1];
            cr_expect_eq(strstr(ws->name, ".shared.") != NULL, eligible, "%s: %s -> %s",
                         models[m], ls->name, ws->name);
        }
        sn_graph_free(p);
        sn_graph_free(s);
    }
    /* He CIFAR: both 3x3 of every block share one weight per stage (first
     * blocks of stage 1 included, the strided conv1 of stages 2-3 excluded) */
    sn_graph *g = build("resnet20", &stage_o);
    int w1 = sn_graph_find_param(g, "stage1.shared.conv3x3.weight");
    cr_assert_geq(w1, 0);
    cr_expect_eq(g->params[w1].uses, 6);
    int w2 = sn_graph_find_param(g, "stage2.shared.conv3x3.weight");
    cr_expect_eq(g->params[w2].uses, 5);
    cr_expect_eq(layer(g, "stage2.block0.conv2")->weight, w2);
    cr_expect_str_eq(g->params[layer(g, "stage2.block0.conv1")->weight].name, "stage2.block0.conv1.weight");
    sn_graph_free(g);
}

Test(sharing, policy_option_overrides_the_name)
{
    sn_graph_options none = options(0, 0, 0, SN_SHARE_NONE);
    sn_graph_options paper_o = options(0, 0, 0, SN_SHARE_PAPER);
    cr_expect_eq(count_of("sharesnet20", &none), count_of("resnet20", NULL));
    cr_expect_eq(count_of("resnet20", &paper_o), count_of("sharesnet20", NULL));
    sn_graph *g = build("ShaResNet164", NULL);
    cr_expect_str_eq(g->model, "sharesnet164");
    cr_expect_eq(g->policy, SN_SHARE_PAPER);
    cr_expect_str_eq(g->family, "cifar-preact-bottleneck");
    sn_graph_free(g);
}

/* ---- structure ---------------------------------------------------------- */

Test(structure, every_zoo_model_is_consistent)
{
    const char *const *names = sn_graph_zoo_names();
    int n = 0;
    for (; names[n]; n++) {
        sn_graph *g = build(names[n], NULL);
        check_structure(g);
        sn_graph_free(g);
    }
    cr_expect_geq(n, 20);
}

Test(structure, small_gray_inputs_build)
{
    /* Fashion-MNIST shape: 1x28x28, 10 classes */
    sn_graph_options o = options(10, 1, 28, -1);
    const char *const *names = sn_graph_zoo_names();
    for (int i = 0; names[i]; i++) {
        if (strstr(names[i], "1202") || strstr(names[i], "1001"))
            continue; /* big; same code paths as 110 / 164 */
        sn_graph *g = build(names[i], &o);
        check_structure(g);
        cr_expect(same(g->acts[0], (sn_act_shape){ 1, 28, 28 }));
        cr_expect_eq(g->params[0].shape[1], 1, "%s: stem reads one channel", names[i]);
        sn_graph_free(g);
    }
    sn_graph *g = build("resnet20", &o);
    int pool = layer(g, "head.pool")->in;
    cr_expect(same(g->acts[pool], (sn_act_shape){ 64, 7, 7 }));
    sn_graph_free(g);
    g = build("resnet50", &o);
    cr_expect_eq(g->small_stem, 1);
    cr_expect(same(g->acts[layer(g, "head.pool")->in], (sn_act_shape){ 2048, 4, 4 }));
    sn_graph_free(g);
}

Test(structure, defaults_by_family)
{
    sn_graph *g = build("resnet20", NULL);
    cr_expect(g->classes == 10 && g->in_channels == 3 && g->size == 32 && g->shortcut == 'A');
    cr_expect_str_eq(g->family, "cifar-basic");
    sn_graph_free(g);
    g = build("resnet50", NULL);
    cr_expect(g->classes == 1000 && g->in_channels == 3 && g->size == 224 && g->small_stem == 0);
    cr_expect_str_eq(g->family, "imagenet-bottleneck");
    cr_expect_eq(layer(g, "stem.conv")->kernel, 7);
    cr_expect_eq(layer(g, "stem.pool")->op, SN_OP_MAXPOOL);
    cr_expect(same(g->acts[layer(g, "head.pool")->in], (sn_act_shape){ 2048, 7, 7 }));
    sn_graph_free(g);
    sn_graph_options o = options(0, 0, 32, -1);
    g = build("resnet18", &o);
    cr_expect_eq(g->small_stem, 1);
    cr_expect_eq(layer(g, "stem.conv")->kernel, 3);
    cr_expect_eq(sn_graph_find_layer(g, "stem.pool"), -1);
    sn_graph_free(g);
    o.small_stem = 0;
    g = build("resnet18", &o);
    cr_expect_eq(layer(g, "stem.conv")->kernel, 7);
    sn_graph_free(g);
}

Test(structure, he_cifar_blocks)
{
    sn_graph *g = build("resnet20", NULL);
    cr_expect_eq(g->n_params, 1 + 2 + 9 * 6 + 2);  /* stem conv+bn, 9 blocks, fc */
    const sn_layer_spec *sc = layer(g, "stage2.block0.shortcut");
    cr_expect_eq(sc->op, SN_OP_SHORTCUT_A);
    cr_expect_eq(sc->stride, 2);
    cr_expect(same(g->acts[sc->out], (sn_act_shape){ 32, 16, 16 }));
    cr_expect_eq(sc->in, layer(g, "stage1.block2.relu2")->out);
    const sn_layer_spec *add = layer(g, "stage1.block1.add");
    cr_expect_eq(add->in, layer(g, "stage1.block1.bn2")->out);
    cr_expect_eq(add->in2, layer(g, "stage1.block0.relu2")->out);  /* identity */
    cr_expect_eq(layer(g, "stage1.block1.relu2")->in, add->out);
    cr_expect_eq(layer(g, "stage1.block2.bn1")->op, SN_OP_BN);
    sn_graph_free(g);

    sn_graph_options o;
    sn_graph_options_default(&o);
    o.shortcut = 'b';
    g = build("resnet20", &o);
    cr_expect_eq(g->shortcut, 'B');
    cr_expect_eq(layer(g, "stage3.block0.shortcut.conv")->kernel, 1);
    cr_expect_eq(layer(g, "stage3.block0.shortcut.bn")->op, SN_OP_BN);
    cr_expect_eq(sn_graph_find_layer(g, "stage1.block0.shortcut.conv"), -1);
    sn_graph_free(g);
}

Test(structure, preactivation_projection_reads_preactivated_input)
{
    const char *models[] = { "preresnet164", "wrn-28-10" };
    for (int m = 0; m < 2; m++) {
        sn_graph *g = build(models[m], NULL);
        const sn_layer_spec *relu = layer(g, "stage2.block0.relu1");
        cr_expect_eq(layer(g, "stage2.block0.shortcut.conv")->in, relu->out);
        cr_expect_eq(layer(g, "stage2.block0.conv1")->in, relu->out);
        const sn_layer_spec *before = layer(g, "stage2.block0.bn1") - 1; /* stage 1's last add */
        cr_expect_eq(before->op, SN_OP_ADD);
        cr_expect_eq(before->stage, 1);
        cr_expect_eq(layer(g, "stage2.block0.bn1")->in, before->out);
        /* identity blocks add the raw input, not the pre-activated one */
        cr_expect_eq(layer(g, "stage2.block1.add")->in2, layer(g, "stage2.block0.add")->out);
        cr_expect_eq(layer(g, "head.bn")->in, g->layers[sn_graph_find_layer(g, "head.bn") - 1].out);
        cr_expect_eq(layer(g, "head.relu")->in, layer(g, "head.bn")->out);
        cr_expect_eq(layer(g, "head.pool")->in, layer(g, "head.relu")->out);
        sn_graph_free(g);
    }
    sn_graph *g = build("preresnet164", NULL);
    cr_expect_eq(layer(g, "stage2.block0.conv2")->stride, 2);  /* stride on the 3x3 */
    cr_expect(same(g->acts[layer(g, "stage3.block17.add")->out], (sn_act_shape){ 256, 8, 8 }));
    sn_graph_free(g);
}

Test(structure, names_of_parameters)
{
    sn_graph *g = build("sharesnet20", NULL);
    cr_expect_geq(sn_graph_find_param(g, "stem.conv.weight"), 0);
    cr_expect_geq(sn_graph_find_param(g, "stem.bn.gamma"), 0);
    cr_expect_geq(sn_graph_find_param(g, "stage1.block0.conv2.weight"), 0);
    cr_expect_geq(sn_graph_find_param(g, "stage2.shared.conv2.weight"), 0);
    cr_expect_eq(sn_graph_find_param(g, "stage2.block1.conv2.weight"), -1);
    cr_expect_geq(sn_graph_find_param(g, "stage3.block2.bn2.beta"), 0);
    cr_expect_geq(sn_graph_find_param(g, "head.fc.weight"), 0);
    cr_expect_geq(sn_graph_find_param(g, "head.fc.bias"), 0);
    cr_expect_geq(sn_graph_find_layer(g, "stage1.block2.bn1"), 0);
    cr_expect_eq(g->params[sn_graph_find_param(g, "stage3.shared.conv2.weight")].stage, 3);
    cr_expect_eq(g->params[sn_graph_find_param(g, "head.fc.weight")].stage, 0);
    sn_graph_free(g);
}

/* ---- names and errors --------------------------------------------------- */

Test(errors, depth_resolution)
{
    static const struct { const char *model; const char *family; } cases[] = {
        { "sharesnet20", "cifar-basic" }, { "sharesnet110", "cifar-basic" },
        { "sharesnet1202", "cifar-basic" }, { "resnet8", "cifar-basic" },
        { "resnet122", "cifar-basic" }, { "sharesnet164", "cifar-preact-bottleneck" },
        { "resnet164", "cifar-preact-bottleneck" }, { "preresnet20", "cifar-preact-bottleneck" },
        { "sharesnet1001", "cifar-preact-bottleneck" }, { "resnet18", "imagenet-basic" },
        { "sharesnet34", "imagenet-basic" }, { "resnet50", "imagenet-bottleneck" },
        { "SHARESNET152", "imagenet-bottleneck" }, { "wrn-10-1", "cifar-wrn" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sn_graph *g = build(cases[i].model, NULL);
        cr_expect_str_eq(g->family, cases[i].family, "%s", cases[i].model);
        sn_graph_free(g);
    }
}

Test(errors, bad_names)
{
    const char *bad[] = { "", "foo", "resnet", "resnet21", "resnet2", "resnet020", "resnet-20",
                          "resnet20x", "resnet99999999", "preresnet164a", "preresnet18",
                          "sharesnet", "wrn-40", "wrn-41-4", "wrn-40-0", "wrn-40-4-", "wrn-40-65",
                          "sharewrn-40-4x", "wrn-4-1", "resnet10004", "sharewrn--4",
                          "a-name-that-is-much-longer-than-the-sixty-four-bytes-of-the-model-field" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sn_graph *g = (sn_graph *)1;
        sn_clear_error();
        cr_expect_eq(sn_graph_build(bad[i], NULL, &g), SN_ERR_INVALID_ARG, "'%s'", bad[i]);
        cr_expect_null(g, "'%s'", bad[i]);
        cr_expect_gt(strlen(sn_last_error()), 10, "'%s': message", bad[i]);
    }
    sn_graph *g;
    cr_expect_eq(sn_graph_build(NULL, NULL, &g), SN_ERR_INVALID_ARG);
    cr_expect_eq(sn_graph_build("resnet20", NULL, NULL), SN_ERR_INVALID_ARG);
    cr_expect_eq(sn_graph_build("resnet21", NULL, &g), SN_ERR_INVALID_ARG);
    cr_expect(strstr(sn_last_error(), "resnet21") != NULL, "%s", sn_last_error());
}

Test(errors, bad_options)
{
    sn_graph_options o;
    sn_graph *g;
#define EXPECT_BAD(model, field, value)                                              \
    do {                                                                             \
        sn_graph_options_default(&o);                                                \
        o.field = (value);                                                           \
        cr_expect_eq(sn_graph_build(model, &o, &g), SN_ERR_INVALID_ARG, #field);     \
        cr_expect(strstr(sn_last_error(), model) != NULL, "%s", sn_last_error());    \
    } while (0)
    EXPECT_BAD("resnet20", classes, -1);
    EXPECT_BAD("resnet20", in_channels, -3);
    EXPECT_BAD("resnet20", size, -32);
    EXPECT_BAD("resnet20", size, 100000);
    EXPECT_BAD("resnet20", policy, 3);
    EXPECT_BAD("resnet20", policy, -2);
    EXPECT_BAD("resnet20", shortcut, 'C');
    EXPECT_BAD("resnet18", small_stem, 2);
#undef EXPECT_BAD
    /* shortcut and small_stem are ignored by the families they do not apply to */
    sn_graph_options_default(&o);
    o.shortcut = 'C';
    o.small_stem = 7;
    cr_expect_eq(sn_graph_build("wrn-16-4", &o, &g), SN_OK, "%s", sn_last_error());
    cr_expect_eq(g->shortcut, 0);
    cr_expect_eq(g->small_stem, -1);
    sn_graph_free(g);
}

Test(errors, sizes_too_small)
{
    static const struct { const char *model; int size, small_stem; const char *layer; } cases[] = {
        { "resnet20", 2, -1, "stage3.block0.conv1" },
        { "sharesnet164", 1, -1, "stage2.block0.conv2" },
        { "wrn-16-4", 2, -1, "stage3.block0.conv1" },
        { "resnet50", 16, 0, "stage4.block0.conv2" },
        { "resnet18", 1, 0, "stem.conv" },
        { "resnet34", 4, 1, "stage4.block0.conv1" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sn_graph_options o = options(0, 0, cases[i].size, -1);
        o.small_stem = cases[i].small_stem;
        sn_graph *g = (sn_graph *)1;
        cr_expect_eq(sn_graph_build(cases[i].model, &o, &g), SN_ERR_SHAPE, "%s at %d",
                     cases[i].model, cases[i].size);
        cr_expect_null(g);
        cr_expect(strstr(sn_last_error(), cases[i].layer) != NULL, "%s: %s", cases[i].model,
                  sn_last_error());
    }
    /* the smallest sizes that do fit */
    sn_graph_options o = options(0, 0, 3, -1);
    sn_graph_free(build("resnet20", &o));
    o.size = 8;
    o.small_stem = 1;
    sn_graph_free(build("resnet34", &o));
}

Test(errors, check_catches_corruption)
{
    sn_graph *g = build("resnet20", NULL);
    int saved = g->layers[5].out;
    g->layers[5].out = g->layers[4].out;
    cr_expect_eq(sn_graph_check(g), SN_ERR_INVALID_ARG);
    g->layers[5].out = saved;
    g->params[0].uses++;
    cr_expect_eq(sn_graph_check(g), SN_ERR_INVALID_ARG);
    g->params[0].uses--;
    g->acts[g->logits].c++;
    cr_expect_eq(sn_graph_check(g), SN_ERR_INVALID_ARG);
    g->acts[g->logits].c--;
    cr_expect_eq(sn_graph_check(g), SN_OK);
    sn_graph_free(g);
}

/* ---- closest plain model ------------------------------------------------ */

/* Brute force: every plain model of a family up to a depth, by name. */
static void check_closest(const char *shared, const sn_graph_options *o, const char *fmt,
                          int first, int step, int max_depth, int widen_max, const char *family)
{
    sn_graph *g = build(shared, o);
    long long target = sn_graph_param_count(g);
    char name[64];
    long long count = -1;
    cr_assert_eq(sn_graph_closest_plain(g, name, sizeof name, &count), SN_OK, "%s", sn_last_error());
    sn_graph_options plain_o = *o;
    plain_o.policy = SN_SHARE_NONE;
    cr_expect_eq(count_of(name, &plain_o), count, "%s", name);
    sn_graph *c = build(name, &plain_o);
    cr_expect(strncmp(c->family, family, strlen(family)) == 0, "%s is %s", name, c->family);
    cr_expect_eq(c->policy, SN_SHARE_NONE);
    sn_graph_free(c);

    long long best = llabs(count - target);
    for (int k = 1; k <= widen_max; k++)
        for (int d = first; d <= max_depth; d += step) {
            char candidate[64];
            snprintf(candidate, sizeof candidate, fmt, d, k);
            sn_graph *p;
            if (sn_graph_build(candidate, &plain_o, &p) != SN_OK)
                continue;
            int in_family = strncmp(p->family, family, strlen(family)) == 0;
            long long n = sn_graph_param_count(p);
            sn_graph_free(p);
            if (in_family)
                cr_expect_geq(llabs(n - target), best, "%s (%lld) is closer to %s (%lld) than %s (%lld)",
                              candidate, n, shared, target, name, count);
        }
    sn_graph_free(g);
}

Test(closest, sharesnet20_brute_force)
{
    sn_graph_options o = options(0, 0, 0, -1);
    check_closest("sharesnet20", &o, "resnet%d", 8, 6, 1202, 1, "cifar-basic");
    sn_graph *g = build("sharesnet20", NULL);
    char name[16];
    long long count;
    cr_expect_eq(sn_graph_closest_plain(g, name, sizeof name, &count), SN_OK);
    /* 221,338 shared: resnet20 (269,722) beats resnet14 (172,506) by 448 */
    cr_expect_str_eq(name, "resnet20");
    cr_expect_eq(count, 269722);
    cr_expect_eq(sn_graph_closest_plain(g, name, 4, &count), SN_ERR_INVALID_ARG);
    sn_graph_free(g);
}

Test(closest, other_families_brute_force)
{
    sn_graph_options o = options(0, 0, 0, -1);
    check_closest("sharesnet110", &o, "resnet%d", 8, 6, 400, 1, "cifar-basic");
    check_closest("sharesnet164", &o, "preresnet%d", 11, 9, 400, 1, "cifar-preact-bottleneck");
    check_closest("sharewrn-40-4", &o, "wrn-%d-%d", 10, 6, 100, 16, "cifar-wrn");
    check_closest("sharesnet50", &o, "resnet%d", 18, 1, 152, 1, "imagenet");
    o.classes = 100;
    check_closest("sharewrn-28-10", &o, "wrn-%d-%d", 10, 6, 64, 16, "cifar-wrn");
    o = options(10, 1, 28, SN_SHARE_STAGE);
    check_closest("resnet56", &o, "resnet%d", 8, 6, 400, 1, "cifar-basic");
}

Test(closest, imagenet_candidates)
{
    sn_graph *g = build("sharesnet50", NULL);
    char name[16];
    long long count;
    cr_assert_eq(sn_graph_closest_plain(g, name, sizeof name, &count), SN_OK);
    cr_expect_str_eq(name, "resnet34");  /* 20.47M -> 21.80M */
    sn_graph_free(g);
    g = build("sharesnet34", NULL);
    cr_assert_eq(sn_graph_closest_plain(g, name, sizeof name, &count), SN_OK);
    cr_expect_str_eq(name, "resnet18");  /* 13.61M -> 11.69M */
    sn_graph_free(g);
}

/* ---- info table --------------------------------------------------------- */

Test(describe, sharesnet20_table)
{
    sn_graph *g = build("sharesnet20", NULL);
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    cr_assert_not_null(f);
    cr_assert_eq(sn_graph_describe(g, 128, f), SN_OK, "%s", sn_last_error());
    fclose(f);
    cr_expect(strstr(text, "sharesnet20") != NULL);
    cr_expect(strstr(text, "221,338") != NULL, "%s", text);
    cr_expect(strstr(text, "269,722") != NULL);
    cr_expect(strstr(text, "closest      plain resnet20") != NULL);
    cr_expect(strstr(text, "stage3.shared.conv2.weight (use 2/2)") != NULL);
    cr_expect(strstr(text, "stage1.block2.relu2") != NULL);
    free(text);
    cr_expect_eq(sn_graph_describe(g, 0, stdout), SN_ERR_INVALID_ARG);
    cr_expect_eq(sn_graph_describe(NULL, 1, stdout), SN_ERR_INVALID_ARG);
    sn_graph_free(g);
}

Test(describe, every_zoo_model)
{
    const char *const *names = sn_graph_zoo_names();
    for (int i = 0; names[i]; i++) {
        sn_graph *g = build(names[i], NULL);
        FILE *f = fopen("/dev/null", "w");
        cr_assert_not_null(f);
        cr_expect_eq(sn_graph_describe(g, 32, f), SN_OK, "%s: %s", names[i], sn_last_error());
        fclose(f);
        sn_graph_free(g);
    }
}
