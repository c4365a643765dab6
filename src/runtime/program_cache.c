/* program_cache: being written. */
typedef int sn_placeholder_program_cache;
