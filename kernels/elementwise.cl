/* elementwise kernels: being written. */
