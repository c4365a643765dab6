/* Reference fused ops, defined as the compositions they replace:
 *   bn + add + relu    y = relu(bn(x) + shortcut); backward: g = relu_backward(dy, y)
 *                      feeds bn_backward and is the shortcut's gradient
 *   bn fold            eval-mode bn(x) = x * scale + shift
 *   conv + affine      y = act(conv(x, w) * scale + shift (+ residual))
 * Their own tests (test_ref_ops.c) check the backward by finite differences
 * and the fold against the plain ops. */
#include "ref_ops.h"

#include <math.h>
#include <stdlib.h>

/* y = max(y + shortcut, 0) in place over n values. */
static void add_relu(double *y, const double *shortcut, size_t n)
{
    ref_add_forward(y, shortcut, n, y);
    ref_relu_forward(y, n, y);
}

/* dsc = g, or dsc += g when accumulate (dsc NULL: nothing). */
static void shortcut_grad(const double *g, size_t n, double *dsc, int accumulate)
{
    if (!dsc)
        return;
    for (size_t i = 0; i < n; i++)
        dsc[i] = accumulate ? dsc[i] + g[i] : g[i];
}

static double *scratch(size_t n)
{
    return malloc((n ? n : 1) * sizeof(double));
}

void ref_bn_add_relu_forward_train(const double *x, const double *shortcut, int N, int C, int H,
                                   int W, const double *gamma, const double *beta, double eps,
                                   double momentum, double *running_mean, double *running_var,
                                   double *y, double *save_mean, double *save_invstd)
{
    ref_bn_forward_train(x, N, C, H, W, gamma, beta, eps, momentum, running_mean, running_var, y,
                         save_mean, save_invstd);
    add_relu(y, shortcut, (size_t)N * C * H * W);
}

void ref_bn_add_relu_forward_eval(const double *x, const double *shortcut, int N, int C, int H,
                                  int W, const double *gamma, const double *beta, double eps,
                                  const double *running_mean, const double *running_var,
                                  double *y)
{
    ref_bn_forward_eval(x, N, C, H, W, gamma, beta, eps, running_mean, running_var, y);
    add_relu(y, shortcut, (size_t)N * C * H * W);
}

int ref_bn_add_relu_backward(const double *dy, const double *y, const double *x, int N, int C,
                             int H, int W, const double *gamma, const double *save_mean,
                             const double *save_invstd, double *dx, double *dshortcut,
                             int accumulate_shortcut, double *dgamma, double *dbeta,
                             int accumulate_params)
{
    const size_t n = (size_t)N * C * H * W;
    double *g = scratch(n);
    if (!g)
        return -1;
    ref_relu_backward(dy, y, n, g);
    ref_bn_backward(g, x, N, C, H, W, gamma, save_mean, save_invstd, dx, dgamma, dbeta,
                    accumulate_params);
    shortcut_grad(g, n, dshortcut, accumulate_shortcut);
    free(g);
    return 0;
}

int ref_bn_add_relu_backward_eval(const double *dy, const double *y, const double *x, int N,
                                  int C, int H, int W, const double *gamma, double eps,
                                  const double *running_mean, const double *running_var,
                                  double *dx, int accumulate_dx, double *dshortcut,
                                  int accumulate_shortcut, double *dgamma, double *dbeta,
                                  int accumulate_params)
{
    const size_t n = (size_t)N * C * H * W;
    double *g = scratch(n);
    if (!g)
        return -1;
    ref_relu_backward(dy, y, n, g);
    ref_bn_backward_eval(g, x, N, C, H, W, gamma, eps, running_mean, running_var, dx,
                         accumulate_dx, dgamma, dbeta, accumulate_params);
    shortcut_grad(g, n, dshortcut, accumulate_shortcut);
    free(g);
    return 0;
}

void ref_bn_fold(const double *gamma, const double *beta, const double *running_mean,
                 const double *running_var, int C, double eps, double *scale, double *shift)
{
    for (int c = 0; c < C; c++) {
        scale[c] = gamma[c] / sqrt(running_var[c] + eps);
        shift[c] = beta[c] - running_mean[c] * scale[c];
    }
}

void ref_conv2d_forward_affine(const double *x, int N, int C, int H, int W, const double *w,
                               int OC, int K, int stride, int pad, const double *scale,
                               const double *shift, const double *residual, int relu, double *y)
{
    ref_conv2d_forward(x, N, C, H, W, w, OC, K, stride, pad, y);
    const size_t plane = (size_t)ref_out_size(H, K, stride, pad) * ref_out_size(W, K, stride, pad);
    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < OC; oc++)
            for (size_t i = 0; i < plane; i++) {
                const size_t k = ((size_t)n * OC + oc) * plane + i;
                double v = y[k];
                if (scale)
                    v = v * scale[oc] + shift[oc];
                if (residual)
                    v += residual[k];
                y[k] = relu && !(v > 0.0) ? 0.0 : v;
            }
}
