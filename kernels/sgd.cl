/* sgd kernels: being written. */
