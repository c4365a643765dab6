/* linear: being written. */
typedef int sn_placeholder_linear;
