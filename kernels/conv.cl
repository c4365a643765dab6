/* conv kernels: being written. */
