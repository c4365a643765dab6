/* conv2d: being written. */
typedef int sn_placeholder_conv2d;
