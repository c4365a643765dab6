/* Device tensors: float32, up to 4 dimensions, one buffer each. */
#include "runtime/runtime_internal.h"

#include <stdio.h>
#include <string.h>

const char *sn_shape_string(const sn_tensor *t, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ", %d" : "%d", t->shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
}

sn_status sn_tensor_alloc(sn_context *ctx, sn_tensor *t, int ndim, const int *shape,
                          sn_mem_category category)
{
    memset(t, 0, sizeof *t);
    if (ndim < 1 || ndim > 4)
        return sn_fail(SN_ERR_SHAPE, "tensor: %d dimensions (1 to 4 supported)", ndim);
    /* Ops index elements with int products, so the element count must stay
     * below 2^31. Check before each multiplication: a product checked only at
     * the end can wrap around size_t (e.g. {65615, 65720, 65573, 65237}). */
    const size_t max_count = 0x7fffffff;
    size_t count = 1;
    int too_big = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0)
            return sn_fail(SN_ERR_SHAPE, "tensor: dimension %d is %d (must be positive)", i, shape[i]);
        t->shape[i] = shape[i];
        too_big |= count > max_count / (size_t)shape[i];
        if (!too_big)
            count *= (size_t)shape[i];
    }
    t->ndim = ndim;
    if (too_big) {
        char s[64];
        return sn_fail(SN_ERR_SHAPE, "tensor %s: more than 2^31-1 elements",
                       sn_shape_string(t, s, sizeof s));
    }
    char what[96];
    char s[64];
    snprintf(what, sizeof what, "tensor %s", sn_shape_string(t, s, sizeof s));
    cl_mem m;
    SN_TRY(sn_buffer_alloc(ctx, count * sizeof(float), category, what, &m));
    t->count = count;
    t->buffer = m;
    t->category = category;
    t->ctx = ctx;
    return SN_OK;
}

void sn_tensor_release(sn_tensor *t)
{
    if (t->ctx && t->buffer && t->view)
        clReleaseMemObject((cl_mem)t->buffer);
    else if (t->ctx && t->buffer)
        sn_buffer_release(t->ctx, (cl_mem)t->buffer, t->count * sizeof(float), t->category);
    memset(t, 0, sizeof *t);
}

size_t sn_view_align_floats(const sn_context *ctx)
{
    cl_uint bits = 0;
    if (clGetDeviceInfo(ctx->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof bits, &bits, NULL) !=
            CL_SUCCESS ||
        bits < 32)
        bits = 4096; /* the largest alignment drivers report (512 bytes) */
    return bits / 32;
}

sn_status sn_tensor_view(const sn_tensor *parent, size_t offset, int ndim, const int *shape,
                         sn_tensor *out)
{
    memset(out, 0, sizeof *out);
    size_t count = 1;
    for (int i = 0; i < ndim && i < 4; i++) {
        count *= (size_t)(shape[i] > 0 ? shape[i] : 0);
        out->shape[i] = shape[i];
    }
    if (ndim < 1 || ndim > 4 || count == 0 || offset > parent->count ||
        count > parent->count - offset || offset % sn_view_align_floats(parent->ctx))
        return sn_fail(SN_ERR_INTERNAL,
                       "tensor view of %zu floats at %zu in a tensor of %zu (alignment %zu)",
                       count, offset, parent->count, sn_view_align_floats(parent->ctx));
    cl_buffer_region region = {offset * sizeof(float), count * sizeof(float)};
    cl_int err;
    cl_mem m = clCreateSubBuffer((cl_mem)parent->buffer, CL_MEM_READ_WRITE,
                                 CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
    if (err != CL_SUCCESS)
        return sn_cl_fail(err, "clCreateSubBuffer (tensor view)");
    out->ndim = ndim;
    out->count = count;
    out->buffer = m;
    out->category = parent->category;
    out->ctx = parent->ctx;
    out->view = 1;
    return SN_OK;
}

static sn_status check_count(const sn_tensor *t, size_t count, const char *op)
{
    char s[64];
    if (!t->buffer)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: tensor is not allocated", op);
    if (count != t->count)
        return sn_fail(SN_ERR_SHAPE, "%s: %zu host elements for tensor %s of %zu", op, count,
                       sn_shape_string(t, s, sizeof s), t->count);
    return SN_OK;
}

sn_status sn_tensor_upload(sn_tensor *t, const float *host, size_t count)
{
    SN_TRY(check_count(t, count, "tensor upload"));
    SN_CL_TRY(clEnqueueWriteBuffer(t->ctx->queue, (cl_mem)t->buffer, CL_TRUE, 0,
                                   count * sizeof(float), host, 0, NULL, NULL),
              "tensor upload (clEnqueueWriteBuffer)");
    return SN_OK;
}

sn_status sn_tensor_download(const sn_tensor *t, float *host, size_t count)
{
    SN_TRY(check_count(t, count, "tensor download"));
    SN_CL_TRY(clEnqueueReadBuffer(t->ctx->queue, (cl_mem)t->buffer, CL_TRUE, 0,
                                  count * sizeof(float), host, 0, NULL, NULL),
              "tensor download (clEnqueueReadBuffer)");
    return SN_OK;
}

sn_status sn_tensor_fill(sn_tensor *t, float value)
{
    SN_TRY(check_count(t, t->count, "tensor fill"));
    /* A kernel rather than clEnqueueFillBuffer: some 1.2 drivers mishandle
     * float patterns, and this keeps one code path on every device. */
    size_t global = t->count;
    return SN_ENQUEUE(t->ctx, "sn_fill", 1, &global, NULL, SN_ARG_INT(t->count),
                      SN_ARG_FLOAT(value), SN_ARG_MEM(t->buffer));
}
