/* activation: being written. */
typedef int sn_placeholder_activation;
