/* The trainer, checkpoints and learning-rate schedules on the device.
 *
 * Tiny models (resnet8 on 1x8x8 images) and tiny synthetic datasets built in
 * memory keep every test to seconds on POCL:
 *   - checkpoints round-trip bit-exactly, hold a shared weight once, carry
 *     the metadata to rebuild the model, and reject corrupt files with a
 *     message naming the file and the tensor; a failed write keeps the
 *     previous file byte for byte;
 *   - a run resumed from a checkpoint ends bit-identical to an uninterrupted
 *     one; with frozen batch norm, two accumulated micro-batches of 8 make
 *     the step of one batch of 16;
 *   - with frozen batch norm a training forward is the eval forward and
 *     backward its exact gradient (finite differences), shared weight too;
 *   - training learns a small synthetic task; a NaN loss (or weights that
 *     overflow at the end of an epoch) stops training with SN_ERR_NUMERIC
 *     and leaves the last good checkpoint alone; log.jsonl has one JSON
 *     object per epoch;
 *   - the schedules give the values of their formulas. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sharesnet.h"
#include "runtime/runtime_internal.h"

/* ---------------------------------------------------------------- helpers */

static void expect_ok(sn_status st, const char *what)
{
    cr_assert_eq(st, SN_OK, "%s: %s (%s)", what, sn_status_name(st), sn_last_error());
}

static sn_context *test_context(void)
{
    sn_context_options o;
    sn_context_options_default(&o);
    const char *dev = getenv("SN_TEST_DEVICE");
    o.device = dev && *dev ? dev : "cpu";
    sn_context *ctx = NULL;
    expect_ok(sn_context_create(&o, &ctx), "context");
    return ctx;
}

/* A fresh directory under $TMPDIR (or /tmp); removed by remove_dir. */
static void make_dir(char *path, size_t size)
{
    const char *base = getenv("TMPDIR");
    snprintf(path, size, "%s/sn_trainer_XXXXXX", base && *base ? base : "/tmp");
    cr_assert_not_null(mkdtemp(path), "mkdtemp: %s", strerror(errno));
}

/* The tests create plain files only. */
static void remove_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char child[PATH_MAX + 256];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        unlink(child);
    }
    closedir(d);
    rmdir(path);
}

static int count_dir_entries(const char *path)
{
    DIR *d = opendir(path);
    cr_assert_not_null(d, "opendir %s: %s", path, strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static unsigned char *read_bytes(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "open %s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc(n > 0 ? (size_t)n : 1);
    cr_assert_not_null(p);
    cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n, "read %s", path);
    fclose(f);
    *size = (size_t)n;
    return p;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "create %s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(p, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

static void expect_same_file(const char *path, const unsigned char *want, size_t want_size)
{
    size_t n;
    unsigned char *got = read_bytes(path, &n);
    cr_expect_eq(n, want_size, "%s: %zu bytes, expected %zu", path, n, want_size);
    cr_expect(n == want_size && memcmp(got, want, n) == 0, "%s changed", path);
    free(got);
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* `count` gray 8x8 images of `classes` (<= 4) patterns, each with a random
 * phase or position, contrast and noise: horizontal stripes, vertical
 * stripes, a checkerboard, a bright square. Learnable, but not by a
 * single pixel. */
static void make_dataset(sn_dataset *d, int64_t count, int classes, uint64_t seed)
{
    static const char *const names[] = {"hstripes", "vstripes", "checker", "square"};
    memset(d, 0, sizeof *d);
    d->count = count;
    d->channels = 1;
    d->height = d->width = 8;
    d->classes = classes;
    d->images = malloc((size_t)count * 64);
    d->labels = malloc((size_t)count * sizeof *d->labels);
    d->class_names = malloc((size_t)classes * sizeof *d->class_names);
    cr_assert(d->images && d->labels && d->class_names);
    for (int k = 0; k < classes; k++) {
        d->class_names[k] = strdup(names[k]);
        cr_assert_not_null(d->class_names[k]);
    }
    uint64_t s = seed * 7919 + 1;
    for (int64_t i = 0; i < count; i++) {
        int label = (int)(splitmix(&s) % (uint64_t)classes);
        int phase = (int)(splitmix(&s) % 2), ox = (int)(splitmix(&s) % 4),
            oy = (int)(splitmix(&s) % 4);
        int lo = 30 + (int)(splitmix(&s) % 50), hi = 150 + (int)(splitmix(&s) % 80);
        uint8_t *img = d->images + i * 64;
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++) {
                int on = 0;
                switch (label) {
                case 0: on = (y + phase) % 2; break;
                case 1: on = (x + phase) % 2; break;
                case 2: on = (x + y + phase) % 2; break;
                default: on = x >= ox && x < ox + 4 && y >= oy && y < oy + 4; break;
                }
                int v = (on ? hi : lo) + (int)(splitmix(&s) % 41) - 20;
                img[y * 8 + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        d->labels[i] = label;
    }
}

/* `name` for 1x8x8 inputs and `classes` classes; policy -1: from the name. */
static sn_model *make_model(sn_context *ctx, const char *name, int policy, int classes, int batch,
                            uint64_t seed)
{
    sn_graph_options o;
    sn_graph_options_default(&o);
    o.classes = classes;
    o.in_channels = 1;
    o.size = 8;
    o.policy = policy;
    sn_graph *g;
    expect_ok(sn_graph_build(name, &o, &g), name);
    sn_model *m;
    expect_ok(sn_model_create(ctx, g, batch, seed, &m), "model");
    sn_graph_free(g);
    return m;
}

/* A short recipe: SGD with the papers' defaults but a smaller lr, no test
 * split, nothing written. */
static sn_train_config tiny_config(int epochs, int batch)
{
    sn_train_config c;
    sn_train_config_default(&c, epochs);
    c.batch = batch;
    c.lr.base_lr = 0.05;
    c.seed = 5;
    c.crop_padding = 1;
    c.limit_test = -1;
    return c;
}

static void train_ok(sn_model *m, const sn_dataset *train, const sn_dataset *test,
                     const sn_train_config *c, sn_train_state *s, sn_epoch_report *last)
{
    expect_ok(sn_train(m, train, test, c, s, NULL, last), "sn_train");
}

/* Every parameter value and momentum buffer and every BN running statistic
 * of a model, downloaded, with the name of each piece. */
#define MAX_PIECES 512
typedef struct snapshot {
    int n;
    char names[MAX_PIECES][128];
    float *data[MAX_PIECES];
    size_t count[MAX_PIECES];
} snapshot;

static void snap_add(snapshot *s, const char *name, const sn_tensor *t)
{
    cr_assert_lt(s->n, MAX_PIECES);
    cr_assert_not_null(t, "%s: no tensor", name);
    int i = s->n++;
    snprintf(s->names[i], sizeof s->names[i], "%s", name);
    s->count[i] = t->count;
    s->data[i] = malloc(t->count * sizeof(float));
    cr_assert_not_null(s->data[i]);
    expect_ok(sn_tensor_download(t, s->data[i], t->count), name);
}

static void snap_take(snapshot *s, sn_model *m)
{
    const sn_graph *g = sn_model_graph(m);
    s->n = 0;
    char name[160];
    for (int i = 0; i < g->n_params; i++)
        snap_add(s, g->params[i].name, sn_model_param(m, i, SN_PARAM_VALUE));
    for (int i = 0; i < g->n_params; i++) {
        snprintf(name, sizeof name, "momentum %s", g->params[i].name);
        snap_add(s, name, sn_model_param(m, i, SN_PARAM_MOMENTUM));
    }
    for (int l = 0; l < g->n_layers; l++) {
        if (g->layers[l].op != SN_OP_BN)
            continue;
        snprintf(name, sizeof name, "%s.running_mean", g->layers[l].name);
        snap_add(s, name, sn_model_bn_running_mean(m, l));
        snprintf(name, sizeof name, "%s.running_var", g->layers[l].name);
        snap_add(s, name, sn_model_bn_running_var(m, l));
    }
}

static void snap_free(snapshot *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->data[i]);
    s->n = 0;
}

/* Pieces whose name starts with `prefix` ("" for all; "momentum " for the
 * optimizer state). */
static int selected(const char *name, const char *prefix)
{
    return strncmp(name, prefix, strlen(prefix)) == 0;
}

/* Bit-identical pieces. */
static void expect_identical(const char *what, const snapshot *a, const snapshot *b)
{
    cr_assert_eq(a->n, b->n, "%s: %d vs %d pieces", what, a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        cr_assert_eq(a->count[i], b->count[i]);
        for (size_t k = 0; k < a->count[i]; k++)
            if (memcmp(&a->data[i][k], &b->data[i][k], sizeof(float)) != 0)
                cr_assert_fail("%s: %s[%zu] is %.9g vs %.9g", what, a->names[i], k,
                               (double)a->data[i][k], (double)b->data[i][k]);
    }
}

/* Largest |a - b| over the selected pieces, relative to the largest |b|. */
static double relative_difference(const snapshot *a, const snapshot *b, const char *prefix,
                                  char *worst, size_t worst_size)
{
    double diff = 0, scale = 0;
    snprintf(worst, worst_size, "-");
    for (int i = 0; i < a->n; i++) {
        if (!selected(a->names[i], prefix))
            continue;
        for (size_t k = 0; k < a->count[i]; k++) {
            double d = fabs((double)a->data[i][k] - (double)b->data[i][k]);
            if (!(d <= diff)) {
                diff = d;
                snprintf(worst, worst_size, "%s[%zu]: %.9g vs %.9g", a->names[i], k,
                         (double)a->data[i][k], (double)b->data[i][k]);
            }
            scale = fmax(scale, fabs((double)b->data[i][k]));
        }
    }
    return scale > 0 ? diff / scale : diff;
}

static int differs(const snapshot *a, const snapshot *b, const char *prefix)
{
    for (int i = 0; i < a->n; i++)
        if (selected(a->names[i], prefix) &&
            memcmp(a->data[i], b->data[i], a->count[i] * sizeof(float)) != 0)
            return 1;
    return 0;
}

static void expect_error_mentions(const char *what, const char *needle)
{
    cr_expect(strstr(sn_last_error(), needle) != NULL, "%s: message '%s' does not name '%s'",
              what, sn_last_error(), needle);
}

/* ------------------------------------------------------------- schedules */

static void expect_lr(const sn_lr_schedule *s, double t, double want)
{
    double got = sn_lr_at(s, t);
    cr_expect(fabs(got - want) <= 1e-12 * fmax(1.0, fabs(want)), "lr at %g: %.15g, expected %.15g",
              t, got, want);
}

Test(schedule, multistep_milestones)
{
    sn_lr_schedule s = {.kind = SN_LR_MULTISTEP, .base_lr = 0.1, .gamma = 0.1,
                        .milestones = {2, 4}, .n_milestones = 2};
    expect_lr(&s, 0, 0.1);
    expect_lr(&s, 1.99, 0.1);
    expect_lr(&s, 2, 0.01);
    expect_lr(&s, 3.5, 0.01);
    expect_lr(&s, 4, 0.001);
    expect_lr(&s, 100, 0.001);

    /* The papers' recipe: decays at 50% and 75% of the epochs. */
    sn_train_config c;
    sn_train_config_default(&c, 160);
    cr_expect_eq(c.lr.n_milestones, 2);
    expect_lr(&c.lr, 79.9, 0.1);
    expect_lr(&c.lr, 80, 0.01);
    expect_lr(&c.lr, 119.9, 0.01);
    expect_lr(&c.lr, 120, 0.001);
    expect_lr(&c.lr, 159.9, 0.001);
}

Test(schedule, cosine_endpoints)
{
    sn_lr_schedule s = {.kind = SN_LR_COSINE, .base_lr = 0.2, .total_epochs = 10};
    expect_lr(&s, 0, 0.2);
    expect_lr(&s, 5, 0.1);
    expect_lr(&s, 2.5, 0.1 * (1 + cos(M_PI / 4)));
    expect_lr(&s, 10, 0);
    expect_lr(&s, 12, 0); /* stays at the end of the period */
    for (double t = 0; t < 10; t += 0.25)
        cr_expect(sn_lr_at(&s, t + 0.25) <= sn_lr_at(&s, t), "cosine rises at %g", t);
}

Test(schedule, warmup_and_constant)
{
    sn_lr_schedule s = {.kind = SN_LR_CONSTANT, .base_lr = 0.4, .warmup_epochs = 2};
    expect_lr(&s, 0, 0);
    expect_lr(&s, 0.5, 0.1);
    expect_lr(&s, 1, 0.2);
    expect_lr(&s, 2, 0.4);
    expect_lr(&s, 7, 0.4);

    /* Warm-up scales the schedule's own value. */
    sn_lr_schedule m = {.kind = SN_LR_MULTISTEP, .base_lr = 1, .gamma = 0.5, .milestones = {1},
                        .n_milestones = 1, .warmup_epochs = 4};
    expect_lr(&m, 0.5, 0.125);
    expect_lr(&m, 2, 0.25);
    expect_lr(&m, 4, 0.5);
    sn_lr_schedule c = {.kind = SN_LR_COSINE, .base_lr = 1, .total_epochs = 10,
                        .warmup_epochs = 1};
    expect_lr(&c, 0.5, 0.5 * 0.5 * (1 + cos(M_PI * 0.05)));
}

/* ----------------------------------------------------------- checkpoints */

/* resnet8 with stage sharing: stage 1's two 3x3 convs use one weight. */
static sn_model *shared_model(sn_context *ctx, int batch, uint64_t seed)
{
    return make_model(ctx, "resnet8", SN_SHARE_STAGE, 4, batch, seed);
}

Test(checkpoint, round_trip_is_bit_exact, .timeout = 120)
{
    sn_context *ctx = test_context();
    char dir[PATH_MAX], path[PATH_MAX + 64];
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    sn_dataset data;
    make_dataset(&data, 32, 4, 1);

    /* Two steps make momentum and running statistics non-trivial. */
    sn_model *a = shared_model(ctx, 16, 1);
    sn_train_config c = tiny_config(1, 16);
    sn_train_state state = {0};
    train_ok(a, &data, NULL, &c, &state, NULL);
    cr_assert_eq(state.epoch, 1);
    cr_assert_eq(state.global_step, 2);
    expect_ok(sn_checkpoint_save(a, &state, path), "save");

    sn_model *b = shared_model(ctx, 16, 2);
    snapshot sa, sb;
    snap_take(&sa, a);
    snap_take(&sb, b);
    cr_assert(differs(&sa, &sb, ""), "the second model must start elsewhere");
    snap_free(&sb);

    /* Without the optimizer: weights and statistics, momentum untouched. */
    sn_train_state loaded;
    memset(&loaded, 0xab, sizeof loaded);
    expect_ok(sn_checkpoint_load(b, path, 0, &loaded), "load without optimizer");
    snap_take(&sb, b);
    for (int i = 0; i < sb.n; i++)
        if (selected(sb.names[i], "momentum "))
            for (size_t k = 0; k < sb.count[i]; k++)
                cr_assert_eq(sb.data[i][k], 0.0f, "%s was loaded", sb.names[i]);
    snap_free(&sb);

    expect_ok(sn_checkpoint_load(b, path, 1, &loaded), "load with optimizer");
    snap_take(&sb, b);
    expect_identical("loaded model", &sa, &sb);
    cr_expect_eq(loaded.epoch, 1);
    cr_expect_eq(loaded.global_step, 2);
    cr_expect_eq(loaded.channels, 1);
    cr_expect_eq(loaded.seed, 5);
    cr_expect_eq(memcmp(loaded.mean, state.mean, sizeof(float)), 0, "mean %g vs %g",
                 (double)loaded.mean[0], (double)state.mean[0]);
    cr_expect_eq(memcmp(loaded.std, state.std, sizeof(float)), 0, "std %g vs %g",
                 (double)loaded.std[0], (double)state.std[0]);
    cr_expect_str_eq(loaded.class_names, "hstripes\nvstripes\nchecker\nsquare");

    /* The file: each parameter once (the shared weight too), its momentum,
     * the running statistics, and nothing else. */
    const sn_graph *g = sn_model_graph(a);
    int bn = 0, shared_params = 0;
    for (int l = 0; l < g->n_layers; l++)
        bn += g->layers[l].op == SN_OP_BN;
    for (int i = 0; i < g->n_params; i++)
        if (strstr(g->params[i].name, "shared")) {
            shared_params++;
            cr_assert_gt(g->params[i].uses, 0);
        }
    cr_assert_eq(g->params[1].uses, 1); /* sanity: a plain parameter */
    int used_twice = 0;
    for (int i = 0; i < g->n_params; i++)
        used_twice += g->params[i].uses == 2;
    cr_assert_eq(used_twice, 1, "resnet8/stage shares one weight between two convs");
    sn_safetensors *f;
    expect_ok(sn_safetensors_open(path, &f), "open");
    cr_expect_eq(sn_safetensors_tensor_count(f), (size_t)(2 * g->n_params + 2 * bn));
    int shared_tensors = 0;
    for (size_t i = 0; i < sn_safetensors_tensor_count(f); i++) {
        const sn_safetensors_tensor *t = sn_safetensors_tensor_at(f, i);
        cr_expect_eq(t->dtype, SN_SAFETENSORS_F32, "%s", t->name);
        if (strstr(t->name, "shared") && !strstr(t->name, "optimizer."))
            shared_tensors++;
    }
    cr_expect_eq(shared_tensors, shared_params, "shared weights stored %d times for %d",
                 shared_tensors, shared_params);
    const sn_safetensors_tensor *w = sn_safetensors_find(f, "stage1.shared.conv3x3.weight");
    cr_assert_not_null(w, "the shared weight is missing");
    cr_expect_eq(w->ndim, 4);
    cr_expect_eq(w->shape[0], 16);
    cr_expect_null(sn_safetensors_find(f, "stage1.block0.conv1.weight"));
    cr_expect_null(sn_safetensors_find(f, "stage1.block0.conv2.weight"));
    cr_expect_not_null(sn_safetensors_find(f, "optimizer.momentum.stage1.shared.conv3x3.weight"));
    cr_expect_not_null(sn_safetensors_find(f, "stage1.block0.bn1.running_mean"));
    cr_expect_not_null(sn_safetensors_find(f, "stage1.block0.bn1.running_var"));

    static const char *const meta[][2] = {
        {"format", "sharesnet-checkpoint-1"},
        {"model", "resnet8"},
        {"policy", "stage"},
        {"classes", "4"},
        {"in_channels", "1"},
        {"size", "8"},
        {"shortcut", "A"},
        {"epoch", "1"},
        {"global_step", "2"},
        {"seed", "5"},
        {"norm_channels", "1"},
    };
    for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++) {
        const char *v = sn_safetensors_metadata(f, meta[i][0]);
        cr_expect(v && !strcmp(v, meta[i][1]), "metadata %s = '%s', expected '%s'", meta[i][0],
                  v ? v : "(none)", meta[i][1]);
    }
    char params[32];
    snprintf(params, sizeof params, "%lld", sn_graph_param_count(g));
    const char *pv = sn_safetensors_metadata(f, "parameters");
    cr_expect(pv && !strcmp(pv, params), "parameters '%s', expected %s", pv ? pv : "", params);
    sn_safetensors_close(f);

    /* Enough to rebuild the graph. */
    sn_checkpoint_info info;
    expect_ok(sn_checkpoint_info_read(path, &info), "info");
    cr_expect_str_eq(info.model, "resnet8");
    cr_expect_eq(info.graph.policy, SN_SHARE_STAGE);
    cr_expect_eq(info.graph.classes, 4);
    cr_expect_eq(info.graph.in_channels, 1);
    cr_expect_eq(info.graph.size, 8);
    cr_expect_eq(info.graph.shortcut, 'A');
    cr_expect_eq(info.state.epoch, 1);
    cr_expect_eq(info.state.global_step, 2);
    cr_expect_eq(info.state.seed, 5);
    cr_expect_eq(info.state.mean[0], state.mean[0]);
    cr_expect_eq(info.state.std[0], state.std[0]);
    sn_graph *rebuilt;
    expect_ok(sn_graph_build(info.model, &info.graph, &rebuilt), "rebuild");
    cr_expect_eq(sn_graph_param_count(rebuilt), sn_graph_param_count(g));
    cr_expect_eq(rebuilt->n_params, g->n_params);
    sn_graph_free(rebuilt);

    snap_free(&sa);
    snap_free(&sb);
    sn_model_free(a);
    sn_model_free(b);
    sn_dataset_free(&data);
    remove_dir(dir);
    sn_context_free(ctx);
}

/* Changes edit_checkpoint makes while copying a checkpoint (NULL: none). */
typedef struct checkpoint_edit {
    const char *drop;    /* leave this tensor out */
    const char *reshape; /* declare this tensor [numel / 2, 2] */
    const char *poison;  /* set element 1 of this tensor to NaN */
    const char *key, *value; /* set this metadata entry */
} checkpoint_edit;

static void edit_checkpoint(const char *src, const char *dst, const checkpoint_edit *edit)
{
    sn_safetensors *f;
    expect_ok(sn_safetensors_open(src, &f), "open");
    size_t n = sn_safetensors_tensor_count(f), k = 0;
    sn_safetensors_tensor *t = calloc(n, sizeof *t);
    float *poisoned = NULL;
    cr_assert_not_null(t);
    for (size_t i = 0; i < n; i++) {
        const sn_safetensors_tensor *e = sn_safetensors_tensor_at(f, i);
        if (edit->drop && !strcmp(e->name, edit->drop))
            continue;
        t[k] = *e;
        int64_t numel = sn_safetensors_numel(e);
        if (edit->reshape && !strcmp(e->name, edit->reshape)) {
            cr_assert_eq(numel % 2, 0);
            t[k].ndim = 2;
            t[k].shape[0] = numel / 2;
            t[k].shape[1] = 2;
        }
        if (edit->poison && !strcmp(e->name, edit->poison)) {
            cr_assert(numel >= 2 && e->dtype == SN_SAFETENSORS_F32);
            poisoned = malloc((size_t)numel * sizeof *poisoned);
            cr_assert_not_null(poisoned);
            memcpy(poisoned, e->data, (size_t)numel * sizeof *poisoned);
            poisoned[1] = NAN;
            t[k].data = poisoned;
        }
        k++;
    }
    cr_assert_eq(k, edit->drop ? n - 1 : n, "tensor %s not found", edit->drop);
    size_t nm = sn_safetensors_metadata_count(f);
    sn_safetensors_meta *m = calloc(nm, sizeof *m);
    cr_assert_not_null(m);
    for (size_t i = 0; i < nm; i++) {
        m[i] = *sn_safetensors_metadata_at(f, i);
        if (edit->key && !strcmp(m[i].key, edit->key))
            m[i].value = edit->value;
    }
    expect_ok(sn_safetensors_write(dst, t, k, m, nm), "rewrite");
    free(poisoned);
    free(t);
    free(m);
    sn_safetensors_close(f);
}

/* Copy checkpoint `src` to `dst` leaving out tensor `drop` and declaring
 * tensor `reshape` (if any) as [numel / 2, 2] instead. */
static void rewrite_checkpoint(const char *src, const char *dst, const char *drop,
                               const char *reshape)
{
    checkpoint_edit e = {.drop = drop, .reshape = reshape};
    edit_checkpoint(src, dst, &e);
}

/* A load that must fail with `want` and a message naming `a` and `b`. */
static void expect_load_fails(sn_model *m, const char *path, sn_status want, const char *a,
                              const char *b)
{
    sn_train_state s;
    sn_status st = sn_checkpoint_load(m, path, 1, &s);
    cr_expect_eq(st, want, "loading %s: %s (%s), expected %s", path, sn_status_name(st),
                 sn_last_error(), sn_status_name(want));
    if (a)
        expect_error_mentions(path, a);
    if (b)
        expect_error_mentions(path, b);
}

Test(checkpoint, corrupt_files_are_rejected, .timeout = 120)
{
    sn_context *ctx = test_context();
    char dir[PATH_MAX], good[PATH_MAX + 64], bad[PATH_MAX + 64];
    make_dir(dir, sizeof dir);
    snprintf(good, sizeof good, "%s/good.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    sn_model *m = make_model(ctx, "resnet8", -1, 4, 4, 3);
    sn_train_state state = {0};
    state.epoch = 3;
    expect_ok(sn_checkpoint_save(m, &state, good), "save");
    size_t size;
    unsigned char *bytes = read_bytes(good, &size);

    /* Truncated: in the data area, in the header, before the header. */
    const size_t cuts[] = {size - 1, size - 1000, 100, 7, 0};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_bytes(bad, bytes, cuts[i]);
        sn_train_state s;
        sn_status st = sn_checkpoint_load(m, bad, 1, &s);
        cr_expect_eq(st, SN_ERR_FORMAT, "truncated to %zu: %s (%s)", cuts[i], sn_status_name(st),
                     sn_last_error());
        expect_error_mentions("truncated", bad);
        sn_checkpoint_info info;
        cr_expect_neq(sn_checkpoint_info_read(bad, &info), SN_OK);
    }

    /* A broken header and random bytes. */
    unsigned char *broken = malloc(size);
    cr_assert_not_null(broken);
    memcpy(broken, bytes, size);
    broken[8] = '[';
    write_bytes(bad, broken, size);
    expect_load_fails(m, bad, SN_ERR_FORMAT, bad, NULL);
    uint64_t s = 99;
    for (size_t i = 0; i < size; i++)
        broken[i] = (unsigned char)splitmix(&s);
    write_bytes(bad, broken, size);
    expect_load_fails(m, bad, SN_ERR_FORMAT, bad, NULL);
    free(broken);

    /* Not there, or not a checkpoint of ours. */
    snprintf(bad, sizeof bad, "%s/none.safetensors", dir);
    expect_load_fails(m, bad, SN_ERR_IO, bad, NULL);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    float one = 1;
    sn_safetensors_tensor plain = {.name = "x", .dtype = SN_SAFETENSORS_F32, .ndim = 1,
                                   .shape = {1}, .data = &one};
    expect_ok(sn_safetensors_write(bad, &plain, 1, NULL, 0), "plain file");
    expect_load_fails(m, bad, SN_ERR_FORMAT, bad, "not a sharesnet checkpoint");

    /* A tensor of the wrong shape, a missing tensor, a missing momentum. */
    rewrite_checkpoint(good, bad, NULL, "head.fc.weight");
    expect_load_fails(m, bad, SN_ERR_SHAPE, bad, "head.fc.weight");
    rewrite_checkpoint(good, bad, "stage2.block0.bn1.running_var", NULL);
    expect_load_fails(m, bad, SN_ERR_FORMAT, bad, "stage2.block0.bn1.running_var");
    rewrite_checkpoint(good, bad, "optimizer.momentum.stem.conv.weight", NULL);
    expect_load_fails(m, bad, SN_ERR_FORMAT, bad, "optimizer.momentum.stem.conv.weight");
    expect_ok(sn_checkpoint_load(m, bad, 0, NULL), "weights only need no momentum");

    /* Another model, another sharing, another class count. */
    const struct {
        const char *name;
        int policy, classes;
        const char *mention;
    } others[] = {
        {"sharesnet8", -1, 4, "sharesnet8"},
        {"resnet8", SN_SHARE_STAGE, 4, "stage"},
        {"resnet8", -1, 5, "5 classes"},
        {"resnet14", -1, 4, "resnet14"},
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        sn_model *o = make_model(ctx, others[i].name, others[i].policy, others[i].classes, 4, 4);
        expect_ok(sn_checkpoint_save(o, &state, bad), "save other");
        expect_load_fails(m, bad, SN_ERR_SHAPE, bad, others[i].mention);
        /* and the other way round */
        expect_load_fails(o, good, SN_ERR_SHAPE, good, "resnet8");
        sn_model_free(o);
    }

    /* The good file still loads. */
    sn_train_state back;
    expect_ok(sn_checkpoint_load(m, good, 1, &back), "good file");
    cr_expect_eq(back.epoch, 3);

    free(bytes);
    sn_model_free(m);
    remove_dir(dir);
    sn_context_free(ctx);
}

/* Values and metadata that parse but cannot be used: a NaN weight (it can
 * hide behind a ReLU in eval and only show up an epoch into a resumed run),
 * a normalisation std of 0 (predict divided by it). Both are refused by the
 * readers every command goes through, naming the tensor or the field, and
 * the model keeps its values. */
Test(checkpoint, unusable_values_are_rejected, .timeout = 120)
{
    sn_context *ctx = test_context();
    char dir[PATH_MAX], good[PATH_MAX + 64], bad[PATH_MAX + 64];
    make_dir(dir, sizeof dir);
    snprintf(good, sizeof good, "%s/good.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    sn_model *m = make_model(ctx, "resnet8", -1, 4, 4, 3);
    sn_train_state state = {0};
    state.channels = 1;
    state.mean[0] = 0.5f;
    state.std[0] = 0.25f;
    expect_ok(sn_checkpoint_save(m, &state, good), "save");
    const sn_graph *g = sn_model_graph(m);

    const char *const poisoned[] = {"stem.conv.weight", "stage1.block0.bn1.running_var",
                                    "optimizer.momentum.head.fc.bias"};
    for (size_t i = 0; i < sizeof poisoned / sizeof poisoned[0]; i++) {
        checkpoint_edit e = {.poison = poisoned[i]};
        edit_checkpoint(good, bad, &e);
        expect_load_fails(m, bad, SN_ERR_NUMERIC, poisoned[i], "NaN");
        cr_expect_eq(sn_checkpoint_check(bad, g, 1), SN_ERR_NUMERIC, "check %s", poisoned[i]);
        expect_error_mentions("check", poisoned[i]);
    }
    /* Momentum is not read for eval: a NaN there does not matter to it. */
    expect_ok(sn_checkpoint_check(bad, g, 0), "weights only");

    const char *const stds[] = {"0", "-1", "nan", "inf"};
    for (size_t i = 0; i < sizeof stds / sizeof stds[0]; i++) {
        checkpoint_edit e = {.key = "norm_std", .value = stds[i]};
        edit_checkpoint(good, bad, &e);
        sn_checkpoint_info info;
        cr_expect_eq(sn_checkpoint_info_read(bad, &info), SN_ERR_FORMAT, "std %s: %s", stds[i],
                     sn_last_error());
        expect_error_mentions("norm_std", "norm_std");
        expect_load_fails(m, bad, SN_ERR_FORMAT, "norm_std", NULL);
    }
    checkpoint_edit e = {.key = "norm_mean", .value = "nan"};
    edit_checkpoint(good, bad, &e);
    sn_checkpoint_info info;
    cr_expect_eq(sn_checkpoint_info_read(bad, &info), SN_ERR_FORMAT, "mean nan");

    /* The failed loads changed nothing: the good file still matches. */
    expect_ok(sn_checkpoint_load(m, good, 1, NULL), "good file");
    sn_model_free(m);
    remove_dir(dir);
    sn_context_free(ctx);
}

/* A checkpoint is checked against the graph its metadata names before a
 * model (device memory) exists: a file of resnet8 whose metadata says
 * a million classes fails on the fc weight, with no context at all. */
Test(checkpoint, check_needs_no_device, .timeout = 120)
{
    sn_context *ctx = test_context();
    char dir[PATH_MAX], good[PATH_MAX + 64], bad[PATH_MAX + 64];
    make_dir(dir, sizeof dir);
    snprintf(good, sizeof good, "%s/good.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    sn_model *m = make_model(ctx, "resnet8", -1, 4, 4, 3);
    expect_ok(sn_checkpoint_save(m, NULL, good), "save");
    sn_model_free(m);
    sn_context_free(ctx);

    checkpoint_edit e = {.key = "classes", .value = "1000000"};
    edit_checkpoint(good, bad, &e);
    sn_checkpoint_info info;
    expect_ok(sn_checkpoint_info_read(bad, &info), "metadata alone is valid");
    sn_graph *g;
    expect_ok(sn_graph_build(info.model, &info.graph, &g), "graph of the metadata");
    cr_expect_eq(sn_checkpoint_check(bad, g, 0), SN_ERR_SHAPE, "%s", sn_last_error());
    expect_error_mentions("huge head", "head.fc.weight");
    sn_graph_free(g);

    expect_ok(sn_checkpoint_info_read(good, &info), "good metadata");
    expect_ok(sn_graph_build(info.model, &info.graph, &g), "good graph");
    expect_ok(sn_checkpoint_check(good, g, 1), "good file");
    sn_graph_free(g);
    remove_dir(dir);
}

Test(checkpoint, failed_write_keeps_previous_file, .timeout = 120)
{
    sn_context *ctx = test_context();
    char dir[PATH_MAX], path[PATH_MAX + 64];
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    sn_model *m = make_model(ctx, "resnet8", SN_SHARE_STAGE, 4, 4, 5);
    sn_train_state state = {0};
    state.epoch = 1;
    expect_ok(sn_checkpoint_save(m, &state, path), "first save");
    size_t size;
    unsigned char *before = read_bytes(path, &size);

    /* Another model state: a different file would be written. */
    sn_model *other = make_model(ctx, "resnet8", SN_SHARE_STAGE, 4, 4, 6);
    state.epoch = 2;
    const sn_file_failpoint failpoints[] = {SN_FILE_FAIL_RENAME, SN_FILE_FAIL_WRITE};
    for (size_t i = 0; i < 2; i++) {
        ctx->test.file_failpoint = failpoints[i];
        sn_status st = sn_checkpoint_save(other, &state, path);
        ctx->test.file_failpoint = SN_FILE_FAIL_NONE;
        cr_expect_eq(st, SN_ERR_IO, "failpoint %d: %s (%s)", failpoints[i], sn_status_name(st),
                     sn_last_error());
        expect_error_mentions("failed save", "checkpoint.safetensors");
        expect_same_file(path, before, size);
        cr_expect_eq(count_dir_entries(dir), 1, "a temporary file was left behind");
        sn_checkpoint_info info;
        expect_ok(sn_checkpoint_info_read(path, &info), "previous file");
        cr_expect_eq(info.state.epoch, 1);
    }

    /* Without the failpoint the new state replaces the old one. */
    expect_ok(sn_checkpoint_save(other, &state, path), "second save");
    sn_checkpoint_info info;
    expect_ok(sn_checkpoint_info_read(path, &info), "new file");
    cr_expect_eq(info.state.epoch, 2);
    cr_expect_eq(count_dir_entries(dir), 1);

    free(before);
    sn_model_free(m);
    sn_model_free(other);
    remove_dir(dir);
    sn_context_free(ctx);
}

/* ------------------------------------------------------------ frozen BN */

static double eval_loss(sn_model *m)
{
    double loss;
    int t1, t5;
    expect_ok(sn_model_forward(m, 0), "eval forward");
    expect_ok(sn_model_metrics(m, &loss, &t1, &t5), "metrics");
    return loss;
}

static float get_value(sn_model *m, int p, size_t k)
{
    sn_tensor *t = sn_model_param(m, p, SN_PARAM_VALUE);
    float *h = malloc(t->count * sizeof *h);
    cr_assert_not_null(h);
    expect_ok(sn_tensor_download(t, h, t->count), "download");
    float v = h[k];
    free(h);
    return v;
}

static void set_value(sn_model *m, int p, size_t k, float v)
{
    sn_tensor *t = sn_model_param(m, p, SN_PARAM_VALUE);
    float *h = malloc(t->count * sizeof *h);
    cr_assert_not_null(h);
    expect_ok(sn_tensor_download(t, h, t->count), "download");
    h[k] = v;
    expect_ok(sn_tensor_upload(t, h, t->count), "upload");
    free(h);
}

/* With frozen BN a training forward is the eval forward (same logits, no
 * change to the running statistics), and backward is its exact gradient:
 * central differences of the eval loss agree for parameters of every kind,
 * the shared weight included. */
Test(frozen_bn, training_step_is_the_eval_function, .timeout = 120)
{
    sn_context *ctx = test_context();
    const int n = 8;
    sn_model *m = shared_model(ctx, n, 13);
    const sn_graph *g = sn_model_graph(m);

    /* Running statistics away from (0, 1), as after training. */
    uint64_t r = 17;
    for (int l = 0; l < g->n_layers; l++) {
        if (g->layers[l].op != SN_OP_BN)
            continue;
        sn_tensor *mean = sn_model_bn_running_mean(m, l), *var = sn_model_bn_running_var(m, l);
        float h[64];
        cr_assert_leq(mean->count, 64);
        for (size_t k = 0; k < mean->count; k++)
            h[k] = (float)((double)(splitmix(&r) % 1000) / 2000.0 - 0.25);
        expect_ok(sn_tensor_upload(mean, h, mean->count), "running mean");
        for (size_t k = 0; k < var->count; k++)
            h[k] = (float)(0.5 + (double)(splitmix(&r) % 1000) / 1000.0);
        expect_ok(sn_tensor_upload(var, h, var->count), "running var");
        /* and gamma, beta away from their initial 1, 0 */
        for (size_t k = 0; k < var->count; k++)
            h[k] = (float)(0.5 + (double)(splitmix(&r) % 1000) / 1000.0);
        expect_ok(sn_tensor_upload(sn_model_param(m, g->layers[l].weight, SN_PARAM_VALUE), h,
                                   var->count), "gamma");
        for (size_t k = 0; k < var->count; k++)
            h[k] = (float)((double)(splitmix(&r) % 1000) / 5000.0 - 0.1);
        expect_ok(sn_tensor_upload(sn_model_param(m, g->layers[l].bias, SN_PARAM_VALUE), h,
                                   var->count), "beta");
    }
    float images[8 * 64];
    int32_t labels[8];
    for (int i = 0; i < n * 64; i++)
        images[i] = (float)((double)(splitmix(&r) % 2001) / 1000.0 - 1.0);
    for (int i = 0; i < n; i++)
        labels[i] = i % 4;
    expect_ok(sn_model_set_batch(m, images, labels, n), "set_batch");

    float eval_logits[8 * 4], train_logits[8 * 4];
    expect_ok(sn_model_forward(m, 0), "eval forward");
    expect_ok(sn_model_logits(m, eval_logits, n), "logits");
    snapshot before, after;
    snap_take(&before, m);
    cr_assert_eq(sn_model_frozen_bn(m), 0);
    sn_model_set_frozen_bn(m, 1);
    cr_assert_eq(sn_model_frozen_bn(m), 1);
    expect_ok(sn_model_forward(m, 1), "frozen training forward");
    expect_ok(sn_model_logits(m, train_logits, n), "logits");
    /* Equal up to rounding: eval runs each BN folded into the conv before it
     * (a scale and shift in the conv's store), the training forward keeps
     * the conv's output for backward. */
    for (int i = 0; i < n * 4; i++)
        cr_expect(fabsf(train_logits[i] - eval_logits[i]) <= 1e-5f * (1.0f + fabsf(eval_logits[i])),
                  "frozen training forward differs from eval: logit %d %.9g vs %.9g", i,
                  (double)train_logits[i], (double)eval_logits[i]);
    snap_take(&after, m);
    expect_identical("running statistics after a frozen forward", &before, &after);
    snap_free(&after);

    /* Switching the mode discards the forward: backward must refuse. */
    sn_model_set_frozen_bn(m, 0);
    cr_expect_eq(sn_model_backward(m, 1.0f / n, 0), SN_ERR_INVALID_ARG);
    sn_model_set_frozen_bn(m, 1);
    cr_expect_eq(sn_model_backward(m, 1.0f / n, 0), SN_ERR_INVALID_ARG);
    expect_ok(sn_model_forward(m, 1), "frozen training forward");
    expect_ok(sn_model_backward(m, 1.0f / n, 0), "frozen backward");

    /* Parameters of every kind: conv (first and last), the shared weight,
     * BN gamma and beta of an early and a late layer, linear weight, bias. */
    const char *const names[] = {"stem.conv.weight", "stage1.shared.conv3x3.weight",
                                 "stem.bn.gamma", "stem.bn.beta", "stage1.block0.bn2.gamma",
                                 "stage3.block0.bn2.beta", "stage3.shared.conv3x3.weight",
                                 "head.fc.weight", "head.fc.bias"};
    int checked = 0;
    for (size_t q = 0; q < sizeof names / sizeof names[0]; q++) {
        int p = -1;
        for (int i = 0; i < g->n_params; i++)
            if (!strcmp(g->params[i].name, names[q]))
                p = i;
        cr_assert_geq(p, 0, "no parameter %s", names[q]);
        sn_tensor *gt = sn_model_param(m, p, SN_PARAM_GRAD);
        float *grad = malloc(gt->count * sizeof *grad);
        cr_assert_not_null(grad);
        expect_ok(sn_tensor_download(gt, grad, gt->count), "grad");
        /* the element with the largest gradient, and the first one */
        size_t big = 0;
        for (size_t k = 1; k < gt->count; k++)
            if (fabsf(grad[k]) > fabsf(grad[big]))
                big = k;
        const size_t elems[2] = {big, 0};
        for (int e = 0; e < 2; e++) {
            /* A ReLU kink within the step bends a difference quotient, so
             * take the best of seven steps: a wrong gradient misses them all. */
            size_t k = elems[e];
            float v = get_value(m, p, k);
            double best = INFINITY, best_numeric = 0;
            for (double h = 2e-3; h > 2e-5; h /= 2) {
                const float vp = (float)(v + h), vm = (float)(v - h); /* as stored */
                set_value(m, p, k, vp);
                double plus = eval_loss(m);
                set_value(m, p, k, vm);
                double minus = eval_loss(m);
                double numeric = (plus - minus) / ((double)vp - (double)vm);
                if (fabs(numeric - grad[k]) < best) {
                    best = fabs(numeric - grad[k]);
                    best_numeric = numeric;
                }
            }
            set_value(m, p, k, v);
            cr_expect(best <= 2e-4 + 2e-2 * fabs(grad[k]),
                      "%s[%zu]: backward %.6g, finite differences %.6g", names[q], k,
                      (double)grad[k], best_numeric);
            checked++;
        }
        free(grad);
    }
    cr_assert_eq(checked, 18);
    /* Backward did not touch the running statistics either. */
    snap_take(&after, m);
    expect_identical("running statistics after a frozen step", &before, &after);
    snap_free(&after);
    snap_free(&before);
    sn_model_free(m);
    sn_context_free(ctx);
}

/* --------------------------------------------------------------- trainer */

/* Two epochs straight, or one epoch, a checkpoint, a fresh model (as a new
 * process would build) loading it with the optimizer, and the second epoch:
 * the same data order, augmentation, schedule, momentum and statistics, so
 * the same bits on the same device (every reduction here has a fixed order). */
Test(trainer, resume_equals_uninterrupted, .timeout = 300)
{
    sn_context *ctx = test_context();
    char dir[PATH_MAX], path[PATH_MAX + 64];
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    sn_dataset data;
    make_dataset(&data, 88, 4, 2); /* 6 micro-batches of 16, the last one of 8 */
    sn_train_config c = tiny_config(2, 16);
    c.accum = 2; /* 3 optimizer steps per epoch, the last with 24 samples */
    /* multistep milestones at epochs 1 and 1.5: the second epoch decays */

    sn_model *straight = shared_model(ctx, 16, 11);
    sn_train_state s1 = {0};
    train_ok(straight, &data, NULL, &c, &s1, NULL);
    cr_assert_eq(s1.epoch, 2);
    cr_assert_eq(s1.global_step, 6);

    sn_model *first = shared_model(ctx, 16, 11);
    sn_train_config half = c;
    half.epochs = 1; /* the run stops after epoch 1 */
    half.out_dir = dir;
    sn_train_state s2 = {0};
    train_ok(first, &data, NULL, &half, &s2, NULL);
    sn_model_free(first);

    sn_model *resumed = shared_model(ctx, 16, 12345);
    sn_train_state s3;
    expect_ok(sn_checkpoint_load(resumed, path, 1, &s3), "load");
    cr_assert_eq(s3.epoch, 1);
    cr_assert_eq(s3.global_step, 3);
    sn_train_config rest = c;
    rest.out_dir = dir;
    train_ok(resumed, &data, NULL, &rest, &s3, NULL);
    cr_expect_eq(s3.epoch, 2);
    cr_expect_eq(s3.global_step, 6);
    cr_expect_eq(memcmp(s3.mean, s1.mean, sizeof s1.mean), 0);

    snapshot a, b;
    snap_take(&a, straight);
    snap_take(&b, resumed);
    expect_identical("resumed run", &a, &b);
    snap_free(&a);
    snap_free(&b);

    sn_model_free(straight);
    sn_model_free(resumed);
    sn_dataset_free(&data);
    remove_dir(dir);
    sn_context_free(ctx);
}

/* One optimizer step over 16 samples, as one batch or as two accumulated
 * micro-batches of 8 (same data order: the order depends only on the seed).
 * With frozen batch norm the samples do not interact, so the gradients are
 * the same sums up to float rounding; with batch statistics they are not. */
static void one_step(sn_context *ctx, const sn_dataset *data, int batch, int accum, int freeze,
                     snapshot *out)
{
    sn_model *m = make_model(ctx, "resnet8", SN_SHARE_STAGE, 4, batch, 21);
    sn_train_config c = tiny_config(1, batch);
    c.accum = accum;
    c.freeze_bn = freeze;
    c.crop_padding = 0;
    c.flip = 0;
    c.lr.base_lr = 0.1;
    sn_train_state s = {0};
    train_ok(m, data, NULL, &c, &s, NULL);
    cr_assert_eq(s.global_step, 1);
    cr_assert_eq(sn_model_frozen_bn(m), 0, "sn_train restores the model's BN mode");
    snap_take(out, m);
    sn_model_free(m);
}

Test(trainer, accumulation_equals_big_batch_with_frozen_bn, .timeout = 120)
{
    sn_context *ctx = test_context();
    sn_dataset data;
    make_dataset(&data, 16, 4, 3);
    snapshot big, acc;
    one_step(ctx, &data, 16, 1, 1, &big);
    one_step(ctx, &data, 8, 2, 1, &acc);
    char worst[256];
    double d_mom = relative_difference(&acc, &big, "momentum ", worst, sizeof worst);
    cr_expect(d_mom <= 1e-5, "momentum (the step's gradient) differs by %.3g: %s", d_mom, worst);
    double d_all = relative_difference(&acc, &big, "", worst, sizeof worst);
    cr_expect(d_all <= 1e-6, "weights differ by %.3g: %s", d_all, worst);
    /* Frozen: the running statistics keep their initial values. */
    for (int i = 0; i < big.n; i++) {
        int is_mean = strstr(big.names[i], "running_mean") != NULL;
        int is_var = strstr(big.names[i], "running_var") != NULL;
        for (size_t k = 0; (is_mean || is_var) && k < big.count[i]; k++) {
            cr_assert_eq(big.data[i][k], is_mean ? 0.0f : 1.0f, "%s changed", big.names[i]);
            cr_assert_eq(acc.data[i][k], is_mean ? 0.0f : 1.0f, "%s changed", acc.names[i]);
        }
    }

    /* The comparison can tell: batch statistics of 8 are not those of 16. */
    snapshot big_bn, acc_bn;
    one_step(ctx, &data, 16, 1, 0, &big_bn);
    one_step(ctx, &data, 8, 2, 0, &acc_bn);
    double d_bn = relative_difference(&acc_bn, &big_bn, "momentum ", worst, sizeof worst);
    cr_log_info("accumulated vs one batch: momentum %.3g, weights %.3g; with batch statistics "
                "%.3g", d_mom, d_all, d_bn);
    cr_expect(d_bn > 1e-3, "with batch statistics the steps should differ (%.3g)", d_bn);
    cr_expect(differs(&big, &big_bn, "momentum "), "freezing BN changed nothing");

    snap_free(&big);
    snap_free(&acc);
    snap_free(&big_bn);
    snap_free(&acc_bn);
    sn_dataset_free(&data);
    sn_context_free(ctx);
}

Test(trainer, learns_a_synthetic_task, .timeout = 300)
{
    sn_context *ctx = test_context();
    sn_dataset train, test;
    make_dataset(&train, 512, 4, 4);
    make_dataset(&test, 256, 4, 5);
    /* with a weight really shared: stage 1's two 3x3 convs */
    sn_model *m = shared_model(ctx, 32, 7);
    sn_train_config c = tiny_config(3, 32);
    c.lr.kind = SN_LR_COSINE;
    c.lr.base_lr = 0.1;
    c.limit_test = 0;
    sn_train_state s = {0};
    sn_epoch_report last;
    train_ok(m, &train, &test, &c, &s, &last);
    cr_log_info("synthetic task: train loss %.4f top-1 %.3f, test loss %.4f top-1 %.3f",
                last.train_loss, last.train_top1, last.test_loss, last.test_top1);
    cr_expect_eq(last.evaluated, 1);
    cr_expect_eq(last.epoch, 3);
    /* Chance is 25%; a model that learnt nothing cannot get near 90%. */
    cr_expect_geq(last.test_top1, 0.9, "test top-1 %.3f", last.test_top1);
    cr_expect_eq(last.test_top5, 1.0); /* 4 classes */

    /* Evaluation on its own gives the trainer's numbers. */
    double loss, top1, top5;
    expect_ok(sn_evaluate(m, &test, 0, s.mean, s.std, &loss, &top1, &top5, NULL), "evaluate");
    cr_expect_eq(top1, last.test_top1);
    cr_expect(fabs(loss - last.test_loss) <= 1e-9 * fmax(1, loss));

    sn_model_free(m);
    sn_dataset_free(&train);
    sn_dataset_free(&test);
    sn_context_free(ctx);
}

/* log.jsonl: one JSON object per line and per epoch; test fields are null
 * for an epoch without evaluation. */
Test(trainer, log_has_one_json_line_per_epoch, .timeout = 120)
{
    sn_context *ctx = test_context();
    char dir[PATH_MAX], path[PATH_MAX + 64];
    make_dir(dir, sizeof dir);
    sn_dataset train, test;
    make_dataset(&train, 32, 4, 6);
    make_dataset(&test, 16, 4, 7);
    sn_model *m = make_model(ctx, "resnet8", -1, 4, 16, 8);
    sn_train_config c = tiny_config(3, 16);
    c.limit_test = 0;
    c.eval_every = 2; /* epochs 2 and 3 (the last) */
    c.out_dir = dir;
    sn_train_state s = {0};
    train_ok(m, &train, &test, &c, &s, NULL);

    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        cr_assert(strchr(line, '\n') != NULL, "line %d is not terminated", n + 1);
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);
        cr_assert_not_null(j, "line %d is not JSON: %s: %s", n + 1, err.text, line);
        cr_assert(json_is_object(j));
        n++;
        cr_expect_eq(json_integer_value(json_object_get(j, "epoch")), n);
        cr_expect_str_eq(json_string_value(json_object_get(j, "model")), "resnet8");
        cr_expect_eq(json_integer_value(json_object_get(j, "step")), 2 * n);
        cr_expect(json_is_number(json_object_get(j, "train_loss")), "line %d: train_loss", n);
        cr_expect(json_is_number(json_object_get(j, "lr")), "line %d: lr", n);
        cr_expect(json_is_number(json_object_get(j, "seconds")), "line %d: seconds", n);
        json_t *top1 = json_object_get(j, "test_top1");
        if (n == 1)
            cr_expect(json_is_null(top1), "epoch 1 was not evaluated");
        else
            cr_expect(json_is_number(top1) && json_number_value(top1) >= 0 &&
                          json_number_value(top1) <= 1,
                      "epoch %d: test_top1", n);
        json_decref(j);
    }
    fclose(f);
    cr_expect_eq(n, 3, "%d lines for 3 epochs", n);

    sn_model_free(m);
    sn_dataset_free(&train);
    sn_dataset_free(&test);
    remove_dir(dir);
    sn_context_free(ctx);
}

/* A learning rate of 1e30 blows the weights up: training stops with
 * SN_ERR_NUMERIC naming the epoch, and the checkpoint of the last good
 * epoch (and its log) stays as it was. */
Test(trainer, nan_loss_stops_and_keeps_checkpoint, .timeout = 120)
{
    sn_context *ctx = test_context();
    char dir[PATH_MAX], path[PATH_MAX + 64], log[PATH_MAX + 64];
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    snprintf(log, sizeof log, "%s/log.jsonl", dir);
    sn_dataset data;
    make_dataset(&data, 64, 4, 8);
    sn_model *m = make_model(ctx, "resnet8", -1, 4, 16, 9);
    sn_train_config c = tiny_config(1, 16);
    c.out_dir = dir;
    sn_train_state s = {0};
    train_ok(m, &data, NULL, &c, &s, NULL);
    size_t ck_size, log_size;
    unsigned char *ck = read_bytes(path, &ck_size);
    unsigned char *log_bytes = read_bytes(log, &log_size);

    sn_train_config wild = tiny_config(6, 16);
    wild.out_dir = dir;
    wild.lr.base_lr = 1e30;
    sn_status st = sn_train(m, &data, NULL, &wild, &s, NULL, NULL);
    cr_expect_eq(st, SN_ERR_NUMERIC, "got %s (%s)", sn_status_name(st), sn_last_error());
    cr_log_info("numeric stop: %s", sn_last_error());
    expect_error_mentions("numeric stop", "epoch 2");
    cr_expect_eq(s.epoch, 1, "no epoch may finish with a non-finite loss");
    expect_same_file(path, ck, ck_size);
    expect_same_file(log, log_bytes, log_size);
    cr_expect_eq(count_dir_entries(dir), 2, "only the checkpoint and the log");

    free(ck);
    free(log_bytes);
    sn_model_free(m);
    sn_dataset_free(&data);
    remove_dir(dir);
    sn_context_free(ctx);
}

/* A step can diverge at the end of an epoch, before any loss shows it: an
 * overflowing step on an epoch of one step. The model must not be saved
 * over the good checkpoint. */
Test(trainer, diverged_weights_are_not_checkpointed, .timeout = 120)
{
    sn_context *ctx = test_context();
    char dir[PATH_MAX], path[PATH_MAX + 64];
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    sn_dataset data;
    make_dataset(&data, 16, 4, 10);
    sn_model *m = make_model(ctx, "resnet8", -1, 4, 16, 11);
    sn_train_config c = tiny_config(1, 16);
    c.out_dir = dir;
    sn_train_state s = {0};
    train_ok(m, &data, NULL, &c, &s, NULL);
    size_t ck_size;
    unsigned char *ck = read_bytes(path, &ck_size);

    sn_train_config wild = tiny_config(2, 16);
    wild.out_dir = dir;
    wild.lr.kind = SN_LR_CONSTANT;
    wild.lr.base_lr = 3e38;    /* finite, but any step larger than 1.2 overflows: */
    wild.weight_decay = 100;   /* BN gamma = 1 steps by at least 100 */
    sn_status st = sn_train(m, &data, NULL, &wild, &s, NULL, NULL);
    cr_log_info("diverged: %s", sn_last_error());
    cr_expect_eq(st, SN_ERR_NUMERIC, "got %s (%s)", sn_status_name(st), sn_last_error());
    expect_error_mentions("diverged", "epoch 2");
    cr_expect_eq(s.epoch, 1);
    expect_same_file(path, ck, ck_size);

    free(ck);
    sn_model_free(m);
    sn_dataset_free(&data);
    remove_dir(dir);
    sn_context_free(ctx);
}

Test(trainer, bad_configurations_are_rejected, .timeout = 60)
{
    sn_context *ctx = test_context();
    sn_dataset data;
    make_dataset(&data, 8, 4, 9);
    sn_model *m = make_model(ctx, "resnet8", -1, 4, 8, 10);
    sn_train_state s = {0};
    sn_train_config c = tiny_config(1, 16);
    cr_expect_eq(sn_train(m, &data, NULL, &c, &s, NULL, NULL), SN_ERR_INVALID_ARG);
    expect_error_mentions("batch", "capacity");
    c = tiny_config(1, 8);
    c.accum = 0;
    cr_expect_eq(sn_train(m, &data, NULL, &c, &s, NULL, NULL), SN_ERR_INVALID_ARG);
    c = tiny_config(1, 8);
    c.lr.base_lr = 0;
    cr_expect_eq(sn_train(m, &data, NULL, &c, &s, NULL, NULL), SN_ERR_INVALID_ARG);
    c = tiny_config(1, 8);
    sn_model *three = make_model(ctx, "resnet8", -1, 3, 8, 10);
    cr_expect_eq(sn_train(three, &data, NULL, &c, &s, NULL, NULL), SN_ERR_SHAPE);
    expect_error_mentions("classes", "classes");
    sn_model_free(three);
    data.width = data.height = 4; /* the same bytes seen as 4x4x4 */
    data.channels = 4;
    cr_expect_eq(sn_train(m, &data, NULL, &c, &s, NULL, NULL), SN_ERR_SHAPE);
    data.width = data.height = 8;
    data.channels = 1;
    cr_expect_eq(s.epoch, 0);
    cr_expect_eq(s.global_step, 0);
    sn_model_free(m);
    sn_dataset_free(&data);
    sn_context_free(ctx);
}

/* ------------------------------------------------- hardening (issue 15) */

/* Hyper-parameters that cannot train are refused before any step: momentum
 * 1e30 once "finished" with a checkpoint whose evaluation was NaN. */
Test(trainer, absurd_hyper_parameters_are_refused, .timeout = 60)
{
    sn_context *ctx = test_context();
    sn_dataset data;
    make_dataset(&data, 8, 4, 9);
    sn_model *m = make_model(ctx, "resnet8", -1, 4, 8, 10);
    sn_train_state s = {0};
    const struct {
        const char *field;
        double momentum, lr, milestone, wd;
    } cases[] = {
        {"momentum", 1e30, 0.05, 0.5, 5e-4}, {"momentum", 1.0, 0.05, 0.5, 5e-4},
        {"momentum", NAN, 0.05, 0.5, 5e-4},  {"momentum", -0.1, 0.05, 0.5, 5e-4},
        {"lr", 0.9, INFINITY, 0.5, 5e-4},    {"lr", 0.9, NAN, 0.5, 5e-4},
        {"milestone", 0.9, 0.05, NAN, 5e-4}, {"milestone", 0.9, 0.05, INFINITY, 5e-4},
        {"weight decay", 0.9, 0.05, 0.5, INFINITY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sn_train_config c = tiny_config(1, 8);
        c.momentum = cases[i].momentum;
        c.lr.base_lr = cases[i].lr;
        c.lr.milestones[0] = cases[i].milestone;
        c.weight_decay = cases[i].wd;
        cr_expect_eq(sn_train_config_check(&c), SN_ERR_INVALID_ARG, "case %zu", i);
        cr_expect_eq(sn_train(m, &data, NULL, &c, &s, NULL, NULL), SN_ERR_INVALID_ARG,
                     "case %zu (%s): %s", i, cases[i].field, sn_last_error());
        expect_error_mentions("absurd", cases[i].field);
    }
    cr_expect_eq(s.epoch, 0);
    cr_expect_eq(s.global_step, 0);
    sn_train_config c = tiny_config(1, 8);
    expect_ok(sn_train_config_check(&c), "the default recipe");
    sn_model_free(m);
    sn_dataset_free(&data);
    sn_context_free(ctx);
}

/* A model can diverge where only the evaluation sees it: the last BN's
 * running mean at -3e38 is finite, and training (batch statistics) never
 * reads it, but the eval forward overflows. The epoch must not replace
 * the checkpoint, nor log "test_loss": nan (not JSON). */
Test(trainer, diverged_evaluation_stops_training, .timeout = 120)
{
    sn_context *ctx = test_context();
    char dir[PATH_MAX], path[PATH_MAX + 64], log[PATH_MAX + 64];
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    snprintf(log, sizeof log, "%s/log.jsonl", dir);
    sn_dataset data, test;
    make_dataset(&data, 16, 4, 10);
    make_dataset(&test, 16, 4, 11);
    sn_model *m = make_model(ctx, "resnet8", -1, 4, 16, 11);
    sn_train_config c = tiny_config(1, 16);
    c.out_dir = dir;
    c.limit_test = 0;
    sn_train_state s = {0};
    train_ok(m, &data, &test, &c, &s, NULL);
    size_t ck_size, log_size;
    unsigned char *ck = read_bytes(path, &ck_size);
    unsigned char *log_bytes = read_bytes(log, &log_size);

    const sn_graph *g = sn_model_graph(m);
    int bn = -1;
    for (int i = 0; i < g->n_layers; i++)
        if (g->layers[i].op == SN_OP_BN)
            bn = i; /* the last one, right before the pooling and the head */
    sn_tensor *mean = sn_model_bn_running_mean(m, bn);
    float *host = malloc(mean->count * sizeof *host);
    cr_assert_not_null(host);
    for (size_t k = 0; k < mean->count; k++)
        host[k] = -3e38f;
    expect_ok(sn_tensor_upload(mean, host, mean->count), "poison running mean");
    free(host);

    c = tiny_config(2, 16);
    c.out_dir = dir;
    c.limit_test = 0;
    sn_status st = sn_train(m, &data, &test, &c, &s, NULL, NULL);
    cr_log_info("diverged in eval: %s", sn_last_error());
    cr_expect_eq(st, SN_ERR_NUMERIC, "got %s (%s)", sn_status_name(st), sn_last_error());
    expect_error_mentions("diverged in eval", "test loss");
    cr_expect_eq(s.epoch, 1);
    expect_same_file(path, ck, ck_size);
    expect_same_file(log, log_bytes, log_size);
    free(ck);
    free(log_bytes);
    sn_model_free(m);
    sn_dataset_free(&data);
    sn_dataset_free(&test);
    remove_dir(dir);
    sn_context_free(ctx);
}

/* best.safetensors holds the epoch with the highest test top-1 (the first
 * of equals), best.json says which, and a resumed run keeps comparing
 * against it rather than starting over. */
typedef struct top1_log {
    double top1[16];
    int n;
} top1_log;

static void record_top1(const sn_epoch_report *r, void *user)
{
    top1_log *log = user;
    cr_assert(r->evaluated && log->n < 16);
    log->top1[log->n++] = r->test_top1;
}

static int best_epoch_of(const top1_log *log)
{
    int best = 0;
    for (int i = 1; i < log->n; i++)
        best = log->top1[i] > log->top1[best] ? i : best;
    return best + 1;
}

static void expect_best(const char *dir, const top1_log *log)
{
    char path[PATH_MAX + 64];
    int want = best_epoch_of(log);
    snprintf(path, sizeof path, "%s/best.json", dir);
    json_t *j = json_load_file(path, 0, NULL);
    cr_assert_not_null(j, "%s missing or not JSON", path);
    cr_expect_eq(json_integer_value(json_object_get(j, "epoch")), want, "best.json epoch");
    cr_expect_float_eq(json_number_value(json_object_get(j, "test_top1")), log->top1[want - 1],
                       1e-6);
    json_decref(j);
    snprintf(path, sizeof path, "%s/best.safetensors", dir);
    static sn_checkpoint_info info;
    expect_ok(sn_checkpoint_info_read(path, &info), "best.safetensors");
    cr_expect_eq(info.state.epoch, want, "best.safetensors holds epoch %d, want %d",
                 info.state.epoch, want);
}

Test(trainer, best_checkpoint_is_the_best_epoch, .timeout = 120)
{
    sn_context *ctx = test_context();
    char dir[PATH_MAX];
    make_dir(dir, sizeof dir);
    sn_dataset train, test;
    make_dataset(&train, 48, 4, 11);
    make_dataset(&test, 16, 4, 12);
    sn_model *m = make_model(ctx, "sharesnet8", -1, 4, 16, 13);
    sn_train_config c = tiny_config(3, 16);
    c.lr.kind = SN_LR_CONSTANT;
    c.lr.base_lr = 0.2; /* a jumpy accuracy: the best is not always the last */
    c.limit_test = 0;
    c.out_dir = dir;
    top1_log log = {{0}, 0};
    sn_train_callbacks cb = {.epoch = record_top1, .user = &log};
    sn_train_state s = {0};
    expect_ok(sn_train(m, &train, &test, &c, &s, &cb, NULL), "sn_train");
    expect_best(dir, &log);

    sn_train_config more = c;
    more.epochs = 6;
    expect_ok(sn_train(m, &train, &test, &more, &s, &cb, NULL), "resumed sn_train");
    cr_expect_eq(log.n, 6);
    expect_best(dir, &log);
    cr_log_info("test top-1 per epoch: %.3f %.3f %.3f %.3f %.3f %.3f", log.top1[0], log.top1[1],
                log.top1[2], log.top1[3], log.top1[4], log.top1[5]);

    sn_model_free(m);
    sn_dataset_free(&train);
    sn_dataset_free(&test);
    remove_dir(dir);
    sn_context_free(ctx);
}

/* A kill during a checkpoint write leaves "<checkpoint>.tmp-XXXXXX" (as
 * large as the checkpoint), one during a log or best-record write
 * "log.jsonl.tmp-XXXXXX" or "best.json.tmp-XXXXXX" (the one atomic writer
 * names them all so); the next run in that directory removes exactly those
 * files. */
Test(trainer, temporaries_of_killed_writes_are_removed, .timeout = 120)
{
    sn_context *ctx = test_context();
    char dir[PATH_MAX], path[PATH_MAX + 64];
    make_dir(dir, sizeof dir);
    const char *const stale[] = {"checkpoint.safetensors.tmp-a1B2c3",
                                 "checkpoint.safetensors.tmp-XXXXXX", "log.jsonl.tmp-Zz9Yy8",
                                 "best.json.tmp-q1W2e3", "best.safetensors.tmp-0o0O0o"};
    const size_t n_stale = sizeof stale / sizeof *stale;
    const char *const kept[] = {"checkpoint.safetensors.tmp-notours", "notes.tmp-a1B2c3",
                                "other.safetensors.tmp-a1B2c3"};
    static unsigned char junk[65536];
    for (size_t i = 0; i < n_stale; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, stale[i]);
        write_bytes(path, junk, sizeof junk);
    }
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, kept[i]);
        write_bytes(path, junk, 1);
    }
    sn_dataset data;
    make_dataset(&data, 16, 4, 12);
    sn_model *m = make_model(ctx, "resnet8", -1, 4, 16, 13);
    sn_train_config c = tiny_config(1, 16);
    c.out_dir = dir;
    sn_train_state s = {0};
    train_ok(m, &data, NULL, &c, &s, NULL);
    for (size_t i = 0; i < n_stale; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, stale[i]);
        cr_expect_neq(access(path, F_OK), 0, "%s is still there", stale[i]);
    }
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, kept[i]);
        cr_expect_eq(access(path, F_OK), 0, "%s was removed", kept[i]);
    }
    cr_expect_eq(count_dir_entries(dir), 5, "checkpoint, log and the 3 other files");
    sn_model_free(m);
    sn_dataset_free(&data);
    remove_dir(dir);
    sn_context_free(ctx);
}

/* The lines of log.jsonl, in a malloc'd array of strings. */
static int read_lines(const char *path, char lines[][1024], int max)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "open %s", path);
    int n = 0;
    while (n < max && fgets(lines[n], 1024, f))
        n++;
    fclose(f);
    return n;
}

/* A kill after the checkpoint's rename and before the log append lost that
 * epoch's line: the resumed run restores it from the checkpoint. A run
 * resumed from an older checkpoint drops the later lines instead of
 * logging those epochs twice. */
Test(trainer, log_matches_the_resumed_checkpoint, .timeout = 300)
{
    sn_context *ctx = test_context();
    char dir[PATH_MAX], path[PATH_MAX + 64], log[PATH_MAX + 64], old[PATH_MAX + 64];
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    snprintf(log, sizeof log, "%s/log.jsonl", dir);
    snprintf(old, sizeof old, "%s/epoch1.safetensors", dir);
    sn_dataset data;
    make_dataset(&data, 16, 4, 14);
    sn_model *m = make_model(ctx, "resnet8", -1, 4, 16, 15);
    sn_train_config c = tiny_config(1, 16);
    c.out_dir = dir;
    sn_train_state s = {0};
    train_ok(m, &data, NULL, &c, &s, NULL);
    size_t n;
    unsigned char *bytes = read_bytes(path, &n);
    write_bytes(old, bytes, n);
    free(bytes);
    c.epochs = 2;
    train_ok(m, &data, NULL, &c, &s, NULL);
    static char want[4][1024], got[4][1024];
    cr_assert_eq(read_lines(log, want, 4), 2);

    /* Killed after epoch 2's rename, before its append. */
    write_bytes(log, want[0], strlen(want[0]));
    sn_train_state r;
    expect_ok(sn_checkpoint_load(m, path, 1, &r), "load epoch 2");
    cr_expect_eq(r.epoch, 2);
    c.epochs = 3;
    train_ok(m, &data, NULL, &c, &r, NULL);
    cr_assert_eq(read_lines(log, got, 4), 3, "log lines after resuming");
    cr_expect_str_eq(got[0], want[0]);
    cr_expect_str_eq(got[1], want[1], "epoch 2's line was not restored");
    cr_expect(strstr(got[2], "\"epoch\": 3") != NULL, "%s", got[2]);

    /* Resumed from epoch 1: epochs 2 and 3 of the log are replaced. */
    expect_ok(sn_checkpoint_load(m, old, 1, &r), "load epoch 1");
    c.epochs = 2;
    train_ok(m, &data, NULL, &c, &r, NULL);
    cr_assert_eq(read_lines(log, got, 4), 2, "log lines after resuming from epoch 1");
    cr_expect_str_eq(got[0], want[0]);
    cr_expect(strstr(got[1], "\"epoch\": 2") != NULL, "%s", got[1]);

    sn_model_free(m);
    sn_dataset_free(&data);
    remove_dir(dir);
    sn_context_free(ctx);
}

/* The directory sync runs after the rename: when it fails the new file is
 * already what every reader sees, so the write succeeded (it used to be
 * reported as a failed checkpoint, which stopped training). */
Test(checkpoint, failed_directory_sync_is_not_a_failed_write, .timeout = 120)
{
    sn_context *ctx = test_context();
    char dir[PATH_MAX], path[PATH_MAX + 64];
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    sn_model *m = make_model(ctx, "resnet8", -1, 4, 4, 5);
    sn_train_state state = {0};
    state.epoch = 7;
    ctx->test.file_failpoint = SN_FILE_FAIL_DIR_SYNC;
    sn_status st = sn_checkpoint_save(m, &state, path);
    ctx->test.file_failpoint = SN_FILE_FAIL_NONE;
    expect_ok(st, "save with a failing directory sync");
    sn_checkpoint_info info;
    expect_ok(sn_checkpoint_info_read(path, &info), "the new file");
    cr_expect_eq(info.state.epoch, 7);
    cr_expect_eq(count_dir_entries(dir), 1);
    sn_model_free(m);
    remove_dir(dir);
    sn_context_free(ctx);
}

/* Class names travel newline-separated in checkpoints; a PNG class folder
 * may be named with a newline. The name is kept in its place (the control
 * character as '?'), not split into two that shift every later class. */
Test(trainer, class_names_with_newlines_keep_their_place, .timeout = 120)
{
    sn_context *ctx = test_context();
    sn_dataset data;
    make_dataset(&data, 16, 4, 16);
    free(data.class_names[1]);
    data.class_names[1] = strdup("two\nlines");
    cr_assert_not_null(data.class_names[1]);
    sn_model *m = make_model(ctx, "resnet8", -1, 4, 16, 17);
    sn_train_config c = tiny_config(1, 16);
    sn_train_state s = {0};
    train_ok(m, &data, NULL, &c, &s, NULL);
    cr_expect_str_eq(s.class_names, "hstripes\ntwo?lines\nchecker\nsquare");
    sn_model_free(m);
    sn_dataset_free(&data);
    sn_context_free(ctx);
}
