/* sharesnet — training: learning-rate schedules, the trainer loop,
 * evaluation, and checkpoints (safetensors) of a model on a device.
 *
 * The trainer never prints: it reports through callbacks, and writes only
 * the files asked for (checkpoints and a JSON-lines log in `out_dir`).
 */
#ifndef SHARESNET_TRAIN_H
#define SHARESNET_TRAIN_H

#include <stdint.h>

#include "sharesnet/data.h"
#include "sharesnet/dist.h"
#include "sharesnet/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- learning-rate schedules ------------------------------------------- */

typedef enum sn_lr_kind {
    SN_LR_MULTISTEP, /* lr * gamma^(milestones passed) — the papers' recipe */
    SN_LR_COSINE,    /* 0.5 * lr * (1 + cos(pi * t / T))                   */
    SN_LR_CONSTANT
} sn_lr_kind;

#define SN_MAX_MILESTONES 8

typedef struct sn_lr_schedule {
    sn_lr_kind kind;
    double base_lr;
    double milestones[SN_MAX_MILESTONES]; /* in epochs, increasing */
    int n_milestones;
    double gamma;                         /* multistep factor, e.g. 0.1 */
    double warmup_epochs;                 /* linear warm-up from 0; 0 = none */
    double total_epochs;                  /* cosine period */
} sn_lr_schedule;

/* Learning rate at fractional epoch t (t = epoch + batch / batches). */
SN_API double sn_lr_at(const sn_lr_schedule *s, double t);

/* ---- trainer -------------------------------------------------------------- */

typedef struct sn_train_config {
    int epochs;
    int batch;              /* micro-batch size (what fits on the device) */
    int accum;              /* micro-batches per optimizer step (>= 1); BN still
                               uses each micro-batch's own statistics (see
                               docs/ARCHITECTURE.md), unless freeze_bn */
    sn_lr_schedule lr;
    double momentum, weight_decay;
    int nesterov;
    uint64_t seed;          /* weights init, data order, augmentation */
    int64_t limit_train;    /* first N training examples; <= 0: all */
    int64_t limit_test;     /* first N test examples; <= 0: all; < 0 skips eval */
    int crop_padding;       /* random crop padding (0: off) */
    int flip;               /* random horizontal flip */
    int eval_every;         /* evaluate every K epochs (>= 1) */
    int freeze_bn;          /* 1: batch norm uses (and keeps) its running
                               statistics in training, see sn_model_set_frozen_bn;
                               the model's setting is restored afterwards */
    const char *out_dir;    /* checkpoints + log.jsonl; NULL: write nothing */
    /* Data-parallel training (see sharesnet/dist.h): every rank calls
     * sn_train with the same configuration; rank r trains the micro-batches
     * r*accum .. r*accum+accum-1 of each step's size*accum, the gradients
     * are summed across ranks, and only rank 0 writes out_dir. NULL: this
     * process alone. */
    sn_dist *dist;
    size_t bucket_bytes;    /* gradient all-reduce bucket; 0: sn_dist_default_bucket_bytes */
} sn_train_config;

/* The recipe of the papers (SGD 0.9 Nesterov, lr 0.1, weight decay 5e-4,
 * batch 128, milestones at 50% and 75% of the epochs, crop 4 + flip). */
SN_API void sn_train_config_default(sn_train_config *c, int epochs);

/* Check the hyper-parameters of a configuration alone (no model or data):
 * epochs, batch, accum, eval_every positive; lr, gamma, warm-up, milestones
 * and weight decay finite (lr and gamma > 0, the others >= 0); momentum in
 * [0, 1) (at 1 or more the momentum buffer grows without bound). sn_train
 * calls it; front ends call it to refuse a run before loading anything.
 * Errors: SN_ERR_INVALID_ARG naming the field and its value. */
SN_API sn_status sn_train_config_check(const sn_train_config *config);

/* Progress of the current step (called after every optimizer step). */
typedef struct sn_train_progress {
    int epoch, epochs;
    int64_t step_in_epoch, steps_per_epoch;
    int64_t global_step;
    double lr;
    double loss;            /* mean loss of the last step */
    double accuracy;        /* running top-1 accuracy of this epoch */
    double images_per_second;
    double elapsed_seconds; /* of this epoch */
} sn_train_progress;

/* Summary of one epoch (also written to log.jsonl). */
typedef struct sn_epoch_report {
    int epoch;              /* 1-based, finished epochs */
    int64_t global_step;
    double lr;
    double train_loss, train_top1;            /* top1 as a fraction */
    double test_loss, test_top1, test_top5;   /* NaN when not evaluated */
    int evaluated;
    double train_images_per_second, eval_images_per_second;
    double data_wait_fraction;                /* share of step time waiting for data */
    double epoch_seconds;
    size_t peak_device_bytes;
    /* Data-parallel runs: ranks (1 alone); bytes each rank all-reduces per
     * step (the gradient arena); the seconds one all-reduce of them takes
     * with nothing else running (measured at the start); over the epoch,
     * the seconds of the gradient all-reduces (each bucket's, from its
     * start until done, waiting for slower ranks included), the share of
     * them that ran while this rank's backward still ran, and the seconds
     * steps waited for the sums after backward (communication not hidden,
     * and slower ranks). */
    int ranks;
    size_t allreduce_bytes;
    int allreduce_buckets;
    double allreduce_alone_seconds;
    double comm_seconds, comm_overlap, comm_wait_seconds;
} sn_epoch_report;

typedef struct sn_train_callbacks {
    void (*progress)(const sn_train_progress *p, void *user);
    void (*epoch)(const sn_epoch_report *r, void *user);
    void *user;
    /* During an evaluation, before the first batch (done = 0) and after
     * every batch: `done` of `total` examples
     * (an evaluation of a large test split takes a while). May be NULL;
     * last so that initialisers of the first three fields still compile. */
    void (*evaluating)(int64_t done, int64_t total, void *user);
} sn_train_callbacks;

/* Where a run stands: saved with every checkpoint, restored on resume. */
typedef struct sn_train_state {
    int epoch;              /* epochs finished */
    int64_t global_step;    /* optimizer steps taken */
    float mean[SN_DATA_MAX_CHANNELS], std[SN_DATA_MAX_CHANNELS]; /* normalisation */
    int channels;
    uint64_t seed;          /* the run's data order / augmentation seed (set by
                               sn_train); a resumed run needs it to see the data
                               an uninterrupted one would; 0 if unrecorded */
    char class_names[16384]; /* newline-separated, for predictions; may be "" */
    char log_line[1024];     /* log.jsonl line of the epoch `epoch`, kept in the
                                checkpoint: resuming restores it when a kill
                                between checkpoint and log append lost it */
} sn_train_state;

/* Train `model` on `train` (evaluating on `test`, which may be NULL) for
 * config->epochs epochs, starting from `state` (zeroed for a new run, or as
 * loaded by sn_checkpoint_load to resume). After every epoch the checkpoint
 * out_dir/checkpoint.safetensors is replaced atomically, then the epoch's
 * line is appended to out_dir/log.jsonl; the checkpoint of the epoch with
 * the best test top-1 so far is kept as out_dir/best.safetensors (its epoch
 * and top-1 in out_dir/best.json), atomically too. On start, temporary
 * files of interrupted checkpoint writes are removed and, when resuming,
 * the log is made to match `state`: lines past its epoch are dropped, its
 * own line restored if lost.
 * Divergence stops training with SN_ERR_NUMERIC and leaves the last
 * checkpoint intact: a NaN or infinite training loss, a non-finite test
 * loss, or a non-finite parameter, running statistic or momentum value.
 * `last` (may be NULL) receives the last epoch's report. */
SN_API sn_status sn_train(sn_model *model, const sn_dataset *train, const sn_dataset *test,
                   const sn_train_config *config, sn_train_state *state,
                   const sn_train_callbacks *callbacks, sn_epoch_report *last);

/* Evaluate on the first `limit` examples of `data` (<= 0: all) with the
 * given normalisation: mean loss, top-1 and top-5 accuracy (fractions). */
SN_API sn_status sn_evaluate(sn_model *model, const sn_dataset *data, int64_t limit, const float *mean,
                      const float *std, double *loss, double *top1, double *top5,
                      double *images_per_second);
/* sn_evaluate, reporting progress through callbacks->evaluating (callbacks
 * or the function may be NULL). */
SN_API sn_status sn_evaluate_with_progress(sn_model *model, const sn_dataset *data, int64_t limit,
                                           const float *mean, const float *std,
                                           const sn_train_callbacks *callbacks, double *loss,
                                           double *top1, double *top5,
                                           double *images_per_second);

/* ---- checkpoints (safetensors) ------------------------------------------- */

/* What a checkpoint says about its model, enough to rebuild the graph. */
typedef struct sn_checkpoint_info {
    char model[64];
    sn_graph_options graph; /* classes, in_channels, size, policy, shortcut, stem */
    sn_train_state state;
} sn_checkpoint_info;

/* Write the model's parameters (a shared weight once), BN running
 * statistics, momentum buffers and `state` to `path`, atomically. Tensor
 * names are the graph's parameter names; "<bn layer>.running_mean/var";
 * "optimizer.momentum.<param>". Metadata: model, policy, classes, channels,
 * size, epoch, step, seed, normalisation, class names. */
SN_API sn_status sn_checkpoint_save(sn_model *model, const sn_train_state *state, const char *path);

/* Read only the metadata (to build the right graph before loading). */
SN_API sn_status sn_checkpoint_info_read(const char *path, sn_checkpoint_info *info);

/* Check, without a device, that `path` is a checkpoint of graph `g`: its
 * metadata names g's model, policy, classes and channels, and it holds every
 * tensor of g (momentum buffers too when with_optimizer) as float32 of g's
 * shape with finite values. Call it before sn_model_create: a file whose
 * metadata names a huge model then fails before any memory is allocated.
 * Errors: as sn_checkpoint_load; SN_ERR_NUMERIC names a NaN or infinite
 * value's tensor and index. */
SN_API sn_status sn_checkpoint_check(const char *path, const sn_graph *g, int with_optimizer);

/* Load every tensor of the model from `path`, checking each one's dtype,
 * shape and finiteness first as sn_checkpoint_check does (a mismatch names
 * the tensor; the model is untouched then); momentum buffers too when
 * with_optimizer. `state` (may be NULL) receives the run state.
 * On failure the model may be partially loaded: discard it. */
SN_API sn_status sn_checkpoint_load(sn_model *model, const char *path, int with_optimizer,
                             sn_train_state *state);

#ifdef __cplusplus
}
#endif
#endif
