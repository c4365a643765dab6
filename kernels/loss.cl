/* Softmax cross-entropy, one work-item per sample.
 *
 * Labels arrive as floats. A label that is not an integer in [0, K) (NaN
 * included) is never used as an index: the kernels read class 0 instead and
 * mark the sample with NaN (loss and rank forward, the whole gradient row
 * backward), so a bad label shows up instead of training silently. */

/* 1 when `label` is a valid class index below K; *cls gets it (0 if not). */
static int sn_ce_label(const float label, const int K, int *cls)
{
    const int ok = label >= 0.0f && label < (float)K && label == floor(label);
    *cls = ok ? (int)label : 0;
    return ok;
}

/* logits [N,K], labels [N] -> per_sample [N,2] = (loss, rank); rank = number
 * of classes with a logit strictly greater than the label's. A row with a
 * NaN or infinite logit has rank NaN (a miss): every comparison with NaN is
 * false, so counting "greater" alone would rank a NaN target first and a
 * diverged model would score 100%. */
__kernel void sn_softmax_ce_forward(const int N, const int K, __global const float *logits,
                                    __global const float *labels, __global float *per_sample)
{
    const int n = get_global_id(0);
    if (n >= N)
        return;
    __global const float *row = logits + n * K;
    int cls;
    const int ok = sn_ce_label(labels[n], K, &cls);
    float mx = row[0];
    int finite = isfinite(row[0]);
    for (int k = 1; k < K; k++) {
        mx = row[k] > mx ? row[k] : mx;
        finite &= isfinite(row[k]);
    }
    float sum = 0.0f;
    for (int k = 0; k < K; k++)
        sum += exp(row[k] - mx);
    const float target = row[cls];
    int rank = 0;
    for (int k = 0; k < K; k++)
        rank += row[k] > target;
    per_sample[2 * n] = ok ? (mx - target) + log(sum) : NAN;
    per_sample[2 * n + 1] = ok && finite ? (float)rank : NAN;
}

/* dlogits [N,K] = (softmax(logits) - onehot(label)) * scale. */
__kernel void sn_softmax_ce_backward(const int N, const int K, const float scale, const int acc,
                                     __global const float *logits, __global const float *labels,
                                     __global float *dlogits)
{
    const int n = get_global_id(0);
    if (n >= N)
        return;
    __global const float *row = logits + n * K;
    __global float *out = dlogits + n * K;
    int cls;
    const int ok = sn_ce_label(labels[n], K, &cls);
    float mx = row[0];
    for (int k = 1; k < K; k++)
        mx = row[k] > mx ? row[k] : mx;
    float sum = 0.0f;
    for (int k = 0; k < K; k++)
        sum += exp(row[k] - mx);
    for (int k = 0; k < K; k++) {
        float v = (exp(row[k] - mx) / sum - (k == cls ? 1.0f : 0.0f)) * scale;
        if (!ok)
            v = NAN;
        if (acc)
            out[k] += v;
        else
            out[k] = v;
    }
}
