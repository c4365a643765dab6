/* blas1: being written. */
typedef int sn_placeholder_blas1;
