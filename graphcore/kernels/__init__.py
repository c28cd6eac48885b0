"""Pure-NumPy NCHW convolution and pooling kernels."""
