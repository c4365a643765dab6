/* pool kernels: being written. */
