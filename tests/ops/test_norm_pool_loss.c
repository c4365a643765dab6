/* test_norm_pool_loss: being written. */
#include <criterion/criterion.h>
