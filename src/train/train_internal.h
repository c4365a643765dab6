/* Internal helpers of the training area. */
#ifndef SN_TRAIN_INTERNAL_H
#define SN_TRAIN_INTERNAL_H

#include "model/model_internal.h"
#include "sharesnet/train.h"

/* Loader options for evaluation: in order, no augmentation, given stats. */
sn_loader_options sn_eval_loader_options(int batch, int64_t limit, const float *mean,
                                         const float *std);

#endif
