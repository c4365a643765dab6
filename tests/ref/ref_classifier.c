/* Reference classifier head: fully connected layer and softmax cross-entropy. */
#include "ref_ops.h"

#include <math.h>

/* x [N,IN], w [OUT,IN], b [OUT] -> y [N,OUT] = x w^T + b. */
void ref_linear_forward(const double *x, int N, int IN, const double *w,
                        const double *b, int OUT, double *y)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) {
            double sum = b[o];
            for (int i = 0; i < IN; i++)
                sum += x[(size_t)n * IN + i] * w[(size_t)o * IN + i];
            y[(size_t)n * OUT + o] = sum;
        }
}

/* dy [N,OUT], x [N,IN], w [OUT,IN] ->
 *   dx [N,IN]  = dy w          (overwritten)
 *   dw [OUT,IN] = dy^T x       (+= when accumulate)
 *   db [OUT]   = sum_n dy      (+= when accumulate) */
void ref_linear_backward(const double *dy, const double *x, int N, int IN,
                         const double *w, int OUT, double *dx, double *dw,
                         double *db, int accumulate)
{
    for (int n = 0; n < N; n++)
        for (int i = 0; i < IN; i++) {
            double sum = 0.0;
            for (int o = 0; o < OUT; o++)
                sum += dy[(size_t)n * OUT + o] * w[(size_t)o * IN + i];
            dx[(size_t)n * IN + i] = sum;
        }

    for (int o = 0; o < OUT; o++) {
        for (int i = 0; i < IN; i++) {
            double sum = 0.0;
            for (int n = 0; n < N; n++)
                sum += dy[(size_t)n * OUT + o] * x[(size_t)n * IN + i];
            double *out = &dw[(size_t)o * IN + i];
            *out = accumulate ? *out + sum : sum;
        }
        double sum = 0.0;
        for (int n = 0; n < N; n++)
            sum += dy[(size_t)n * OUT + o];
        db[o] = accumulate ? db[o] + sum : sum;
    }
}

/* log(sum_k exp(row[k])), shifted by the max so exp never overflows. */
static double log_sum_exp(const double *row, int K)
{
    double max = row[0];
    for (int k = 1; k < K; k++)
        if (row[k] > max)
            max = row[k];
    double sum = 0.0;
    for (int k = 0; k < K; k++)
        sum += exp(row[k] - max);
    return max + log(sum);
}

/* logits [N,K], labels [N] -> loss (mean over N), top1/top5 (counts).
 * Any of loss, top1, top5 may be NULL when the caller does not want it. */
void ref_softmax_ce_forward(const double *logits, const int *labels, int N,
                            int K, double *loss, int *top1, int *top5)
{
    double total = 0.0;
    int hits1 = 0, hits5 = 0;

    for (int n = 0; n < N; n++) {
        const double *row = logits + (size_t)n * K;
        const double target = row[labels[n]];
        total += log_sum_exp(row, K) - target;

        int rank = 0;                 /* classes strictly above the label */
        for (int k = 0; k < K; k++)
            if (row[k] > target)
                rank++;
        hits1 += rank == 0;
        hits5 += rank < 5;
    }
    if (loss)
        *loss = total / N;
    if (top1)
        *top1 = hits1;
    if (top5)
        *top5 = hits5;
}

/* logits [N,K], labels [N] -> dlogits [N,K] = (softmax - onehot) / N. */
void ref_softmax_ce_backward(const double *logits, const int *labels, int N,
                             int K, double *dlogits)
{
    for (int n = 0; n < N; n++) {
        const double *row = logits + (size_t)n * K;
        const double lse = log_sum_exp(row, K);
        for (int k = 0; k < K; k++) {
            const double p = exp(row[k] - lse);
            const double onehot = k == labels[n] ? 1.0 : 0.0;
            dlogits[(size_t)n * K + k] = (p - onehot) / N;
        }
    }
}
