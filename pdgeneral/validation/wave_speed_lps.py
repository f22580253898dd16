"""Wave speed with the linear peridynamic solid (issue 14, item 3): wave_speed's strip, its probes
and its convergence in dx, with ``material.model: lps`` and nu = 0.3; and at ``"full"`` resolution
the same pulse in a 3D bar of the same 10 mm x 10 mm section (cases/validation/wave_speed_3d.yaml).
A bar much thinner than the pulse is in uniaxial stress, so its front travels at the bar speed
sqrt(E / rho) whatever nu (Graff 1975, sec. 2.1; the lateral inertia's correction, nu^2 (k r)^2 / 2,
is about 0.2 % here). The issue asks for 2 % at the finest spacing (PMB's benchmark: 3 %)."""
from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

from .core import Benchmark, Check, Result
from .wave_speed import WAVE_SPEED, half_arrival, run_level, run_material

NAME = "wave_speed_lps"
TITLE = "Wave speed in a thin bar with the LPS (nu = 0.3), 2D and 3D, and its convergence"
MATERIAL = ("material.model=lps", "material.poissons_ratio=0.3")
TOLERANCE = 0.02
#: The 2D strip's spacings: wave_speed's at "full"; CI stops at 1 mm (the 0.5 mm level is most of
#: the benchmark's time on two cores).
SPACINGS_2D = {"full": None, "ci": (0.002, 0.001)}
#: The 3D bar's spacings (5, 10 and 20 particles across): at "full" only, a GPU's work (the finest
#: has 280,000 particles and 3,400 steps); CI runs the 2D strip.
SPACINGS_3D = {"full": (0.002, 0.001, 0.0005), "ci": ()}


def run(resolution: str, workdir: Path, backend: str, precision: str = "float64") -> Result:
    result = run_material(resolution, workdir, backend, precision, MATERIAL, NAME, TITLE, TOLERANCE,
                          "issue 14, item 3", SPACINGS_2D[resolution])
    spacings = SPACINGS_3D[resolution]
    if not spacings:
        return result
    with tempfile.TemporaryDirectory() as scratch:
        levels = [run_level(dx, backend, Path(scratch), precision, MATERIAL, dimension=3)
                  for dx in spacings]
    finest = levels[-1]
    x1, x2 = finest["probes"]
    errors = [abs(level["speed_error"]) for level in levels]
    result.checks += [
        Check(f"3D bar: arrival of the front's half level at x = {x2:.4f} m "
              f"(finest dx = {finest['spacing'] * 1e3:g} mm)",
              f"{half_arrival(x2) * 1e6:.3f} us (x / c + tau / 2)",
              f"{finest['arrivals'][1] * 1e6:.3f} us ({100 * finest['arrival_error']:+.2f} %)",
              abs(finest["arrival_error"]) <= TOLERANCE, "within 2 % (issue 14, item 3)"),
        Check(f"3D bar: front speed between x = {x1:.4f} and {x2:.4f} m (finest dx)",
              f"{WAVE_SPEED:.1f} m/s (sqrt(E / rho))",
              f"{finest['speed']:.1f} m/s ({100 * finest['speed_error']:+.2f} %)",
              abs(finest["speed_error"]) <= TOLERANCE, "within 2 % (issue 14, item 3)"),
        Check("3D bar: speed error as dx halves (fixed section)", "falls at every halving",
              " -> ".join(f"{100 * e:.2f} %" for e in errors),
              all(b < a for a, b in itertools.pairwise(errors)), "issue 14, item 3")]
    result.particles += sum(level["particles"] for level in levels)
    result.steps += sum(level["steps"] for level in levels)
    result.setup += (" 3D: the bar of `cases/validation/wave_speed_3d.yaml` (0.35 m, 10 mm x 10 mm "
                     "section, the same traction on its first particle layer) at dx = "
                     + ", ".join(f"{dx * 1e3:g}" for dx in spacings) + " mm.")
    result.notes += ("\n\n3D bar, per spacing: " + "; ".join(
        f"dx = {lv['spacing'] * 1e3:g} mm, {lv['particles']:,} particles, {lv['steps']:,} steps: "
        f"speed {lv['speed']:.1f} m/s ({100 * lv['speed_error']:+.2f} %), arrival at x2 "
        f"{100 * lv['arrival_error']:+.2f} %" for lv in levels) + ".")
    return result


BENCHMARK = Benchmark(NAME, TITLE, run)
