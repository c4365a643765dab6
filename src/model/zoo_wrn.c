/* Wide ResNet WRN-D-K (Zagoruyko & Komodakis 2016), depth 6n+4: 3x3 conv to
 * 16 channels, three stages of n pre-activation basic blocks (16K, 32K, 64K
 * channels; strides 1, 2, 2), final BN-ReLU, global average pooling, linear.
 * No dropout.
 *
 * Block: BN-ReLU-3x3 (stride here), BN-ReLU-3x3. Where the shape changes,
 * the 1x1 projection shortcut reads the pre-activated input.
 * PAPER shares the second 3x3 of every block but the stage's first. */
#include "graph_internal.h"

/* x [C,H,W] -> [width, H/stride, W/stride] */
static int wide_block(sn_builder *b, int x, int width, int stride, int first)
{
    int project = stride != 1 || sn_b_channels(b, x) != width;
    int pre = sn_b_bn_relu(b, x, 1);
    int y = sn_b_conv(b, pre, "conv1", width, 3, stride, SN_SHARE_HINT_OWN);
    y = sn_b_bn_relu(b, y, 2);
    y = sn_b_conv(b, y, "conv2", width, 3, 1, first ? SN_SHARE_HINT_OWN : SN_SHARE_HINT_PAPER);

    int skip = project ? sn_b_conv(b, pre, "shortcut.conv", width, 1, stride, SN_SHARE_HINT_OWN) : x;
    return sn_b_add(b, y, skip, "add");
}

sn_status sn_zoo_wrn(sn_builder *b, const sn_model_name *m)
{
    int widths[3] = { 16 * m->widen, 32 * m->widen, 64 * m->widen };
    int blocks = (m->depth - 4) / 6;

    sn_b_enter_stem(b);
    int x = sn_b_conv(b, 0, "conv", 16, 3, 1, SN_SHARE_HINT_OWN); /* [in,S,S] -> [16,S,S] */

    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < blocks; i++) {
            sn_b_enter_block(b, s + 1, i);
            int stride = (s > 0 && i == 0) ? 2 : 1;
            x = wide_block(b, x, widths[s], stride, i == 0);
        }
    }
    sn_b_head(b, x, 1);
    return b->status;
}
