/* test_conv_linear: being written. */
#include <criterion/criterion.h>
