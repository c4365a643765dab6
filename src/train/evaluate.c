/* Evaluation: forward in eval mode over a split, loss and top-1/top-5. */
#include "train/train_internal.h"
#include "dist/dist_internal.h"

#include <math.h>
#include <string.h>

sn_loader_options sn_eval_loader_options(int batch, int64_t limit, const float *mean,
                                         const float *std)
{
    sn_loader_options o = sn_loader_options_default();
    o.batch_size = batch;
    o.shuffle = 0;
    o.drop_last = 0;
    o.crop_padding = 0;
    o.flip = 0;
    o.max_examples = limit;
    o.normalization = SN_NORM_GIVEN;
    memcpy(o.mean, mean, sizeof o.mean);
    memcpy(o.std, std, sizeof o.std);
    return o;
}

sn_status sn_evaluate(sn_model *model, const sn_dataset *data, int64_t limit, const float *mean,
                      const float *std, double *loss, double *top1, double *top5,
                      double *images_per_second)
{
    return sn_evaluate_with_progress(model, data, limit, mean, std, NULL, loss, top1, top5,
                                     images_per_second);
}

sn_status sn_evaluate_with_progress(sn_model *model, const sn_dataset *data, int64_t limit,
                                    const float *mean, const float *std,
                                    const sn_train_callbacks *cb, double *loss, double *top1,
                                    double *top5, double *images_per_second)
{
    return sn_evaluate_shards(model, data, limit, mean, std, cb, NULL, loss, top1, top5,
                              images_per_second);
}

sn_status sn_evaluate_shards(sn_model *model, const sn_dataset *data, int64_t limit,
                             const float *mean, const float *std, const sn_train_callbacks *cb,
                             sn_dist *dist, double *loss, double *top1, double *top5,
                             double *images_per_second)
{
    sn_loader_options o = sn_eval_loader_options(sn_model_batch_capacity(model), limit, mean, std);
    /* Each rank evaluates every size-th batch; the sums say the rest. */
    const int ranks = sn_dist_size(dist);
    o.shard_count = ranks;
    o.shard_index = sn_dist_rank(dist);
    o.shard_block = 1;
    sn_loader *loader;
    SN_TRY(sn_loader_create(&loader, data, &o));
    sn_status st = sn_loader_start_epoch(loader, 0, 0);
    double loss_sum = 0, start = sn_now();
    int64_t n = 0, c1 = 0, c5 = 0, total = sn_loader_examples_per_epoch(loader);
    /* Before the first batch too: it may be slow (kernels for a new batch size). */
    if (st == SN_OK && cb && cb->evaluating)
        cb->evaluating(0, total, cb->user);
    while (st == SN_OK) {
        const sn_batch *b;
        if ((st = sn_loader_next(loader, &b)) != SN_OK || !b)
            break;
        double l;
        int t1, t5;
        if ((st = sn_model_set_batch(model, b->images, b->labels, b->count)) != SN_OK ||
            (st = sn_model_forward(model, 0)) != SN_OK ||
            (st = sn_model_metrics(model, &l, &t1, &t5)) != SN_OK)
            break;
        loss_sum += l * b->count;
        c1 += t1;
        c5 += t5;
        n += b->count;
        if (cb && cb->evaluating) /* the other ranks are about as far */
            cb->evaluating(n * ranks < total ? n * ranks : total, total, cb->user);
    }
    sn_loader_destroy(loader);
    if (st != SN_OK)
        return sn_fail_context(st, "evaluation");
    if (dist) {
        double sums[4] = {loss_sum, (double)c1, (double)c5, (double)n};
        SN_TRY(sn_dist_sum_doubles(dist, sums, 4));
        loss_sum = sums[0];
        c1 = (int64_t)sums[1];
        c5 = (int64_t)sums[2];
        n = (int64_t)sums[3];
    }
    if (n == 0)
        return sn_fail(SN_ERR_INVALID_ARG, "evaluation: the split has no examples");
    *loss = loss_sum / (double)n;
    *top1 = (double)c1 / (double)n;
    *top5 = (double)c5 / (double)n;
    if (images_per_second)
        *images_per_second = (double)n / (sn_now() - start);
    return SN_OK;
}
