/* Pre-activation bottleneck ResNet for CIFAR (He et al. 2016, "Identity
 * mappings"; ResNet-164 and ResNet-1001), depth 9n+2: 3x3 conv to 16
 * channels, three stages of n bottlenecks (outputs 64, 128, 256; strides 1,
 * 2, 2), final BN-ReLU, global average pooling, linear.
 *
 * Block: BN-ReLU-1x1, BN-ReLU-3x3 (stride here, as fb.resnet.torch
 * preresnet), BN-ReLU-1x1 to 4x the bottleneck width. Where the shape
 * changes, the 1x1 projection shortcut reads the pre-activated input.
 * PAPER shares the middle 3x3 of every block but the stage's first. */
#include "graph_internal.h"

/* x [C,H,W] -> [width, H/stride, W/stride] */
static int bottleneck(sn_builder *b, int x, int width, int stride, int first)
{
    int planes = width / 4;
    int project = stride != 1 || sn_b_channels(b, x) != width;
    int pre = sn_b_bn_relu(b, x, 1);
    int y = sn_b_conv(b, pre, "conv1", planes, 1, 1, SN_SHARE_HINT_OWN);
    y = sn_b_bn_relu(b, y, 2);
    y = sn_b_conv(b, y, "conv2", planes, 3, stride, first ? SN_SHARE_HINT_OWN : SN_SHARE_HINT_PAPER);
    y = sn_b_bn_relu(b, y, 3);
    y = sn_b_conv(b, y, "conv3", width, 1, 1, SN_SHARE_HINT_OWN);

    int skip = project ? sn_b_conv(b, pre, "shortcut.conv", width, 1, stride, SN_SHARE_HINT_OWN) : x;
    return sn_b_add(b, y, skip, "add");
}

sn_status sn_zoo_preact(sn_builder *b, const sn_model_name *m)
{
    static const int widths[3] = { 64, 128, 256 };
    int blocks = (m->depth - 2) / 9;

    sn_b_enter_stem(b);
    int x = sn_b_conv(b, 0, "conv", 16, 3, 1, SN_SHARE_HINT_OWN); /* [in,S,S] -> [16,S,S] */

    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < blocks; i++) {
            sn_b_enter_block(b, s + 1, i);
            int stride = (s > 0 && i == 0) ? 2 : 1;
            x = bottleneck(b, x, widths[s], stride, i == 0);
        }
    }
    sn_b_head(b, x, 1);
    return b->status;
}
