/* Reference SGD step, the float-vs-double comparison helper and the
 * deterministic random generator used by every test. */
#include "ref_ops.h"

#include <math.h>
#include <stdio.h>

/* param, grad, momentum_buf [n]; torch.optim.SGD with dampening 0. */
void ref_sgd_step(double *param, const double *grad, double *momentum_buf,
                  size_t n, double lr, double momentum, double weight_decay,
                  int nesterov)
{
    for (size_t i = 0; i < n; i++) {
        double g = grad[i] + weight_decay * param[i];
        momentum_buf[i] = momentum * momentum_buf[i] + g;
        g = nesterov ? g + momentum * momentum_buf[i] : momentum_buf[i];
        param[i] -= lr * g;
    }
}

/* got [n] (device result), want [n] (reference). "Worst" = the element that
 * exceeds its tolerance by the most; any NaN counts as infinitely bad, and the
 * first NaN wins among them. */
long ref_check_close(const float *got, const double *want, size_t n,
                     double rtol, double atol, char *msg, size_t msg_size)
{
    long worst = -1;
    double worst_excess = 0.0;
    size_t failures = 0;

    for (size_t i = 0; i < n; i++) {
        const double diff = fabs((double)got[i] - want[i]);
        const double tol = atol + rtol * fabs(want[i]);
        if (diff <= tol)              /* false for NaN: NaN never passes */
            continue;
        failures++;
        const double excess = isnan(diff) ? INFINITY : diff - tol;
        if (worst < 0 || excess > worst_excess) {
            worst = (long)i;
            worst_excess = excess;
        }
    }

    if (msg && msg_size > 0) {
        if (worst < 0) {
            snprintf(msg, msg_size, "all %zu elements within rtol %g atol %g",
                     n, rtol, atol);
        } else {
            const size_t w = (size_t)worst;
            snprintf(msg, msg_size,
                     "%zu of %zu elements out of tolerance; worst [%ld]: got %.9g "
                     "want %.9g |diff| %.3g > %.3g (rtol %g atol %g)",
                     failures, n, worst, (double)got[w], want[w],
                     fabs((double)got[w] - want[w]),
                     atol + rtol * fabs(want[w]), rtol, atol);
        }
    }
    return worst;
}

/* The seed goes through splitmix64 so seeds 0, 1, 2 ... give unrelated,
 * never-zero xorshift states. */
void ref_rng_seed(ref_rng *rng, unsigned long long seed)
{
    unsigned long long z = seed + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    rng->state = z ? z : 0x2545F4914F6CDD1DULL;
}

/* xorshift64*; the top 53 bits make a double in [0, 1). */
double ref_rng_uniform(ref_rng *rng, double lo, double hi)
{
    unsigned long long s = rng->state;
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    rng->state = s;
    const unsigned long long r = s * 0x2545F4914F6CDD1DULL;
    const double u = (double)(r >> 11) * (1.0 / 9007199254740992.0);
    return lo + (hi - lo) * u;
}

/* x [n] <- uniform [lo, hi). */
void ref_fill_uniform(ref_rng *rng, double *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = ref_rng_uniform(rng, lo, hi);
}
