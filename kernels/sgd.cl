/* The optimizer step and the small vector utilities (scale, axpy, copy).
 * One work-item per element; the host rounds the global size up to a
 * multiple of the work-group size, so every kernel checks i < n. */

/* torch.optim.SGD, dampening 0, one parameter tensor:
 *   g = grad + weight_decay * p;  buf = momentum * buf + g
 *   g = nesterov ? g + momentum * buf : buf;  p -= lr * g
 * use_buf 0 (momentum 0, no buffer): p -= lr * (grad + weight_decay * p);
 * `buf` is then a dummy argument and never touched. */
__kernel void sn_sgd_step(const int n, const float lr, const float momentum,
                          const float weight_decay, const int nesterov, const int use_buf,
                          __global float *param, __global const float *grad,
                          __global float *buf)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    float p = param[i];
    float g = grad[i] + weight_decay * p;
    if (use_buf) {
        /* momentum 0 writes g without reading the old buffer, as PyTorch's
         * buffer would hold it: an uninitialised buffer cannot leak NaN. */
        float b = momentum != 0.0f ? momentum * buf[i] + g : g;
        buf[i] = b;
        g = nesterov ? g + momentum * b : b;
    }
    param[i] = p - lr * g;
}

/* x *= alpha */
__kernel void sn_scale(const int n, const float alpha, __global float *x)
{
    int i = get_global_id(0);
    if (i < n)
        x[i] *= alpha;
}

/* y += alpha * x */
__kernel void sn_axpy(const int n, const float alpha, __global const float *x,
                      __global float *y)
{
    int i = get_global_id(0);
    if (i < n)
        y[i] += alpha * x[i];
}

/* y = x */
__kernel void sn_copy(const int n, __global const float *x, __global float *y)
{
    int i = get_global_id(0);
    if (i < n)
        y[i] = x[i];
}
