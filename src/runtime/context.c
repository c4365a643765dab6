/* context: being written. */
typedef int sn_placeholder_context;
