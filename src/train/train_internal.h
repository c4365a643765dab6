/* Internal helpers of the training area. */
#ifndef SN_TRAIN_INTERNAL_H
#define SN_TRAIN_INTERNAL_H

#include "model/model_internal.h"
#include "sharesnet/train.h"

/* Loader options for evaluation: in order, no augmentation, given stats. */
sn_loader_options sn_eval_loader_options(int batch, int64_t limit, const float *mean,
                                         const float *std);

/* sn_checkpoint_save, but a NaN or an infinity in any tensor is
 * SN_ERR_NUMERIC (naming the tensor) and leaves `path` untouched: the
 * trainer never replaces a good checkpoint with a diverged model. */
sn_status sn_checkpoint_save_finite(sn_model *model, const sn_train_state *state,
                                    const char *path);

/* "<bn layer>.running_mean" / "running_var": the checkpoint's names. */
void sn_checkpoint_bn_names(const sn_layer_spec *l, char *mean, char *var, size_t size);
/* best_checkpoint.c: the test top-1 of out_dir/best.safetensors when the
 * run continues (state->epoch > 0) and best.json says, else -1. */
double sn_best_checkpoint_top1(const char *out_dir, const sn_train_state *state);
/* After out_dir/checkpoint.safetensors was written for epoch r: make it
 * out_dir/best.safetensors (atomically) if its test top-1 beats *best_top1. */
sn_status sn_best_checkpoint_update(sn_model *m, const sn_train_state *state, const char *out_dir,
                                    const sn_epoch_report *r, double *best_top1);

/* sn_evaluate_with_progress over the ranks of `dist` (NULL: this process
 * alone): each evaluates its share of the batches, the sums are reduced,
 * so every rank returns the same figures. Collective. */
sn_status sn_evaluate_shards(sn_model *model, const sn_dataset *data, int64_t limit,
                             const float *mean, const float *std, const sn_train_callbacks *cb,
                             sn_dist *dist, double *loss, double *top1, double *top5,
                             double *images_per_second);

/* trainer_dist.c, each collective: fail on every rank unless all run the
 * same model, data and recipe (naming the setting and the rank); copy rank
 * 0's parameters, momentum and BN statistics to every rank; replace each
 * rank's BN running statistics by their mean over the ranks. */
sn_status sn_dist_train_check(sn_dist *d, const sn_model *m, const sn_dataset *train,
                              const sn_dataset *test, const sn_train_config *c,
                              const sn_train_state *s);
sn_status sn_dist_start_from_root(sn_dist *d, sn_model *m);
sn_status sn_dist_average_bn(sn_dist *d, sn_model *m);

#endif
