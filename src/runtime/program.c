/* program: being written. */
typedef int sn_placeholder_program;
