/* tensor: being written. */
typedef int sn_placeholder_tensor;
