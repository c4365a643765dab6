/* hash: being written. */
typedef int sn_placeholder_hash;
