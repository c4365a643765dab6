/* batchnorm: being written. */
typedef int sn_placeholder_batchnorm;
