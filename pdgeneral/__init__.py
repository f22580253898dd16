"""pdgeneral: bond-based peridynamics (PMB) fracture simulation on CPUs and NVIDIA GPUs."""
__version__ = "0.1.0"

from .errors import CaseError, PdgeneralError

__all__ = ["CaseError", "PdgeneralError", "__version__", "build_model", "load_case", "run_case"]


def __getattr__(name):
    # Heavy imports (numba) only when the API is used, so `pdgeneral --help` stays quick.
    if name == "load_case":
        from .case import load_case
        return load_case
    if name == "build_model":
        from .model import build_model
        return build_model
    if name == "run_case":
        from .api import run_case
        return run_case
    raise AttributeError(name)
