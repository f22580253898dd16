"""Per-particle loop bodies, shared by every backend (njit loops on the CPU, cuda.jit kernels)."""
