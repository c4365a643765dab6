/* Batch norm 2d over (N, H, W) per channel, optionally fused with a ReLU
 * (`relu` = 1: forward y = max(bn(x), 0), backward dy masked by y > 0) and
 * with a residual add before it (`res` = 1: forward y = max(bn(x) + r, 0),
 * the tail of a post-activation residual block; backward `sc` = 1 stores,
 * 2 adds the masked dy into the shortcut's gradient dsc, 0 leaves it).
 *
 * Two families of kernels; the host picks one per device class
 * (src/ops/batchnorm.c):
 *  - work-group kernels (GPUs): below, local-memory tree reductions over
 *    chunks of a channel, element-wise kernels with one work-item per value;
 *  - plane kernels (CPUs, at the end of this file): one work-item per (n, c)
 *    plane of HW contiguous values, explicit vector loops, no barriers.
 * Both merge partials per channel in a fixed order: deterministic.
 *
 * A channel holds M = N*HW values, HW apart in blocks of HW. The reductions
 * split each channel into G contiguous chunks of `chunk` values (in the order
 * j = n*HW + i), one work-group per (chunk, channel): global (L*G, C), local
 * (L, 1). Any L the device allows works: the tree below handles sizes that
 * are not powers of two. A second kernel, one work-item per channel, merges
 * the G partials of its channel in a fixed order, so results are
 * deterministic and no atomics are needed.
 *
 * Statistics: each work-item runs Welford's update over its values and the
 * partials merge with Chan's formula, so the variance never suffers the
 * cancellation of E[x^2] - E[x]^2. */

/* Merge (nb, mb, m2b) into (*na, *ma, *m2a): Chan et al.'s pairwise update. */
static void sn_bn_chan_merge(int *na, float *ma, float *m2a, int nb, float mb, float m2b)
{
    if (nb <= 0)
        return;
    if (*na <= 0) {
        *na = nb;
        *ma = mb;
        *m2a = m2b;
        return;
    }
    const float n = (float)(*na + nb);
    const float fb = (float)nb / n;
    const float d = mb - *ma;
    *ma += d * fb;
    *m2a += m2b + d * d * (float)(*na) * fb;
    *na += nb;
}

/* Smallest power of two >= n. */
static int sn_bn_pow2_ceil(int n)
{
    int p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

/* Position of value j of channel c: (n*C + c)*HW + i with j = n*HW + i.
 * Work-items step by L values; dn, di advance (n, i) without a division. */

/* x [N,C,H,W] -> partial [2, C, G]: per chunk the mean and the sum of squared
 * deviations (M2). Empty work-items (count 0) drop out of the merge. */
__kernel void sn_bn_stats_partial(const int N, const int C, const int HW, const int chunk,
                                  const int G, __global const float *x,
                                  __global float *partial, __local int *lcount,
                                  __local float *lmean, __local float *lm2)
{
    const int lid = get_local_id(0), L = get_local_size(0);
    const int g = get_group_id(0), c = get_global_id(1);
    const int M = N * HW;
    const int j0 = g * chunk;
    const int j1 = j0 + min(chunk, M - j0);

    int count = 0;
    float mean = 0.0f, m2 = 0.0f;
    int j = j0 + lid;
    if (c < C && j < j1) {
        int n = j / HW, i = j - n * HW;
        const int dn = L / HW, di = L - dn * HW;
        for (; j < j1; j += L) {
            const float v = x[(n * C + c) * HW + i];
            count++;
            const float d = v - mean;
            mean += d / (float)count;
            m2 += d * (v - mean);
            n += dn;
            i += di;
            if (i >= HW) {
                i -= HW;
                n++;
            }
        }
    }
    lcount[lid] = count;
    lmean[lid] = mean;
    lm2[lid] = m2;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = sn_bn_pow2_ceil(L) >> 1; s > 0; s >>= 1) {
        if (lid < s && lid + s < L) {
            int na = lcount[lid];
            float ma = lmean[lid], m2a = lm2[lid];
            sn_bn_chan_merge(&na, &ma, &m2a, lcount[lid + s], lmean[lid + s], lm2[lid + s]);
            lcount[lid] = na;
            lmean[lid] = ma;
            lm2[lid] = m2a;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0 && c < C) {
        partial[c * G + g] = lmean[0];
        partial[(C + c) * G + g] = lm2[0];
    }
}

/* partial [2, C, G] -> save_mean, save_invstd [C]; running stats [C] updated
 * with the unbiased variance (the biased one when M = 1, as the reference). */
__kernel void sn_bn_stats_finalize(const int C, const int M, const int chunk, const int G,
                                   const float momentum, const float eps,
                                   __global const float *partial, __global float *save_mean,
                                   __global float *save_invstd, __global float *running_mean,
                                   __global float *running_var)
{
    const int c = get_global_id(0);
    if (c >= C)
        return;
    int count = 0;
    float mean = 0.0f, m2 = 0.0f;
    for (int g = 0; g < G; g++) {
        const int j0 = g * chunk;
        if (j0 >= M)
            break;
        sn_bn_chan_merge(&count, &mean, &m2, min(chunk, M - j0), partial[c * G + g],
                         partial[(C + c) * G + g]);
    }
    const float var = m2 / (float)M;
    const float unbiased = M > 1 ? m2 / (float)(M - 1) : var;
    save_mean[c] = mean;
    save_invstd[c] = 1.0f / sqrt(var + eps);
    running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean;
    running_var[c] = (1.0f - momentum) * running_var[c] + momentum * unbiased;
}

/* y = gamma * (x - mean) * invstd + beta (+ r when res; then max(., 0) when
 * relu, NaN giving 0 as sn_relu_forward); global (HW, N*C). y may be x or
 * r (r is not read unless res). */
__kernel void sn_bn_normalize(const int C, const int HW, const int NC, const int relu,
                              const int res, __global const float *x,
                              __global const float *r, __global const float *gamma,
                              __global const float *beta, __global const float *mean,
                              __global const float *invstd, __global float *y)
{
    const int i = get_global_id(0), nc = get_global_id(1);
    if (i >= HW || nc >= NC)
        return;
    const int c = nc % C;
    const int k = nc * HW + i;
    float v = (x[k] - mean[c]) * (gamma[c] * invstd[c]) + beta[c];
    if (res)
        v += r[k];
    y[k] = relu ? (v > 0.0f ? v : 0.0f) : v;
}

/* Eval mode: y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta
 * (+ r, max(., 0) as sn_bn_normalize). */
__kernel void sn_bn_eval(const int C, const int HW, const int NC, const int relu, const int res,
                         const float eps, __global const float *x, __global const float *r,
                         __global const float *gamma, __global const float *beta,
                         __global const float *running_mean, __global const float *running_var,
                         __global float *y)
{
    const int i = get_global_id(0), nc = get_global_id(1);
    if (i >= HW || nc >= NC)
        return;
    const int c = nc % C;
    const int k = nc * HW + i;
    const float invstd = 1.0f / sqrt(running_var[c] + eps);
    float v = (x[k] - running_mean[c]) * (gamma[c] * invstd) + beta[c];
    if (res)
        v += r[k];
    y[k] = relu ? (v > 0.0f ? v : 0.0f) : v;
}

/* Batch norm in eval mode as a per-channel affine map, for folding into the
 * convolution before it: y = x * scale + shift with scale = gamma /
 * sqrt(running_var + eps), shift = beta - running_mean * scale. All [C]. */
__kernel void sn_bn_fold(const int C, const float eps, __global const float *gamma,
                         __global const float *beta, __global const float *running_mean,
                         __global const float *running_var, __global float *scale,
                         __global float *shift)
{
    const int c = get_global_id(0);
    if (c >= C)
        return;
    const float s = gamma[c] / sqrt(running_var[c] + eps);
    scale[c] = s;
    shift[c] = beta[c] - running_mean[c] * s;
}

/* dy, x [N,C,H,W] -> partial [2, C, G]: per chunk sum(dy) and
 * sum(dy * (x - mean)), dy taken as 0 where y <= 0 when relu (y is the fused
 * forward's output; ignored otherwise). Same launch shape as
 * sn_bn_stats_partial. */
__kernel void sn_bn_grad_partial(const int N, const int C, const int HW, const int chunk,
                                 const int G, const int relu, __global const float *dy,
                                 __global const float *y, __global const float *x,
                                 __global const float *mean, __global float *partial,
                                 __local float *lsum, __local float *lsumx)
{
    const int lid = get_local_id(0), L = get_local_size(0);
    const int g = get_group_id(0), c = get_global_id(1);
    const int M = N * HW;
    const int j0 = g * chunk;
    const int j1 = j0 + min(chunk, M - j0);

    float sum = 0.0f, sumx = 0.0f;
    int j = j0 + lid;
    if (c < C && j < j1) {
        const float mu = mean[c];
        int n = j / HW, i = j - n * HW;
        const int dn = L / HW, di = L - dn * HW;
        for (; j < j1; j += L) {
            const int k = (n * C + c) * HW + i;
            const float d = relu && !(y[k] > 0.0f) ? 0.0f : dy[k];
            sum += d;
            sumx += d * (x[k] - mu);
            n += dn;
            i += di;
            if (i >= HW) {
                i -= HW;
                n++;
            }
        }
    }
    lsum[lid] = sum;
    lsumx[lid] = sumx;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = sn_bn_pow2_ceil(L) >> 1; s > 0; s >>= 1) {
        if (lid < s && lid + s < L) {
            lsum[lid] += lsum[lid + s];
            lsumx[lid] += lsumx[lid + s];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0 && c < C) {
        partial[c * G + g] = lsum[0];
        partial[(C + c) * G + g] = lsumx[0];
    }
}

/* partial [2, C, G] -> dbeta = sum dy, dgamma = sum dy * xhat (added when acc),
 * and stats[stats_off + (0|1)*C + c] = (dbeta / M, dgamma / M) of this call
 * for sn_bn_backward_data. */
__kernel void sn_bn_grad_finalize(const int C, const int M, const int G, const int acc,
                                  __global const float *partial, __global const float *invstd,
                                  __global float *dgamma, __global float *dbeta,
                                  __global float *stats, const int stats_off)
{
    const int c = get_global_id(0);
    if (c >= C)
        return;
    float sum = 0.0f, sumx = 0.0f;
    for (int g = 0; g < G; g++) {
        sum += partial[c * G + g];
        sumx += partial[(C + c) * G + g];
    }
    const float dg = sumx * invstd[c];
    if (acc) {
        dgamma[c] += dg;
        dbeta[c] += sum;
    } else {
        dgamma[c] = dg;
        dbeta[c] = sum;
    }
    stats[stats_off + c] = sum / (float)M;
    stats[stats_off + C + c] = dg / (float)M;
}

/* Store (sc = 1) or add (sc = 2) the masked gradient d into the shortcut's
 * gradient dsc[k]; sc = 0 leaves dsc alone. */
static void sn_bn_shortcut_grad(const int sc, __global float *dsc, const int k, const float d)
{
    if (sc == 1)
        dsc[k] = d;
    else if (sc == 2)
        dsc[k] += d;
}

/* dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)), and dy
 * (masked) into dsc as `sc` says; global (HW, N*C). dx or dsc (not both)
 * may be dy. */
__kernel void sn_bn_backward_data(const int C, const int HW, const int NC, const int acc,
                                  const int relu, const int sc, __global const float *dy,
                                  __global const float *y, __global const float *x,
                                  __global const float *gamma, __global const float *mean,
                                  __global const float *invstd, __global const float *stats,
                                  const int stats_off, __global float *dx, __global float *dsc)
{
    const int i = get_global_id(0), nc = get_global_id(1);
    if (i >= HW || nc >= NC)
        return;
    const int c = nc % C;
    const int k = nc * HW + i;
    const float is = invstd[c];
    const float xhat = (x[k] - mean[c]) * is;
    const float d = relu && !(y[k] > 0.0f) ? 0.0f : dy[k];
    const float v = gamma[c] * is * (d - stats[stats_off + c] - xhat * stats[stats_off + C + c]);
    if (acc)
        dx[k] += v;
    else
        dx[k] = v;
    sn_bn_shortcut_grad(sc, dsc, k, d);
}

/* ---- backward of the eval forward (frozen statistics) ----
 * y = gamma * (x - running_mean) * invstd + beta with invstd =
 * 1 / sqrt(running_var + eps) constant, so the batch does not enter the
 * statistics: dx = dy * gamma * invstd, dgamma = sum dy * xhat, dbeta =
 * sum dy. The sums reuse sn_bn_grad_partial with mean = running_mean. */

/* partial [2, C, G] -> dbeta = sum dy, dgamma = invstd * sum dy * (x - rm)
 * (added when acc). */
__kernel void sn_bn_eval_grad_finalize(const int C, const int G, const int acc, const float eps,
                                       __global const float *partial,
                                       __global const float *running_var,
                                       __global float *dgamma, __global float *dbeta)
{
    const int c = get_global_id(0);
    if (c >= C)
        return;
    float sum = 0.0f, sumx = 0.0f;
    for (int g = 0; g < G; g++) {
        sum += partial[c * G + g];
        sumx += partial[(C + c) * G + g];
    }
    const float dg = sumx * (1.0f / sqrt(running_var[c] + eps));
    if (acc) {
        dgamma[c] += dg;
        dbeta[c] += sum;
    } else {
        dgamma[c] = dg;
        dbeta[c] = sum;
    }
}

/* dx = dy * gamma * invstd (added when acc), dy (masked) into dsc as `sc`
 * says; global (HW, N*C). dx or dsc (not both) may be dy. */
__kernel void sn_bn_eval_backward_data(const int C, const int HW, const int NC, const int acc,
                                       const int relu, const int sc, const float eps,
                                       __global const float *dy, __global const float *y,
                                       __global const float *gamma,
                                       __global const float *running_var, __global float *dx,
                                       __global float *dsc)
{
    const int i = get_global_id(0), nc = get_global_id(1);
    if (i >= HW || nc >= NC)
        return;
    const int c = nc % C;
    const int k = nc * HW + i;
    const float d = relu && !(y[k] > 0.0f) ? 0.0f : dy[k];
    const float v = d * (gamma[c] * (1.0f / sqrt(running_var[c] + eps)));
    if (acc)
        dx[k] += v;
    else
        dx[k] = v;
    sn_bn_shortcut_grad(sc, dsc, k, d);
}

/* ---- plane kernels (CPUs) ----
 * One work-item per (n, c) plane p = n*C + c of HW contiguous values, global
 * NC = N*C (rounded up to the work-group size), no local memory and no
 * barriers: a CPU runs a work-group as a loop over its work-items, and each
 * work-item walks its plane with SN_BN_V-wide vector loads and stores, so the
 * inner loops vectorise whatever the work-group size. Per-plane partials go
 * to partial [2, C, N] (index c*N + n), which the channel merges above read
 * as G = N chunks of `chunk` = HW values in the order n = 0..N-1. Every sum
 * runs in a fixed order (lanes, then a fixed tree of the lanes, then the
 * tail), so the results do not depend on the work-group size. */

#define SN_BN_V 8
#define SN_BN_LOAD(p) vload8(0, (p))
#define SN_BN_STORE(v, p) vstore8((v), 0, (p))
typedef float8 sn_bn_vec;
typedef int8 sn_bn_ivec;

static float sn_bn_hsum(const sn_bn_vec v)
{
    const float4 a = v.lo + v.hi;
    const float2 b = a.lo + a.hi;
    return dot(b, (float2)(1.0f)); /* not b.x + b.y: see sn_wino_hsum */
}

/* max(v, 0) with NaN giving 0, as sn_relu_forward. */
static sn_bn_vec sn_bn_vrelu(const sn_bn_vec v)
{
    return select((sn_bn_vec)(0.0f), v, (sn_bn_ivec)(v > (sn_bn_vec)(0.0f)));
}

/* dy where y > 0, else 0. */
static sn_bn_vec sn_bn_vmask(const sn_bn_vec dy, const sn_bn_vec y)
{
    return select((sn_bn_vec)(0.0f), dy, (sn_bn_ivec)(y > (sn_bn_vec)(0.0f)));
}

/* x -> partial [2, C, N]: per plane the mean and the sum of squared
 * deviations (M2), the plane summed twice (the second pass about the first
 * mean, corrected by the residual sum) so M2 never cancels. */
__kernel void sn_bn_plane_stats(const int C, const int HW, const int NC, __global const float *x,
                                __global float *partial)
{
    const int p = get_global_id(0);
    if (p >= NC)
        return;
    const int N = NC / C, n = p / C, c = p - n * C;
    const __global float *xp = x + (size_t)p * (size_t)HW;
    const int V = HW - HW % SN_BN_V;
    sn_bn_vec s8 = (sn_bn_vec)(0.0f);
    for (int i = 0; i < V; i += SN_BN_V)
        s8 += SN_BN_LOAD(xp + i);
    float s = sn_bn_hsum(s8);
    for (int i = V; i < HW; i++)
        s += xp[i];
    const float inv = 1.0f / (float)HW;
    const float m0 = s * inv;
    sn_bn_vec d8 = (sn_bn_vec)(0.0f), q8 = (sn_bn_vec)(0.0f);
    for (int i = 0; i < V; i += SN_BN_V) {
        const sn_bn_vec d = SN_BN_LOAD(xp + i) - m0;
        d8 += d;
        q8 += d * d;
    }
    float d = sn_bn_hsum(d8), q = sn_bn_hsum(q8);
    for (int i = V; i < HW; i++) {
        const float e = xp[i] - m0;
        d += e;
        q += e * e;
    }
    partial[c * N + n] = m0 + d * inv;
    partial[(C + c) * N + n] = fmax(q - d * d * inv, 0.0f);
}

/* One plane: y = (x - mu) * a + b, then + r when res, then max(., 0) when
 * relu; vectorised. */
static void sn_bn_plane_affine(const __global float *xp, const __global float *rp,
                               __global float *yp, const int HW, const float mu, const float a,
                               const float b, const int relu, const int res)
{
    const int V = HW - HW % SN_BN_V;
    if (res && relu) {
        for (int i = 0; i < V; i += SN_BN_V)
            SN_BN_STORE(sn_bn_vrelu((SN_BN_LOAD(xp + i) - mu) * a + b + SN_BN_LOAD(rp + i)),
                        yp + i);
        for (int i = V; i < HW; i++) {
            const float v = (xp[i] - mu) * a + b + rp[i];
            yp[i] = v > 0.0f ? v : 0.0f;
        }
    } else if (res) {
        for (int i = 0; i < V; i += SN_BN_V)
            SN_BN_STORE((SN_BN_LOAD(xp + i) - mu) * a + b + SN_BN_LOAD(rp + i), yp + i);
        for (int i = V; i < HW; i++)
            yp[i] = (xp[i] - mu) * a + b + rp[i];
    } else if (relu) {
        for (int i = 0; i < V; i += SN_BN_V)
            SN_BN_STORE(sn_bn_vrelu((SN_BN_LOAD(xp + i) - mu) * a + b), yp + i);
        for (int i = V; i < HW; i++) {
            const float v = (xp[i] - mu) * a + b;
            yp[i] = v > 0.0f ? v : 0.0f;
        }
    } else {
        for (int i = 0; i < V; i += SN_BN_V)
            SN_BN_STORE((SN_BN_LOAD(xp + i) - mu) * a + b, yp + i);
        for (int i = V; i < HW; i++)
            yp[i] = (xp[i] - mu) * a + b;
    }
}

/* y = gamma * (x - mean) * invstd + beta (+ r when res, max(., 0) when
 * relu). y may be x or r. */
__kernel void sn_bn_plane_normalize(const int C, const int HW, const int NC, const int relu,
                                    const int res, __global const float *x,
                                    __global const float *r, __global const float *gamma,
                                    __global const float *beta, __global const float *mean,
                                    __global const float *invstd, __global float *y)
{
    const int p = get_global_id(0);
    if (p >= NC)
        return;
    const int c = p % C;
    const float mu = mean[c], a = gamma[c] * invstd[c], b = beta[c];
    const size_t off = (size_t)p * (size_t)HW;
    sn_bn_plane_affine(x + off, r + off, y + off, HW, mu, a, b, relu, res);
}

/* Eval mode: the running statistics (+ r, max(., 0) as above). y may be x or
 * r. */
__kernel void sn_bn_plane_eval(const int C, const int HW, const int NC, const int relu,
                               const int res, const float eps, __global const float *x,
                               __global const float *r, __global const float *gamma,
                               __global const float *beta, __global const float *running_mean,
                               __global const float *running_var, __global float *y)
{
    const int p = get_global_id(0);
    if (p >= NC)
        return;
    const int c = p % C;
    const float invstd = 1.0f / sqrt(running_var[c] + eps);
    const float mu = running_mean[c], a = gamma[c] * invstd, b = beta[c];
    const size_t off = (size_t)p * (size_t)HW;
    sn_bn_plane_affine(x + off, r + off, y + off, HW, mu, a, b, relu, res);
}

/* dy, x -> partial [2, C, N]: per plane sum(dy) and sum(dy * (x - mean)), dy
 * masked by y > 0 when relu (y ignored otherwise). */
__kernel void sn_bn_plane_grad(const int C, const int HW, const int NC, const int relu,
                               __global const float *dy, __global const float *y,
                               __global const float *x, __global const float *mean,
                               __global float *partial)
{
    const int p = get_global_id(0);
    if (p >= NC)
        return;
    const int N = NC / C, n = p / C, c = p - n * C;
    const float mu = mean[c];
    const size_t off = (size_t)p * (size_t)HW;
    const __global float *dyp = dy + off, *yp = y + off, *xp = x + off;
    const int V = HW - HW % SN_BN_V;
    sn_bn_vec s8 = (sn_bn_vec)(0.0f), t8 = (sn_bn_vec)(0.0f);
    float s = 0.0f, t = 0.0f;
    if (relu) {
        for (int i = 0; i < V; i += SN_BN_V) {
            const sn_bn_vec d = sn_bn_vmask(SN_BN_LOAD(dyp + i), SN_BN_LOAD(yp + i));
            s8 += d;
            t8 += d * (SN_BN_LOAD(xp + i) - mu);
        }
        s = sn_bn_hsum(s8);
        t = sn_bn_hsum(t8);
        for (int i = V; i < HW; i++) {
            const float d = yp[i] > 0.0f ? dyp[i] : 0.0f;
            s += d;
            t += d * (xp[i] - mu);
        }
    } else {
        for (int i = 0; i < V; i += SN_BN_V) {
            const sn_bn_vec d = SN_BN_LOAD(dyp + i);
            s8 += d;
            t8 += d * (SN_BN_LOAD(xp + i) - mu);
        }
        s = sn_bn_hsum(s8);
        t = sn_bn_hsum(t8);
        for (int i = V; i < HW; i++) {
            const float d = dyp[i];
            s += d;
            t += d * (xp[i] - mu);
        }
    }
    partial[c * N + n] = s;
    partial[(C + c) * N + n] = t;
}

/* One plane of the shortcut's gradient: dsc = d (sc = 1) or dsc += d
 * (sc = 2), d the masked dy of SN_BN_V values at i. */
static void sn_bn_plane_shortcut_grad(const int sc, __global float *dscp, const int i,
                                      const sn_bn_vec d)
{
    if (sc == 1)
        SN_BN_STORE(d, dscp + i);
    else if (sc == 2)
        SN_BN_STORE(d + SN_BN_LOAD(dscp + i), dscp + i);
}

/* dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)) (added when
 * acc), dy masked by y > 0 when relu; the means from sn_bn_grad_finalize.
 * The masked dy also goes to dsc as `sc` says. dx or dsc (not both) may be
 * dy. */
__kernel void sn_bn_plane_backward_data(const int C, const int HW, const int NC, const int acc,
                                        const int relu, const int sc, __global const float *dy,
                                        __global const float *y, __global const float *x,
                                        __global const float *gamma, __global const float *mean,
                                        __global const float *invstd,
                                        __global const float *stats, const int stats_off,
                                        __global float *dx, __global float *dsc)
{
    const int p = get_global_id(0);
    if (p >= NC)
        return;
    const int c = p % C;
    const float is = invstd[c], mu = mean[c], k = gamma[c] * is;
    const float s0 = stats[stats_off + c], s1 = stats[stats_off + C + c];
    const size_t off = (size_t)p * (size_t)HW;
    const __global float *dyp = dy + off, *yp = y + off, *xp = x + off;
    __global float *dxp = dx + off, *dscp = dsc + off;
    const int V = HW - HW % SN_BN_V;
    for (int i = 0; i < V; i += SN_BN_V) {
        sn_bn_vec d = SN_BN_LOAD(dyp + i);
        if (relu)
            d = sn_bn_vmask(d, SN_BN_LOAD(yp + i));
        const sn_bn_vec xhat = (SN_BN_LOAD(xp + i) - mu) * is;
        sn_bn_vec v = k * (d - s0 - xhat * s1);
        if (acc)
            v += SN_BN_LOAD(dxp + i);
        SN_BN_STORE(v, dxp + i);
        sn_bn_plane_shortcut_grad(sc, dscp, i, d);
    }
    for (int i = V; i < HW; i++) {
        const float d = relu && !(yp[i] > 0.0f) ? 0.0f : dyp[i];
        const float xhat = (xp[i] - mu) * is;
        const float v = k * (d - s0 - xhat * s1);
        dxp[i] = acc ? dxp[i] + v : v;
        sn_bn_shortcut_grad(sc, dscp, i, d);
    }
}

/* Backward of the eval forward: dx = dy * gamma * invstd (added when acc), dy
 * masked by y > 0 when relu, and into dsc as `sc` says. dx or dsc (not both)
 * may be dy. */
__kernel void sn_bn_plane_eval_backward_data(const int C, const int HW, const int NC,
                                             const int acc, const int relu, const int sc,
                                             const float eps, __global const float *dy,
                                             __global const float *y,
                                             __global const float *gamma,
                                             __global const float *running_var,
                                             __global float *dx, __global float *dsc)
{
    const int p = get_global_id(0);
    if (p >= NC)
        return;
    const int c = p % C;
    const float k = gamma[c] * (1.0f / sqrt(running_var[c] + eps));
    const size_t off = (size_t)p * (size_t)HW;
    const __global float *dyp = dy + off, *yp = y + off;
    __global float *dxp = dx + off, *dscp = dsc + off;
    const int V = HW - HW % SN_BN_V;
    for (int i = 0; i < V; i += SN_BN_V) {
        sn_bn_vec d = SN_BN_LOAD(dyp + i);
        if (relu)
            d = sn_bn_vmask(d, SN_BN_LOAD(yp + i));
        sn_bn_vec v = d * k;
        if (acc)
            v += SN_BN_LOAD(dxp + i);
        SN_BN_STORE(v, dxp + i);
        sn_bn_plane_shortcut_grad(sc, dscp, i, d);
    }
    for (int i = V; i < HW; i++) {
        const float d = relu && !(yp[i] > 0.0f) ? 0.0f : dyp[i];
        const float v = d * k;
        dxp[i] = acc ? dxp[i] + v : v;
        sn_bn_shortcut_grad(sc, dscp, i, d);
    }
}
