"""Time loops, independent of the backend: explicit velocity Verlet and adaptive dynamic relaxation."""
from .explicit import run_explicit
from .relaxation import run_quasi_static

__all__ = ["run_explicit", "run_quasi_static"]
