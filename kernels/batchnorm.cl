/* batchnorm kernels: being written. */
