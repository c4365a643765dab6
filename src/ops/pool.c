/* pool: being written. */
typedef int sn_placeholder_pool;
