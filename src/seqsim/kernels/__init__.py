"""Block kernels per backend: ``numba_kernels`` (CPU) and ``torch_kernels`` (CPU or CUDA)."""
