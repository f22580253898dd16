"""What the histories report, against independent numbers (issue 13, item 6; docs/theory.md sec. 11).

Three runs, each read back from its output's ``/history`` (io/history.py):

1. A plate stretched quasi-statically by its grips (plane stress, bonds unbreakable): the grip's
   reaction force equals E eps A (eps the strain in the middle of the plate, A the cross-section),
   the two grips' reactions are equal and opposite, and the strain energy equals the grips' work.
2. Crack branching in glass (cases/crack_branching_glass_2d.yaml; Ha and Bobaru 2010): kinetic +
   strain + dissipated energy equals the tractions' work at every row to 43 us.
3. The tension-to-failure plate (cases/tension_to_failure_2d.yaml) without its notch, its grips
   pulled at 0.05 m/s each (about a dozen wave transits before the peak, so that the response is
   nearly quasi-static): the force against the grips' separation is linear with slope E A / L before
   the first bond breaks, peaks, and once the crack has crossed the reaction averages to nothing
   (the released halves ring: peridynamics has no damping).
"""
from __future__ import annotations

import tempfile
import time as clock
from pathlib import Path

import numpy as np
import yaml

from ..api import run_case
from ..io import read_snapshot
from ..io.history import read_history
from .core import Benchmark, Check, Result
from .report import CASES, save_figure

NAME = "histories"
TITLE = "Histories: reaction forces, load curves and the energy balance"
SOURCE = ("Silling and Askari (2005), Comput. Struct. 83:1526 (micropotential, energy); Ha and Bobaru "
          "(2010), Int. J. Fract. 162:229 (crack branching); classical elasticity for E eps A")

E = 72.0e9
THICKNESS = 1.0e-3

#: Per resolution: the stretched plate's spacing and height, crack branching's spacing and horizon,
#: the pulled plate's spacing.
SETTINGS = {"full": {"plate": (0.5e-3, 0.02), "branching": (1.0 / 3.0 * 1e-3, 1.0e-3),
                     "pulled": 0.5e-3},
            "ci": {"plate": (1.0e-3, 0.02), "branching": (0.5e-3, 1.5e-3), "pulled": 1.0e-3}}

REACTION_TOLERANCE = 0.02      # issue 13: within 2 % (plane stress)
BALANCE_TOLERANCE = 0.005      # issue 13: the grips equal and opposite within 0.5 %
ENERGY_TOLERANCE = 0.02        # issue 13: the energy balance within 2 %
SLOPE_TOLERANCE = 0.03         # issue 13: slope E A / L within 3 %
RESIDUAL_FORCE = 0.05          # issue 13: below 5 % of the peak once the crack has crossed


def _case(name: str) -> dict:
    with open(CASES / name) as handle:
        return yaml.safe_load(handle)


def _run(raw: dict, scratch: Path, label: str, backend: str, precision: str):
    raw["precision"] = precision
    path = scratch / f"{label}.yaml"
    path.write_text(yaml.safe_dump(raw))
    summary = run_case(path, backend=backend, output=scratch / f"{label}.h5", overwrite=True)
    return summary, read_history(summary.output)


def _stretched_plate(spacing: float, height: float) -> dict:
    length = 0.06
    grip = 2.5 * spacing
    return {
        "name": "stretched-plate", "dimension": 2, "plane": "stress", "thickness": THICKNESS,
        "material": {"model": "pmb", "youngs_modulus": E, "density": 2440.0, "fracture_energy": 3.8},
        "discretization": {"spacing": spacing, "horizon_factor": 3.015, "surface_correction": "energy"},
        "geometry": {"box": {"min": [0.0, 0.0], "max": [length, height]}},
        "regions": {"left": {"box": {"min": [0.0, 0.0], "max": [grip, height]}},
                    "right": {"box": {"min": [length - grip, 0.0], "max": [length, height]}}},
        "boundary_conditions": [
            {"region": "left", "type": "displacement", "value": [0.0, None]},
            {"region": "right", "type": "displacement", "value": [1.0e-6, None]}],
        "no_fail": ["left", "right"],
        "solver": {"type": "quasi_static", "load_steps": 4, "tolerance": 1e-8,
                   "max_iterations": 200000}}


def run(resolution: str, workdir: Path, backend: str, precision: str = "float64") -> Result:
    started = clock.perf_counter()
    settings = SETTINGS[resolution]
    checks, figures, particles, steps = [], [], 0, 0
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        # 1. quasi-static reaction
        spacing, height = settings["plate"]
        summary, h = _run(_stretched_plate(spacing, height), scratch, "plate", backend, precision)
        particles, steps = particles + summary.particles, steps + summary.steps
        snap = read_snapshot(summary.output)
        x, u = snap["position"][:, 0], snap["displacement"][:, 0]
        middle = (x > 0.02) & (x < 0.04)
        strain = float(np.polyfit(x[middle], u[middle], 1)[0])
        right = h["regions/right/reaction_force"][-1]
        left = h["regions/left/reaction_force"][-1]
        expected = E * strain * height * THICKNESS
        error = right[0] / expected - 1
        checks.append(Check("reaction force of the pulled grip, quasi-static plate",
                            f"{expected:.4g} N (E eps A, eps = {strain:.4e} in the middle)",
                            f"{right[0]:.4g} N ({100 * error:+.2f} %)",
                            abs(error) <= REACTION_TOLERANCE, "within 2 % (issue 13)"))
        imbalance = left[0] / right[0] + 1
        checks.append(Check("the two grips' reactions", "equal and opposite",
                            f"{left[0]:.6g} N and {right[0]:.6g} N ({100 * imbalance:+.2e} %)",
                            abs(imbalance) <= BALANCE_TOLERANCE, "within 0.5 % (issue 13)"))
        stored = h["strain_energy"][-1] / h["external_work"][-1] - 1
        checks.append(Check("strain energy against the grips' work (elastic)",
                            f"{h['external_work'][-1]:.4e} J", f"{h['strain_energy'][-1]:.4e} J "
                            f"({100 * stored:+.2e} %)", abs(stored) <= 1e-3, "within 0.1 %"))

        # 2. crack branching energy balance
        spacing, horizon = settings["branching"]
        raw = _case("crack_branching_glass_2d.yaml")
        if resolution == "ci":
            raw["discretization"].update(spacing=spacing, horizon=horizon)
            raw["solver"].pop("time_step", None)
            raw["regions"].update({"bottom": {"box": {"min": [0.0, 0.0], "max": [0.1, spacing]}},
                                   "top": {"box": {"min": [0.0, 0.04 - spacing], "max": [0.1, 0.04]}},
                                   "bottom_grip": {"box": {"min": [0.0, 0.0], "max": [0.1, horizon]}},
                                   "top_grip": {"box": {"min": [0.0, 0.04 - horizon],
                                                        "max": [0.1, 0.04]}}})
        raw["output"] = {"every": 10**6}
        summary, b = _run(raw, scratch, "branching", backend, precision)
        particles, steps = particles + summary.particles, steps + summary.steps
        total = b["kinetic_energy"] + b["strain_energy"] + b["dissipated_energy"]
        work = b["external_work"]
        worst = float(np.max(np.abs(total[1:] / work[1:] - 1)))
        end = float(total[-1] / work[-1] - 1)
        checks.append(Check(f"crack branching: K + U + D against the external work at "
                            f"{b['time'][-1] * 1e6:.0f} us", f"{work[-1]:.4e} J",
                            f"{total[-1]:.4e} J ({100 * end:+.3f} %; every row within "
                            f"{100 * worst:.3f} %)", worst <= ENERGY_TOLERANCE,
                            f"within 2 % (issue 13); {b['broken_bonds'][-1]} bonds broken"))
        figures.append(_energy_figure(b, workdir))

        # 3. load curve through failure
        spacing = settings["pulled"]
        raw = _case("tension_to_failure_2d.yaml")
        raw["precracks"] = []
        raw["discretization"]["spacing"] = spacing
        raw["solver"]["end_time"] = 150e-6
        for condition in raw["boundary_conditions"]:
            condition["value"][0] = 0.05 if condition["value"][0] > 0 else -0.05
        raw["output"] = {"every": 10**6}
        summary, p = _run(raw, scratch, "pulled", backend, precision)
        particles, steps = particles + summary.particles, steps + summary.steps
        force = p["regions/right/reaction_force"][:, 0]
        opening = p["regions/right/displacement"][:, 0] - p["regions/left/displacement"][:, 0]
        broken = p["broken_bonds"]
        first_break = int(np.argmax(broken > 0))
        elastic = (broken == 0) & (opening > 0.2 * opening[first_break])
        # between the grips' innermost particles (the grips are 1.5 mm bands)
        length = _grip_distance(raw, spacing)
        stiffness = E * 0.02 * THICKNESS / length
        slope = float(np.polyfit(opening[elastic], force[elastic], 1)[0])
        error = slope / stiffness - 1
        checks.append(Check("load curve before breaking: slope of force against grip separation",
                            f"{stiffness:.4e} N/m (E A / L, L = {length * 1e3:.1f} mm)",
                            f"{slope:.4e} N/m ({100 * error:+.2f} %)", abs(error) <= SLOPE_TOLERANCE,
                            "within 3 % (issue 13); least squares over the rows before the first "
                            "broken bond"))
        peak = int(np.argmax(force))
        crossed = broken >= 0.98 * broken[-1]
        residual = float(abs(force[crossed].mean()) / force[peak])
        checks.append(Check("load curve after the crack has crossed: mean reaction",
                            f"< {100 * RESIDUAL_FORCE:.0f} % of the peak {force[peak]:.4g} N",
                            f"{100 * residual:.2f} % (over {int(crossed.sum())} rows; the "
                            f"instantaneous reaction rings within +-{np.abs(force[crossed]).max():.3g} N)",
                            residual < RESIDUAL_FORCE and broken[peak] < 0.05 * broken[-1],
                            "the peak comes as bonds start to break; PD has no damping"))
        figures.append(_curve_figure(opening, force, broken, stiffness, workdir))
    wall = clock.perf_counter() - started
    setup = ("(1) Glass plate 60 mm x 20 mm (plane stress, t = 1 mm, E = 72 GPa), grips 2.5 dx wide at "
             "both ends, the right one displaced 1 um in 4 quasi-static load steps (ADR, tolerance "
             f"1e-8), bonds held by no_fail; dx = {settings['plate'][0] * 1e3:g} mm. (2) The shipped "
             "crack-branching case (2 MPa tractions held from t = 0, 43 us), dx = "
             f"{settings['branching'][0] * 1e3:.3g} mm, horizon {settings['branching'][1] * 1e3:.3g} mm. "
             "(3) The shipped tension-to-failure plate (40 mm x 20 mm) without its notch, grips pulled "
             f"at 0.05 m/s each (ramped over 2 us) for 150 us, dx = {settings['pulled'] * 1e3:g} mm. "
             "History rows every 10 steps.")
    notes = ("The reaction is -sum V f over the grip's particles; the external work integrates the "
             "grips' power over every step and the loads' work against sum V B.u (docs/theory.md "
             "sec. 11). The quasi-static plate is stiffer than E by the surfaces' share, of order "
             "horizon / height: 1.3 % at dx = 1 mm and 20 mm height, 0.6 % at dx = 0.5 mm; 2.9 % "
             "and 1.4 % at 10 mm height. "
             "With its notch, the pulled plate's slope is 3.1 % below E A / L (dx = 1 mm; the notch "
             "takes 3 of the 20 mm). The dissipated energy counts each broken bond at the critical "
             "stretch; what a bond held beyond it when it broke is not counted.")
    return Result(NAME, TITLE, SOURCE, setup, resolution, backend, particles, steps, wall, checks,
                  figures, notes, precision)


def _grip_distance(raw: dict, spacing: float) -> float:
    """Distance between the innermost particles of the left and right grips (lattice centres)."""
    left = raw["regions"]["left"]["box"]["max"][0]
    right = raw["regions"]["right"]["box"]["min"][0]
    centres = (np.arange(round(0.04 / spacing)) + 0.5) * spacing
    tolerance = 1e-9
    return float(centres[centres >= right - tolerance].min() - centres[centres <= left + tolerance].max())


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _energy_figure(h: dict, workdir: Path) -> Path:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.5, 4.2))
    t = h["time"] * 1e6
    for key, label in (("kinetic_energy", "kinetic K"), ("strain_energy", "strain U"),
                       ("dissipated_energy", "dissipated D"), ("external_work", "external work W")):
        axes.plot(t, h[key] * 1e3, label=label)
    axes.plot(t, (h["kinetic_energy"] + h["strain_energy"] + h["dissipated_energy"]) * 1e3, "k--",
              linewidth=1, label="K + U + D")
    axes.set(xlabel="time (us)", ylabel="energy (mJ)", title="crack branching in glass: energies")
    axes.legend(fontsize=8)
    return save_figure(figure, workdir, NAME, "energies")


def _curve_figure(opening, force, broken, stiffness, workdir: Path) -> Path:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.5, 4.2))
    axes.plot(opening * 1e6, force, ".-", markersize=3, linewidth=0.8, label="PD (grip reaction)")
    before = opening[broken == 0]
    axes.plot(before * 1e6, stiffness * before, "k--", linewidth=1, label="E A / L x separation")
    axes.set(xlabel="grip separation (um)", ylabel="reaction force (N)",
             title="plate pulled to failure: load curve")
    axes.legend(fontsize=8)
    return save_figure(figure, workdir, NAME, "load-curve")


BENCHMARK = Benchmark(NAME, TITLE, run)
