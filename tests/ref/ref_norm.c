/* Reference batch normalisation over (N, H, W) per channel: training forward
 * (batch statistics), eval forward (running statistics), the backward of
 * the training forward and that of the eval forward (frozen batch norm).
 * M = N*H*W values per channel. */
#include "ref_ops.h"

#include <math.h>

/* Element (n, c, i) of an [N,C,H*W] tensor, HW = H*W. */
static size_t at(int n, int c, int i, int C, int HW)
{
    return ((size_t)n * C + c) * HW + i;
}

/* x [N,C,H,W], gamma/beta [C] -> y [N,C,H,W]; save_mean/save_invstd [C];
 * running_mean/running_var [C] updated in place (PyTorch momentum rule). */
void ref_bn_forward_train(const double *x, int N, int C, int H, int W,
                          const double *gamma, const double *beta, double eps,
                          double momentum, double *running_mean,
                          double *running_var, double *y, double *save_mean,
                          double *save_invstd)
{
    const int HW = H * W;
    const double M = (double)N * HW;

    for (int c = 0; c < C; c++) {
        double sum = 0.0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++)
                sum += x[at(n, c, i, C, HW)];
        const double mean = sum / M;

        double sq = 0.0;                      /* two-pass: exact, no cancellation */
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                const double d = x[at(n, c, i, C, HW)] - mean;
                sq += d * d;
            }
        const double var = sq / M;            /* biased: used to normalise */
        const double invstd = 1.0 / sqrt(var + eps);

        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                const size_t k = at(n, c, i, C, HW);
                y[k] = gamma[c] * (x[k] - mean) * invstd + beta[c];
            }

        save_mean[c] = mean;
        save_invstd[c] = invstd;
        /* Unbiased variance for the running estimate. M = 1 is undefined
         * (PyTorch refuses it); keep the biased value (0) rather than NaN. */
        const double unbiased = M > 1.0 ? sq / (M - 1.0) : var;
        running_mean[c] = (1.0 - momentum) * running_mean[c] + momentum * mean;
        running_var[c] = (1.0 - momentum) * running_var[c] + momentum * unbiased;
    }
}

/* x [N,C,H,W], gamma/beta/running_mean/running_var [C] -> y [N,C,H,W]. */
void ref_bn_forward_eval(const double *x, int N, int C, int H, int W,
                         const double *gamma, const double *beta, double eps,
                         const double *running_mean, const double *running_var,
                         double *y)
{
    const int HW = H * W;

    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            const double invstd = 1.0 / sqrt(running_var[c] + eps);
            for (int i = 0; i < HW; i++) {
                const size_t k = at(n, c, i, C, HW);
                y[k] = gamma[c] * (x[k] - running_mean[c]) * invstd + beta[c];
            }
        }
}

/* dy, x [N,C,H,W], gamma/save_mean/save_invstd [C] -> dx [N,C,H,W]
 * (overwritten), dgamma/dbeta [C] (+= when accumulate).
 * With xhat = (x - mean) * invstd and y = gamma * xhat + beta:
 *   dbeta  = sum dy
 *   dgamma = sum dy * xhat
 *   dx     = gamma * invstd / M * (M * dy - dbeta - xhat * dgamma)
 * (the last two terms are the gradient through the batch mean and variance). */
void ref_bn_backward(const double *dy, const double *x, int N, int C, int H,
                     int W, const double *gamma, const double *save_mean,
                     const double *save_invstd, double *dx, double *dgamma,
                     double *dbeta, int accumulate)
{
    const int HW = H * W;
    const double M = (double)N * HW;

    for (int c = 0; c < C; c++) {
        const double mean = save_mean[c], invstd = save_invstd[c];

        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                const size_t k = at(n, c, i, C, HW);
                sum_dy += dy[k];
                sum_dy_xhat += dy[k] * (x[k] - mean) * invstd;
            }

        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                const size_t k = at(n, c, i, C, HW);
                const double xhat = (x[k] - mean) * invstd;
                dx[k] = gamma[c] * invstd / M
                      * (M * dy[k] - sum_dy - xhat * sum_dy_xhat);
            }

        dgamma[c] = accumulate ? dgamma[c] + sum_dy_xhat : sum_dy_xhat;
        dbeta[c] = accumulate ? dbeta[c] + sum_dy : sum_dy;
    }
}

/* dy, x [N,C,H,W], gamma/running_mean/running_var [C] -> dx [N,C,H,W],
 * dgamma/dbeta [C]. y = gamma * xhat + beta with xhat = (x - running_mean)
 * * invstd and invstd fixed, so dx = gamma * invstd * dy (no term through
 * the statistics). */
void ref_bn_backward_eval(const double *dy, const double *x, int N, int C, int H,
                          int W, const double *gamma, double eps,
                          const double *running_mean, const double *running_var,
                          double *dx, int accumulate_dx, double *dgamma,
                          double *dbeta, int accumulate_params)
{
    const int HW = H * W;

    for (int c = 0; c < C; c++) {
        const double invstd = 1.0 / sqrt(running_var[c] + eps);
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                const size_t k = at(n, c, i, C, HW);
                sum_dy += dy[k];
                sum_dy_xhat += dy[k] * (x[k] - running_mean[c]) * invstd;
                const double v = gamma[c] * invstd * dy[k];
                dx[k] = accumulate_dx ? dx[k] + v : v;
            }
        dgamma[c] = accumulate_params ? dgamma[c] + sum_dy_xhat : sum_dy_xhat;
        dbeta[c] = accumulate_params ? dbeta[c] + sum_dy : sum_dy;
    }
}
