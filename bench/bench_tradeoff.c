/* `sharesnet bench tradeoff`: the paper's two claims on one family.
 *
 * Trains, with the same data, recipe, budget and seeds, (1) the plain model,
 * (2) its ShaResNet and (3) the plain model of the family whose parameter
 * count is closest to the ShaResNet's (sn_graph_closest_plain). Claim 1: (2)
 * is almost as accurate as (1) with fewer parameters; claim 2: (2) beats (3).
 * Per model: parameters, parameter+gradient+momentum memory, peak device
 * memory, test top-1/top-5 over the seeds (mean, spread), warm train and
 * inference img/s, wall time; PyTorch's img/s next to ours when installed.
 *
 * Writes OUT/tradeoff.md (the table as printed), OUT/tradeoff.csv (one row
 * per table row), OUT/runs.csv (one row per model and seed), and
 * OUT/tradeoff.png drawn by gnuplot from OUT/tradeoff.gnuplot (accuracy
 * against parameters, one point per model and seed). */
#include "bench.h"
#include "cli/train_options.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char usage[] =
    "usage: sharesnet bench tradeoff [--family NAME] [--plain P] [--shared S] [--equal E]\n"
    "                                [--data D] [--seeds 1,2,3] [--out DIR] [train options]\n\n"
    "Trains the plain model, its ShaResNet and the plain model of the family with the closest\n"
    "parameter count to the ShaResNet, with the same data, recipe, budget and seeds, then prints\n"
    "parameters, parameter+gradient+momentum memory, peak device memory, test top-1/top-5 (mean\n"
    "and spread over the seeds), warm train/inference img/s and wall time; writes DIR/tradeoff.md,\n"
    "tradeoff.csv, runs.csv and tradeoff.png (gnuplot). --family takes the plain or the shared\n"
    "name: resnet20 (default), sharesnet164 / preresnet164, wrn-40-4, ... With PyTorch installed\n"
    "the He CIFAR models are also timed in PyTorch (bench/peer/peer.py) and the ratio printed.\n"
    "Defaults: --data fashion-mnist, --seeds 1,2,3, --out tradeoff-SHARED, --epochs 1.";

#define MAX_SEEDS 16
#define MAX_MODELS 3
#define NOTE_SIZE 1024

typedef struct tr_model {
    char name[64];
    char role[40];             /* "plain", "shared", "equal-params", "plain+equal-params" */
    sn_graph *graph;
    long long params;
    size_t state_bytes, peak_bytes;
    bench_speed speed;
    int speed_ok;
    sn_epoch_report runs[MAX_SEEDS];
    double seconds[MAX_SEEDS];
} tr_model;

typedef struct tr_stats {
    double mean, std, min, max;
    int n;
} tr_stats;

typedef struct tradeoff {
    tr_model models[MAX_MODELS];
    int n_models;
    int seeds[MAX_SEEDS], n_seeds;
    sn_train_config config;
    const char *data;
    char out[4096];
    char notes[2][NOTE_SIZE];
    int n_notes;
    long long train_n, test_n;
    bench_machine machine;
    const sn_device_info *device;
    bench_peer_run peer;
    int speed_reps, speed_warmup;
    int runs_done;             /* trainings finished or under way (progress ETA) */
    cli_load load;             /* from the first training run on */
    char load_note[256];       /* so img/s taken under load say so */
} tradeoff;

/* The plain <-> shared twin of a name: sharesnetD <-> resnetD (preresnetD ->
 * sharesnetD; resnet164 and sharesnet164 are pre-activation as preresnet164),
 * sharewrn-D-K <-> wrn-D-K. resolve_models checks the pair. */
static int twin(const char *name, int want_shared, char *out, size_t size)
{
    static const struct { const char *plain, *shared; } pairs[] = {
        {"resnet", "sharesnet"}, {"preresnet", "sharesnet"}, {"wrn-", "sharewrn-"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const char *from = want_shared ? pairs[i].plain : pairs[i].shared;
        const char *to = want_shared ? pairs[i].shared : pairs[i].plain;
        size_t n = strlen(from);
        if (!strncasecmp(name, from, n)) {
            snprintf(out, size, "%s%s", to, name + n);
            return 1;
        }
    }
    return 0;
}

static int build_graph(const char *name, const cli_args *args, const sn_dataset *train,
                       sn_graph **g)
{
    sn_graph_options o;
    if (!cli_graph_options(args, &o))
        return 2;
    o.classes = o.classes ? o.classes : train->classes;
    o.in_channels = o.in_channels ? o.in_channels : train->channels;
    o.size = o.size ? o.size : train->height;
    sn_status st = sn_graph_build(name, &o, g);
    return st == SN_OK ? 0 : cli_error(name, st);
}

static int add_model(tradeoff *t, const char *name, const char *role, const cli_args *args,
                     const sn_dataset *train)
{
    for (int i = 0; i < t->n_models; i++)
        if (!strcasecmp(t->models[i].name, name)) {
            size_t len = strlen(t->models[i].role);
            snprintf(t->models[i].role + len, sizeof t->models[i].role - len, "+%s", role);
            return 0;
        }
    tr_model *m = &t->models[t->n_models];
    memset(m, 0, sizeof *m);
    int rc = build_graph(name, args, train, &m->graph);
    if (rc)
        return rc;
    snprintf(m->name, sizeof m->name, "%s", m->graph->model);
    snprintf(m->role, sizeof m->role, "%s", role);
    m->params = sn_graph_param_count(m->graph);
    t->n_models++;
    return 0;
}

/* Plain, shared and equal-parameter models; notes on the equal one. */
static int resolve_models(tradeoff *t, const cli_args *args, const sn_dataset *train)
{
    const char *family = cli_get(args, "family");
    family = family ? family : "resnet20";
    char plain[64], shared[64];
    int is_shared = !strncasecmp(family, "share", 5);
    snprintf(plain, sizeof plain, "%s", family);
    snprintf(shared, sizeof shared, "%s", family);
    if (!twin(family, !is_shared, is_shared ? plain : shared, 64) &&
        !(cli_get(args, "plain") && cli_get(args, "shared"))) {
        fprintf(stderr, "sharesnet: no plain/shared twin for '%s': give --plain and --shared\n",
                family);
        return 2;
    }
    if (cli_get(args, "plain"))
        snprintf(plain, sizeof plain, "%s", cli_get(args, "plain"));
    if (cli_get(args, "shared"))
        snprintf(shared, sizeof shared, "%s", cli_get(args, "shared"));
    int rc = add_model(t, plain, "plain", args, train);
    if (!rc)
        rc = add_model(t, shared, "shared", args, train);
    if (rc)
        return rc;
    const sn_graph *p = t->models[0].graph, *s = t->models[1].graph;
    if (p->policy != SN_SHARE_NONE || s->policy == SN_SHARE_NONE || strcmp(p->family, s->family) ||
        p->depth != s->depth || p->widen != s->widen) {
        fprintf(stderr, "sharesnet: %s (%s, sharing %s) and %s (%s, sharing %s) are not a plain "
                        "model and its ShaResNet: give --plain and --shared\n",
                p->model, p->family, sn_share_policy_name(p->policy), s->model, s->family,
                sn_share_policy_name(s->policy));
        return 2;
    }
    char equal[64];
    long long equal_count = 0;
    if (cli_get(args, "equal")) {
        snprintf(equal, sizeof equal, "%s", cli_get(args, "equal"));
    } else {
        sn_status st = sn_graph_closest_plain(s, equal, sizeof equal, &equal_count);
        if (st != SN_OK)
            return cli_error("closest plain model", st);
    }
    if ((rc = add_model(t, equal, "equal-params", args, train)) != 0)
        return rc;
    const tr_model *e = NULL;
    for (int i = 0; i < t->n_models; i++)
        if (strstr(t->models[i].role, "equal-params"))
            e = &t->models[i];
    double pct = 100.0 * (double)(e->params - sn_graph_param_count(s)) /
                 (double)sn_graph_param_count(s);
    char count[32];
    bench_grouped(count, sizeof count, sn_graph_param_count(s));
    char *note = t->notes[t->n_notes++];
    if (e == &t->models[0])
        snprintf(note, NOTE_SIZE,
                 "equal-params: the plain model closest in parameters to %s (%s) is %s itself "
                 "(%+.1f%%): the family has no distinct plain model nearer, so claim 2 is not "
                 "tested here (a ShaResNet one stage deeper may have one: sharesnet26 ~ resnet20)",
                 s->model, count, e->name, pct);
    else if (fabs(pct) > 5.0)
        snprintf(note, NOTE_SIZE,
                 "equal-params: no plain model of the family lies within 5%% of %s (%s "
                 "parameters); the closest is %s (%+.1f%%)",
                 s->model, count, e->name, pct);
    else
        snprintf(note, NOTE_SIZE,
                 "equal-params: %s has %s parameters; %s, the closest plain model, %+.2f%%",
                 s->model, count, e->name, pct);
    return 0;
}

static tr_stats stats(const tr_model *m, int n, int top5)
{
    tr_stats s = {NAN, NAN, NAN, NAN, 0};
    double sum = 0;
    for (int i = 0; i < n; i++) {
        double v = 100.0 * (top5 ? m->runs[i].test_top5 : m->runs[i].test_top1);
        if (!m->runs[i].evaluated || isnan(v))
            continue;
        s.min = s.n == 0 || v < s.min ? v : s.min;
        s.max = s.n == 0 || v > s.max ? v : s.max;
        sum += v;
        s.n++;
    }
    if (s.n == 0)
        return s;
    s.mean = sum / s.n;
    double ss = 0;
    for (int i = 0; i < n; i++) {
        double v = 100.0 * (top5 ? m->runs[i].test_top5 : m->runs[i].test_top1);
        if (m->runs[i].evaluated && !isnan(v))
            ss += (v - s.mean) * (v - s.mean);
    }
    s.std = s.n > 1 ? sqrt(ss / (s.n - 1)) : 0;
    return s;
}

static double mean_seconds(const tr_model *m, int n)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += m->seconds[i];
    return n ? sum / n : 0;
}

static int train_model(tradeoff *t, tr_model *tm, const sn_dataset *train, const sn_dataset *test,
                       sn_context *ctx)
{
    for (int si = 0; si < t->n_seeds; si++) {
        sn_model *m = NULL;
        sn_status st = sn_model_create(ctx, tm->graph, t->config.batch, (uint64_t)t->seeds[si], &m);
        if (st != SN_OK)
            return cli_error(tm->name, st);
        sn_model_memory mem;
        sn_model_memory_usage(m, &mem);
        tm->state_bytes = mem.params + mem.grads + mem.optimizer;
        printf("== %s (%s): %lld parameters, seed %d\n", tm->name, tm->role, tm->params,
               t->seeds[si]);
        fflush(stdout);
        train_printer printer;
        train_printer_init(&printer, tm->name);
        train_printer_set_eval(&printer, &t->config, test);
        train_printer_set_run(&printer, t->runs_done++, t->n_models * t->n_seeds);
        sn_train_callbacks cb = train_printer_callbacks(&printer);
        sn_train_state state = {0};
        sn_train_config c = t->config;
        c.seed = (uint64_t)t->seeds[si];
        /* One-time work (the first model pays it) outside the wall time. */
        sn_model_set_frozen_bn(m, c.freeze_bn);
        st = sn_model_prepare(m, 1);
        double start = sn_now_seconds();
        if (st == SN_OK)
            st = sn_train(m, train, test, &c, &state, &cb, &tm->runs[si]);
        tm->seconds[si] = sn_now_seconds() - start;
        if (tm->runs[si].peak_device_bytes > tm->peak_bytes)
            tm->peak_bytes = tm->runs[si].peak_device_bytes;
        if (st == SN_OK && si == 0) {
            sn_sgd_options sgd = {(float)t->config.lr.base_lr, (float)t->config.momentum,
                                  (float)t->config.weight_decay, t->config.nesterov};
            st = bench_model_speed(ctx, m, t->config.batch, BENCH_TRAIN | BENCH_INFER,
                                   t->speed_warmup, t->speed_reps, &sgd, &tm->speed);
            tm->speed_ok = st == SN_OK;
            if (st == SN_OK)
                printf("%s warm speed at batch %d: train %.1f img/s, infer %.1f img/s (median of "
                       "%d)\n", tm->name, t->config.batch, tm->speed.train_img_s,
                       tm->speed.infer_img_s, t->speed_reps);
        }
        sn_model_free(m);
        if (st != SN_OK)
            return cli_error(tm->name, st);
    }
    return 0;
}

static void fmt_stat(char *buf, size_t size, tr_stats s)
{
    if (s.n == 0)
        snprintf(buf, size, "n/a");
    else
        snprintf(buf, size, "%.2f", s.mean);
}

static void fmt_spread(char *buf, size_t size, tr_stats s)
{
    if (s.n == 0)
        snprintf(buf, size, "n/a");
    else
        snprintf(buf, size, "±%.2f (%.2f–%.2f, n=%d)", s.std, s.min, s.max, s.n);
}

/* The whole report, to stdout and to OUT/tradeoff.md. */
static void write_markdown(const tradeoff *t, FILE *f)
{
    const sn_train_config *c = &t->config;
    const sn_device_info *d = t->device;
    const sn_graph *g = t->models[0].graph;
    fprintf(f, "# ShaResNet tradeoff: %s / %s\n\n", t->models[0].name, t->models[1].name);
    fprintf(f, "- data: %s, %lld training / %lld test images, %dx%dx%d, %d classes\n", t->data,
            t->train_n, t->test_n, g->in_channels, g->size, g->size, g->classes);
    fprintf(f, "- recipe: %d epoch(s), batch %d, SGD lr %g%s momentum %g, weight decay %g, "
               "schedule %s, crop padding %d, flip %s; seeds",
            c->epochs, c->batch * c->accum, c->lr.base_lr, c->nesterov ? " Nesterov" : "",
            c->momentum, c->weight_decay,
            c->lr.kind == SN_LR_MULTISTEP ? "multistep" : c->lr.kind == SN_LR_COSINE ? "cosine"
                                                                                      : "constant",
            c->crop_padding, c->flip ? "on" : "off");
    for (int i = 0; i < t->n_seeds; i++)
        fprintf(f, "%s%d", i ? "," : " ", t->seeds[i]);
    fprintf(f, "\n- machine: %s, %s, %d CPUs, %s\n", t->machine.host, t->machine.cpu,
            t->machine.cores, t->machine.os);
    fprintf(f, "- device: %d:%d %s (%s, %s), platform %s, driver %s, %s\n", d->platform_index,
            d->device_index, d->name, sn_device_type_name(d->type), d->vendor, d->platform,
            d->driver_version, d->device_version);
    fprintf(f, "- date: %s\n", t->machine.date);
    fprintf(f, "- method: accuracy = mean over the seeds, spread = sample std (min–max); img/s = "
               "warm (warm-up %d), median of %d steps at batch %d, after training the "
               "first seed; wall = mean seconds of one training run (data, evaluation and the "
               "first run's kernel compilation included)\n",
            t->speed_warmup, t->speed_reps, c->batch);
    fprintf(f, "- %s\n", t->peer.note);
    fprintf(f, "- load: %s\n\n", t->load_note);

    fprintf(f, "| model | role | parameters | vs plain | param+grad+mom | peak device | test top-1 %% "
               "| top-1 spread | test top-5 %% | train img/s | infer img/s | PyTorch train img/s | "
               "ours / PyTorch | wall s |\n");
    fprintf(f, "|---|---|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|\n");
    for (int i = 0; i < t->n_models; i++) {
        const tr_model *m = &t->models[i];
        char params[32], state[32], peak[32], top1[32], spread[96], top5[32], peer[32] = "n/a",
             ratio[32] = "n/a";
        bench_grouped(params, sizeof params, m->params);
        cli_format_bytes(state, sizeof state, (double)m->state_bytes);
        cli_format_bytes(peak, sizeof peak, (double)m->peak_bytes);
        fmt_stat(top1, sizeof top1, stats(m, t->n_seeds, 0));
        fmt_spread(spread, sizeof spread, stats(m, t->n_seeds, 0));
        fmt_stat(top5, sizeof top5, stats(m, t->n_seeds, 1));
        const bench_peer_result *p = bench_peer_find(&t->peer, m->name, c->batch);
        if (p && m->speed_ok) {
            snprintf(peer, sizeof peer, "%.1f", p->train_img_s);
            snprintf(ratio, sizeof ratio, "%.3f", m->speed.train_img_s / p->train_img_s);
        }
        fprintf(f, "| %s | %s | %s | %+.1f%% | %s | %s | %s | %s | %s | %.1f | %.1f | %s | %s | "
                   "%.1f |\n",
                m->name, m->role, params,
                100.0 * (double)(m->params - t->models[0].params) / (double)t->models[0].params,
                state, peak, top1, spread, top5, m->speed.train_img_s, m->speed.infer_img_s, peer,
                ratio, mean_seconds(m, t->n_seeds));
    }
    fprintf(f, "\n");
    for (int i = 0; i < t->n_notes; i++)
        fprintf(f, "- %s\n", t->notes[i]);
    fprintf(f, "\nRuns:\n\n| model | seed | test top-1 %% | test top-5 %% | test loss | train loss "
               "| wall s |\n|---|--:|--:|--:|--:|--:|--:|\n");
    for (int i = 0; i < t->n_models; i++)
        for (int s = 0; s < t->n_seeds; s++) {
            const sn_epoch_report *r = &t->models[i].runs[s];
            fprintf(f, "| %s | %d | %.2f | %.2f | %.4f | %.4f | %.1f |\n", t->models[i].name,
                    t->seeds[s], 100 * r->test_top1, 100 * r->test_top5, r->test_loss,
                    r->train_loss, t->models[i].seconds[s]);
        }
}

/* Columns of tradeoff.csv and runs.csv the gnuplot script refers to (1-based). */
enum { CSV_PARAMS = 3, CSV_TOP1_MEAN = 8, CSV_TOP1_MIN = 10, CSV_TOP1_MAX = 11 };
enum { RUNS_PARAMS = 4, RUNS_TOP1 = 5 };

static int write_csv(const tradeoff *t, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    fprintf(f, "model,role,parameters,vs_plain_pct,state_bytes,peak_device_bytes,seeds,"
               "top1_mean,top1_std,top1_min,top1_max,top5_mean,top5_std,train_img_s,infer_img_s,"
               "peer_train_img_s,peer_infer_img_s,train_ratio_vs_peer,wall_s_mean,batch,device,"
               "driver,host,date\n");
    for (int i = 0; i < t->n_models; i++) {
        const tr_model *m = &t->models[i];
        tr_stats s1 = stats(m, t->n_seeds, 0), s5 = stats(m, t->n_seeds, 1);
        const bench_peer_result *p = bench_peer_find(&t->peer, m->name, t->config.batch);
        fprintf(f, "%s,%s,%lld,%.3f,%zu,%zu,%d", m->name, m->role, m->params,
                100.0 * (double)(m->params - t->models[0].params) / (double)t->models[0].params,
                m->state_bytes, m->peak_bytes, t->n_seeds);
        cli_csv_number(f, s1.mean, "%.4f");
        cli_csv_number(f, s1.std, "%.4f");
        cli_csv_number(f, s1.min, "%.4f");
        cli_csv_number(f, s1.max, "%.4f");
        cli_csv_number(f, s5.mean, "%.4f");
        cli_csv_number(f, s5.std, "%.4f");
        cli_csv_number(f, m->speed.train_img_s, "%.3f");
        cli_csv_number(f, m->speed.infer_img_s, "%.3f");
        cli_csv_number(f, p ? p->train_img_s : NAN, "%.3f");
        cli_csv_number(f, p ? p->infer_img_s : NAN, "%.3f");
        cli_csv_number(f, p && p->train_img_s > 0 ? m->speed.train_img_s / p->train_img_s : NAN, "%.4f");
        cli_csv_number(f, mean_seconds(m, t->n_seeds), "%.3f");
        fprintf(f, ",%d,", t->config.batch);
        cli_csv_field(f, t->device->name);
        fputc(',', f);
        cli_csv_field(f, t->device->driver_version);
        fputc(',', f);
        cli_csv_field(f, t->machine.host);
        fprintf(f, ",%s\n", t->machine.date);
    }
    return fclose(f) != 0;
}

static int write_runs_csv(const tradeoff *t, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    fprintf(f, "model,role,seed,parameters,test_top1,test_top5,test_loss,train_loss,wall_s\n");
    for (int i = 0; i < t->n_models; i++)
        for (int s = 0; s < t->n_seeds; s++) {
            const sn_epoch_report *r = &t->models[i].runs[s];
            fprintf(f, "%s,%s,%d,%lld", t->models[i].name, t->models[i].role, t->seeds[s],
                    t->models[i].params);
            cli_csv_number(f, 100 * r->test_top1, "%.4f");
            cli_csv_number(f, 100 * r->test_top5, "%.4f");
            cli_csv_number(f, r->test_loss, "%.5f");
            cli_csv_number(f, r->train_loss, "%.5f");
            cli_csv_number(f, t->models[i].seconds[s], "%.3f");
            fputc('\n', f);
        }
    return fclose(f) != 0;
}

/* gnuplot script (run in OUT): one point per model and seed, the mean of
 * each model with its min-max range, named. */
static int write_gnuplot(const tradeoff *t, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    const sn_device_info *d = t->device;
    fprintf(f, "# Generated by `sharesnet bench tradeoff`. Redraw: cd to this directory, then\n"
               "# gnuplot tradeoff.gnuplot   (Debian: gnuplot-nox)\n");
    cli_gnuplot_terminal(f, "tradeoff.png", 960, 600);
    fprintf(f, "set datafile separator ','\n");
    fprintf(f, "set title \"%s vs %s on %s, %d epoch(s), one point per model and seed (%d seeds)"
               "\\n%s (%s), %s, %s\"\n",
            t->models[1].name, t->models[0].name, t->data, t->config.epochs, t->n_seeds, d->name,
            d->driver_version, t->machine.host, t->machine.date);
    fprintf(f, "set xlabel 'parameters'\nset ylabel 'test top-1 accuracy (%%)'\n"
               "set format x '%%.0s%%c'\nset grid\nset key below\n"
               "set offsets graph 0.08, graph 0.08, graph 0.05, graph 0.05\n");
    fprintf(f, "plot \\\n");
    static const int point_types[] = {7, 5, 9};
    for (int i = 0; i < t->n_models; i++)
        fprintf(f, "  'runs.csv' skip 1 using (strcol(1) eq '%s' ? $%d : NaN):%d with points pt %d "
                   "ps 1.6 lc %d title '%s (%s)', \\\n",
                t->models[i].name, RUNS_PARAMS, RUNS_TOP1, point_types[i % 3], i + 1,
                t->models[i].name, t->models[i].role);
    fprintf(f, "  'tradeoff.csv' skip 1 using %d:%d:%d:%d with yerrorbars pt 2 ps 2 lc rgb 'black' "
               "title 'mean, min-max over the seeds', \\\n",
            CSV_PARAMS, CSV_TOP1_MEAN, CSV_TOP1_MIN, CSV_TOP1_MAX);
    fprintf(f, "  'tradeoff.csv' skip 1 using %d:%d:1 with labels offset char 0,1.2 notitle\n",
            CSV_PARAMS, CSV_TOP1_MEAN);
    return fclose(f) != 0;
}

static int write_outputs(const tradeoff *t)
{
    char path[4200];
    int rc = 0;
    snprintf(path, sizeof path, "%s/tradeoff.md", t->out);
    FILE *md = fopen(path, "w");
    if (md) {
        write_markdown(t, md);
        rc |= fclose(md) != 0;
    } else
        rc = 1;
    snprintf(path, sizeof path, "%s/tradeoff.csv", t->out);
    rc |= write_csv(t, path);
    snprintf(path, sizeof path, "%s/runs.csv", t->out);
    rc |= write_runs_csv(t, path);
    snprintf(path, sizeof path, "%s/tradeoff.gnuplot", t->out);
    rc |= write_gnuplot(t, path);
    if (rc) {
        fprintf(stderr, "sharesnet: cannot write the results under %s\n", t->out);
        return 1;
    }
    printf("\nwrote %s/tradeoff.md, tradeoff.csv, runs.csv, tradeoff.gnuplot\n", t->out);
    return cli_gnuplot(t->out, "tradeoff.gnuplot", "tradeoff.png");
}

static int run_peer(tradeoff *t, const cli_args *args)
{
    bench_peer_config cfg = {BENCH_PEER_AUTO, cli_get(args, "python"), cli_get(args, "peer-script"),
                             NULL};
    if (!bench_peer_mode_parse(cli_get(args, "peer"), &cfg.mode))
        return 2;
    const sn_graph *graphs[MAX_MODELS];
    int n = 0;
    for (int i = 0; i < t->n_models; i++) {
        char why[256];
        if (bench_peer_supports(t->models[i].graph, why, sizeof why))
            graphs[n++] = t->models[i].graph;
        else if (cfg.mode != BENCH_PEER_OFF)
            printf("peer: not measured: %s\n", why);
    }
    sn_sgd_options sgd = {(float)t->config.lr.base_lr, (float)t->config.momentum,
                          (float)t->config.weight_decay, t->config.nesterov};
    return bench_peer_measure(&cfg, graphs, n, &t->config.batch, 1, t->speed_warmup,
                              t->speed_reps, &sgd, t->machine.cores, &t->peer);
}

int bench_tradeoff_main(int argc, char **argv)
{
    cli_option extra[] = {
        {"family", 1, "plain or shared model of the pair (default resnet20)", NULL},
        {"plain", 1, "the plain model (default: the family's)", NULL},
        {"shared", 1, "the ShaResNet (default: the family's)", NULL},
        {"equal", 1, "the equal-parameter plain model (default: sn_graph_closest_plain)", NULL},
        {"seeds", 1, "comma list of seeds (default 1,2,3)", NULL},
        {"out", 1, "output directory (default tradeoff-SHARED)", NULL},
        {"speed-reps", 1, "timed steps of the img/s figures (default 10)", NULL},
        {"speed-warmup", 1, "untimed steps before them (default 3)", NULL},
        {"peer", 1, "PyTorch img/s: auto (when installed), on, off (default auto)", NULL},
        {"peer-script", 1, "path of bench/peer/peer.py", NULL},
        {"python", 1, "python with torch (default $SN_PEER_PYTHON, /usr/bin/python3)", NULL},
    };
    cli_option opts[64];
    cli_args args = {opts, train_options(opts, 64, extra, (int)(sizeof extra / sizeof extra[0])),
                     NULL, 0};
    int rc = cli_parse(argc, argv, 1, usage, &args);
    cli_args_free(&args);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (cli_get(&args, "seed") || cli_get(&args, "policy")) {
        fprintf(stderr, "sharesnet: bench tradeoff takes --seeds (a list), and no --policy (the "
                        "models fix their sharing)\n");
        return 2;
    }
    tradeoff *t = calloc(1, sizeof *t);
    if (!t)
        return 1;
    if (!train_config_from_args(&args, &t->config)) {
        free(t);
        return 2;
    }
    t->config.out_dir = NULL;
    t->data = cli_get(&args, "data") ? cli_get(&args, "data") : "fashion-mnist";
    long v;
    sn_dataset train = {0}, test = {0};
    sn_context *ctx = NULL;
    rc = 2;
    if (!bench_int_list("seeds", cli_get(&args, "seeds") ? cli_get(&args, "seeds") : "1,2,3",
                        t->seeds, MAX_SEEDS, &t->n_seeds))
        goto done;
    if (!cli_int(&args, "speed-reps", 10, &v) || v < 1) {
        fprintf(stderr, "sharesnet: --speed-reps must be >= 1\n");
        goto done;
    }
    t->speed_reps = (int)v;
    if (!cli_int(&args, "speed-warmup", 3, &v) || v < 0) {
        fprintf(stderr, "sharesnet: --speed-warmup must be >= 0\n");
        goto done;
    }
    t->speed_warmup = (int)v;
    /* run_peer reads it after the training: a typo must not wait for that. */
    bench_peer_mode peer_mode;
    if (!bench_peer_mode_parse(cli_get(&args, "peer"), &peer_mode))
        goto done;

    rc = cli_load_split(t->data, SN_SPLIT_TRAIN, &args, &train);
    if (!rc && t->config.limit_test >= 0)
        rc = cli_load_split(t->data, SN_SPLIT_TEST, &args, &test);
    if (!rc)
        rc = resolve_models(t, &args, &train);
    if (!rc) {
        const char *out = cli_get(&args, "out");
        if (out)
            snprintf(t->out, sizeof t->out, "%s", out);
        else
            snprintf(t->out, sizeof t->out, "tradeoff-%s", t->models[1].name);
        rc = bench_make_dir(t->out) ? 0 : 1;
    }
    if (!rc)
        rc = cli_open_context(cli_get(&args, "device"), &ctx);
    if (!rc) {
        bench_machine_get(&t->machine);
        t->device = sn_context_device(ctx);
        t->train_n = t->config.limit_train > 0 && t->config.limit_train < train.count
                         ? t->config.limit_train
                         : train.count;
        t->test_n = t->config.limit_test < 0 ? 0
                    : t->config.limit_test > 0 && t->config.limit_test < test.count
                        ? t->config.limit_test
                        : test.count;
        printf("tradeoff:");
        for (int i = 0; i < t->n_models; i++)
            printf("%s %s (%s, %lld parameters)", i ? "," : "", t->models[i].name,
                   t->models[i].role, t->models[i].params);
        printf("\n%s\n", t->notes[0]);
        fflush(stdout);
    }
    cli_load_begin(&t->load);
    for (int i = 0; !rc && i < t->n_models; i++)
        rc = train_model(t, &t->models[i], &train, t->config.limit_test >= 0 ? &test : NULL, ctx);
    if (!rc)
        rc = run_peer(t, &args);
    if (!rc) {
        cli_load_note(&t->load, t->load_note, sizeof t->load_note);
        printf("\n");
        write_markdown(t, stdout);
        rc = write_outputs(t);
    }
done:
    bench_peer_run_free(&t->peer);
    sn_context_free(ctx);
    sn_dataset_free(&train);
    sn_dataset_free(&test);
    for (int i = 0; i < t->n_models; i++)
        sn_graph_free(t->models[i].graph);
    free(t);
    return rc;
}
