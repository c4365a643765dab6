/* Batch norm 2d behind one descriptor (sn_bn_desc): the forward and the
 * backward in training mode (batch statistics, running statistics updated)
 * or eval mode (running statistics: eval and frozen batch norm), each
 * plain, fused with the ReLU that follows it, or with a residual add and a
 * ReLU (the tail of a post-activation residual block). Also the eval-mode
 * fold into a per-channel scale and shift (sn_batchnorm_fold) that
 * conv_affine.c applies in the conv's epilogue.
 *
 * x [N,C,H,W] (any tensor viewed as 4-D: [N,C] is batch norm 1d), per-channel
 * tensors [C]. The per-channel reductions run in two kernels: partials, then
 * a fixed-order merge per channel. Their scratch lives in the workspace. The
 * partials come from one of two kernel families (kernels/batchnorm.cl):
 *  - group: one work-group per chunk of a channel with a local-memory tree
 *    (GPUs and accelerators);
 *  - plane: one work-item per (n, c) plane, vector loops and no barriers
 *    (CPUs, where a barrier splits the kernel into work-item loops and the
 *    strided walk over a channel does not vectorise).
 * Each fused variant is the plain kernel with a `relu` flag and a residual
 * (or shortcut-gradient) code, so one path serves every descriptor. Tests
 * choose the family and the partials' work-group size on their context
 * (ctx->test.bn_path, .bn_local). */
#include "ops/batchnorm_internal.h"
#include "ops/op_check.h"

/* Work-group size of the reductions unless a test asks for another. */
#define BN_LOCAL_DEFAULT 256
/* Values per work-item before a channel is split over one more work-group:
 * enough work per item to hide the merge, and channels of a few thousand
 * values still stay in one group. */
#define BN_VALUES_PER_ITEM 32
/* Upper bound of work-groups per channel (the merge loops over them). */
#define BN_MAX_GROUPS 256
/* Planes per work-group of the plane kernels unless a test asks. */
#define BN_PLANES_DEFAULT 8

/* The plane kernels on CPUs, the work-group kernels elsewhere, unless a
 * test forces a family (ctx->test.bn_path). */
static int bn_planes(const sn_context *ctx)
{
    if (ctx->test.bn_path != SN_BN_PATH_AUTO)
        return ctx->test.bn_path == SN_BN_PATH_PLANE;
    return ctx->info.type == SN_DEVICE_CPU;
}

/* Largest work-group size `kernel` can run with, needing `local_bytes` of
 * __local memory per work-item (0: none). */
static sn_status bn_local_limit(sn_context *ctx, const char *kernel, size_t local_bytes,
                                size_t *limit)
{
    cl_kernel k;
    SN_TRY(sn_kernel_get(ctx, kernel, &k));
    size_t kernel_max = 0, item_max[16] = {0};
    cl_ulong kernel_local = 0, device_local = 0;
    SN_CL_TRY(clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE,
                                       sizeof kernel_max, &kernel_max, NULL),
              "clGetKernelWorkGroupInfo(CL_KERNEL_WORK_GROUP_SIZE)");
    SN_CL_TRY(clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_LOCAL_MEM_SIZE,
                                       sizeof kernel_local, &kernel_local, NULL),
              "clGetKernelWorkGroupInfo(CL_KERNEL_LOCAL_MEM_SIZE)");
    SN_CL_TRY(clGetDeviceInfo(ctx->device, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof item_max,
                              item_max, NULL),
              "clGetDeviceInfo(CL_DEVICE_MAX_WORK_ITEM_SIZES)");
    SN_CL_TRY(clGetDeviceInfo(ctx->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof device_local,
                              &device_local, NULL),
              "clGetDeviceInfo(CL_DEVICE_LOCAL_MEM_SIZE)");
    size_t max = kernel_max;
    if (item_max[0] && item_max[0] < max)
        max = item_max[0];
    if (ctx->info.max_work_group_size && ctx->info.max_work_group_size < max)
        max = ctx->info.max_work_group_size;
    if (local_bytes && device_local > kernel_local) {
        size_t by_memory = (size_t)((device_local - kernel_local) / local_bytes);
        if (by_memory < max)
            max = by_memory;
    }
    *limit = max;
    return SN_OK;
}

/* Reduction kernels of each family and their local memory per work-item. */
#define BN_STATS_KERNEL(planes) ((planes) ? "sn_bn_plane_stats" : "sn_bn_stats_partial")
#define BN_STATS_LOCAL(planes) ((planes) ? 0 : sizeof(cl_int) + 2 * sizeof(cl_float))
#define BN_GRAD_KERNEL(planes) ((planes) ? "sn_bn_plane_grad" : "sn_bn_grad_partial")
#define BN_GRAD_LOCAL(planes) ((planes) ? 0 : 2 * sizeof(cl_float))

sn_status sn_batchnorm_local_limit(sn_context *ctx, size_t *limit)
{
    const int planes = bn_planes(ctx);
    size_t stats, grad;
    SN_TRY(bn_local_limit(ctx, BN_STATS_KERNEL(planes), BN_STATS_LOCAL(planes), &stats));
    SN_TRY(bn_local_limit(ctx, BN_GRAD_KERNEL(planes), BN_GRAD_LOCAL(planes), &grad));
    *limit = stats < grad ? stats : grad;
    return SN_OK;
}

/* Work-group size of `kernel`: the family's default, or the one a test
 * asks for (ctx->test.bn_local) checked against the kernel. */
static sn_status bn_local_size(sn_context *ctx, const char *op, const char *kernel,
                               size_t local_bytes, size_t *out)
{
    const size_t local = ctx->test.bn_local;
    size_t limit = 0;
    SN_TRY(bn_local_limit(ctx, kernel, local_bytes, &limit));
    if (limit < 1)
        return sn_fail(SN_ERR_UNSUPPORTED, "%s: kernel %s cannot run on %s (work-group limit 0)",
                       op, kernel, ctx->info.name);
    if (!local) {
        size_t def = local_bytes ? BN_LOCAL_DEFAULT : BN_PLANES_DEFAULT;
        *out = limit < def ? limit : def;
        return SN_OK;
    }
    if (local > limit)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: work-group size %zu exceeds %zu for %s on %s",
                       op, local, limit, kernel, ctx->info.name);
    *out = local;
    return SN_OK;
}

/* Split M values per channel into `groups` chunks of `chunk` values, none
 * empty. */
static void bn_split(size_t M, size_t local, int *chunk, int *groups)
{
    size_t per_group = local * BN_VALUES_PER_ITEM;
    size_t g = (M + per_group - 1) / per_group;
    if (g > BN_MAX_GROUPS)
        g = BN_MAX_GROUPS;
    if (g < 1)
        g = 1;
    size_t c = (M + g - 1) / g;
    *chunk = (int)c;
    *groups = (int)((M + c - 1) / c);
}

/* How a channel's N*HW values are cut for the partial sums: one (n, c) plane
 * per work-item on CPUs, else chunks of `chunk` values over G work-groups. */
static void bn_chunks(int planes, int N, int HW, size_t L, int *chunk, int *G)
{
    if (planes) {
        *chunk = HW;
        *G = N;
    } else {
        bn_split((size_t)N * (size_t)HW, L, chunk, G);
    }
}

/* Each of the per-channel tensors holds C values. */
static sn_status bn_check_channels(const char *op, int C, int count, const char *const *names,
                                   const sn_tensor *const *tensors)
{
    for (int i = 0; i < count; i++)
        SN_TRY(sn_check_count(op, names[i], tensors[i], (size_t)C));
    return SN_OK;
}

static sn_status bn_check_allocated(sn_context *ctx, const char *op, int count,
                                    const char *const *names, const sn_tensor *const *tensors)
{
    for (int i = 0; i < count; i++)
        SN_TRY(sn_check_tensor(ctx, op, names[i], tensors[i]));
    return SN_OK;
}

static sn_status bn_check_eps(const char *op, float eps)
{
    if (!(eps >= 0.0f))
        return sn_fail(SN_ERR_INVALID_ARG, "%s: eps is %g (must be >= 0)", op, (double)eps);
    return SN_OK;
}

/* Global size of a plane launch: NC rounded up to the work-group size. */
static size_t bn_plane_global(int NC, size_t L)
{
    return ((size_t)NC + L - 1) / L * L;
}

/* The residual input of a fused add (res, when not NULL) has x's shape. */
static sn_status bn_check_residual(sn_context *ctx, const char *op, const char *name,
                                   const sn_tensor *res, int N, int C, int H, int W)
{
    if (!res)
        return SN_OK;
    SN_TRY(sn_check_tensor(ctx, op, name, res));
    return sn_check_dims(op, name, res, N, C, H, W);
}

/* Training forward: y = bn(x), max(bn(x), 0) or max(bn(x) + shortcut, 0)
 * on the batch statistics; running statistics updated, save_* kept. */
static sn_status bn_forward_train(sn_context *ctx, const char *op, const sn_bn_desc *d)
{
    const int relu = d->ops != SN_BN_PLAIN;
    const sn_tensor *x = d->x, *y = d->y;
    const sn_tensor *res = d->ops == SN_BN_ADD_RELU ? d->shortcut : NULL;
    const char *const names[] = {"x", "y", "gamma", "beta", "running_mean", "running_var",
                                 "save_mean", "save_invstd"};
    const sn_tensor *const tensors[] = {x, y, d->gamma, d->beta, d->running_mean,
                                        d->running_var, d->save_mean, d->save_invstd};
    SN_TRY(bn_check_allocated(ctx, op, 8, names, tensors));
    int N, C, H, W;
    sn_dims4(x, &N, &C, &H, &W);
    SN_TRY(sn_check_dims(op, "y", y, N, C, H, W));
    SN_TRY(bn_check_residual(ctx, op, "shortcut", res, N, C, H, W));
    SN_TRY(bn_check_channels(op, C, 6, names + 2, tensors + 2));
    SN_TRY(bn_check_eps(op, d->eps));

    const int planes = bn_planes(ctx);
    size_t L;
    SN_TRY(bn_local_size(ctx, op, BN_STATS_KERNEL(planes), BN_STATS_LOCAL(planes), &L));
    const int HW = H * W, M = N * HW, NC = N * C;
    int chunk, G;
    bn_chunks(planes, N, HW, L, &chunk, &G);
    cl_mem ws;
    SN_TRY(sn_workspace(ctx, 2 * (size_t)C * (size_t)G * sizeof(cl_float), &ws));

    if (planes) {
        size_t global = bn_plane_global(NC, L);
        SN_TRY(SN_ENQUEUE(ctx, "sn_bn_plane_stats", 1, &global, &L, SN_ARG_INT(C), SN_ARG_INT(HW),
                          SN_ARG_INT(NC), SN_ARG_MEM(x->buffer), SN_ARG_MEM(ws)));
    } else {
        size_t global[2] = {L * (size_t)G, (size_t)C}, group[2] = {L, 1};
        SN_TRY(SN_ENQUEUE(ctx, "sn_bn_stats_partial", 2, global, group, SN_ARG_INT(N),
                          SN_ARG_INT(C), SN_ARG_INT(HW), SN_ARG_INT(chunk), SN_ARG_INT(G),
                          SN_ARG_MEM(x->buffer), SN_ARG_MEM(ws),
                          SN_ARG_LOCAL(L * sizeof(cl_int)), SN_ARG_LOCAL(L * sizeof(cl_float)),
                          SN_ARG_LOCAL(L * sizeof(cl_float))));
    }
    size_t channels = (size_t)C;
    SN_TRY(SN_ENQUEUE(ctx, "sn_bn_stats_finalize", 1, &channels, NULL, SN_ARG_INT(C), SN_ARG_INT(M),
                      SN_ARG_INT(chunk), SN_ARG_INT(G), SN_ARG_FLOAT(d->momentum),
                      SN_ARG_FLOAT(d->eps), SN_ARG_MEM(ws), SN_ARG_MEM(d->save_mean->buffer),
                      SN_ARG_MEM(d->save_invstd->buffer), SN_ARG_MEM(d->running_mean->buffer),
                      SN_ARG_MEM(d->running_var->buffer)));
    cl_mem rbuf = res ? res->buffer : x->buffer; /* not read without res */
    if (planes) {
        size_t global = (size_t)NC;
        return SN_ENQUEUE(ctx, "sn_bn_plane_normalize", 1, &global, NULL, SN_ARG_INT(C),
                          SN_ARG_INT(HW), SN_ARG_INT(NC), SN_ARG_INT(relu),
                          SN_ARG_INT(res != NULL), SN_ARG_MEM(x->buffer), SN_ARG_MEM(rbuf),
                          SN_ARG_MEM(d->gamma->buffer), SN_ARG_MEM(d->beta->buffer),
                          SN_ARG_MEM(d->save_mean->buffer), SN_ARG_MEM(d->save_invstd->buffer),
                          SN_ARG_MEM(y->buffer));
    }
    size_t pixels[2] = {(size_t)HW, (size_t)NC};
    return SN_ENQUEUE(ctx, "sn_bn_normalize", 2, pixels, NULL, SN_ARG_INT(C), SN_ARG_INT(HW),
                      SN_ARG_INT(NC), SN_ARG_INT(relu), SN_ARG_INT(res != NULL),
                      SN_ARG_MEM(x->buffer), SN_ARG_MEM(rbuf), SN_ARG_MEM(d->gamma->buffer),
                      SN_ARG_MEM(d->beta->buffer), SN_ARG_MEM(d->save_mean->buffer),
                      SN_ARG_MEM(d->save_invstd->buffer), SN_ARG_MEM(y->buffer));
}

/* Eval forward: the same three outputs on the running statistics. */
static sn_status bn_forward_eval(sn_context *ctx, const char *op, const sn_bn_desc *d)
{
    const int relu = d->ops != SN_BN_PLAIN;
    const sn_tensor *x = d->x, *y = d->y;
    const sn_tensor *res = d->ops == SN_BN_ADD_RELU ? d->shortcut : NULL;
    const char *const names[] = {"x", "y", "gamma", "beta", "running_mean", "running_var"};
    const sn_tensor *const tensors[] = {x, y, d->gamma, d->beta, d->running_mean,
                                        d->running_var};
    SN_TRY(bn_check_allocated(ctx, op, 6, names, tensors));
    int N, C, H, W;
    sn_dims4(x, &N, &C, &H, &W);
    SN_TRY(sn_check_dims(op, "y", y, N, C, H, W));
    SN_TRY(bn_check_residual(ctx, op, "shortcut", res, N, C, H, W));
    SN_TRY(bn_check_channels(op, C, 4, names + 2, tensors + 2));
    SN_TRY(bn_check_eps(op, d->eps));
    const int HW = H * W, NC = N * C;
    cl_mem rbuf = res ? res->buffer : x->buffer; /* not read without res */
    if (bn_planes(ctx)) {
        size_t global = (size_t)NC;
        return SN_ENQUEUE(ctx, "sn_bn_plane_eval", 1, &global, NULL, SN_ARG_INT(C),
                          SN_ARG_INT(HW), SN_ARG_INT(NC), SN_ARG_INT(relu),
                          SN_ARG_INT(res != NULL), SN_ARG_FLOAT(d->eps), SN_ARG_MEM(x->buffer),
                          SN_ARG_MEM(rbuf), SN_ARG_MEM(d->gamma->buffer),
                          SN_ARG_MEM(d->beta->buffer), SN_ARG_MEM(d->running_mean->buffer),
                          SN_ARG_MEM(d->running_var->buffer), SN_ARG_MEM(y->buffer));
    }
    size_t pixels[2] = {(size_t)HW, (size_t)NC};
    return SN_ENQUEUE(ctx, "sn_bn_eval", 2, pixels, NULL, SN_ARG_INT(C), SN_ARG_INT(HW),
                      SN_ARG_INT(NC), SN_ARG_INT(relu), SN_ARG_INT(res != NULL),
                      SN_ARG_FLOAT(d->eps), SN_ARG_MEM(x->buffer), SN_ARG_MEM(rbuf),
                      SN_ARG_MEM(d->gamma->buffer), SN_ARG_MEM(d->beta->buffer),
                      SN_ARG_MEM(d->running_mean->buffer), SN_ARG_MEM(d->running_var->buffer),
                      SN_ARG_MEM(y->buffer));
}

/* gamma, beta, running_*, scale, shift [C]. */
sn_status sn_batchnorm_fold(sn_context *ctx, const sn_tensor *gamma, const sn_tensor *beta,
                            const sn_tensor *running_mean, const sn_tensor *running_var,
                            float eps, sn_tensor *scale, sn_tensor *shift)
{
    static const char op[] = "batchnorm_fold";
    const char *const names[] = {"gamma", "beta", "running_mean", "running_var", "scale",
                                 "shift"};
    const sn_tensor *const tensors[] = {gamma, beta, running_mean, running_var, scale, shift};
    SN_TRY(bn_check_allocated(ctx, op, 6, names, tensors));
    const int C = (int)gamma->count;
    SN_TRY(bn_check_channels(op, C, 5, names + 1, tensors + 1));
    SN_TRY(bn_check_eps(op, eps));
    size_t channels = (size_t)C;
    return SN_ENQUEUE(ctx, "sn_bn_fold", 1, &channels, NULL, SN_ARG_INT(C), SN_ARG_FLOAT(eps),
                      SN_ARG_MEM(gamma->buffer), SN_ARG_MEM(beta->buffer),
                      SN_ARG_MEM(running_mean->buffer), SN_ARG_MEM(running_var->buffer),
                      SN_ARG_MEM(scale->buffer), SN_ARG_MEM(shift->buffer));
}

/* The per-channel sums sum(dy') and sum(dy' * (x - mean)) into partial
 * [2, C, G] of ws (dy' = dy masked by y > 0 when relu); *G receives G. */
static sn_status bn_grad_sums(sn_context *ctx, const char *op, int relu, const sn_tensor *dy,
                              const sn_tensor *y, const sn_tensor *x, const sn_tensor *mean,
                              size_t extra_floats, cl_mem *ws, int *G_out)
{
    int N, C, H, W;
    sn_dims4(x, &N, &C, &H, &W);
    const int planes = bn_planes(ctx);
    size_t L;
    SN_TRY(bn_local_size(ctx, op, BN_GRAD_KERNEL(planes), BN_GRAD_LOCAL(planes), &L));
    const int HW = H * W, NC = N * C;
    int chunk, G;
    bn_chunks(planes, N, HW, L, &chunk, &G);
    const size_t partials = 2 * (size_t)C * (size_t)G;
    SN_TRY(sn_workspace(ctx, (partials + extra_floats) * sizeof(cl_float), ws));
    cl_mem ybuf = relu ? y->buffer : dy->buffer; /* not read without relu */
    *G_out = G;
    if (planes) {
        size_t global = bn_plane_global(NC, L);
        return SN_ENQUEUE(ctx, "sn_bn_plane_grad", 1, &global, &L, SN_ARG_INT(C), SN_ARG_INT(HW),
                          SN_ARG_INT(NC), SN_ARG_INT(relu), SN_ARG_MEM(dy->buffer),
                          SN_ARG_MEM(ybuf), SN_ARG_MEM(x->buffer), SN_ARG_MEM(mean->buffer),
                          SN_ARG_MEM(*ws));
    }
    size_t global[2] = {L * (size_t)G, (size_t)C}, group[2] = {L, 1};
    return SN_ENQUEUE(ctx, "sn_bn_grad_partial", 2, global, group, SN_ARG_INT(N), SN_ARG_INT(C),
                      SN_ARG_INT(HW), SN_ARG_INT(chunk), SN_ARG_INT(G), SN_ARG_INT(relu),
                      SN_ARG_MEM(dy->buffer), SN_ARG_MEM(ybuf), SN_ARG_MEM(x->buffer),
                      SN_ARG_MEM(mean->buffer), SN_ARG_MEM(*ws),
                      SN_ARG_LOCAL(L * sizeof(cl_float)), SN_ARG_LOCAL(L * sizeof(cl_float)));
}

/* The shortcut gradient of a fused add (dsc, when not NULL): x's shape, and
 * a buffer of its own apart from dx (it may be dy's). *sc receives the
 * kernels' code: 0 none, 1 store, 2 add. */
static sn_status bn_check_shortcut_grad(sn_context *ctx, const char *op, const sn_tensor *dsc,
                                        int accumulate, const sn_tensor *dx, int N, int C, int H,
                                        int W, int *sc)
{
    *sc = 0;
    if (!dsc)
        return SN_OK;
    SN_TRY(bn_check_residual(ctx, op, "dshortcut", dsc, N, C, H, W));
    if (dsc->buffer == dx->buffer)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: dshortcut and dx are one buffer", op);
    *sc = accumulate ? 2 : 1;
    return SN_OK;
}

/* The tensors of a backward (the statistics of its mode, stat_a and stat_b
 * named in stat_names): allocated on ctx, dy/dx/y (relu only) shaped like x
 * [N,C,H,W], the per-channel ones [C], the shortcut gradient as
 * bn_check_shortcut_grad. Fills x's dims and the shortcut code *sc. */
static sn_status bn_check_backward(sn_context *ctx, const char *op, const sn_bn_desc *d,
                                   const char *const stat_names[2], const sn_tensor *stat_a,
                                   const sn_tensor *stat_b, int dims[4], int *sc)
{
    const int relu = d->ops != SN_BN_PLAIN;
    const char *const names[] = {"x",           "dy",          "dx",     "y",     "gamma",
                                 stat_names[0], stat_names[1], "dgamma", "dbeta"};
    const sn_tensor *const tensors[] = {d->x,   d->dy,  d->dx,     relu ? d->y : d->x, d->gamma,
                                        stat_a, stat_b, d->dgamma, d->dbeta};
    SN_TRY(bn_check_allocated(ctx, op, 9, names, tensors));
    int N, C, H, W;
    sn_dims4(d->x, &N, &C, &H, &W);
    SN_TRY(sn_check_dims(op, "dy", d->dy, N, C, H, W));
    SN_TRY(sn_check_dims(op, "dx", d->dx, N, C, H, W));
    if (relu)
        SN_TRY(sn_check_dims(op, "y", d->y, N, C, H, W));
    SN_TRY(bn_check_shortcut_grad(ctx, op, d->dshortcut, d->accumulate_shortcut, d->dx, N, C, H,
                                  W, sc));
    SN_TRY(bn_check_channels(op, C, 5, names + 4, tensors + 4));
    dims[0] = N, dims[1] = C, dims[2] = H, dims[3] = W;
    return SN_OK;
}

/* Backward of the training forward; with a ReLU, dy is masked by y > 0 (y
 * the fused forward's output), and with an add the masked dy also goes to
 * dshortcut unless it is NULL. */
static sn_status bn_backward_train(sn_context *ctx, const char *op, const sn_bn_desc *d)
{
    static const char *const stats[2] = {"save_mean", "save_invstd"};
    int dims[4], sc;
    SN_TRY(bn_check_backward(ctx, op, d, stats, d->save_mean, d->save_invstd, dims, &sc));
    const int N = dims[0], C = dims[1], H = dims[2], W = dims[3];
    const int relu = d->ops != SN_BN_PLAIN;

    const int HW = H * W, M = N * HW, NC = N * C;
    cl_mem ws;
    int G;
    /* the sums read dy before dx (which may be dy) is written */
    SN_TRY(bn_grad_sums(ctx, op, relu, d->dy, d->y, d->x, d->save_mean, 2 * (size_t)C, &ws, &G));
    const int partials = 2 * C * G;
    size_t channels = (size_t)C;
    SN_TRY(SN_ENQUEUE(ctx, "sn_bn_grad_finalize", 1, &channels, NULL, SN_ARG_INT(C), SN_ARG_INT(M),
                      SN_ARG_INT(G), SN_ARG_INT(d->accumulate_params ? 1 : 0), SN_ARG_MEM(ws),
                      SN_ARG_MEM(d->save_invstd->buffer), SN_ARG_MEM(d->dgamma->buffer),
                      SN_ARG_MEM(d->dbeta->buffer), SN_ARG_MEM(ws), SN_ARG_INT(partials)));
    cl_mem ybuf = relu ? d->y->buffer : d->dy->buffer;
    cl_mem scbuf = sc ? d->dshortcut->buffer : d->dx->buffer; /* not written without dsc */
    const int acc_dx = d->accumulate_dx ? 1 : 0;
    if (bn_planes(ctx)) {
        size_t global = (size_t)NC;
        return SN_ENQUEUE(ctx, "sn_bn_plane_backward_data", 1, &global, NULL, SN_ARG_INT(C),
                          SN_ARG_INT(HW), SN_ARG_INT(NC), SN_ARG_INT(acc_dx), SN_ARG_INT(relu),
                          SN_ARG_INT(sc), SN_ARG_MEM(d->dy->buffer), SN_ARG_MEM(ybuf),
                          SN_ARG_MEM(d->x->buffer), SN_ARG_MEM(d->gamma->buffer),
                          SN_ARG_MEM(d->save_mean->buffer), SN_ARG_MEM(d->save_invstd->buffer),
                          SN_ARG_MEM(ws), SN_ARG_INT(partials), SN_ARG_MEM(d->dx->buffer),
                          SN_ARG_MEM(scbuf));
    }
    size_t pixels[2] = {(size_t)HW, (size_t)NC};
    return SN_ENQUEUE(ctx, "sn_bn_backward_data", 2, pixels, NULL, SN_ARG_INT(C), SN_ARG_INT(HW),
                      SN_ARG_INT(NC), SN_ARG_INT(acc_dx), SN_ARG_INT(relu), SN_ARG_INT(sc),
                      SN_ARG_MEM(d->dy->buffer), SN_ARG_MEM(ybuf), SN_ARG_MEM(d->x->buffer),
                      SN_ARG_MEM(d->gamma->buffer), SN_ARG_MEM(d->save_mean->buffer),
                      SN_ARG_MEM(d->save_invstd->buffer), SN_ARG_MEM(ws), SN_ARG_INT(partials),
                      SN_ARG_MEM(d->dx->buffer), SN_ARG_MEM(scbuf));
}

/* Backward of the eval forward (the running statistics are constants);
 * ReLU mask and shortcut gradient as bn_backward_train. */
static sn_status bn_backward_eval(sn_context *ctx, const char *op, const sn_bn_desc *d)
{
    static const char *const stats[2] = {"running_mean", "running_var"};
    int dims[4], sc;
    SN_TRY(bn_check_backward(ctx, op, d, stats, d->running_mean, d->running_var, dims, &sc));
    const int N = dims[0], C = dims[1], H = dims[2], W = dims[3];
    SN_TRY(bn_check_eps(op, d->eps));
    const int relu = d->ops != SN_BN_PLAIN;

    const int HW = H * W, NC = N * C;
    cl_mem ws;
    int G;
    /* the sums read dy before dx (which may be dy) is written */
    SN_TRY(bn_grad_sums(ctx, op, relu, d->dy, d->y, d->x, d->running_mean, 0, &ws, &G));
    size_t channels = (size_t)C;
    SN_TRY(SN_ENQUEUE(ctx, "sn_bn_eval_grad_finalize", 1, &channels, NULL, SN_ARG_INT(C),
                      SN_ARG_INT(G), SN_ARG_INT(d->accumulate_params ? 1 : 0),
                      SN_ARG_FLOAT(d->eps), SN_ARG_MEM(ws), SN_ARG_MEM(d->running_var->buffer),
                      SN_ARG_MEM(d->dgamma->buffer), SN_ARG_MEM(d->dbeta->buffer)));
    cl_mem ybuf = relu ? d->y->buffer : d->dy->buffer;
    cl_mem scbuf = sc ? d->dshortcut->buffer : d->dx->buffer; /* not written without dsc */
    const int acc_dx = d->accumulate_dx ? 1 : 0;
    if (bn_planes(ctx)) {
        size_t global = (size_t)NC;
        return SN_ENQUEUE(ctx, "sn_bn_plane_eval_backward_data", 1, &global, NULL, SN_ARG_INT(C),
                          SN_ARG_INT(HW), SN_ARG_INT(NC), SN_ARG_INT(acc_dx), SN_ARG_INT(relu),
                          SN_ARG_INT(sc), SN_ARG_FLOAT(d->eps), SN_ARG_MEM(d->dy->buffer),
                          SN_ARG_MEM(ybuf), SN_ARG_MEM(d->gamma->buffer),
                          SN_ARG_MEM(d->running_var->buffer), SN_ARG_MEM(d->dx->buffer),
                          SN_ARG_MEM(scbuf));
    }
    size_t pixels[2] = {(size_t)HW, (size_t)NC};
    return SN_ENQUEUE(ctx, "sn_bn_eval_backward_data", 2, pixels, NULL, SN_ARG_INT(C),
                      SN_ARG_INT(HW), SN_ARG_INT(NC), SN_ARG_INT(acc_dx), SN_ARG_INT(relu),
                      SN_ARG_INT(sc), SN_ARG_FLOAT(d->eps), SN_ARG_MEM(d->dy->buffer),
                      SN_ARG_MEM(ybuf), SN_ARG_MEM(d->gamma->buffer),
                      SN_ARG_MEM(d->running_var->buffer), SN_ARG_MEM(d->dx->buffer),
                      SN_ARG_MEM(scbuf));
}

/* The descriptor itself: known ops and mode, and the shortcut tensors only
 * where an add is fused. Names the call in `op` for every message, e.g.
 * "batchnorm_forward (train, add_relu)". */
static sn_status bn_check_desc(const char *pass, const sn_bn_desc *d, char *op, size_t size)
{
    static const char *const ops_names[] = {"plain", "relu", "add_relu"};
    if (!d) {
        snprintf(op, size, "batchnorm_%s", pass);
        return sn_fail(SN_ERR_INVALID_ARG, "%s: no descriptor", op);
    }
    const int ops_ok = (unsigned)d->ops <= SN_BN_ADD_RELU;
    const int mode_ok = d->mode == SN_BN_TRAIN || d->mode == SN_BN_EVAL;
    snprintf(op, size, "batchnorm_%s (%s, %s)", pass,
             mode_ok ? (d->mode == SN_BN_TRAIN ? "train" : "eval") : "?",
             ops_ok ? ops_names[d->ops] : "?");
    if (!ops_ok)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: ops %d is not an sn_bn_ops", op, (int)d->ops);
    if (!mode_ok)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: mode %d is not an sn_bn_mode", op, (int)d->mode);
    if (d->ops != SN_BN_ADD_RELU && (d->shortcut || d->dshortcut))
        return sn_fail(SN_ERR_INVALID_ARG, "%s: %s without the add (ops add_relu)", op,
                       d->shortcut ? "a shortcut" : "a shortcut gradient");
    return SN_OK;
}

sn_status sn_batchnorm_forward(sn_context *ctx, const sn_bn_desc *d)
{
    char op[64];
    SN_TRY(bn_check_desc("forward", d, op, sizeof op));
    if (d->ops == SN_BN_ADD_RELU)
        SN_TRY(sn_check_tensor(ctx, op, "shortcut", d->shortcut));
    return d->mode == SN_BN_TRAIN ? bn_forward_train(ctx, op, d) : bn_forward_eval(ctx, op, d);
}

sn_status sn_batchnorm_backward(sn_context *ctx, const sn_bn_desc *d)
{
    char op[64];
    SN_TRY(bn_check_desc("backward", d, op, sizeof op));
    return d->mode == SN_BN_TRAIN ? bn_backward_train(ctx, op, d) : bn_backward_eval(ctx, op, d);
}
