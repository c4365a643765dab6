/* Shape checks shared by the ops. */
#include "ops/op_check.h"

#include <stdio.h>

sn_status sn_check_tensor(sn_context *ctx, const char *op, const char *name, const sn_tensor *t)
{
    if (!t || !t->buffer)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: tensor %s is not allocated", op, name);
    if (t->ctx != ctx)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: tensor %s belongs to another context", op, name);
    return SN_OK;
}

void sn_dims4(const sn_tensor *t, int *n, int *c, int *h, int *w)
{
    int d[4] = {1, 1, 1, 1};
    for (int i = 0; i < t->ndim && i < 4; i++)
        d[i] = t->shape[i];
    *n = d[0];
    *c = d[1];
    *h = d[2];
    *w = d[3];
}

sn_status sn_check_count(const char *op, const char *name, const sn_tensor *t, size_t count)
{
    if (t->count == count)
        return SN_OK;
    char s[64];
    return sn_fail(SN_ERR_SHAPE, "%s: %s %s has %zu elements, expected %zu", op, name,
                   sn_shape_string(t, s, sizeof s), t->count, count);
}

sn_status sn_check_dims(const char *op, const char *name, const sn_tensor *t, int n, int c, int h,
                        int w)
{
    int tn, tc, th, tw;
    sn_dims4(t, &tn, &tc, &th, &tw);
    if (tn == n && tc == c && th == h && tw == w)
        return SN_OK;
    char s[64];
    return sn_fail(SN_ERR_SHAPE, "%s: %s is %s, expected [%d, %d, %d, %d]", op, name,
                   sn_shape_string(t, s, sizeof s), n, c, h, w);
}
