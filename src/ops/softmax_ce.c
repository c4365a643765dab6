/* Softmax cross-entropy: per-sample loss and rank on the device, gradient of
 * the logits, and a blocking host summary of the per-sample results.
 *
 * Labels are class indices stored as floats. A label that is not an integer
 * in [0, K) never indexes memory: the kernels mark that sample NaN (loss and
 * rank; its whole gradient row), which the summary then carries into the mean
 * loss and leaves out of the top-1/top-5 counts. Trainers validate labels on
 * the host before they get here. */
#include "ops/op_check.h"

#include <stdlib.h>

/* logits [N,K] (N first, any trailing shape); labels N values. */
static sn_status check_logits(sn_context *ctx, const char *op, const sn_tensor *logits,
                              const sn_tensor *labels, int *N, int *K)
{
    SN_TRY(sn_check_tensor(ctx, op, "logits", logits));
    SN_TRY(sn_check_tensor(ctx, op, "labels", labels));
    *N = logits->shape[0];
    *K = (int)(logits->count / (size_t)*N);
    return sn_check_count(op, "labels", labels, (size_t)*N);
}

/* logits [N,K], labels [N] -> per_sample [N,2] = (loss, rank). */
sn_status sn_softmax_ce_forward(sn_context *ctx, const sn_tensor *logits, const sn_tensor *labels,
                                sn_tensor *per_sample)
{
    static const char op[] = "softmax_ce_forward";
    int N, K;
    SN_TRY(check_logits(ctx, op, logits, labels, &N, &K));
    SN_TRY(sn_check_tensor(ctx, op, "per_sample", per_sample));
    SN_TRY(sn_check_dims(op, "per_sample", per_sample, N, 2, 1, 1));
    size_t global = (size_t)N;
    return SN_ENQUEUE(ctx, "sn_softmax_ce_forward", 1, &global, NULL, SN_ARG_INT(N), SN_ARG_INT(K),
                      SN_ARG_MEM(logits->buffer), SN_ARG_MEM(labels->buffer),
                      SN_ARG_MEM(per_sample->buffer));
}

/* logits, dlogits [N,K], labels [N]. */
sn_status sn_softmax_ce_backward(sn_context *ctx, const sn_tensor *logits,
                                 const sn_tensor *labels, float scale, sn_tensor *dlogits,
                                 int accumulate)
{
    static const char op[] = "softmax_ce_backward";
    int N, K;
    SN_TRY(check_logits(ctx, op, logits, labels, &N, &K));
    SN_TRY(sn_check_tensor(ctx, op, "dlogits", dlogits));
    if (dlogits->shape[0] != N || dlogits->count != logits->count) {
        char sl[64], sd[64];
        return sn_fail(SN_ERR_SHAPE, "%s: dlogits %s does not match logits %s", op,
                       sn_shape_string(dlogits, sd, sizeof sd),
                       sn_shape_string(logits, sl, sizeof sl));
    }
    size_t global = (size_t)N;
    return SN_ENQUEUE(ctx, "sn_softmax_ce_backward", 1, &global, NULL, SN_ARG_INT(N),
                      SN_ARG_INT(K), SN_ARG_FLOAT(scale), SN_ARG_INT(accumulate ? 1 : 0),
                      SN_ARG_MEM(logits->buffer), SN_ARG_MEM(labels->buffer),
                      SN_ARG_MEM(dlogits->buffer));
}

/* per_sample [N,2] -> mean loss (double), top-1 and top-5 hit counts. Any
 * output pointer may be NULL. */
sn_status sn_softmax_ce_summary(sn_context *ctx, const sn_tensor *per_sample, double *mean_loss,
                                int *top1, int *top5)
{
    static const char op[] = "softmax_ce_summary";
    SN_TRY(sn_check_tensor(ctx, op, "per_sample", per_sample));
    const int N = per_sample->shape[0];
    SN_TRY(sn_check_dims(op, "per_sample", per_sample, N, 2, 1, 1));
    float *host = malloc(per_sample->count * sizeof *host);
    if (!host)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "%s: out of host memory for %zu values", op,
                       per_sample->count);
    sn_status st = sn_tensor_download(per_sample, host, per_sample->count);
    if (st != SN_OK) {
        free(host);
        return sn_fail_context(st, "%s", op);
    }
    double total = 0.0;
    int hits1 = 0, hits5 = 0;
    for (int n = 0; n < N; n++) {
        const float rank = host[2 * n + 1];
        total += host[2 * n];
        hits1 += rank == 0.0f;
        hits5 += rank < 5.0f;
    }
    free(host);
    if (mean_loss)
        *mean_loss = total / N;
    if (top1)
        *top1 = hits1;
    if (top5)
        *top5 = hits5;
    return SN_OK;
}
