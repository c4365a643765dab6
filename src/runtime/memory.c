/* memory: being written. */
typedef int sn_placeholder_memory;
