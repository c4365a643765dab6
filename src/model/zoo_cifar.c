/* He et al. 2016 CIFAR ResNet (depth 6n+2): 3x3 conv to 16 channels, three
 * stages of n post-activation basic blocks (16, 32, 64 channels; strides 1,
 * 2, 2), global average pooling, linear. Shortcuts: option A (subsample +
 * zero channels) or B (1x1 conv + BN) where the shape changes.
 *
 * The paper gives no ShaResNet for this family; PAPER applies the CIFAR rule:
 * the second 3x3 of every block but the stage's first one shares a weight. */
#include "graph_internal.h"

/* x [C,H,W] -> [width, H/stride, W/stride] */
static int basic_block(sn_builder *b, int x, int width, int stride, int first)
{
    int project = stride != 1 || sn_b_channels(b, x) != width;
    int y = sn_b_conv(b, x, "conv1", width, 3, stride, SN_SHARE_HINT_OWN);
    y = sn_b_bn_relu(b, y, 1);
    y = sn_b_conv(b, y, "conv2", width, 3, 1, first ? SN_SHARE_HINT_OWN : SN_SHARE_HINT_PAPER);
    y = sn_b_bn(b, y, "bn2");

    int skip = x;
    if (project && b->g->shortcut == 'B') {
        skip = sn_b_conv(b, x, "shortcut.conv", width, 1, stride, SN_SHARE_HINT_OWN);
        skip = sn_b_bn(b, skip, "shortcut.bn");
    } else if (project) {
        skip = sn_b_shortcut_a(b, x, "shortcut", width, stride);
    }
    y = sn_b_add(b, y, skip, "add");
    return sn_b_relu(b, y, "relu2");
}

sn_status sn_zoo_cifar(sn_builder *b, const sn_model_name *m)
{
    static const int widths[3] = { 16, 32, 64 };
    int blocks = (m->depth - 2) / 6;

    sn_b_enter_stem(b);
    int x = sn_b_conv(b, 0, "conv", 16, 3, 1, SN_SHARE_HINT_OWN); /* [in,S,S] -> [16,S,S] */
    x = sn_b_bn_relu(b, x, -1);

    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < blocks; i++) {
            sn_b_enter_block(b, s + 1, i);
            int stride = (s > 0 && i == 0) ? 2 : 1;
            x = basic_block(b, x, widths[s], stride, i == 0);
        }
    }
    sn_b_head(b, x, 0);
    return b->status;
}
