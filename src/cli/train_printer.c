/* The training progress printer of train, compare and bench tradeoff.
 *
 * No silent minutes: every step reports the learning rate and an ETA for
 * the whole run (all epochs left, and with compare or tradeoff every model
 * still to train, evaluations included, from the current training's pace
 * so far), every evaluation is announced with its size and shows its
 * progress (also for `eval`), and each epoch line carries the load average next to its img/s. On a
 * terminal one line is redrawn; otherwise a line every ~10% of an epoch,
 * with stdout flushed first so the two streams stay in order in one file. */
#include "cli/train_options.h"

#include <string.h>
#include <unistd.h>

void train_printer_init(train_printer *p, const char *model)
{
    p->model = model;
    p->tty = isatty(fileno(stderr));
    p->run_start = -1;
    p->first_step = 0;
    p->eval_images = 0;
    p->eval_every = 1;
    p->epoch = p->epochs = 0;
    p->eval_quarter = 0;
    p->eval_start = -1;
    p->run = 0;
    p->runs = 1;
}

void train_printer_set_run(train_printer *p, int run, int runs)
{
    p->run = run;
    p->runs = runs > run ? runs : run + 1;
}

void train_printer_set_eval(train_printer *p, const sn_train_config *c, const sn_dataset *test)
{
    p->eval_every = c->eval_every;
    p->eval_images = !test || c->limit_test < 0 ? 0
                     : c->limit_test > 0 && c->limit_test < test->count ? c->limit_test
                                                                        : test->count;
}

static void format_duration(char *buf, size_t size, double s)
{
    if (s < 0 || s != s)
        snprintf(buf, size, "?");
    else if (s < 90)
        snprintf(buf, size, "%.0fs", s);
    else if (s < 5400)
        snprintf(buf, size, "%.0fm%02.0fs", (double)(long)(s / 60), s - 60 * (double)(long)(s / 60));
    else
        snprintf(buf, size, "%.0fh%02.0fm", (double)(long)(s / 3600),
                 (s - 3600 * (double)(long)(s / 3600)) / 60);
}

/* Seconds left in the run at the pace of the steps seen so far (their
 * evaluations and checkpoints included once an epoch has passed). */
static double run_eta(train_printer *tp, const sn_train_progress *p)
{
    double now = sn_now_seconds();
    if (tp->run_start < 0) {
        tp->run_start = now - p->elapsed_seconds;
        tp->first_step = p->global_step - p->step_in_epoch;
    }
    int64_t done = p->global_step - tp->first_step;
    int64_t left = (int64_t)(p->epochs - p->epoch) * p->steps_per_epoch +
                   (p->steps_per_epoch - p->step_in_epoch) +
                   (int64_t)(tp->runs - 1 - tp->run) * p->epochs * p->steps_per_epoch;
    return done > 0 ? (now - tp->run_start) / (double)done * (double)left : -1;
}

static int evaluates(const train_printer *tp, int epoch, int epochs)
{
    return tp->eval_images > 0 && (epoch % tp->eval_every == 0 || epoch == epochs);
}

static void progress(const sn_train_progress *p, void *user)
{
    train_printer *tp = user;
    char eta[64];
    format_duration(eta, sizeof eta, run_eta(tp, p));
    if (tp->runs > 1) { /* say that it covers the models after this one */
        size_t used = strlen(eta);
        snprintf(eta + used, sizeof eta - used, " (model %d of %d)", tp->run + 1, tp->runs);
    }
    tp->epoch = p->epoch;
    tp->epochs = p->epochs;
    tp->eval_start = -1;
    int last = p->step_in_epoch == p->steps_per_epoch;
    if (tp->tty) {
        int width = 20, filled = (int)(width * p->step_in_epoch /
                                       (p->steps_per_epoch ? p->steps_per_epoch : 1));
        char bar[32];
        for (int i = 0; i < width; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r%s epoch %d/%d [%s] %lld/%lld lr %.3g loss %.4f acc %5.1f%% %5.0f img/s "
                        "run ETA %s   ",
                tp->model, p->epoch, p->epochs, bar, (long long)p->step_in_epoch,
                (long long)p->steps_per_epoch, p->lr, p->loss, 100 * p->accuracy,
                p->images_per_second, eta);
        if (last && evaluates(tp, p->epoch, p->epochs))
            fprintf(stderr, "\r%s epoch %d/%d: evaluating on %lld test images ...%50s", tp->model,
                    p->epoch, p->epochs, (long long)tp->eval_images, "");
        fflush(stderr);
        return;
    }
    /* Not a terminal (logs, CI): a plain line about every 10% of an epoch. */
    int64_t every = p->steps_per_epoch / 10 > 0 ? p->steps_per_epoch / 10 : 1;
    if (p->step_in_epoch % every != 0 && !last)
        return;
    fflush(stdout);
    fprintf(stderr, "%s epoch %d/%d step %lld/%lld lr %.3g loss %.4f acc %.1f%% %.0f img/s "
                    "run ETA %s\n",
            tp->model, p->epoch, p->epochs, (long long)p->step_in_epoch,
            (long long)p->steps_per_epoch, p->lr, p->loss, 100 * p->accuracy,
            p->images_per_second, eta);
    if (last && evaluates(tp, p->epoch, p->epochs))
        fprintf(stderr, "%s epoch %d/%d: evaluating on %lld test images ...\n", tp->model,
                p->epoch, p->epochs, (long long)tp->eval_images);
}

static void epoch_done(const sn_epoch_report *r, void *user)
{
    train_printer *tp = user;
    char mem[32], load[32];
    cli_format_bytes(mem, sizeof mem, (double)r->peak_device_bytes);
    cli_load_now(load, sizeof load);
    if (tp->tty)
        fprintf(stderr, "\r%100s\r", "");
    printf("%s epoch %d: lr %.3g train loss %.4f acc %.2f%%", tp->model, r->epoch, r->lr,
           r->train_loss, 100 * r->train_top1);
    if (r->evaluated)
        printf(" | test loss %.4f top-1 %.2f%% top-5 %.2f%%", r->test_loss, 100 * r->test_top1,
               100 * r->test_top5);
    printf(" | %.0f img/s train, %.0f eval (%s) | data wait %.1f%% | %.1f s | peak %s",
           r->train_images_per_second, r->eval_images_per_second, load,
           100 * r->data_wait_fraction, r->epoch_seconds, mem);
    if (r->ranks > 1) {
        char bytes[32];
        cli_format_bytes(bytes, sizeof bytes, (double)r->allreduce_bytes);
        printf(" | %d ranks: all-reduce %s/step in %d bucket(s) (%.1f ms alone), %.0f%% of it "
               "behind backward, steps waited %.2f s", r->ranks, bytes, r->allreduce_buckets,
               1e3 * r->allreduce_alone_seconds,
               100 * r->comm_overlap, r->comm_wait_seconds);
    }
    printf("\n");
    fflush(stdout);
}

/* The evaluation's share done and its ETA: redrawn on a TTY, a line per
 * quarter otherwise. */
static void evaluating(int64_t done, int64_t total, void *user)
{
    train_printer *tp = user;
    double now = sn_now_seconds();
    if (done == 0 || tp->eval_start < 0) {
        tp->eval_start = now;
        tp->eval_quarter = 0;
    }
    char eta[32], what[96];
    format_duration(eta, sizeof eta,
                    done > 0 ? (now - tp->eval_start) / (double)done * (double)(total - done) : -1);
    if (tp->epochs > 0)
        snprintf(what, sizeof what, "%s epoch %d/%d", tp->model, tp->epoch, tp->epochs);
    else
        snprintf(what, sizeof what, "%s", tp->model);
    if (tp->tty) {
        fprintf(stderr, "\r%s: evaluating %lld/%lld test images, ETA %s%30s", what,
                (long long)done, (long long)total, eta, "");
        if (done >= total)
            fprintf(stderr, "\r%100s\r", "");
        fflush(stderr);
        return;
    }
    int quarter = total > 0 ? (int)(4 * done / total) : 4;
    if (quarter <= tp->eval_quarter)
        return;
    tp->eval_quarter = quarter;
    fflush(stdout);
    fprintf(stderr, "%s: evaluated %lld/%lld test images, ETA %s\n", what, (long long)done,
            (long long)total, eta);
}

sn_train_callbacks train_printer_callbacks(train_printer *p)
{
    sn_train_callbacks cb = {.progress = progress, .epoch = epoch_done, .user = p,
                             .evaluating = evaluating};
    /* Under mpirun every rank sees the same figures: rank 0 shows them. */
    if (sn_dist_rank(cli_dist()) != 0)
        cb.progress = NULL, cb.evaluating = NULL;
    return cb;
}
