/* compare's table, CSV files and chart (see compare_report.h). */
#include "cli/compare_report.h"

#include <errno.h>
#include <math.h>
#include <string.h>


static const char *schedule_name(sn_lr_kind k)
{
    return k == SN_LR_MULTISTEP ? "multistep" : k == SN_LR_COSINE ? "cosine" : "constant";
}

void compare_print_table(const compare_report *r, FILE *f)
{
    const sn_train_config *c = r->config;
    const compare_row *rows = r->rows;
    fprintf(f, "%s: %d epoch(s), %lld training images, batch %d, lr %g %s, seed %llu, on %s "
               "(%s)\n\n",
            r->data, c->epochs, r->train_n, c->batch * c->accum, c->lr.base_lr,
            schedule_name(c->lr.kind), (unsigned long long)c->seed, r->device->name,
            r->device->platform);
    fprintf(f, "| %-14s | %10s | %8s | %14s | %12s | %9s | %9s | %11s | %10s | %8s |\n", "model",
            "parameters", "vs first", "param+grad+mom", "peak device", "test top1", "test top5",
            "train img/s", "eval img/s", "time s");
    fprintf(f, "|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", "----------------", "-----------:",
            "---------:", "---------------:", "-------------:", "----------:", "----------:",
            "------------:", "-----------:", "---------:");
    for (int i = 0; i < r->n_rows; i++) {
        const compare_row *row = &rows[i];
        char state[32], peak[32], top1[16] = "n/a", top5[16] = "n/a";
        cli_format_bytes(state, sizeof state, (double)row->state_bytes);
        cli_format_bytes(peak, sizeof peak, (double)row->peak_bytes);
        if (row->report.evaluated) {
            snprintf(top1, sizeof top1, "%.2f%%", 100 * row->report.test_top1);
            snprintf(top5, sizeof top5, "%.2f%%", 100 * row->report.test_top5);
        }
        fprintf(f, "| %-14s | %10lld | %+7.1f%% | %14s | %12s | %9s | %9s | %11.0f | %10.0f | "
                   "%8.1f |\n",
                row->model, row->params,
                100.0 * (double)(row->params - rows[0].params) / (double)rows[0].params, state,
                peak, top1, top5, row->report.train_images_per_second,
                row->report.eval_images_per_second, row->seconds);
    }
    fprintf(f, "\nimg/s: %s\n", r->load_note);
}

static int write_summary_csv(const compare_report *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    fprintf(f, "model,parameters,vs_first_pct,state_bytes,peak_device_bytes,test_top1,test_top5,"
               "test_loss,train_top1,train_loss,train_img_s,eval_img_s,seconds,epochs,batch,"
               "device\n");
    for (int i = 0; i < r->n_rows; i++) {
        const compare_row *row = &r->rows[i];
        const sn_epoch_report *e = &row->report;
        fprintf(f, "%s,%lld,%.3f,%zu,%zu", row->model, row->params,
                100.0 * (double)(row->params - r->rows[0].params) / (double)r->rows[0].params,
                row->state_bytes, row->peak_bytes);
        cli_csv_number(f, e->evaluated ? 100 * e->test_top1 : NAN, "%.4f");
        cli_csv_number(f, e->evaluated ? 100 * e->test_top5 : NAN, "%.4f");
        cli_csv_number(f, e->evaluated ? e->test_loss : NAN, "%.5f");
        cli_csv_number(f, 100 * e->train_top1, "%.4f");
        cli_csv_number(f, e->train_loss, "%.5f");
        cli_csv_number(f, e->train_images_per_second, "%.2f");
        cli_csv_number(f, e->eval_images_per_second, "%.2f");
        cli_csv_number(f, row->seconds, "%.2f");
        fprintf(f, ",%d,%d,", r->config->epochs, r->config->batch * r->config->accum);
        cli_csv_field(f, r->device->name);
        fputc('\n', f);
    }
    return fclose(f) != 0;
}

static int write_epochs_csv(const compare_report *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    fprintf(f, "model,epoch,lr,train_loss,train_top1,test_loss,test_top1,test_top5,train_img_s,"
               "eval_img_s,seconds\n");
    for (int i = 0; i < r->n_rows; i++)
        for (int k = 0; k < r->rows[i].n_epochs; k++) {
            const sn_epoch_report *e = &r->rows[i].epochs[k];
            fprintf(f, "%s,%d", r->rows[i].model, e->epoch);
            cli_csv_number(f, e->lr, "%.6g");
            cli_csv_number(f, e->train_loss, "%.5f");
            cli_csv_number(f, 100 * e->train_top1, "%.4f");
            cli_csv_number(f, e->evaluated ? e->test_loss : NAN, "%.5f");
            cli_csv_number(f, e->evaluated ? 100 * e->test_top1 : NAN, "%.4f");
            cli_csv_number(f, e->evaluated ? 100 * e->test_top5 : NAN, "%.4f");
            cli_csv_number(f, e->train_images_per_second, "%.2f");
            cli_csv_number(f, e->eval_images_per_second, "%.2f");
            cli_csv_number(f, e->epoch_seconds, "%.2f");
            fputc('\n', f);
        }
    return fclose(f) != 0;
}

/* Columns the gnuplot script reads (1-based). */
enum { SUMMARY_PARAMS = 2, SUMMARY_TEST_TOP1 = 6, SUMMARY_TRAIN_TOP1 = 9 };
enum { EPOCHS_EPOCH = 2, EPOCHS_TRAIN_TOP1 = 5, EPOCHS_TEST_TOP1 = 7 };

/* Left: accuracy per epoch, one line per model; right: parameters against
 * the final accuracy. Test accuracy, or training accuracy when the run was
 * not evaluated (--limit-test -1): gnuplot fails on a plot with no point. */
static int write_gnuplot(const compare_report *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    int evaluated = r->n_rows > 0 && r->rows[0].report.evaluated;
    const char *what = evaluated ? "test top-1" : "training top-1 (not evaluated)";
    int epoch_col = evaluated ? EPOCHS_TEST_TOP1 : EPOCHS_TRAIN_TOP1;
    int summary_col = evaluated ? SUMMARY_TEST_TOP1 : SUMMARY_TRAIN_TOP1;
    fprintf(f, "# Generated by `sharesnet compare`. Redraw: cd to this directory, then\n"
               "# gnuplot compare.gnuplot   (Debian: gnuplot-nox)\n");
    cli_gnuplot_terminal(f, "compare.png", 1200, 520);
    fprintf(f, "set datafile separator ','\nset grid\n");
    fprintf(f, "set multiplot layout 1,2 title \"%s, %d epoch(s), batch %d, on %s\"\n", r->data,
            r->config->epochs, r->config->batch * r->config->accum, r->device->name);
    fprintf(f, "set title '%s per epoch'\nset xlabel 'epoch'\nset ylabel '%s accuracy (%%)'\n"
               "set key bottom right\nset xtics %s\n", what, what,
            r->config->epochs <= 20 ? "1" : "autofreq");
    fprintf(f, "plot \\\n");
    for (int i = 0; i < r->n_rows; i++)
        fprintf(f, "  'epochs.csv' skip 1 using (strcol(1) eq '%s' ? $%d : NaN):%d with "
                   "linespoints lw 2 pt 7 title '%s'%s\n",
                r->rows[i].model, EPOCHS_EPOCH, epoch_col, r->rows[i].model,
                i + 1 < r->n_rows ? ", \\" : "");
    fprintf(f, "set title 'parameters vs final %s'\nset xlabel 'parameters'\n"
               "set xtics autofreq\nset format x '%%.0s%%c'\n"
               "set offsets graph 0.15, graph 0.15, graph 0.1, graph 0.1\n", what);
    fprintf(f, "plot 'compare.csv' skip 1 using %d:%d with points pt 7 ps 1.8 notitle, \\\n"
               "  '' skip 1 using %d:%d:1 with labels offset char 0,1.2 notitle\n",
            SUMMARY_PARAMS, summary_col, SUMMARY_PARAMS, summary_col);
    fprintf(f, "unset multiplot\n");
    return fclose(f) != 0;
}

int compare_write_files(const compare_report *r, const char *dir)
{
    char path[4200];
    int failed = 0;
    snprintf(path, sizeof path, "%s/compare.md", dir);
    FILE *md = fopen(path, "w");
    if (md) {
        fprintf(md, "# sharesnet compare\n\n");
        compare_print_table(r, md);
        failed |= fclose(md) != 0;
    } else
        failed = 1;
    snprintf(path, sizeof path, "%s/compare.csv", dir);
    failed |= write_summary_csv(r, path);
    snprintf(path, sizeof path, "%s/epochs.csv", dir);
    failed |= write_epochs_csv(r, path);
    snprintf(path, sizeof path, "%s/compare.gnuplot", dir);
    failed |= write_gnuplot(r, path);
    if (failed) {
        fprintf(stderr, "sharesnet: cannot write the results under %s: %s\n", dir, strerror(errno));
        return 1;
    }
    printf("\nwrote %s/compare.md, compare.csv, epochs.csv, compare.gnuplot\n", dir);
    return cli_gnuplot(dir, "compare.gnuplot", "compare.png");
}
