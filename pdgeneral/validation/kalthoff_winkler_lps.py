"""Kalthoff-Winkler impact with the linear peridynamic solid (issue 14, item 3): the set-up, the
measurements and the checks of kalthoff_winkler (crack angle 70 +- 8 degrees, one crack per tip,
symmetric, after the wave, below c_R), with the steel of the original experiment as an LPS:
E = 190 GPa, nu = 0.3 (Kalthoff and Winkler 1988), in place of PMB's fixed nu = 1/4."""
from __future__ import annotations

from pathlib import Path

from .core import Benchmark, Result
from .kalthoff_winkler import run_material

NAME = "kalthoff_winkler_lps"
TITLE = "Kalthoff-Winkler impact with the LPS (steel, E = 190 GPa, nu = 0.3)"
MATERIAL = {"model": "lps", "youngs_modulus": 190.0e9, "poissons_ratio": 0.3}


def run(resolution: str, workdir: Path, backend: str, precision: str = "float64") -> Result:
    return run_material(resolution, workdir, backend, precision, MATERIAL, NAME, TITLE)


BENCHMARK = Benchmark(NAME, TITLE, run)
