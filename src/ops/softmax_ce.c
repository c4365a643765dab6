/* softmax_ce: being written. */
typedef int sn_placeholder_softmax_ce;
