/* sharesnet-bench (also `sharesnet bench`, which runs it): the benchmark
 * suite, its own program next to the product CLI. It shares the CLI's
 * option parsing and dataset helpers through the sn_cli convenience library
 * (src/cli) and everything else through libsharesnet. The pieces its
 * suites share:
 *
 *   tradeoff    bench_tradeoff.c   plain vs ShaResNet vs equal-parameter plain, several seeds
 *   throughput  bench_throughput.c warm train / inference img/s per device, model and batch
 *   peer        bench_peer.c       the same models in PyTorch on the CPU (bench/peer/peer.py)
 *   ops         bench/bench_ops.c  per-op (conv2d) timings, also `sharesnet-bench-ops`
 *   profile     bench_profile.c    device time per kernel and kind of op of a warm step
 *   allreduce   bench_allreduce.c  bytes all-reduced per step per model, ring cost model
 *
 * Every figure is warm (kernel compilation and the first steps are run and
 * discarded first) and the median of several timed repetitions, each between
 * two sn_context_finish() calls; outputs carry the machine and the device. */
#ifndef SN_BENCH_H
#define SN_BENCH_H

#include <stddef.h>

#include "cli/cli.h"

/* ---- sub-commands (argv[0] is the sub-command's name) ----------------------- */

int bench_tradeoff_main(int argc, char **argv);
int bench_throughput_main(int argc, char **argv);
int bench_peer_main(int argc, char **argv);
int bench_profile_main(int argc, char **argv);
int bench_allreduce_main(int argc, char **argv);
/* bench/bench_ops.c: the whole `sharesnet-bench-ops` program. */
int bench_ops_main(int argc, char **argv);

/* ---- where a figure comes from ------------------------------------------ */

typedef struct bench_machine {
    char host[128];
    char cpu[192];    /* /proc/cpuinfo "model name", or "unknown" */
    char os[192];     /* uname: sysname release machine */
    int cores;        /* online processors */
    char date[40];    /* ISO 8601, local time with offset */
} bench_machine;

void bench_machine_get(bench_machine *m);

/* ---- timing ------------------------------------------------------------------ */

typedef struct bench_timing {
    double median_s, min_s, max_s; /* seconds per step */
    int reps;
} bench_timing;

enum { BENCH_TRAIN = 1, BENCH_INFER = 2 };

typedef struct bench_speed {
    int batch;
    bench_timing train, infer;     /* reps == 0 when not measured */
    double train_img_s, infer_img_s;
    size_t peak_device_bytes;      /* context peak while stepping (model included) */
} bench_speed;

/* Warm train steps (upload, forward, backward, SGD step with `sgd`) and
 * inference passes (upload, forward in eval mode) of `m` on random images and
 * labels of batch `batch` (<= the model's capacity): `warmup` untimed runs,
 * then `reps` timed runs each between sn_context_finish calls; medians.
 * `modes` is BENCH_TRAIN | BENCH_INFER. The model's weights change. */
sn_status bench_model_speed(sn_context *ctx, sn_model *m, int batch, int modes, int warmup,
                            int reps, const sn_sgd_options *sgd, bench_speed *out);

/* Median of v[0..n) (sorts v); 0 when n == 0. */
double bench_median(double *v, int n);

/* ---- small helpers ------------------------------------------------------------ */

/* Split a comma list in place; returns the count (at most max), -1 if more. */
int bench_split(char *text, char **items, int max);
/* Positive integers from a comma list; 0 (after printing) on a bad list. */
int bench_int_list(const char *option, const char *text, int *out, int max, int *count);
/* mkdir -p of one level (parents must exist); 0 on success, prints otherwise. */
int bench_make_dir(const char *dir);
/* "269,434" */
const char *bench_grouped(char *buf, size_t size, long long v);

/* ---- the PyTorch peer ------------------------------------------------------- */

typedef enum bench_peer_mode { BENCH_PEER_OFF, BENCH_PEER_AUTO, BENCH_PEER_ON } bench_peer_mode;

typedef struct bench_peer_config {
    bench_peer_mode mode;
    const char *python;      /* NULL: $SN_PEER_PYTHON, else /usr/bin/python3, else python3 */
    const char *script;      /* NULL: $SN_PEER_SCRIPT, else found next to the executable */
    const char *work_dir;    /* where the request/response files go; NULL: $TMPDIR or /tmp */
} bench_peer_config;

/* --peer auto|on|off into *mode; 0 (after printing) on a bad value. */
int bench_peer_mode_parse(const char *text, bench_peer_mode *mode);

/* Whether the peer can measure this graph (He CIFAR basic, shortcut A,
 * sharing none or paper); why not in `why`. */
int bench_peer_supports(const sn_graph *g, char *why, size_t why_size);

/* One PyTorch measurement: model, batch, warm train / inference img/s. */
typedef struct bench_peer_result {
    char model[64];
    int batch;
    long long params;         /* PyTorch's count (checked equal to ours) */
    double train_img_s, infer_img_s;
    double train_median_s, infer_median_s;
} bench_peer_result;

typedef struct bench_peer_run {
    int ran;                  /* 0: skipped (`note` says why) */
    char note[512];
    char torch_version[64];
    int threads;
    bench_peer_result *results;
    int n_results;
} bench_peer_run;

/* Measure `graphs` (all He CIFAR, see bench_peer_supports) at `batches` in
 * PyTorch on the CPU with the training recipe `sgd`, warmup + reps as ours.
 * The peer builds each model, checks that its parameter names, shapes and
 * count equal the graph's (a mismatch is an error), and times it with
 * torch.set_num_threads(cores). Returns 0 when it ran or was skipped in AUTO
 * mode (run->ran says which), non-zero (after printing) on failure. */
int bench_peer_measure(const bench_peer_config *cfg, const sn_graph *const *graphs, int n_graphs,
                       const int *batches, int n_batches, int warmup, int reps,
                       const sn_sgd_options *sgd, int cores, bench_peer_run *run);
void bench_peer_run_free(bench_peer_run *run);
const bench_peer_result *bench_peer_find(const bench_peer_run *run, const char *model, int batch);

#endif
