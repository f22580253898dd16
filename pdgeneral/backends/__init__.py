"""Backend registry: the one place that maps a name to an implementation.

``auto`` prefers a real CUDA GPU (never the simulator) when a CUDA backend exists, else ``parallel``.
numba.cuda is imported only when a GPU backend is asked for or probed.
"""
from __future__ import annotations

import os

from ..errors import CaseError
from ..model import Model
from .base import Backend

NAMES = ("serial", "parallel", "cuda")
ALIASES = {"gpu": "cuda"}


def cuda_available() -> bool:
    """True when a real CUDA device can be used (the simulator does not count)."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return False
    try:
        from numba import cuda
        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - a broken CUDA installation is the same as none, for choosing
        return False


def cuda_backend_class():
    """The CUDA backend class, or None while this version has none."""
    try:
        from .cuda import CudaBackend
    except ImportError:
        return None
    return CudaBackend


def resolve(name: str, key: str = "backend") -> str:
    """Canonical backend name for a requested one; raises CaseError when it cannot run here."""
    name = ALIASES.get(name, name)
    if name == "auto":
        if cuda_backend_class() is not None and cuda_available():
            return "cuda"
        return "parallel"
    if name not in NAMES:
        raise CaseError(key, f"unknown backend {name!r} (choose auto, serial, parallel, cuda)")
    if name == "cuda":
        if cuda_backend_class() is None:
            raise CaseError(key, "this version of pdgeneral has no cuda backend yet; "
                                 "use serial or parallel")
        if not cuda_available() and os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
            raise CaseError(key, "cuda was asked for but no CUDA GPU is available on this machine")
    return name


def create(name: str, model: Model, steps: int | None = None) -> Backend:
    """Instantiate a resolved backend for a model; ``steps``, the run's length if known, lets the
    GPU pick the build of its force loop (backends/cuda.py, _force_kernels)."""
    if name == "serial":
        from .cpu import CpuBackend
        return CpuBackend(model, parallel=False)
    if name == "parallel":
        from .cpu import CpuBackend
        return CpuBackend(model, parallel=True)
    if name == "cuda":
        return cuda_backend_class()(model, steps)
    raise ValueError(name)
