"""pdgeneral: bond-based peridynamics (PMB) fracture simulation on CPUs and NVIDIA GPUs.

What a script needs is importable from here (docs/api.md): ``load_case``, ``load_case_text``,
``build_model``, ``prepare``, ``run_case``, ``RunSummary``, ``read_snapshot``, ``snapshot_steps``,
``read_history`` (numpy arrays), ``history_frame`` (a pandas DataFrame, where pandas is installed),
and the errors ``CaseError`` and ``PdgeneralError``.
"""
__version__ = "0.1.0"

from .errors import CaseError, PdgeneralError

# name -> module that defines it: imported on first use (numba is heavy), so that
# `pdgeneral --help` stays quick.
_LAZY = {"load_case": "case", "load_case_text": "case", "build_model": "model", "prepare": "api",
         "run_case": "api", "RunSummary": "api", "read_snapshot": "io", "snapshot_steps": "io",
         "read_history": "io.history", "history_frame": "io.history"}

__all__ = ["CaseError", "PdgeneralError", "RunSummary", "__version__", "build_model",
           "history_frame", "load_case", "load_case_text", "prepare", "read_history",
           "read_snapshot", "run_case", "snapshot_steps"]


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'pdgeneral' has no attribute {name!r}")
