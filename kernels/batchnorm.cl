/* Batch norm 2d over (N, H, W) per channel.
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

/* y = gamma * (x - mean) * invstd + beta; global (HW, N*C). y may be x. */
__kernel void sn_bn_normalize(const int C, const int HW, const int NC, __global const float *x,
                              __global const float *gamma, __global const float *beta,
                              __global const float *mean, __global const float *invstd,
                              __global float *y)
{
    const int i = get_global_id(0), nc = get_global_id(1);
    if (i >= HW || nc >= NC)
        return;
    const int c = nc % C;
    const int k = nc * HW + i;
    y[k] = (x[k] - mean[c]) * (gamma[c] * invstd[c]) + beta[c];
}

/* Eval mode: y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta. */
__kernel void sn_bn_eval(const int C, const int HW, const int NC, const float eps,
                         __global const float *x, __global const float *gamma,
                         __global const float *beta, __global const float *running_mean,
                         __global const float *running_var, __global float *y)
{
    const int i = get_global_id(0), nc = get_global_id(1);
    if (i >= HW || nc >= NC)
        return;
    const int c = nc % C;
    const int k = nc * HW + i;
    const float invstd = 1.0f / sqrt(running_var[c] + eps);
    y[k] = (x[k] - running_mean[c]) * (gamma[c] * invstd) + beta[c];
}

/* dy, x [N,C,H,W] -> partial [2, C, G]: per chunk sum(dy) and
 * sum(dy * (x - mean)). Same launch shape as sn_bn_stats_partial. */
__kernel void sn_bn_grad_partial(const int N, const int C, const int HW, const int chunk,
                                 const int G, __global const float *dy, __global const float *x,
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
            const float d = dy[k];
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

/* dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)); global
 * (HW, N*C). dx may be dy. */
__kernel void sn_bn_backward_data(const int C, const int HW, const int NC, const int acc,
                                  __global const float *dy, __global const float *x,
                                  __global const float *gamma, __global const float *mean,
                                  __global const float *invstd, __global const float *stats,
                                  const int stats_off, __global float *dx)
{
    const int i = get_global_id(0), nc = get_global_id(1);
    if (i >= HW || nc >= NC)
        return;
    const int c = nc % C;
    const int k = nc * HW + i;
    const float is = invstd[c];
    const float xhat = (x[k] - mean[c]) * is;
    const float v = gamma[c] * is * (dy[k] - stats[stats_off + c] - xhat * stats[stats_off + C + c]);
    if (acc)
        dx[k] += v;
    else
        dx[k] = v;
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

/* dx = dy * gamma * invstd (added when acc); global (HW, N*C). dx may be dy. */
__kernel void sn_bn_eval_backward_data(const int C, const int HW, const int NC, const int acc,
                                       const float eps, __global const float *dy,
                                       __global const float *gamma,
                                       __global const float *running_var, __global float *dx)
{
    const int i = get_global_id(0), nc = get_global_id(1);
    if (i >= HW || nc >= NC)
        return;
    const int c = nc % C;
    const int k = nc * HW + i;
    const float v = dy[k] * (gamma[c] * (1.0f / sqrt(running_var[c] + eps)));
    if (acc)
        dx[k] += v;
    else
        dx[k] = v;
}
