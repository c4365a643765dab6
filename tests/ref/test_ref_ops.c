/* Tests of the double-precision reference (tests/ref/ref_ops.h).
 *
 * Every backward is checked against central finite differences of its own
 * forward through the scalar L = sum(y * r) with random r, on small awkward
 * shapes (batch 1 and 3, odd sizes, stride 2 on odd inputs, 1x1 spatial).
 * Forwards are checked on small hand-computed cases. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref_ops.h"

/* ---------------------------------------------------------------- helpers */

static double *alloc_doubles(size_t n)
{
    double *p = malloc(sizeof(double) * (n ? n : 1));
    cr_assert_not_null(p, "out of memory");
    return p;
}

static double *random_doubles(ref_rng *rng, size_t n, double lo, double hi)
{
    double *p = alloc_doubles(n);
    ref_fill_uniform(rng, p, n, lo, hi);
    return p;
}

static void fill(double *x, size_t n, double v)
{
    for (size_t i = 0; i < n; i++)
        x[i] = v;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void assert_close(const double *got, const double *want, size_t n,
                         double tol, const char *what)
{
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs(got[i] - want[i]) <= tol * (1.0 + fabs(want[i])),
                  "%s[%zu]: got %.15g want %.15g", what, i, got[i], want[i]);
}

/* A scalar loss of the parameters reachable from ctx. */
typedef double (*loss_fn)(void *ctx);

#define FD_EPS 1e-6
#define FD_TOL 1e-6

/* Compares analytic[i] with (L(p_i + eps) - L(p_i - eps)) / (2 eps) for every
 * i. Returns the index of the worst mismatch beyond FD_TOL*(1+|numeric|),
 * or -1; msg describes it. p is restored. */
static long gradient_mismatch(loss_fn loss, void *ctx, double *p, size_t n,
                              const double *analytic, char *msg, size_t msg_size)
{
    long worst = -1;
    double worst_excess = 0.0;
    double worst_num = 0.0;

    for (size_t i = 0; i < n; i++) {
        const double saved = p[i];
        p[i] = saved + FD_EPS;
        const double plus = loss(ctx);
        p[i] = saved - FD_EPS;
        const double minus = loss(ctx);
        p[i] = saved;
        const double numeric = (plus - minus) / (2.0 * FD_EPS);
        const double excess = fabs(numeric - analytic[i])
                            - FD_TOL * (1.0 + fabs(numeric));
        if (excess > 0.0 && (worst < 0 || excess > worst_excess)) {
            worst = (long)i;
            worst_excess = excess;
            worst_num = numeric;
        }
    }
    if (worst >= 0)
        snprintf(msg, msg_size, "[%ld] analytic %.12g numeric %.12g", worst,
                 analytic[worst], worst_num);
    else
        snprintf(msg, msg_size, "ok");
    return worst;
}

/* The analytic gradient must agree with finite differences, and must not be
 * trivially zero (which would make the check vacuous). */
static void check_gradient(const char *what, loss_fn loss, void *ctx, double *p,
                           size_t n, const double *analytic)
{
    char msg[256];
    double largest = 0.0;
    for (size_t i = 0; i < n; i++)
        largest = fmax(largest, fabs(analytic[i]));
    cr_assert(largest > 1e-3, "%s: gradient is (almost) zero everywhere", what);
    cr_assert_eq(gradient_mismatch(loss, ctx, p, n, analytic, msg, sizeof msg),
                 -1, "%s: %s", what, msg);
}

/* Runs f into a zero-filled and a NaN-filled buffer: an op that overwrites
 * its output gives the same finite result in both. */
static void assert_overwrites(const char *what, const double *from_zero,
                              const double *from_nan, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cr_assert(isfinite(from_nan[i]), "%s[%zu] kept the poison", what, i);
        cr_assert_eq(from_nan[i], from_zero[i], "%s[%zu] depends on old content",
                     what, i);
    }
}

/* ---------------------------------------------------- finite differences */

struct conv_shape { int N, C, H, W, OC, K, stride, pad; };

struct conv_ctx {
    struct conv_shape s;
    double *x, *w, *y, *r;
    size_t ny;
};

static double conv_loss(void *p)
{
    struct conv_ctx *c = p;
    ref_conv2d_forward(c->x, c->s.N, c->s.C, c->s.H, c->s.W, c->w, c->s.OC,
                       c->s.K, c->s.stride, c->s.pad, c->y);
    return dot(c->y, c->r, c->ny);
}

Test(ref_fd, conv2d_backward_data_and_weights)
{
    const struct conv_shape shapes[] = {
        /* N  C  H  W OC  K  s  p */
        {  1, 3, 5, 7, 5, 3, 2, 1 },   /* stride 2 on odd input */
        {  3, 5, 7, 5, 3, 5, 1, 2 },   /* 5x5 "same" */
        {  1, 3, 5, 5, 5, 1, 2, 0 },   /* strided 1x1 projection */
        {  3, 3, 7, 7, 3, 7, 2, 2 },   /* 7x7 stem-like */
        {  3, 5, 6, 5, 3, 3, 2, 0 },   /* last row/col never read */
        {  1, 5, 1, 1, 3, 1, 1, 0 },   /* 1x1 spatial */
        {  3, 3, 1, 1, 5, 3, 1, 1 },   /* 1x1 spatial, 3x3 kernel, pad 1 */
        {  1, 3, 5, 7, 3, 1, 1, 1 },   /* pad beyond the kernel: zero border */
    };
    ref_rng rng;
    ref_rng_seed(&rng, 11);

    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const struct conv_shape s = shapes[t];
        const int OH = ref_out_size(s.H, s.K, s.stride, s.pad);
        const int OW = ref_out_size(s.W, s.K, s.stride, s.pad);
        const size_t nx = (size_t)s.N * s.C * s.H * s.W;
        const size_t nw = (size_t)s.OC * s.C * s.K * s.K;
        struct conv_ctx c = { .s = s, .ny = (size_t)s.N * s.OC * OH * OW };
        c.x = random_doubles(&rng, nx, -1, 1);
        c.w = random_doubles(&rng, nw, -1, 1);
        c.r = random_doubles(&rng, c.ny, -1, 1);
        c.y = alloc_doubles(c.ny);
        double *dx = alloc_doubles(nx), *dw = alloc_doubles(nw);

        ref_conv2d_backward_data(c.r, s.N, s.C, s.H, s.W, c.w, s.OC, s.K,
                                 s.stride, s.pad, dx);
        ref_conv2d_backward_weights(c.x, s.N, s.C, s.H, s.W, c.r, s.OC, s.K,
                                    s.stride, s.pad, dw, 0);
        char what[96];
        snprintf(what, sizeof what, "conv case %zu dx", t);
        check_gradient(what, conv_loss, &c, c.x, nx, dx);
        snprintf(what, sizeof what, "conv case %zu dw", t);
        check_gradient(what, conv_loss, &c, c.w, nw, dw);

        free(c.x); free(c.w); free(c.r); free(c.y); free(dx); free(dw);
    }
}

struct bn_ctx {
    int N, C, H, W;
    double *x, *gamma, *beta, *y, *r;
    double *running_mean, *running_var, *save_mean, *save_invstd;
};

static double bn_loss(void *p)
{
    struct bn_ctx *b = p;
    ref_bn_forward_train(b->x, b->N, b->C, b->H, b->W, b->gamma, b->beta, 1e-5,
                         0.1, b->running_mean, b->running_var, b->y,
                         b->save_mean, b->save_invstd);
    return dot(b->y, b->r, (size_t)b->N * b->C * b->H * b->W);
}

Test(ref_fd, bn_backward)
{
    const int shapes[][4] = {   /* N, C, H, W */
        { 3, 5, 5, 7 },
        { 1, 3, 5, 5 },
        { 3, 3, 1, 1 },         /* M = 3 values per channel */
        { 2, 1, 1, 2 },         /* M = 4 (M = 2 makes dx ~ 0: xhat = +-1) */
    };
    ref_rng rng;
    ref_rng_seed(&rng, 12);

    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        struct bn_ctx b = { shapes[t][0], shapes[t][1], shapes[t][2], shapes[t][3],
                            0, 0, 0, 0, 0, 0, 0, 0, 0 };
        const size_t n = (size_t)b.N * b.C * b.H * b.W;
        b.x = random_doubles(&rng, n, -2, 2);
        b.r = random_doubles(&rng, n, -1, 1);
        b.gamma = random_doubles(&rng, b.C, 0.5, 1.5);
        b.beta = random_doubles(&rng, b.C, -1, 1);
        b.y = alloc_doubles(n);
        b.running_mean = random_doubles(&rng, b.C, -1, 1);
        b.running_var = random_doubles(&rng, b.C, 0.5, 2);
        b.save_mean = alloc_doubles(b.C);
        b.save_invstd = alloc_doubles(b.C);
        double *dx = alloc_doubles(n);
        double *dgamma = alloc_doubles(b.C), *dbeta = alloc_doubles(b.C);

        bn_loss(&b);     /* fills save_mean / save_invstd at the unperturbed x */
        ref_bn_backward(b.r, b.x, b.N, b.C, b.H, b.W, b.gamma, b.save_mean,
                        b.save_invstd, dx, dgamma, dbeta, 0);
        char what[96];
        snprintf(what, sizeof what, "bn case %zu dx", t);
        check_gradient(what, bn_loss, &b, b.x, n, dx);
        snprintf(what, sizeof what, "bn case %zu dgamma", t);
        check_gradient(what, bn_loss, &b, b.gamma, b.C, dgamma);
        snprintf(what, sizeof what, "bn case %zu dbeta", t);
        check_gradient(what, bn_loss, &b, b.beta, b.C, dbeta);

        free(b.x); free(b.r); free(b.gamma); free(b.beta); free(b.y);
        free(b.running_mean); free(b.running_var); free(b.save_mean);
        free(b.save_invstd); free(dx); free(dgamma); free(dbeta);
    }
}

/* Eval-mode (frozen) batch norm: the running statistics are constants of
 * the forward, so its backward has no term through the batch statistics. */
static double bn_eval_loss(void *p)
{
    struct bn_ctx *b = p;
    ref_bn_forward_eval(b->x, b->N, b->C, b->H, b->W, b->gamma, b->beta, 1e-5,
                        b->running_mean, b->running_var, b->y);
    return dot(b->y, b->r, (size_t)b->N * b->C * b->H * b->W);
}

Test(ref_fd, bn_backward_eval)
{
    const int shapes[][4] = {   /* N, C, H, W */
        { 3, 5, 5, 7 },
        { 1, 3, 5, 5 },
        { 1, 2, 1, 1 },         /* one value per channel: fine when frozen */
        { 2, 1, 1, 2 },
    };
    ref_rng rng;
    ref_rng_seed(&rng, 13);

    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        struct bn_ctx b = { shapes[t][0], shapes[t][1], shapes[t][2], shapes[t][3],
                            0, 0, 0, 0, 0, 0, 0, 0, 0 };
        const size_t n = (size_t)b.N * b.C * b.H * b.W;
        b.x = random_doubles(&rng, n, -2, 2);
        b.r = random_doubles(&rng, n, -1, 1);
        b.gamma = random_doubles(&rng, b.C, 0.5, 1.5);
        b.beta = random_doubles(&rng, b.C, -1, 1);
        b.y = alloc_doubles(n);
        b.running_mean = random_doubles(&rng, b.C, -1, 1);
        b.running_var = random_doubles(&rng, b.C, 0.2, 2);
        double *dx = alloc_doubles(n);
        double *dgamma = alloc_doubles(b.C), *dbeta = alloc_doubles(b.C);
        fill(dx, n, NAN);
        fill(dgamma, b.C, NAN);
        fill(dbeta, b.C, NAN);

        ref_bn_backward_eval(b.r, b.x, b.N, b.C, b.H, b.W, b.gamma, 1e-5,
                             b.running_mean, b.running_var, dx, 0, dgamma, dbeta, 0);
        char what[96];
        snprintf(what, sizeof what, "bn eval case %zu dx", t);
        check_gradient(what, bn_eval_loss, &b, b.x, n, dx);
        snprintf(what, sizeof what, "bn eval case %zu dgamma", t);
        check_gradient(what, bn_eval_loss, &b, b.gamma, b.C, dgamma);
        snprintf(what, sizeof what, "bn eval case %zu dbeta", t);
        check_gradient(what, bn_eval_loss, &b, b.beta, b.C, dbeta);

        free(b.x); free(b.r); free(b.gamma); free(b.beta); free(b.y);
        free(b.running_mean); free(b.running_var); free(dx); free(dgamma); free(dbeta);
    }
}

/* Batch norm + residual add + ReLU (ref_fused.c), training and eval mode:
 * every input's gradient, the shortcut's included, against finite
 * differences of the fused forward. */
struct bn_add_ctx {
    struct bn_ctx b;
    double *shortcut;
    int eval;
};

static double bn_add_loss(void *p)
{
    struct bn_add_ctx *a = p;
    struct bn_ctx *b = &a->b;
    if (a->eval)
        ref_bn_add_relu_forward_eval(b->x, a->shortcut, b->N, b->C, b->H, b->W, b->gamma,
                                     b->beta, 1e-5, b->running_mean, b->running_var, b->y);
    else
        ref_bn_add_relu_forward_train(b->x, a->shortcut, b->N, b->C, b->H, b->W, b->gamma,
                                      b->beta, 1e-5, 0.1, b->running_mean, b->running_var, b->y,
                                      b->save_mean, b->save_invstd);
    return dot(b->y, b->r, (size_t)b->N * b->C * b->H * b->W);
}

Test(ref_fd, bn_add_relu_backward)
{
    const int shapes[][4] = {   /* N, C, H, W */
        { 3, 5, 5, 7 },
        { 1, 3, 5, 5 },
        { 3, 3, 1, 1 },
        { 2, 1, 1, 2 },
    };
    ref_rng rng;
    ref_rng_seed(&rng, 14);

    for (int eval = 0; eval < 2; eval++)
        for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
            struct bn_add_ctx a = { { shapes[t][0], shapes[t][1], shapes[t][2], shapes[t][3],
                                      0, 0, 0, 0, 0, 0, 0, 0, 0 }, 0, eval };
            struct bn_ctx *b = &a.b;
            const size_t n = (size_t)b->N * b->C * b->H * b->W;
            b->x = random_doubles(&rng, n, -2, 2);
            b->r = random_doubles(&rng, n, -1, 1);
            b->gamma = random_doubles(&rng, b->C, 0.5, 1.5);
            b->beta = random_doubles(&rng, b->C, -0.5, 1);
            b->y = alloc_doubles(n);
            b->running_mean = random_doubles(&rng, b->C, -1, 1);
            b->running_var = random_doubles(&rng, b->C, 0.5, 2);
            b->save_mean = alloc_doubles(b->C);
            b->save_invstd = alloc_doubles(b->C);
            a.shortcut = random_doubles(&rng, n, -1, 1);
            double *dx = alloc_doubles(n), *dsc = alloc_doubles(n);
            double *dgamma = alloc_doubles(b->C), *dbeta = alloc_doubles(b->C);
            fill(dx, n, NAN);
            fill(dsc, n, NAN);
            fill(dgamma, b->C, NAN);
            fill(dbeta, b->C, NAN);

            bn_add_loss(&a); /* y and the saved statistics at the unperturbed inputs */
            int masked = 0;
            for (size_t i = 0; i < n; i++)
                masked += !(b->y[i] > 0.0);
            cr_assert(masked > 0 || n < 4, "case %zu: the ReLU never cuts", t);
            if (eval)
                cr_assert_eq(ref_bn_add_relu_backward_eval(b->r, b->y, b->x, b->N, b->C, b->H,
                                                           b->W, b->gamma, 1e-5,
                                                           b->running_mean, b->running_var, dx,
                                                           0, dsc, 0, dgamma, dbeta, 0),
                             0);
            else
                cr_assert_eq(ref_bn_add_relu_backward(b->r, b->y, b->x, b->N, b->C, b->H, b->W,
                                                      b->gamma, b->save_mean, b->save_invstd, dx,
                                                      dsc, 0, dgamma, dbeta, 0),
                             0);
            char what[96];
            const char *mode = eval ? "eval" : "train";
            snprintf(what, sizeof what, "bn+add+relu %s case %zu dx", mode, t);
            check_gradient(what, bn_add_loss, &a, b->x, n, dx);
            snprintf(what, sizeof what, "bn+add+relu %s case %zu dshortcut", mode, t);
            check_gradient(what, bn_add_loss, &a, a.shortcut, n, dsc);
            snprintf(what, sizeof what, "bn+add+relu %s case %zu dgamma", mode, t);
            check_gradient(what, bn_add_loss, &a, b->gamma, b->C, dgamma);
            snprintf(what, sizeof what, "bn+add+relu %s case %zu dbeta", mode, t);
            check_gradient(what, bn_add_loss, &a, b->beta, b->C, dbeta);

            free(b->x); free(b->r); free(b->gamma); free(b->beta); free(b->y);
            free(b->running_mean); free(b->running_var); free(b->save_mean);
            free(b->save_invstd); free(a.shortcut); free(dx); free(dsc); free(dgamma);
            free(dbeta);
        }
}

struct eltwise_ctx { double *x, *y, *r; size_t n; };

static double relu_loss(void *p)
{
    struct eltwise_ctx *e = p;
    ref_relu_forward(e->x, e->n, e->y);
    return dot(e->y, e->r, e->n);
}

Test(ref_fd, relu_backward)
{
    ref_rng rng;
    ref_rng_seed(&rng, 13);
    struct eltwise_ctx e = { .n = 3 * 5 * 7 };
    e.x = random_doubles(&rng, e.n, -1, 1);
    for (size_t i = 0; i < e.n; i++)          /* keep away from the kink */
        if (fabs(e.x[i]) < 0.05)
            e.x[i] += e.x[i] < 0 ? -0.1 : 0.1;
    e.r = random_doubles(&rng, e.n, -1, 1);
    e.y = alloc_doubles(e.n);
    double *dx = alloc_doubles(e.n);

    ref_relu_forward(e.x, e.n, e.y);
    ref_relu_backward(e.r, e.y, e.n, dx);
    check_gradient("relu dx", relu_loss, &e, e.x, e.n, dx);
    free(e.x); free(e.r); free(e.y); free(dx);
}

struct shortcut_ctx { int N, C, H, W, OC, stride; double *x, *y, *r; size_t ny; };

static double shortcut_loss(void *p)
{
    struct shortcut_ctx *s = p;
    ref_shortcut_a_forward(s->x, s->N, s->C, s->H, s->W, s->OC, s->stride, s->y);
    return dot(s->y, s->r, s->ny);
}

Test(ref_fd, shortcut_a_backward)
{
    const int shapes[][6] = {    /* N, C, H, W, OC, stride */
        { 3, 3, 5, 7, 8, 2 },    /* odd input, uneven padding channels */
        { 1, 5, 4, 4, 5, 1 },    /* identity */
        { 2, 3, 1, 1, 6, 2 },    /* 1x1 spatial */
        { 1, 3, 6, 5, 6, 2 },
    };
    ref_rng rng;
    ref_rng_seed(&rng, 14);

    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        struct shortcut_ctx s = { shapes[t][0], shapes[t][1], shapes[t][2],
                                  shapes[t][3], shapes[t][4], shapes[t][5],
                                  0, 0, 0, 0 };
        const int OH = (s.H + s.stride - 1) / s.stride;
        const int OW = (s.W + s.stride - 1) / s.stride;
        const size_t nx = (size_t)s.N * s.C * s.H * s.W;
        s.ny = (size_t)s.N * s.OC * OH * OW;
        s.x = random_doubles(&rng, nx, -1, 1);
        s.r = random_doubles(&rng, s.ny, -1, 1);
        s.y = alloc_doubles(s.ny);
        double *dx = alloc_doubles(nx);

        ref_shortcut_a_backward(s.r, s.N, s.C, s.H, s.W, s.OC, s.stride, dx);
        char what[96];
        snprintf(what, sizeof what, "shortcut_a case %zu dx", t);
        check_gradient(what, shortcut_loss, &s, s.x, nx, dx);
        free(s.x); free(s.r); free(s.y); free(dx);
    }
}

struct gap_ctx { int N, C, H, W; double *x, *y, *r; };

static double gap_loss(void *p)
{
    struct gap_ctx *g = p;
    ref_gap_forward(g->x, g->N, g->C, g->H, g->W, g->y);
    return dot(g->y, g->r, (size_t)g->N * g->C);
}

Test(ref_fd, gap_backward)
{
    const int shapes[][4] = { { 3, 5, 5, 7 }, { 1, 3, 1, 1 }, { 1, 3, 8, 8 } };
    ref_rng rng;
    ref_rng_seed(&rng, 15);

    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        struct gap_ctx g = { shapes[t][0], shapes[t][1], shapes[t][2],
                             shapes[t][3], 0, 0, 0 };
        const size_t nx = (size_t)g.N * g.C * g.H * g.W;
        g.x = random_doubles(&rng, nx, -1, 1);
        g.r = random_doubles(&rng, (size_t)g.N * g.C, -1, 1);
        g.y = alloc_doubles((size_t)g.N * g.C);
        double *dx = alloc_doubles(nx);

        ref_gap_backward(g.r, g.N, g.C, g.H, g.W, dx);
        char what[96];
        snprintf(what, sizeof what, "gap case %zu dx", t);
        check_gradient(what, gap_loss, &g, g.x, nx, dx);
        free(g.x); free(g.r); free(g.y); free(dx);
    }
}

struct pool_ctx { int N, C, H, W, K, stride, pad; double *x, *y, *r; int *argmax; size_t ny; };

static double pool_loss(void *p)
{
    struct pool_ctx *q = p;
    ref_maxpool_forward(q->x, q->N, q->C, q->H, q->W, q->K, q->stride, q->pad,
                        q->y, q->argmax);
    return dot(q->y, q->r, q->ny);
}

/* x [n] <- a random permutation of n evenly spaced values in (-1, 1): no ties,
 * and no two values closer than 2/n, far more than the FD step. */
static void fill_distinct(ref_rng *rng, double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = -1.0 + 2.0 * ((double)i + 0.5) / (double)n;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)ref_rng_uniform(rng, 0, (double)(i + 1));
        if (j > i)
            j = i;
        const double tmp = x[i];
        x[i] = x[j];
        x[j] = tmp;
    }
}

Test(ref_fd, maxpool_backward)
{
    const int shapes[][7] = {     /* N, C, H, W, K, stride, pad */
        { 1, 3, 5, 7, 3, 2, 1 },  /* ResNet stem pool on odd input */
        { 3, 5, 7, 5, 2, 2, 0 },  /* floor drops the last row/col */
        { 1, 3, 5, 5, 3, 1, 1 },  /* overlapping windows share winners */
        { 3, 3, 1, 1, 1, 1, 0 },  /* 1x1 spatial */
        { 1, 3, 7, 7, 5, 2, 2 },
    };
    ref_rng rng;
    ref_rng_seed(&rng, 16);

    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const int *d = shapes[t];
        struct pool_ctx q = { d[0], d[1], d[2], d[3], d[4], d[5], d[6],
                              0, 0, 0, 0, 0 };
        const int OH = ref_out_size(q.H, q.K, q.stride, q.pad);
        const int OW = ref_out_size(q.W, q.K, q.stride, q.pad);
        const size_t nx = (size_t)q.N * q.C * q.H * q.W;
        q.ny = (size_t)q.N * q.C * OH * OW;
        q.x = alloc_doubles(nx);
        fill_distinct(&rng, q.x, nx);
        q.r = random_doubles(&rng, q.ny, -1, 1);
        q.y = alloc_doubles(q.ny);
        q.argmax = malloc(sizeof(int) * q.ny);
        cr_assert_not_null(q.argmax);
        double *dx = alloc_doubles(nx);

        pool_loss(&q);
        ref_maxpool_backward(q.r, q.argmax, q.N, q.C, q.H, q.W, q.K, q.stride,
                             q.pad, dx);
        char what[96];
        snprintf(what, sizeof what, "maxpool case %zu dx", t);
        check_gradient(what, pool_loss, &q, q.x, nx, dx);
        free(q.x); free(q.r); free(q.y); free(q.argmax); free(dx);
    }
}

struct linear_ctx { int N, IN, OUT; double *x, *w, *b, *y, *r; };

static double linear_loss(void *p)
{
    struct linear_ctx *l = p;
    ref_linear_forward(l->x, l->N, l->IN, l->w, l->b, l->OUT, l->y);
    return dot(l->y, l->r, (size_t)l->N * l->OUT);
}

Test(ref_fd, linear_backward)
{
    const int shapes[][3] = { { 1, 5, 3 }, { 3, 7, 10 }, { 3, 1, 1 } };
    ref_rng rng;
    ref_rng_seed(&rng, 17);

    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        struct linear_ctx l = { shapes[t][0], shapes[t][1], shapes[t][2],
                                0, 0, 0, 0, 0 };
        const size_t nx = (size_t)l.N * l.IN, nw = (size_t)l.OUT * l.IN;
        const size_t ny = (size_t)l.N * l.OUT;
        l.x = random_doubles(&rng, nx, -1, 1);
        l.w = random_doubles(&rng, nw, -1, 1);
        l.b = random_doubles(&rng, l.OUT, -1, 1);
        l.r = random_doubles(&rng, ny, -1, 1);
        l.y = alloc_doubles(ny);
        double *dx = alloc_doubles(nx), *dw = alloc_doubles(nw);
        double *db = alloc_doubles(l.OUT);

        ref_linear_backward(l.r, l.x, l.N, l.IN, l.w, l.OUT, dx, dw, db, 0);
        char what[96];
        snprintf(what, sizeof what, "linear case %zu dx", t);
        check_gradient(what, linear_loss, &l, l.x, nx, dx);
        snprintf(what, sizeof what, "linear case %zu dw", t);
        check_gradient(what, linear_loss, &l, l.w, nw, dw);
        snprintf(what, sizeof what, "linear case %zu db", t);
        check_gradient(what, linear_loss, &l, l.b, l.OUT, db);
        free(l.x); free(l.w); free(l.b); free(l.r); free(l.y);
        free(dx); free(dw); free(db);
    }
}

struct softmax_ctx { int N, K; double *logits; int *labels; double r; };

static double softmax_loss(void *p)
{
    struct softmax_ctx *s = p;
    double loss;
    ref_softmax_ce_forward(s->logits, s->labels, s->N, s->K, &loss, NULL, NULL);
    return loss * s->r;
}

Test(ref_fd, softmax_ce_backward)
{
    const int shapes[][2] = { { 1, 10 }, { 3, 7 }, { 5, 2 } };   /* N, K */
    ref_rng rng;
    ref_rng_seed(&rng, 18);

    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        struct softmax_ctx s = { shapes[t][0], shapes[t][1], 0, 0, 0 };
        const size_t n = (size_t)s.N * s.K;
        s.logits = random_doubles(&rng, n, -3, 3);
        s.labels = malloc(sizeof(int) * s.N);
        cr_assert_not_null(s.labels);
        for (int i = 0; i < s.N; i++)
            s.labels[i] = (int)ref_rng_uniform(&rng, 0, s.K) % s.K;
        s.r = ref_rng_uniform(&rng, 0.5, 2.0);
        double *d = alloc_doubles(n);

        ref_softmax_ce_backward(s.logits, s.labels, s.N, s.K, d);
        for (size_t i = 0; i < n; i++)       /* dL/dlogits = r * dloss/dlogits */
            d[i] *= s.r;
        char what[96];
        snprintf(what, sizeof what, "softmax_ce case %zu dlogits", t);
        check_gradient(what, softmax_loss, &s, s.logits, n, d);
        free(s.logits); free(s.labels); free(d);
    }
}

/* The checker itself must reject a gradient that is slightly wrong. */
Test(ref_fd, checker_rejects_a_wrong_gradient)
{
    ref_rng rng;
    ref_rng_seed(&rng, 19);
    struct linear_ctx l = { 2, 3, 4, 0, 0, 0, 0, 0 };
    l.x = random_doubles(&rng, 6, -1, 1);
    l.w = random_doubles(&rng, 12, -1, 1);
    l.b = random_doubles(&rng, 4, -1, 1);
    l.r = random_doubles(&rng, 8, -1, 1);
    l.y = alloc_doubles(8);
    double dx[6], dw[12], db[4];
    char msg[256];

    ref_linear_backward(l.r, l.x, 2, 3, l.w, 4, dx, dw, db, 0);
    cr_assert_eq(gradient_mismatch(linear_loss, &l, l.w, 12, dw, msg, sizeof msg), -1,
                 "%s", msg);
    dw[7] += 1e-3;
    cr_assert_eq(gradient_mismatch(linear_loss, &l, l.w, 12, dw, msg, sizeof msg), 7,
                 "a 1e-3 error at [7] went unnoticed: %s", msg);
    free(l.x); free(l.w); free(l.b); free(l.r); free(l.y);
}

/* ------------------------------------------------------------ accumulate */

/* grad = g0; backward(dy1, acc=1); backward(dy2, acc=1) must equal
 * g0 + backward(dy1) + backward(dy2); acc=0 must overwrite NaN. */
static void check_accumulation(const char *what, const double *g0,
                               const double *sep1, const double *sep2,
                               const double *acc, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const double want = g0[i] + sep1[i] + sep2[i];
        cr_assert(fabs(acc[i] - want) <= 1e-12 * (1.0 + fabs(want)),
                  "%s[%zu]: accumulated %.15g, sum of parts %.15g", what, i,
                  acc[i], want);
    }
}

Test(ref_accumulate, conv2d_backward_weights)
{
    const int N = 3, C = 3, H = 7, W = 5, OC = 5, K = 3, S = 2, P = 1;
    const int OH = ref_out_size(H, K, S, P), OW = ref_out_size(W, K, S, P);
    const size_t nx = (size_t)N * C * H * W, nw = (size_t)OC * C * K * K;
    const size_t ny = (size_t)N * OC * OH * OW;
    ref_rng rng;
    ref_rng_seed(&rng, 21);
    double *x1 = random_doubles(&rng, nx, -1, 1), *x2 = random_doubles(&rng, nx, -1, 1);
    double *dy1 = random_doubles(&rng, ny, -1, 1), *dy2 = random_doubles(&rng, ny, -1, 1);
    double *g0 = random_doubles(&rng, nw, -1, 1);
    double *sep1 = alloc_doubles(nw), *sep2 = alloc_doubles(nw), *acc = alloc_doubles(nw);

    fill(sep1, nw, NAN);
    fill(sep2, nw, NAN);
    ref_conv2d_backward_weights(x1, N, C, H, W, dy1, OC, K, S, P, sep1, 0);
    ref_conv2d_backward_weights(x2, N, C, H, W, dy2, OC, K, S, P, sep2, 0);
    for (size_t i = 0; i < nw; i++)
        cr_assert(isfinite(sep1[i]) && isfinite(sep2[i]), "accumulate=0 kept NaN");

    memcpy(acc, g0, sizeof(double) * nw);
    ref_conv2d_backward_weights(x1, N, C, H, W, dy1, OC, K, S, P, acc, 1);
    ref_conv2d_backward_weights(x2, N, C, H, W, dy2, OC, K, S, P, acc, 1);
    check_accumulation("conv dw", g0, sep1, sep2, acc, nw);
    free(x1); free(x2); free(dy1); free(dy2); free(g0); free(sep1); free(sep2); free(acc);
}

Test(ref_accumulate, bn_dgamma_dbeta)
{
    const int N = 3, C = 5, H = 5, W = 7;
    const size_t n = (size_t)N * C * H * W;
    ref_rng rng;
    ref_rng_seed(&rng, 22);
    double *x = random_doubles(&rng, n, -2, 2);
    double *dy1 = random_doubles(&rng, n, -1, 1), *dy2 = random_doubles(&rng, n, -1, 1);
    double *gamma = random_doubles(&rng, C, 0.5, 1.5), *beta = random_doubles(&rng, C, -1, 1);
    double *g0 = random_doubles(&rng, C, -1, 1), *b0 = random_doubles(&rng, C, -1, 1);
    double rm[5] = { 0 }, rv[5] = { 1, 1, 1, 1, 1 }, mean[5], invstd[5];
    double *y = alloc_doubles(n), *dx = alloc_doubles(n);
    double dg1[5], dg2[5], db1[5], db2[5], dg[5], db[5];

    ref_bn_forward_train(x, N, C, H, W, gamma, beta, 1e-5, 0.1, rm, rv, y, mean, invstd);
    fill(dg1, C, NAN); fill(db1, C, NAN); fill(dg2, C, NAN); fill(db2, C, NAN);
    ref_bn_backward(dy1, x, N, C, H, W, gamma, mean, invstd, dx, dg1, db1, 0);
    ref_bn_backward(dy2, x, N, C, H, W, gamma, mean, invstd, dx, dg2, db2, 0);
    for (int c = 0; c < C; c++)
        cr_assert(isfinite(dg1[c]) && isfinite(db1[c]) && isfinite(dg2[c])
                  && isfinite(db2[c]), "accumulate=0 kept NaN");

    memcpy(dg, g0, sizeof dg);
    memcpy(db, b0, sizeof db);
    ref_bn_backward(dy1, x, N, C, H, W, gamma, mean, invstd, dx, dg, db, 1);
    ref_bn_backward(dy2, x, N, C, H, W, gamma, mean, invstd, dx, dg, db, 1);
    check_accumulation("bn dgamma", g0, dg1, dg2, dg, C);
    check_accumulation("bn dbeta", b0, db1, db2, db, C);
    free(x); free(dy1); free(dy2); free(gamma); free(beta); free(g0); free(b0);
    free(y); free(dx);
}

/* The shortcut's gradient of the fused bn + add + relu: accumulate = 0
 * overwrites NaN, 1 adds; NULL skips it without touching the others. */
Test(ref_accumulate, bn_add_relu_dshortcut)
{
    const int N = 2, C = 3, H = 3, W = 5;
    const size_t n = (size_t)N * C * H * W;
    ref_rng rng;
    ref_rng_seed(&rng, 26);
    double *x = random_doubles(&rng, n, -2, 2), *sc = random_doubles(&rng, n, -1, 1);
    double *dy1 = random_doubles(&rng, n, -1, 1), *dy2 = random_doubles(&rng, n, -1, 1);
    double *gamma = random_doubles(&rng, C, 0.5, 1.5), *beta = random_doubles(&rng, C, -1, 1);
    double *g0 = random_doubles(&rng, n, -1, 1);
    double rm[3] = { 0 }, rv[3] = { 1, 1, 1 }, mean[3], invstd[3], dg[3], db[3];
    double dg_null[3], db_null[3];
    double *y = alloc_doubles(n), *dx = alloc_doubles(n), *dx_null = alloc_doubles(n);
    double *sep1 = alloc_doubles(n), *sep2 = alloc_doubles(n), *acc = alloc_doubles(n);

    ref_bn_add_relu_forward_train(x, sc, N, C, H, W, gamma, beta, 1e-5, 0.1, rm, rv, y, mean,
                                  invstd);
    fill(sep1, n, NAN);
    fill(sep2, n, NAN);
    ref_bn_add_relu_backward(dy1, y, x, N, C, H, W, gamma, mean, invstd, dx, sep1, 0, dg, db, 0);
    ref_bn_add_relu_backward(dy1, y, x, N, C, H, W, gamma, mean, invstd, dx_null, NULL, 0,
                             dg_null, db_null, 0);
    assert_close(dx_null, dx, n, 0.0, "bn+add+relu dx without dshortcut");
    assert_close(dg_null, dg, C, 0.0, "bn+add+relu dgamma without dshortcut");
    ref_bn_add_relu_backward(dy2, y, x, N, C, H, W, gamma, mean, invstd, dx, sep2, 0, dg, db, 0);
    for (size_t i = 0; i < n; i++) {
        cr_assert(isfinite(sep1[i]) && isfinite(sep2[i]), "accumulate=0 kept NaN");
        cr_assert_eq(sep1[i], y[i] > 0.0 ? dy1[i] : 0.0, "dshortcut is the masked dy");
    }
    memcpy(acc, g0, sizeof(double) * n);
    ref_bn_add_relu_backward(dy1, y, x, N, C, H, W, gamma, mean, invstd, dx, acc, 1, dg, db, 0);
    ref_bn_add_relu_backward_eval(dy2, y, x, N, C, H, W, gamma, 1e-5, rm, rv, dx, 0, acc, 1, dg,
                                  db, 0);
    check_accumulation("bn+add+relu dshortcut", g0, sep1, sep2, acc, n);
    free(x); free(sc); free(dy1); free(dy2); free(gamma); free(beta); free(g0);
    free(y); free(dx); free(dx_null); free(sep1); free(sep2); free(acc);
}

Test(ref_accumulate, bn_eval_dx_dgamma_dbeta)
{
    const int N = 2, C = 3, H = 3, W = 5;
    const size_t n = (size_t)N * C * H * W;
    ref_rng rng;
    ref_rng_seed(&rng, 25);
    double *x = random_doubles(&rng, n, -2, 2);
    double *dy1 = random_doubles(&rng, n, -1, 1), *dy2 = random_doubles(&rng, n, -1, 1);
    double *gamma = random_doubles(&rng, C, 0.5, 1.5);
    double *rm = random_doubles(&rng, C, -1, 1), *rv = random_doubles(&rng, C, 0.5, 2);
    double *x0 = random_doubles(&rng, n, -1, 1);
    double *g0 = random_doubles(&rng, C, -1, 1), *b0 = random_doubles(&rng, C, -1, 1);
    double *dx1 = alloc_doubles(n), *dx2 = alloc_doubles(n), *dx = alloc_doubles(n);
    double dg1[3], dg2[3], db1[3], db2[3], dg[3], db[3];

    fill(dx1, n, NAN); fill(dx2, n, NAN);
    fill(dg1, C, NAN); fill(db1, C, NAN); fill(dg2, C, NAN); fill(db2, C, NAN);
    ref_bn_backward_eval(dy1, x, N, C, H, W, gamma, 1e-5, rm, rv, dx1, 0, dg1, db1, 0);
    ref_bn_backward_eval(dy2, x, N, C, H, W, gamma, 1e-5, rm, rv, dx2, 0, dg2, db2, 0);
    for (size_t i = 0; i < n; i++)
        cr_assert(isfinite(dx1[i]) && isfinite(dx2[i]), "accumulate=0 kept NaN");
    for (int c = 0; c < C; c++)
        cr_assert(isfinite(dg1[c]) && isfinite(db1[c]) && isfinite(dg2[c])
                  && isfinite(db2[c]), "accumulate=0 kept NaN");

    memcpy(dx, x0, sizeof(double) * n);
    memcpy(dg, g0, sizeof dg);
    memcpy(db, b0, sizeof db);
    ref_bn_backward_eval(dy1, x, N, C, H, W, gamma, 1e-5, rm, rv, dx, 1, dg, db, 1);
    ref_bn_backward_eval(dy2, x, N, C, H, W, gamma, 1e-5, rm, rv, dx, 1, dg, db, 1);
    check_accumulation("bn eval dx", x0, dx1, dx2, dx, n);
    check_accumulation("bn eval dgamma", g0, dg1, dg2, dg, C);
    check_accumulation("bn eval dbeta", b0, db1, db2, db, C);
    free(x); free(dy1); free(dy2); free(gamma); free(rm); free(rv); free(x0);
    free(g0); free(b0); free(dx1); free(dx2); free(dx);
}

Test(ref_accumulate, linear_dw_db)
{
    const int N = 3, IN = 7, OUT = 5;
    const size_t nw = (size_t)OUT * IN;
    ref_rng rng;
    ref_rng_seed(&rng, 23);
    double *x1 = random_doubles(&rng, N * IN, -1, 1), *x2 = random_doubles(&rng, N * IN, -1, 1);
    double *dy1 = random_doubles(&rng, N * OUT, -1, 1), *dy2 = random_doubles(&rng, N * OUT, -1, 1);
    double *w = random_doubles(&rng, nw, -1, 1);
    double *w0 = random_doubles(&rng, nw, -1, 1), *b0 = random_doubles(&rng, OUT, -1, 1);
    double *dw1 = alloc_doubles(nw), *dw2 = alloc_doubles(nw), *dw = alloc_doubles(nw);
    double db1[5], db2[5], db[5], dx[21];

    fill(dw1, nw, NAN); fill(dw2, nw, NAN);
    fill(db1, OUT, NAN); fill(db2, OUT, NAN);
    ref_linear_backward(dy1, x1, N, IN, w, OUT, dx, dw1, db1, 0);
    ref_linear_backward(dy2, x2, N, IN, w, OUT, dx, dw2, db2, 0);
    for (size_t i = 0; i < nw; i++)
        cr_assert(isfinite(dw1[i]) && isfinite(dw2[i]), "accumulate=0 kept NaN");
    for (int o = 0; o < OUT; o++)
        cr_assert(isfinite(db1[o]) && isfinite(db2[o]), "accumulate=0 kept NaN");

    memcpy(dw, w0, sizeof(double) * nw);
    memcpy(db, b0, sizeof db);
    ref_linear_backward(dy1, x1, N, IN, w, OUT, dx, dw, db, 1);
    ref_linear_backward(dy2, x2, N, IN, w, OUT, dx, dw, db, 1);
    check_accumulation("linear dw", w0, dw1, dw2, dw, nw);
    check_accumulation("linear db", b0, db1, db2, db, OUT);
    free(x1); free(x2); free(dy1); free(dy2); free(w); free(w0); free(b0);
    free(dw1); free(dw2); free(dw);
}

/* Outputs without an accumulate flag are always overwritten. */
Test(ref_accumulate, other_gradients_overwrite)
{
    const int N = 3, C = 3, H = 5, W = 7, OC = 6, K = 3, S = 2, P = 1;
    const int OH = ref_out_size(H, K, S, P), OW = ref_out_size(W, K, S, P);
    const size_t nx = (size_t)N * C * H * W, nw = (size_t)OC * C * K * K;
    const size_t ny = (size_t)N * OC * OH * OW;
    ref_rng rng;
    ref_rng_seed(&rng, 24);
    double *x = random_doubles(&rng, nx, -1, 1), *w = random_doubles(&rng, nw, -1, 1);
    double *dy = random_doubles(&rng, nx + ny, -1, 1);   /* big enough for every op */
    double *a = alloc_doubles(nx), *b = alloc_doubles(nx);
    double gamma[3] = { 1.5, 0.5, 1 }, beta[3] = { 0.1, 0.2, 0.3 };
    double rm[3] = { 0 }, rv[3] = { 1, 1, 1 }, mean[3], invstd[3], dg[3], db[3];
    double *y = alloc_doubles(nx > ny ? nx : ny);   /* bn/relu write nx */
    int *argmax = malloc(sizeof(int) * ny);
    int labels[3] = { 0, 2, 1 };
    cr_assert_not_null(argmax);

#define TWICE(what, n, call)                          \
    do {                                              \
        fill(a, n, 0.0);                              \
        fill(b, n, NAN);                              \
        { double *out = a; call; }                    \
        { double *out = b; call; }                    \
        assert_overwrites(what, a, b, n);             \
    } while (0)

    TWICE("conv dx", nx, ref_conv2d_backward_data(dy, N, C, H, W, w, OC, K, S, P, out));
    ref_bn_forward_train(x, N, C, H, W, gamma, beta, 1e-5, 0.1, rm, rv, y, mean, invstd);
    TWICE("bn dx", nx, ref_bn_backward(dy, x, N, C, H, W, gamma, mean, invstd, out, dg, db, 0));
    ref_relu_forward(x, nx, y);
    TWICE("relu dx", nx, ref_relu_backward(dy, y, nx, out));
    TWICE("shortcut_a dx", nx, ref_shortcut_a_backward(dy, N, C, H, W, OC, 2, out));
    TWICE("gap dx", nx, ref_gap_backward(dy, N, C, H, W, out));
    ref_maxpool_forward(x, N, C, H, W, K, S, P, y, argmax);
    TWICE("maxpool dx", nx, ref_maxpool_backward(dy, argmax, N, C, H, W, K, S, P, out));
    double lin_dw[5 * 7], lin_db[5];
    TWICE("linear dx", (size_t)N * 7,
          ref_linear_backward(dy, x, N, 7, w, 5, out, lin_dw, lin_db, 0));
    TWICE("softmax_ce dlogits", (size_t)N * 4,
          ref_softmax_ce_backward(x, labels, N, 4, out));
#undef TWICE
    free(x); free(w); free(dy); free(a); free(b); free(y); free(argmax);
}

/* ------------------------------------------------------- forward, by hand */

Test(ref_forward, conv2d_hand_computed)
{
    const double x[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };   /* [1,1,3,3] */
    const double ones[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    /* Cross-correlation (no kernel flip): this kernel reads the right neighbour. */
    const double right[9] = { 0, 0, 0, 0, 0, 1, 0, 0, 0 };
    double y[9];

    const double box_s1[9] = { 12, 21, 16, 27, 45, 33, 24, 39, 28 };
    ref_conv2d_forward(x, 1, 1, 3, 3, ones, 1, 3, 1, 1, y);
    assert_close(y, box_s1, 9, 0, "3x3 box, stride 1, pad 1");

    const double box_s2[4] = { 12, 16, 24, 28 };
    ref_conv2d_forward(x, 1, 1, 3, 3, ones, 1, 3, 2, 1, y);
    assert_close(y, box_s2, 4, 0, "3x3 box, stride 2, pad 1");

    const double shifted[9] = { 2, 3, 0, 5, 6, 0, 8, 9, 0 };
    ref_conv2d_forward(x, 1, 1, 3, 3, right, 1, 3, 1, 1, y);
    assert_close(y, shifted, 9, 0, "right-neighbour kernel");

    const double valid[1] = { 45 };
    ref_conv2d_forward(x, 1, 1, 3, 3, ones, 1, 3, 1, 0, y);
    assert_close(y, valid, 1, 0, "3x3 box, pad 0");
}

/* A 1x1 convolution is, per image, the product w [OC,C] x [C,H*W]: compare it
 * with the linear layer applied to every pixel. */
Test(ref_forward, conv2d_1x1_is_matrix_product)
{
    enum { N = 2, C = 3, H = 5, W = 7, OC = 4, HW = H * W };
    ref_rng rng;
    ref_rng_seed(&rng, 31);
    double x[N * C * HW], w[OC * C], y[N * OC * HW];
    double pixels[HW * C], out[HW * OC], zero_bias[OC] = { 0 };
    ref_fill_uniform(&rng, x, N * C * HW, -1, 1);
    ref_fill_uniform(&rng, w, OC * C, -1, 1);

    ref_conv2d_forward(x, N, C, H, W, w, OC, 1, 1, 0, y);
    for (int n = 0; n < N; n++) {
        for (int p = 0; p < HW; p++)          /* [C,HW] -> [HW,C] */
            for (int c = 0; c < C; c++)
                pixels[p * C + c] = x[(n * C + c) * HW + p];
        ref_linear_forward(pixels, HW, C, w, zero_bias, OC, out);
        for (int p = 0; p < HW; p++)
            for (int oc = 0; oc < OC; oc++)
                cr_assert(fabs(y[(n * OC + oc) * HW + p] - out[p * OC + oc]) < 1e-14,
                          "n %d oc %d pixel %d", n, oc, p);
    }
}

Test(ref_forward, bn_train_normalises_each_channel)
{
    enum { N = 3, C = 5, H = 5, W = 7, HW = H * W, M = N * HW };
    ref_rng rng;
    ref_rng_seed(&rng, 32);
    double x[N * C * HW], y[N * C * HW];
    double gamma[C], beta[C], rm[C] = { 0 }, rv[C] = { 1, 1, 1, 1, 1 };
    double mean[C], invstd[C];
    ref_fill_uniform(&rng, x, N * C * HW, -3, 5);
    for (int c = 0; c < C; c++) {              /* channels with different scales */
        gamma[c] = 1.0;
        beta[c] = 0.0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++)
                x[(n * C + c) * HW + i] *= c + 1;
    }

    for (int pass = 0; pass < 2; pass++) {
        /* pass 0: gamma 1, beta 0 -> mean 0, var 1; pass 1: mean beta, std |gamma| */
        if (pass == 1)
            for (int c = 0; c < C; c++) {
                gamma[c] = 0.5 + c;
                beta[c] = -1.0 + 0.3 * c;
            }
        ref_bn_forward_train(x, N, C, H, W, gamma, beta, 1e-12, 0.1, rm, rv, y,
                             mean, invstd);
        for (int c = 0; c < C; c++) {
            double s = 0.0, sq = 0.0;
            for (int n = 0; n < N; n++)
                for (int i = 0; i < HW; i++)
                    s += y[(n * C + c) * HW + i];
            const double m = s / M;
            for (int n = 0; n < N; n++)
                for (int i = 0; i < HW; i++) {
                    const double d = y[(n * C + c) * HW + i] - m;
                    sq += d * d;
                }
            cr_assert(fabs(m - beta[c]) < 1e-10, "pass %d channel %d mean %g", pass, c, m);
            cr_assert(fabs(sq / M - gamma[c] * gamma[c]) < 1e-9,
                      "pass %d channel %d var %g", pass, c, sq / M);
        }
    }
}

Test(ref_forward, bn_running_stats_hand_computed)
{
    /* [N=2, C=2, H=1, W=2]: channel 0 holds 1,2 | 3,4; channel 1 holds 2,2 | 6,6. */
    const double x[8] = { 1, 2, 2, 2, 3, 4, 6, 6 };
    const double gamma[2] = { 1, 2 }, beta[2] = { 0, 1 };
    double rm[2] = { 0.5, -1.0 }, rv[2] = { 2.0, 1.0 }, y[8], mean[2], invstd[2];

    ref_bn_forward_train(x, 2, 2, 1, 2, gamma, beta, 1e-5, 0.1, rm, rv, y, mean, invstd);
    /* channel 0: mean 2.5, biased var 1.25, unbiased var 5/3 */
    cr_assert(fabs(mean[0] - 2.5) < 1e-15);
    cr_assert(fabs(invstd[0] - 1.0 / sqrt(1.25 + 1e-5)) < 1e-15);
    cr_assert(fabs(rm[0] - (0.9 * 0.5 + 0.1 * 2.5)) < 1e-15, "rm0 %.17g", rm[0]);
    cr_assert(fabs(rv[0] - (0.9 * 2.0 + 0.1 * 5.0 / 3.0)) < 1e-15, "rv0 %.17g", rv[0]);
    /* channel 1: mean 4, biased var 4, unbiased var 16/3 */
    cr_assert(fabs(mean[1] - 4.0) < 1e-15);
    cr_assert(fabs(rm[1] - (0.9 * -1.0 + 0.1 * 4.0)) < 1e-15, "rm1 %.17g", rm[1]);
    cr_assert(fabs(rv[1] - (0.9 * 1.0 + 0.1 * 16.0 / 3.0)) < 1e-15, "rv1 %.17g", rv[1]);
    /* y for channel 1, first value: 2 * (2 - 4) / sqrt(4 + 1e-5) + 1 */
    cr_assert(fabs(y[2] - (2.0 * -2.0 / sqrt(4.0 + 1e-5) + 1.0)) < 1e-14, "y %.17g", y[2]);
}

Test(ref_forward, bn_eval)
{
    /* 2 * (5 - 1) / sqrt(3 + 1) + 0.5 = 4.5 */
    const double x[1] = { 5 }, gamma[1] = { 2 }, beta[1] = { 0.5 };
    const double rm[1] = { 1 }, rv[1] = { 3 };
    double y[1];
    ref_bn_forward_eval(x, 1, 1, 1, 1, gamma, beta, 1.0, rm, rv, y);
    cr_assert(fabs(y[0] - 4.5) < 1e-15, "y %.17g", y[0]);

    /* With running stats equal to the batch's (biased) stats, eval == train. */
    enum { N = 3, C = 3, H = 5, W = 5, HW = H * W };
    ref_rng rng;
    ref_rng_seed(&rng, 33);
    double xs[N * C * HW], yt[N * C * HW], ye[N * C * HW];
    double g[C], b[C], rmean[C] = { 0 }, rvar[C] = { 1, 1, 1 }, mean[C], invstd[C];
    double batch_var[C];
    ref_fill_uniform(&rng, xs, N * C * HW, -2, 2);
    ref_fill_uniform(&rng, g, C, 0.5, 1.5);
    ref_fill_uniform(&rng, b, C, -1, 1);
    ref_bn_forward_train(xs, N, C, H, W, g, b, 1e-5, 0.1, rmean, rvar, yt, mean, invstd);
    for (int c = 0; c < C; c++)
        batch_var[c] = 1.0 / (invstd[c] * invstd[c]) - 1e-5;
    ref_bn_forward_eval(xs, N, C, H, W, g, b, 1e-5, mean, batch_var, ye);
    assert_close(ye, yt, N * C * HW, 1e-12, "eval with batch stats");
}

/* The conv with batch norm folded into its store is conv -> eval bn ->
 * (add) -> (relu); without a scale it is the plain conv (+ add, relu). */
Test(ref_forward, conv_affine_is_conv_bn_add_relu)
{
    const int N = 2, C = 3, H = 7, W = 5, OC = 5, K = 3, S = 2, P = 1;
    const int OH = ref_out_size(H, K, S, P), OW = ref_out_size(W, K, S, P);
    const size_t nx = (size_t)N * C * H * W, nw = (size_t)OC * C * K * K;
    const size_t ny = (size_t)N * OC * OH * OW;
    ref_rng rng;
    ref_rng_seed(&rng, 27);
    double *x = random_doubles(&rng, nx, -1, 1), *w = random_doubles(&rng, nw, -1, 1);
    double *res = random_doubles(&rng, ny, -1, 1);
    double *gamma = random_doubles(&rng, OC, 0.5, 1.5), *beta = random_doubles(&rng, OC, -1, 1);
    double *rm = random_doubles(&rng, OC, -1, 1), *rv = random_doubles(&rng, OC, 0.2, 2);
    double scale[5], shift[5];
    double *conv = alloc_doubles(ny), *want = alloc_doubles(ny), *got = alloc_doubles(ny);

    ref_bn_fold(gamma, beta, rm, rv, OC, 1e-5, scale, shift);
    ref_conv2d_forward(x, N, C, H, W, w, OC, K, S, P, conv);
    for (int mode = 0; mode < 8; mode++) {
        const int affine = mode & 1, add = (mode >> 1) & 1, relu = (mode >> 2) & 1;
        if (affine)
            ref_bn_forward_eval(conv, N, OC, OH, OW, gamma, beta, 1e-5, rm, rv, want);
        else
            memcpy(want, conv, sizeof(double) * ny);
        if (add)
            ref_add_forward(want, res, ny, want);
        if (relu)
            ref_relu_forward(want, ny, want);
        fill(got, ny, NAN);
        ref_conv2d_forward_affine(x, N, C, H, W, w, OC, K, S, P, affine ? scale : NULL,
                                  affine ? shift : NULL, add ? res : NULL, relu, got);
        char what[64];
        snprintf(what, sizeof what, "conv affine %d add %d relu %d", affine, add, relu);
        assert_close(got, want, ny, 1e-12, what);
    }
    free(x); free(w); free(res); free(gamma); free(beta); free(rm); free(rv);
    free(conv); free(want); free(got);
}

Test(ref_forward, relu_and_add)
{
    const double x[5] = { -2, -0.5, 0, 0.25, 3 }, ones[5] = { 1, 1, 1, 1, 1 };
    const double want_relu[5] = { 0, 0, 0, 0.25, 3 };
    const double want_sum[5] = { -1, 0.5, 1, 1.25, 4 };
    const double y_for_grad[5] = { 0, 0, 0, 0.25, 3 };
    const double dy[5] = { 1, 2, 3, 4, 5 }, want_dx[5] = { 0, 0, 0, 4, 5 };
    double y[5];

    ref_relu_forward(x, 5, y);
    assert_close(y, want_relu, 5, 0, "relu");
    ref_relu_backward(dy, y_for_grad, 5, y);
    assert_close(y, want_dx, 5, 0, "relu backward (0 at the kink)");
    ref_add_forward(x, ones, 5, y);
    assert_close(y, want_sum, 5, 0, "add");
}

Test(ref_forward, shortcut_a_zero_channels_and_offset)
{
    enum { N = 2, C = 3, H = 5, W = 7, OC = 8, S = 2, OH = 3, OW = 4, OFF = 2 };
    double x[N * C * H * W], y[N * OC * OH * OW];
    for (int n = 0; n < N; n++)              /* value encodes its coordinates */
        for (int c = 0; c < C; c++)
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++)
                    x[((n * C + c) * H + h) * W + w] = 1000 * n + 100 * c + 10 * h + w + 1;

    ref_shortcut_a_forward(x, N, C, H, W, OC, S, y);
    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < OC; oc++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    const double got = y[((n * OC + oc) * OH + oh) * OW + ow];
                    const double want = (oc < OFF || oc >= OFF + C) ? 0.0
                        : 1000 * n + 100 * (oc - OFF) + 10 * (2 * oh) + 2 * ow + 1;
                    cr_assert_eq(got, want, "n %d oc %d (%d,%d): got %g want %g",
                                 n, oc, oh, ow, got, want);
                }
}

Test(ref_forward, gap)
{
    const double x[12] = { 1, 2, 3, 4, 5, 6, -1, -1, -1, 2, 2, 2 };  /* [1,2,2,3] */
    const double want[2] = { 3.5, 0.5 };
    double y[2];
    ref_gap_forward(x, 1, 2, 2, 3, y);
    assert_close(y, want, 2, 1e-15, "gap");
}

Test(ref_forward, maxpool_hand_computed)
{
    const double x[16] = { 1, 5, 2, 0,
                           3, 4, 8, 7,
                          -1, 6, 9, 9,
                           2, 0, 9, 1 };
    double y[4];
    int argmax[4];
    ref_maxpool_forward(x, 1, 1, 4, 4, 2, 2, 0, y, argmax);
    const double want[4] = { 5, 8, 6, 9 };
    const int want_idx[4] = { 1, 6, 9, 10 };        /* tie of three 9s: first */
    assert_close(y, want, 4, 0, "maxpool 2x2");
    for (int i = 0; i < 4; i++)
        cr_assert_eq(argmax[i], want_idx[i], "argmax[%d] = %d", i, argmax[i]);

    /* All-negative input with padding: padding is -inf, never the max. */
    const double neg[9] = { -1, -2, -3, -4, -5, -6, -7, -8, -9 };
    ref_maxpool_forward(neg, 1, 1, 3, 3, 3, 2, 1, y, argmax);
    const double want_neg[4] = { -1, -2, -4, -5 };
    const int want_neg_idx[4] = { 0, 1, 3, 4 };
    assert_close(y, want_neg, 4, 0, "maxpool with padding");
    for (int i = 0; i < 4; i++)
        cr_assert_eq(argmax[i], want_neg_idx[i], "padded argmax[%d] = %d", i, argmax[i]);

    /* Backward: a shared winner gathers both gradients. */
    const double dy[4] = { 1, 2, 3, 4 };
    const int shared[4] = { 4, 4, 4, 0 };
    double dx[9];
    ref_maxpool_backward(dy, shared, 1, 1, 3, 3, 3, 2, 1, dx);
    const double want_dx[9] = { 4, 0, 0, 0, 6, 0, 0, 0, 0 };
    assert_close(dx, want_dx, 9, 0, "maxpool backward");
}

Test(ref_forward, linear_hand_computed)
{
    const double x[4] = { 1, 2, -1, 3 };              /* [2,2] */
    const double w[6] = { 1, 0, 0, 1, 1, 1 };         /* [3,2] */
    const double b[3] = { 0.5, -1, 0 };
    const double want[6] = { 1.5, 1, 3, -0.5, 2, 2 };
    double y[6];
    ref_linear_forward(x, 2, 2, w, b, 3, y);
    assert_close(y, want, 6, 0, "linear");
}

Test(ref_forward, softmax_ce_loss)
{
    enum { N = 3, K = 10 };
    double logits[N * K], d[N * K], loss;
    const int labels[N] = { 0, 9, 4 };
    int top1, top5;

    fill(logits, N * K, 3.7);                      /* uniform: loss = log K */
    ref_softmax_ce_forward(logits, labels, N, K, &loss, &top1, &top5);
    cr_assert(fabs(loss - log(10.0)) < 1e-14, "loss %.17g", loss);
    cr_assert_eq(top1, 3, "ties with the label do not lower its rank");
    cr_assert_eq(top5, 3);
    ref_softmax_ce_backward(logits, labels, N, K, d);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            cr_assert(fabs(d[n * K + k] - (0.1 - (k == labels[n])) / N) < 1e-15);

    /* K = 2: softmax([1, 1 + ln 3]) = [1/4, 3/4]. */
    const double two[4] = { 1, 1 + log(3.0), 1, 1 + log(3.0) };
    const int lab2[2] = { 0, 1 };
    double d2[4];
    ref_softmax_ce_forward(two, lab2, 2, 2, &loss, NULL, NULL);
    cr_assert(fabs(loss - (log(4.0) + log(4.0 / 3.0)) / 2) < 1e-14, "loss %.17g", loss);
    ref_softmax_ce_backward(two, lab2, 2, 2, d2);
    const double want_d2[4] = { -0.375, 0.375, 0.125, -0.125 };
    assert_close(d2, want_d2, 4, 1e-15, "dlogits K=2");

    /* Large logits must not overflow. */
    const double big[2] = { 1000, 0 };
    const int lab_big[1] = { 1 };
    ref_softmax_ce_forward(big, lab_big, 1, 2, &loss, NULL, NULL);
    cr_assert(fabs(loss - 1000.0) < 1e-9, "loss %.17g", loss);
    ref_softmax_ce_backward(big, lab_big, 1, 2, d2);
    cr_assert(fabs(d2[0] - 1.0) < 1e-15 && fabs(d2[1] + 1.0) < 1e-15);
}

Test(ref_forward, softmax_ce_topk_rank_rule)
{
    enum { N = 6, K = 7 };
    const double logits[N * K] = {
        0.1, 0.5, 0.3, 0.2, 0.0, -0.1, 0.4,   /* label 1 is the max: rank 0 */
        0.5, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1,    /* label 0 ties the max: rank 0 */
        0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1,    /* label 4: rank 4 */
        0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1,    /* label 5: rank 5 */
        0.9, 0.9, 0.9, 0.9, 0.9, 0.1, 0.2,    /* label 6: five above, rank 5 */
        0.9, 0.9, 0.5, 0.5, 0.5, 0.5, 0.1,    /* label 2: equals don't count, rank 2 */
    };
    const int labels[N] = { 1, 0, 4, 5, 6, 2 };
    int top1 = -1, top5 = -1;
    ref_softmax_ce_forward(logits, labels, N, K, NULL, &top1, &top5);
    cr_assert_eq(top1, 2, "top1 %d", top1);
    cr_assert_eq(top5, 4, "top5 %d", top5);
}

Test(ref_forward, sgd_three_steps)
{
    /* lr 0.1, momentum 0.9, weight decay 0.01. Element 0: p = 1, grads 0.5,
     * -0.25, 1. Element 1: p = 2, grad 0 (weight decay only).
     * Plain momentum, element 0:
     *   g = 0.5 + 0.01*1 = 0.51          buf = 0.51        p = 1 - 0.051 = 0.949
     *   g = -0.25 + 0.00949 = -0.24051    buf = 0.459 - 0.24051 = 0.21849
     *                                                      p = 0.949 - 0.021849 = 0.927151
     *   g = 1 + 0.00927151 = 1.00927151   buf = 0.196641 + 1.00927151 = 1.20591251
     *                                                      p = 0.927151 - 0.120591251
     * Nesterov, element 0 (step = g + 0.9*buf):
     *   g = 0.51,         buf = 0.51,        step = 0.969,        p = 0.9031
     *   g = -0.240969,    buf = 0.218031,    step = -0.0447411,   p = 0.90757411
     *   g = 1.0090757411, buf = 1.2053036411, step = 2.09384901809,
     *                                         p = 0.90757411 - 0.209384901809 */
    const double grads[3][2] = { { 0.5, 0 }, { -0.25, 0 }, { 1.0, 0 } };
    const double want_p[2][2] = { { 0.806559749, 1.988789598 },
                                  { 0.698189208191, 1.983929802282 } };
    const double want_buf[2][2] = { { 1.20591251, 0.05412402 },
                                    { 1.2053036411, 0.0540736722 } };

    for (int nesterov = 0; nesterov < 2; nesterov++) {
        double p[2] = { 1.0, 2.0 }, buf[2] = { 0, 0 };
        for (int step = 0; step < 3; step++)
            ref_sgd_step(p, grads[step], buf, 2, 0.1, 0.9, 0.01, nesterov);
        for (int i = 0; i < 2; i++) {
            cr_assert(fabs(p[i] - want_p[nesterov][i]) < 1e-14,
                      "nesterov %d p[%d] = %.17g", nesterov, i, p[i]);
            cr_assert(fabs(buf[i] - want_buf[nesterov][i]) < 1e-14,
                      "nesterov %d buf[%d] = %.17g", nesterov, i, buf[i]);
        }
    }
}

/* ------------------------------------------------------------- utilities */

Test(ref_util, check_close_passes_on_equal_and_rounded_data)
{
    ref_rng rng;
    ref_rng_seed(&rng, 41);
    double want[64];
    float got[64];
    char msg[256];
    for (int i = 0; i < 64; i++) {
        want[i] = 0.25 * (i - 32);            /* exact in float */
        got[i] = (float)want[i];
    }
    cr_assert_eq(ref_check_close(got, want, 64, 0, 0, msg, sizeof msg), -1, "%s", msg);

    ref_fill_uniform(&rng, want, 64, -10, 10);
    for (int i = 0; i < 64; i++)
        got[i] = (float)want[i];
    cr_assert_eq(ref_check_close(got, want, 64, 1e-6, 0, msg, sizeof msg), -1, "%s", msg);
    cr_assert_eq(ref_check_close(got, want, 64, 1e-6, 0, NULL, 0), -1);

    /* Exactly at the tolerance passes: |1 - 1.5| <= 0.5; |2.5 - 2| <= 0.25*2. */
    const double edge_want[2] = { 1.5, 2.0 };
    const float edge_got[2] = { 1.0f, 2.5f };
    cr_assert_eq(ref_check_close(edge_got, edge_want, 1, 0, 0.5, NULL, 0), -1);
    cr_assert_eq(ref_check_close(edge_got + 1, edge_want + 1, 1, 0.25, 0, NULL, 0), -1);
    cr_assert_eq(ref_check_close(edge_got + 1, edge_want + 1, 1, 0.2, 0, NULL, 0), 0);
}

Test(ref_util, check_close_catches_nan_and_outliers)
{
    double want[16];
    float got[16];
    char msg[256];
    for (int i = 0; i < 16; i++) {
        want[i] = 1.0 + i;
        got[i] = (float)want[i];
    }

    got[5] = 6.1f;                              /* off by 0.1 */
    cr_assert_eq(ref_check_close(got, want, 16, 0, 1e-3, msg, sizeof msg), 5, "%s", msg);
    cr_assert(strstr(msg, "[5]") != NULL, "message names the element: %s", msg);

    got[9] = 12.0f;                             /* off by 2: the worst */
    cr_assert_eq(ref_check_close(got, want, 16, 0, 1e-3, msg, sizeof msg), 9, "%s", msg);
    cr_assert_eq(ref_check_close(got, want, 16, 0, 1e-3, NULL, 0), 9);

    got[12] = NAN;                              /* NaN beats any finite error */
    cr_assert_eq(ref_check_close(got, want, 16, 0, 1e-3, msg, sizeof msg), 12, "%s", msg);
    cr_assert_eq(ref_check_close(got, want, 16, 1e9, 1e9, msg, sizeof msg), 12,
                 "NaN passes a huge tolerance: %s", msg);

    for (int i = 0; i < 16; i++)
        got[i] = (float)want[i];
    want[3] = NAN;                              /* a NaN reference fails too */
    cr_assert_eq(ref_check_close(got, want, 16, 1e9, 1e9, msg, sizeof msg), 3, "%s", msg);
    want[3] = 4.0;
    got[0] = INFINITY;
    cr_assert_eq(ref_check_close(got, want, 16, 1e9, 1e9, msg, sizeof msg), 0, "%s", msg);
}

Test(ref_util, rng_is_deterministic_and_in_range)
{
    ref_rng a, b, c;
    ref_rng_seed(&a, 7);
    ref_rng_seed(&b, 7);
    ref_rng_seed(&c, 8);
    int differ = 0;
    double sum = 0.0;
    for (int i = 0; i < 10000; i++) {
        const double u = ref_rng_uniform(&a, -2, 3);
        cr_assert_eq(u, ref_rng_uniform(&b, -2, 3), "same seed, different draw %d", i);
        cr_assert(u >= -2 && u < 3, "draw %d = %g out of range", i, u);
        differ += u != ref_rng_uniform(&c, -2, 3);
        sum += u;
    }
    cr_assert_gt(differ, 9990, "seeds 7 and 8 give the same stream");
    cr_assert(fabs(sum / 10000 - 0.5) < 0.1, "mean %g", sum / 10000);

    ref_rng z;                                  /* seed 0 must not stick at 0 */
    ref_rng_seed(&z, 0);
    cr_assert_neq(ref_rng_uniform(&z, 0, 1), ref_rng_uniform(&z, 0, 1));
}
