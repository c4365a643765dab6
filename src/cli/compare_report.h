/* `compare`'s results: the table it prints, and the files it leaves in its
 * output directory (compare.md, compare.csv, epochs.csv, compare.gnuplot,
 * compare.png), so the main job's answer survives the terminal. */
#ifndef SN_CLI_COMPARE_REPORT_H
#define SN_CLI_COMPARE_REPORT_H

#include "cli/cli.h"

typedef struct compare_row {
    char model[64];
    long long params;
    size_t state_bytes, peak_bytes;
    sn_epoch_report report;   /* the last epoch */
    sn_epoch_report *epochs;  /* every epoch, in order */
    int n_epochs;
    double seconds;
} compare_row;

typedef struct compare_report {
    const char *data;
    const sn_train_config *config;
    long long train_n;
    const sn_device_info *device;
    char load_note[256];      /* cli_load_note over the whole run */
    const compare_row *rows;
    int n_rows;
} compare_report;

/* The summary line and the Markdown table (stdout and compare.md). */
void compare_print_table(const compare_report *r, FILE *f);

/* Write the files into `dir` and draw the chart; prints their paths.
 * 0, or 1 after printing what could not be written. */
int compare_write_files(const compare_report *r, const char *dir);

#endif
