/* sgd: being written. */
typedef int sn_placeholder_sgd;
