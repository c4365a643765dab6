/* test_sgd_util: being written. */
#include <criterion/criterion.h>
