/* The convolution auto-tuner: which algorithm (ops/conv_algo.h) runs each
 * pass of each convolution shape on a device.
 *
 * sn_conv_choose() decides, in this order:
 *   1. an algorithm forced for this context (sn_conv_force_algo: the
 *      tuner itself, tests, benchmarks);
 *   2. the context's conv_algo option (sn_context_options.conv_algo, else
 *      SN_CONV_ALGO as it was when the context was created): gemm, direct,
 *      winograd or clblast forces it; an unknown name fails context creation;
 *   3. the context's tune option 0 (or SN_TUNE=0 at its creation): the
 *      device-class default (no timing, no file);
 *   4. a decision remembered in this process, else one read from the
 *      tuning file, else (tune 1: SN_TUNE=1, or unset on GPUs and
 *      accelerators) one measured now (for the context's largest model
 *      batch when the call's batch is smaller, so a partial last batch or a
 *      smaller eval batch never retunes): every supported algorithm runs
 *      on scratch tensors of the shape (random data; one warm-up, then the
 *      median of 3 runs, the queue drained around each) and the fastest
 *      wins. Measured decisions are written to the tuning file. Tune 2
 *      (unset SN_TUNE on CPUs, whose defaults are good untimed) never
 *      measures: the device-class default where nothing is stored.
 *      sn_model_prepare makes these decisions before a model's first step.
 * A shape only one algorithm supports is decided without timing. A tuning
 * failure (out of memory on a big shape, a kernel error) never fails the
 * op: the default is used and remembered for the process.
 *
 * Decisions are remembered per device (platform, device, driver, kernel
 * source and build options: the program cache's key) for the whole
 * process, under a lock, so every context on a device shares them.
 *
 * The tuning file sits next to the program cache (sn_cache_dir: SN_CACHE_DIR,
 * XDG_CACHE_HOME/sharesnet or ~/.cache/sharesnet; none when SN_CACHE=0) and
 * has the program binary's name with ".tune" instead of ".bin". Text:
 *   # sharesnet conv tuning v3 | platform=... | ... | source=<hash> | options=...
 *   # pass N C H W OC K stride pad chosen ms(gemm) ms(direct) ms(winograd) ms(clblast) check
 *   forward 128 16 32 32 16 3 1 1 direct 41.203 12.877 14.020 39.118 5c1e09aa
 * with one time per algorithm ("-": not measured, e.g. unsupported). The
 * first line must equal this device's key and the format version exactly,
 * so another device, driver, kernel source or a file of an older format
 * (fewer times per line) is never used (a kernel change retunes).
 * Each decision line ends with a checksum of the rest of it; a line that is
 * malformed, truncated, fails its checksum or names an algorithm that no
 * longer supports the shape is ignored. Writes merge with the file's valid
 * lines (decisions of a concurrent process), go to a temp file and are
 * renamed into place.
 *
 * Correctness does not depend on the choice: every algorithm passes the
 * same op tests against the double reference. Algorithms sum in different
 * orders, so results may differ in the last bits between them (and so
 * between machines or tuning runs). For bitwise reproducible runs fix the
 * algorithm with SN_CONV_ALGO, or use SN_TUNE=0 (the device default).
 */
#ifndef SN_CONV_TUNE_H
#define SN_CONV_TUNE_H

#include <stddef.h>

#include "ops/conv_algo.h"

/* One convolution: x [N,C,H,W], w [OC,C,K,K], stride, pad. */
typedef struct sn_conv_shape {
    int N, C, H, W, OC, K, stride, pad;
} sn_conv_shape;

/* Where a decision came from. */
typedef enum sn_conv_tune_source {
    SN_TUNE_SOURCE_DEFAULT, /* device-class default (SN_TUNE=0, or tuning failed) */
    SN_TUNE_SOURCE_ONLY,    /* the only algorithm supporting the shape */
    SN_TUNE_SOURCE_FILE,    /* read from the tuning file */
    SN_TUNE_SOURCE_TIMED    /* measured in this process */
} sn_conv_tune_source;

typedef struct sn_conv_tune_result {
    sn_conv_pass pass;
    sn_conv_shape shape;
    sn_conv_algo algo;                /* the choice */
    sn_conv_tune_source source;
    int supported[SN_CONV_ALGO_COUNT];
    double ms[SN_CONV_ALGO_COUNT];    /* median milliseconds; < 0: not measured
                                         (unsupported, failed, or not timed) */
} sn_conv_tune_result;

/* Decide pass and shape now, as sn_conv_choose() does from step 4, but
 * ignoring SN_CONV_ALGO and SN_TUNE, timing even a single candidate, and
 * (retime != 0) measuring again instead of using a remembered or stored
 * decision. Fills *out. A measurement failure still records the default
 * (out->source DEFAULT) and returns the failure with its message; a tuning
 * file that cannot be written is SN_ERR_IO (the choice is remembered). */
sn_status sn_conv_tune(sn_context *ctx, sn_conv_pass pass, const sn_conv_shape *shape,
                       int retime, sn_conv_tune_result *out);

/* 1 when sn_conv_choose would time the candidates of pass and shape now
 * (nothing forces an algorithm, the context times, nothing decides the
 * shape yet): for sn_model_prepare, which announces and does that first. */
int sn_conv_tune_pending(sn_context *ctx, sn_conv_pass pass, const sn_conv_shape *shape);

/* Force `algo` for ctx's conv ops (-1: stop forcing); returns the
 * previously forced algorithm (-1 if none), to restore it. An algorithm
 * that does not support a shape falls back to GEMM. */
int sn_conv_force_algo(sn_context *ctx, int algo);

/* The algorithm used without tuning: a per device class and pass table,
 * GEMM where the table's choice does not support the shape. */
sn_conv_algo sn_conv_default_algo(sn_context *ctx, sn_conv_pass pass, const sn_conv_shape *shape);

/* Path of ctx's tuning file, "" when caching is off. */
void sn_conv_tune_path(sn_context *ctx, char *path, size_t size);
/* Header line of ctx's tuning file (its key), without the newline. */
void sn_conv_tune_header(sn_context *ctx, char *line, size_t size);

/* Process-wide counters (tests): (pass, shape) decisions measured, and
 * decisions taken from a tuning file. */
long sn_conv_tune_timings(void);
long sn_conv_tune_file_hits(void);
/* Drop every remembered decision, as a new process would start. */
void sn_conv_tune_forget(void);

/* "gemm", "direct", "winograd", "clblast"; "forward", "backward_data", "backward_weights". */
const char *sn_conv_algo_name(sn_conv_algo algo);
const char *sn_conv_pass_name(sn_conv_pass pass);

#endif
