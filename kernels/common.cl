/* Kernels every model needs (tensor fills). Like every kernel file, a
 * program of its own at run time (kernels/meson.build). Sizes arrive as
 * int: tensors in sharesnet stay below 2^31 elements per buffer (checked on
 * the host). */

/* x[i] = value */
__kernel void sn_fill(const int n, const float value, __global float *x)
{
    int i = get_global_id(0);
    if (i < n)
        x[i] = value;
}
