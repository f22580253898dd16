"""The validation suite: the standard peridynamics benchmarks, each run against its published result.

``pdgeneral validate`` runs them and rewrites docs/validation.md; the test suite runs each at its
``"ci"`` resolution. Every module named in ``MODULES`` defines ``BENCHMARK`` (see ``core``).
"""
from __future__ import annotations

import importlib

from .core import PRECISIONS, RESOLUTIONS, Benchmark, Check, Result

#: In the order of docs/validation.md.
MODULES = ("plate_tension", "block_tension", "lps_elastic", "bar_vibration", "wave_speed", "wave_speed_lps",
           "crack_branching", "kalthoff_winkler", "kalthoff_winkler_lps", "precracked_plate",
           "histories")


def benchmarks() -> list[Benchmark]:
    """The benchmarks whose modules exist, in document order."""
    found = []
    for name in MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":
                raise
            continue
        found.append(module.BENCHMARK)
    return found


__all__ = ["MODULES", "PRECISIONS", "RESOLUTIONS", "Benchmark", "Check", "Result", "benchmarks"]
