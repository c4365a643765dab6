/* ImageNet ResNet-18/34/50/101/152 as in torchvision (He et al. 2016; the
 * bottleneck strides on its 3x3, "v1.5"): stem 7x7/2 conv to 64 channels,
 * BN, ReLU, 3x3/2 max pool (or, for small inputs, a 3x3/1 conv without
 * pool), four stages (64, 128, 256, 512 wide; strides 1, 2, 2, 2),
 * global average pooling, linear. Post-activation blocks; projection
 * shortcuts (1x1 conv + BN) where the shape changes.
 *
 * PAPER: basic blocks share the second 3x3 of every block of the stage (the
 * downsampling block included); bottlenecks share the 3x3 of every block
 * whose 3x3 is not strided. */
#include "graph_internal.h"
#include "runtime/error_internal.h"

typedef struct imagenet_arch {
    int depth;
    int bottleneck;
    int blocks[4];
} imagenet_arch;

static const imagenet_arch archs[] = {
    { 18, 0, { 2, 2, 2, 2 } },
    { 34, 0, { 3, 4, 6, 3 } },
    { 50, 1, { 3, 4, 6, 3 } },
    { 101, 1, { 3, 4, 23, 3 } },
    { 152, 1, { 3, 8, 36, 3 } },
};

/* Projection (or identity) shortcut of a post-activation block. */
static int shortcut(sn_builder *b, int x, int width, int stride)
{
    if (stride == 1 && sn_b_channels(b, x) == width)
        return x;
    int skip = sn_b_conv(b, x, "shortcut.conv", width, 1, stride, SN_SHARE_HINT_OWN);
    return sn_b_bn(b, skip, "shortcut.bn");
}

/* x [C,H,W] -> [width, H/stride, W/stride] */
static int basic_block(sn_builder *b, int x, int width, int stride)
{
    int y = sn_b_conv(b, x, "conv1", width, 3, stride, SN_SHARE_HINT_OWN);
    y = sn_b_bn_relu(b, y, 1);
    y = sn_b_conv(b, y, "conv2", width, 3, 1, SN_SHARE_HINT_PAPER);
    y = sn_b_bn(b, y, "bn2");
    y = sn_b_add(b, y, shortcut(b, x, width, stride), "add");
    return sn_b_relu(b, y, "relu2");
}

/* x [C,H,W] -> [4*planes, H/stride, W/stride] */
static int bottleneck(sn_builder *b, int x, int planes, int stride)
{
    int y = sn_b_conv(b, x, "conv1", planes, 1, 1, SN_SHARE_HINT_OWN);
    y = sn_b_bn_relu(b, y, 1);
    y = sn_b_conv(b, y, "conv2", planes, 3, stride,
                  stride == 1 ? SN_SHARE_HINT_PAPER : SN_SHARE_HINT_OWN);
    y = sn_b_bn_relu(b, y, 2);
    y = sn_b_conv(b, y, "conv3", 4 * planes, 1, 1, SN_SHARE_HINT_OWN);
    y = sn_b_bn(b, y, "bn3");
    y = sn_b_add(b, y, shortcut(b, x, 4 * planes, stride), "add");
    return sn_b_relu(b, y, "relu3");
}

sn_status sn_zoo_imagenet(sn_builder *b, const sn_model_name *m)
{
    const imagenet_arch *arch = NULL;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (archs[i].depth == m->depth)
            arch = &archs[i];
    if (!arch)
        return b->status = sn_fail(SN_ERR_INTERNAL, "no ImageNet ResNet of depth %d", m->depth);

    sn_b_enter_stem(b);
    int x;
    if (b->g->small_stem) {
        x = sn_b_conv(b, 0, "conv", 64, 3, 1, SN_SHARE_HINT_OWN);  /* [in,S,S] -> [64,S,S] */
        x = sn_b_bn_relu(b, x, -1);
    } else {
        x = sn_b_conv(b, 0, "conv", 64, 7, 2, SN_SHARE_HINT_OWN);  /* -> [64,S/2,S/2] */
        x = sn_b_bn_relu(b, x, -1);
        x = sn_b_maxpool(b, x, "pool", 3, 2, 1);                    /* -> [64,S/4,S/4] */
    }

    for (int s = 0; s < 4; s++) {
        int planes = 64 << s;
        for (int i = 0; i < arch->blocks[s]; i++) {
            sn_b_enter_block(b, s + 1, i);
            int stride = (s > 0 && i == 0) ? 2 : 1;
            x = arch->bottleneck ? bottleneck(b, x, planes, stride)
                                 : basic_block(b, x, planes, stride);
        }
    }
    sn_b_head(b, x, 0);
    return b->status;
}
