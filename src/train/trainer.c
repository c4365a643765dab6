/* The training loop: epochs of micro-batches from the prefetching loader,
 * optimizer steps every `accum` micro-batches, evaluation, an epoch log and
 * an atomic checkpoint after every epoch. */
#include "train/train_internal.h"
#include "dist/dist_internal.h"
#include "runtime/runtime_internal.h"
#include "sharesnet/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void sn_train_config_default(sn_train_config *c, int epochs)
{
    memset(c, 0, sizeof *c);
    c->epochs = epochs;
    c->batch = 128;
    c->accum = 1;
    c->lr.kind = SN_LR_MULTISTEP;
    c->lr.base_lr = 0.1;
    c->lr.gamma = 0.1;
    c->lr.n_milestones = 2;
    c->lr.milestones[0] = 0.5 * epochs;
    c->lr.milestones[1] = 0.75 * epochs;
    c->lr.total_epochs = epochs;
    c->momentum = 0.9;
    c->weight_decay = 5e-4;
    c->nesterov = 1;
    c->crop_padding = 4;
    c->flip = 1;
    c->eval_every = 1;
}

sn_status sn_train_config_check(const sn_train_config *c)
{
    if (c->epochs < 0 || c->batch <= 0 || c->accum <= 0 || c->eval_every <= 0)
        return sn_fail(SN_ERR_INVALID_ARG,
                       "train: epochs %d, batch %d, accum %d, eval_every %d must be positive",
                       c->epochs, c->batch, c->accum, c->eval_every);
    /* Written as !(x in range) so that NaN fails every test. */
    if (!isfinite(c->lr.base_lr) || !(c->lr.base_lr > 0))
        return sn_fail(SN_ERR_INVALID_ARG, "train: lr %g must be finite and > 0", c->lr.base_lr);
    if (!isfinite(c->lr.gamma) || !(c->lr.gamma > 0))
        return sn_fail(SN_ERR_INVALID_ARG, "train: gamma %g must be finite and > 0",
                       c->lr.gamma);
    if (!isfinite(c->lr.warmup_epochs) || !(c->lr.warmup_epochs >= 0))
        return sn_fail(SN_ERR_INVALID_ARG, "train: warm-up %g must be finite and >= 0",
                       c->lr.warmup_epochs);
    if (c->lr.n_milestones < 0 || c->lr.n_milestones > SN_MAX_MILESTONES)
        return sn_fail(SN_ERR_INVALID_ARG, "train: %d milestones (0 to %d)", c->lr.n_milestones,
                       SN_MAX_MILESTONES);
    for (int i = 0; i < c->lr.n_milestones; i++)
        if (!isfinite(c->lr.milestones[i]))
            return sn_fail(SN_ERR_INVALID_ARG, "train: milestone %d is %g (must be finite)", i + 1,
                           c->lr.milestones[i]);
    /* Momentum 1 or more makes the buffer a sum that never decays: with
     * 1e30 the first steps overflowed the weights, yet training "finished". */
    if (!(c->momentum >= 0 && c->momentum < 1))
        return sn_fail(SN_ERR_INVALID_ARG, "train: momentum %g must be in [0, 1)", c->momentum);
    if (!isfinite(c->weight_decay) || !(c->weight_decay >= 0))
        return sn_fail(SN_ERR_INVALID_ARG, "train: weight decay %g must be finite and >= 0",
                       c->weight_decay);
    return SN_OK;
}

static sn_status check_config(const sn_train_config *c, const sn_model *m, const sn_dataset *train)
{
    const sn_graph *g = sn_model_graph(m);
    SN_TRY(sn_train_config_check(c));
    if (c->batch > sn_model_batch_capacity(m))
        return sn_fail(SN_ERR_INVALID_ARG, "train: batch %d exceeds the model's capacity %d",
                       c->batch, sn_model_batch_capacity(m));
    if (train->channels != g->in_channels || train->height != g->size || train->width != g->size)
        return sn_fail(SN_ERR_SHAPE, "train: data is %dx%dx%d but model %s expects %dx%dx%d",
                       train->channels, train->height, train->width, g->model, g->in_channels,
                       g->size, g->size);
    if (train->classes > g->classes)
        return sn_fail(SN_ERR_SHAPE, "train: data has %d classes, model %s only %d",
                       train->classes, g->model, g->classes);
    return SN_OK;
}

/* A JSON number, or null for NaN and infinities (which JSON lacks). */
static const char *json_number(char *buf, size_t size, const char *format, double v)
{
    if (!isfinite(v))
        return "null";
    snprintf(buf, size, format, v);
    return buf;
}

/* The log.jsonl line (no newline) of an epoch report. */
static void format_log_line(char *out, size_t size, const char *model, const sn_epoch_report *r)
{
    char tl[32], t1[32], t5[32], loss[32], top1[32];
    const int e = r->evaluated; /* a skipped evaluation is null too */
    snprintf(out, size,
             "{\"model\": \"%s\", \"epoch\": %d, \"step\": %lld, \"lr\": %.6g, "
             "\"train_loss\": %s, \"train_top1\": %s, \"test_loss\": %s, \"test_top1\": %s, "
             "\"test_top5\": %s, \"train_img_s\": %.1f, \"eval_img_s\": %.1f, "
             "\"data_wait\": %.4f, \"seconds\": %.2f, \"peak_device_bytes\": %zu}",
             model, r->epoch, (long long)r->global_step, r->lr,
             json_number(loss, sizeof loss, "%.6f", r->train_loss),
             json_number(top1, sizeof top1, "%.6f", r->train_top1),
             json_number(tl, sizeof tl, "%.6f", e ? r->test_loss : NAN),
             json_number(t1, sizeof t1, "%.6f", e ? r->test_top1 : NAN),
             json_number(t5, sizeof t5, "%.6f", e ? r->test_top5 : NAN),
             r->train_images_per_second, r->eval_images_per_second, r->data_wait_fraction,
             r->epoch_seconds, r->peak_device_bytes);
    /* A data-parallel run's communication, after the closing brace. */
    size_t used = strlen(out);
    if (r->ranks > 1 && used > 0 && used < size)
        snprintf(out + used - 1, size - used + 1,
                 ", \"ranks\": %d, \"allreduce_bytes\": %zu, \"buckets\": %d, "
                 "\"allreduce_alone_s\": %.6f, \"comm_seconds\": %.3f, \"comm_overlap\": %.3f, "
                 "\"comm_wait_seconds\": %.3f}",
                 r->ranks, r->allreduce_bytes, r->allreduce_buckets, r->allreduce_alone_seconds,
                 r->comm_seconds,
                 r->comm_overlap, r->comm_wait_seconds);
}

/* Append one line to out_dir/log.jsonl. */
static sn_status log_append(const char *out_dir, const char *line)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/log.jsonl", out_dir);
    FILE *f = fopen(path, "a");
    if (!f)
        return sn_fail(SN_ERR_IO, "cannot append to %s: %s", path, strerror(errno));
    fprintf(f, "%s\n", line);
    if (fclose(f) != 0)
        return sn_fail(SN_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    return SN_OK;
}

typedef struct log_text {
    const char *text;
    size_t size;
} log_text;

static int write_log_text(FILE *f, void *user)
{
    const log_text *t = user;
    return fwrite(t->text, 1, t->size, f) == t->size;
}

/* Make out_dir/log.jsonl match a run resumed after epoch s->epoch. The
 * checkpoint is renamed into place before the log line is appended, so a
 * kill in between leaves the line missing: it is restored from the copy the
 * checkpoint keeps. Lines of later epochs (a run resumed from an older
 * checkpoint) are dropped, or they would appear twice. A missing log is the
 * log of a run that now writes elsewhere, and a fresh run (epoch 0) appends
 * as it always did: both are left alone. */
static sn_status reconcile_log(const char *out_dir, const sn_train_state *s)
{
    if (s->epoch <= 0)
        return SN_OK;
    char path[4096];
    snprintf(path, sizeof path, "%s/log.jsonl", out_dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return SN_OK;
    char *text = NULL;
    size_t cap = 0, used = 0;
    char line[8192];
    int changed = 0, have_own = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        json_t *epoch = j ? json_object_get(j, "epoch") : NULL;
        long long e = json_is_integer(epoch) ? json_integer_value(epoch) : -1;
        json_decref(j);
        if (e > s->epoch) {
            changed = 1;
            continue;
        }
        have_own |= e == s->epoch;
        size_t n = strlen(line);
        if (used + n + sizeof s->log_line + 2 > cap) {
            cap = 2 * cap + n + sizeof s->log_line + 2;
            char *grown = realloc(text, cap);
            if (!grown) {
                free(text);
                fclose(f);
                return sn_fail(SN_ERR_OUT_OF_MEMORY, "reading %s: out of host memory", path);
            }
            text = grown;
        }
        memcpy(text + used, line, n);
        used += n;
    }
    fclose(f);
    if (!have_own && s->epoch > 0 && s->log_line[0]) {
        if (!text && !(text = malloc(sizeof s->log_line + 2)))
            return sn_fail(SN_ERR_OUT_OF_MEMORY, "reading %s: out of host memory", path);
        used += (size_t)sprintf(text + used, "%s\n", s->log_line);
        changed = 1;
    }
    sn_status st = SN_OK;
    if (changed) {
        log_text t = {text ? text : "", used};
        st = sn_file_write_atomic(path, "training log", SN_FILE_RESULT, write_log_text, &t);
    }
    free(text);
    return st;
}

/* Samples in micro-batch i of an epoch of `examples` split into `batch`. */
static int64_t micro_size(int64_t i, int64_t examples, int batch)
{
    int64_t left = examples - i * batch;
    return left < batch ? left : batch;
}

typedef struct epoch_totals {
    double loss_sum;
    int64_t correct, seen;
} epoch_totals;

/* How a run's micro-batches fall to the ranks: a step takes `per_step`
 * consecutive micro-batches of the epoch (accum on each of `ranks`), and
 * rank r trains those from r*accum on. One process is rank 0 of 1. */
typedef struct run_layout {
    sn_dist *dist;       /* NULL: this process alone */
    sn_grad_reducer *reducer; /* with dist */
    int rank, ranks;
    int64_t per_step;
    int64_t batches, examples; /* per epoch, every rank's */
} run_layout;

/* One optimizer step: this rank's share of the step's micro-batches, the
 * gradient of the mean loss over every sample of the step (summed across
 * ranks), the SGD update. Adds the step's figures, every rank's, to *t. */
static sn_status train_step(sn_model *m, sn_loader *loader, const sn_train_config *c,
                            const run_layout *L, int epoch, int64_t step, double lr,
                            epoch_totals *t)
{
    const int64_t first = step * L->per_step;
    const int64_t last = first + L->per_step < L->batches ? first + L->per_step : L->batches;
    int64_t step_samples = 0;
    for (int64_t i = first; i < last; i++)
        step_samples += micro_size(i, L->examples, c->batch);
    const int64_t mine = first + (int64_t)L->rank * c->accum;
    const int64_t mine_end = mine + c->accum < last ? mine + c->accum : last;
    double figures[3] = {0, 0, 0}; /* loss sum, top-1 hits, samples */
    for (int64_t i = mine; i < mine_end; i++) {
        const sn_batch *b;
        SN_TRY(sn_loader_next(loader, &b));
        if (!b || b->index != i)
            return sn_fail(SN_ERR_INTERNAL, "train: the loader served batch %lld for batch %lld",
                           b ? (long long)b->index : -1LL, (long long)i);
        SN_TRY(sn_model_set_batch(m, b->images, b->labels, b->count));
        SN_TRY(sn_model_forward(m, 1));
        if (L->reducer && i == mine_end - 1)
            sn_grad_reducer_arm(L->reducer); /* the gradients become final in this backward */
        /* The gradient of the mean loss over every sample of the step. */
        SN_TRY(sn_model_backward(m, (float)(1.0 / (double)step_samples), i > mine));
        if (L->reducer && i == mine_end - 1)
            SN_TRY(sn_grad_reducer_finish(L->reducer));
        double loss;
        int top1, top5;
        SN_TRY(sn_model_metrics(m, &loss, &top1, &top5));
        figures[0] += loss * b->count;
        figures[1] += top1;
        figures[2] += b->count;
    }
    if (L->reducer && mine >= mine_end) /* the last step may leave this rank nothing */
        SN_TRY(sn_grad_reducer_zero(L->reducer));
    if (L->dist)
        SN_TRY(sn_dist_sum_doubles(L->dist, figures, 3));
    /* Every rank sees the same sum, so every rank stops here together. */
    if (!isfinite(figures[0]))
        return sn_fail(SN_ERR_NUMERIC,
                       "loss became %s at epoch %d, step %lld (lr %g): training stopped; "
                       "the last checkpoint is intact",
                       isnan(figures[0]) ? "NaN" : "infinite", epoch + 1, (long long)step + 1, lr);
    t->loss_sum += figures[0];
    t->correct += (int64_t)figures[1];
    t->seen += (int64_t)figures[2];
    sn_sgd_options o = {(float)lr, (float)c->momentum, (float)c->weight_decay, c->nesterov};
    return sn_model_sgd_step(m, &o);
}

static sn_status train_epoch(sn_model *m, sn_loader *loader, const sn_train_config *c,
                             const run_layout *L, sn_train_state *s,
                             const sn_train_callbacks *cb, sn_epoch_report *r)
{
    const int64_t steps = (L->batches + L->per_step - 1) / L->per_step;
    SN_TRY(sn_loader_start_epoch(loader, s->epoch, 0));
    sn_grad_reducer_stats comm0 = {0}, comm1 = {0};
    if (L->reducer)
        sn_grad_reducer_stats_get(L->reducer, &comm0);
    double wait0 = sn_loader_wait_seconds(loader), start = sn_now();
    epoch_totals t = {0};
    double lr = 0;
    for (int64_t step = 0; step < steps; step++) {
        lr = sn_lr_at(&c->lr, s->epoch + (double)step / (double)steps);
        SN_TRY(train_step(m, loader, c, L, s->epoch, step, lr, &t));
        s->global_step++;
        if (cb && cb->progress) {
            double elapsed = sn_now() - start;
            sn_train_progress p = {s->epoch + 1, c->epochs, step + 1, steps, s->global_step, lr,
                                   0, (double)t.correct / (double)t.seen,
                                   (double)t.seen / elapsed, elapsed};
            p.loss = t.loss_sum / (double)t.seen;
            cb->progress(&p, cb->user);
        }
    }
    double seconds = sn_now() - start;
    if (t.seen == 0)
        return sn_fail(SN_ERR_INVALID_ARG, "train: the training split has no examples");
    memset(r, 0, sizeof *r);
    r->epoch = s->epoch + 1;
    r->global_step = s->global_step;
    r->lr = lr;
    r->train_loss = t.loss_sum / (double)t.seen;
    r->train_top1 = (double)t.correct / (double)t.seen;
    r->train_images_per_second = (double)t.seen / seconds;
    r->data_wait_fraction = (sn_loader_wait_seconds(loader) - wait0) / seconds;
    r->epoch_seconds = seconds;
    r->test_loss = r->test_top1 = r->test_top5 = NAN;
    r->ranks = L->ranks;
    if (L->reducer) {
        sn_grad_reducer_stats_get(L->reducer, &comm1);
        r->allreduce_bytes = comm1.bytes;
        r->allreduce_buckets = comm1.buckets;
        r->allreduce_alone_seconds = comm1.alone_seconds;
        r->comm_seconds = comm1.reduce_seconds - comm0.reduce_seconds;
        double hidden = comm1.hidden_seconds - comm0.hidden_seconds;
        r->comm_overlap = r->comm_seconds > 0 ? hidden / r->comm_seconds : 0.0;
        r->comm_wait_seconds = comm1.wait_seconds - comm0.wait_seconds;
    }
    return SN_OK;
}

/* The output directory and its parents (compare writes DIR/MODEL/). */
static sn_status make_dir(const char *dir)
{
    if (sn_make_dirs(dir) != 0)
        return sn_fail(SN_ERR_IO, "cannot create output directory %s: %s", dir, strerror(errno));
    /* Find out now, not after the first epoch, that nothing can be written. */
    if (access(dir, W_OK | X_OK) != 0)
        return sn_fail(SN_ERR_IO, "output directory %s is not writable: %s", dir, strerror(errno));
    return SN_OK;
}

/* This run owns out_dir: the temporaries that a killed run's writes left
 * there are garbage (each can be as large as the checkpoint). */
static sn_status remove_temporaries(const char *out_dir)
{
    static const char *const files[] = {"checkpoint.safetensors", "best.safetensors",
                                        "best.json", "log.jsonl"};
    char path[4200];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", out_dir, files[i]);
        SN_TRY(sn_file_remove_temporaries(path, NULL));
    }
    return SN_OK;
}

/* The class names, newline-separated, as checkpoints keep them. A name may
 * contain anything a folder name can: a control character (newline
 * included) becomes '?', or one PNG class folder named "a\nb" would shift
 * every later class by one. */
static void join_class_names(char *out, size_t size, const sn_dataset *train)
{
    size_t used = 0;
    out[0] = '\0';
    for (int k = 0; train->class_names && k < train->classes && used + 1 < size; k++) {
        if (k)
            out[used++] = '\n';
        for (const char *c = train->class_names[k]; c && *c && used + 1 < size; c++)
            out[used++] = (unsigned char)*c < 0x20 || *c == 0x7f ? '?' : *c;
        out[used] = '\0';
    }
}

/* Collective: rank 0's status `st` of `what` on every rank (the others
 * fail too, naming rank 0, so that none waits for it alone). */
static sn_status rank0_status(sn_dist *d, sn_status st, const char *what)
{
    double failed = sn_dist_rank(d) == 0 && st != SN_OK ? (double)st : 0.0;
    sn_status reduced = sn_dist_sum_doubles(d, &failed, 1);
    if (reduced != SN_OK)
        return reduced;
    if (sn_dist_rank(d) == 0 || failed == 0.0)
        return st;
    return sn_fail((sn_status)(int)failed, "rank 0 failed %s (its message says why)", what);
}

sn_status sn_train(sn_model *m, const sn_dataset *train, const sn_dataset *test,
                   const sn_train_config *c, sn_train_state *s, const sn_train_callbacks *cb,
                   sn_epoch_report *last)
{
    SN_TRY(check_config(c, m, train));
    run_layout L = {c->dist, NULL, sn_dist_rank(c->dist), sn_dist_size(c->dist), 0, 0, 0};
    L.per_step = (int64_t)c->accum * L.ranks;
    if (c->dist) /* before anything that could make one rank fail alone */
        SN_TRY(sn_dist_train_check(c->dist, m, train, test, c, s));
    /* Only rank 0 writes the run's files. */
    const char *out_dir = L.rank == 0 ? c->out_dir : NULL;
    char checkpoint[4096];
    sn_status st = SN_OK;
    if (out_dir) {
        snprintf(checkpoint, sizeof checkpoint, "%s/checkpoint.safetensors", out_dir);
        if ((st = make_dir(out_dir)) == SN_OK && (st = remove_temporaries(out_dir)) == SN_OK)
            st = reconcile_log(out_dir, s);
    }
    if (c->dist) {
        SN_TRY(rank0_status(c->dist, st, "preparing the output directory"));
        SN_TRY(sn_dist_start_from_root(c->dist, m));
        SN_TRY(sn_grad_reducer_create(c->dist, m, c->bucket_bytes, &L.reducer));
    } else if (st != SN_OK) {
        return st;
    }
    sn_loader_options lo = sn_loader_options_default();
    lo.batch_size = c->batch;
    lo.seed = c->seed;
    lo.shuffle = 1;
    lo.drop_last = 0;
    lo.max_examples = c->limit_train;
    lo.crop_padding = c->crop_padding;
    lo.flip = c->flip;
    /* A resumed run normalises with the statistics it started with. */
    lo.normalization = s->channels ? SN_NORM_GIVEN : SN_NORM_DATASET;
    if (s->channels) {
        memcpy(lo.mean, s->mean, sizeof lo.mean);
        memcpy(lo.std, s->std, sizeof lo.std);
    }
    lo.shard_count = L.ranks;
    lo.shard_index = L.rank;
    lo.shard_block = c->accum;
    sn_loader *loader;
    if ((st = sn_loader_create(&loader, train, &lo)) != SN_OK) {
        sn_grad_reducer_free(L.reducer);
        return st;
    }
    L.batches = (sn_loader_examples_per_epoch(loader) + c->batch - 1) / c->batch;
    L.examples = sn_loader_examples_per_epoch(loader);
    sn_loader_normalization(loader, s->mean, s->std);
    s->channels = train->channels;
    s->seed = c->seed;
    join_class_names(s->class_names, sizeof s->class_names, train);

    const int was_frozen = sn_model_frozen_bn(m);
    sn_model_set_frozen_bn(m, c->freeze_bn);

    /* Tuning and kernel compiles before the first step, not in its time. */
    st = sn_model_prepare(m, 1);
    double best_top1 = sn_best_checkpoint_top1(out_dir, s);
    sn_epoch_report r = {0};
    r.test_loss = r.test_top1 = r.test_top5 = NAN;
    while (st == SN_OK && s->epoch < c->epochs) {
        sn_context_reset_peak(m->ctx);
        if ((st = train_epoch(m, loader, c, &L, s, cb, &r)) != SN_OK)
            break;
        s->epoch++;
        /* Each rank's statistics saw only its micro-batches. */
        if (c->dist && (st = sn_dist_average_bn(c->dist, m)) != SN_OK)
            break;
        if (test && c->limit_test >= 0 && (s->epoch % c->eval_every == 0 || s->epoch == c->epochs)) {
            st = sn_evaluate_shards(m, test, c->limit_test, s->mean, s->std, cb, c->dist,
                                    &r.test_loss, &r.test_top1, &r.test_top5,
                                    &r.eval_images_per_second);
            if (st != SN_OK)
                break;
            r.evaluated = 1;
            /* Weights that overflow in eval mode (running statistics) can
             * leave every training loss finite: the test loss tells. */
            if (!isfinite(r.test_loss)) {
                st = sn_fail(SN_ERR_NUMERIC, "epoch %d ended with a diverged model (lr %g): the "
                             "test loss is %s; training stopped; the last checkpoint is intact",
                             s->epoch, r.lr, isnan(r.test_loss) ? "NaN" : "infinite");
                s->epoch--; /* it did not finish well */
                break;
            }
        }
        sn_mem_stats mem;
        sn_context_mem_stats(m->ctx, &mem);
        r.peak_device_bytes = mem.peak;
        char previous[sizeof s->log_line];
        memcpy(previous, s->log_line, sizeof previous);
        format_log_line(s->log_line, sizeof s->log_line, sn_model_graph(m)->model, &r);
        if (out_dir) {
            /* A step can diverge without a non-finite loss yet (the last of
             * an epoch): never replace a good checkpoint with such a model. */
            if ((st = sn_checkpoint_save_finite(m, s, checkpoint)) != SN_OK) {
                if (st == SN_ERR_NUMERIC) {
                    sn_fail_context(st, "epoch %d ended with a diverged model (lr %g): "
                                    "training stopped; the last checkpoint is intact",
                                    s->epoch, r.lr);
                    s->epoch--; /* it did not finish well */
                    memcpy(s->log_line, previous, sizeof previous); /* that epoch's line */
                }
            } else if ((st = sn_best_checkpoint_update(m, s, out_dir, &r, &best_top1)) ==
                       SN_OK) {
                /* After the rename: a kill in between loses only this
                 * append, which reconcile_log restores from the checkpoint's
                 * copy. */
                st = log_append(out_dir, s->log_line);
            }
        }
        /* The other ranks stop with rank 0 when it could not save. */
        if (c->dist && (st = rank0_status(c->dist, st, "saving the checkpoint")) != SN_OK)
            break;
        if (st != SN_OK)
            break;
        if (cb && cb->epoch)
            cb->epoch(&r, cb->user);
    }
    sn_loader_destroy(loader);
    sn_grad_reducer_free(L.reducer);
    sn_model_set_frozen_bn(m, was_frozen);
    if (last)
        *last = r;
    return st;
}
