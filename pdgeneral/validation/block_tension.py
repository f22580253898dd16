"""Quasi-static tension of a 3D block (Madenci and Oterkus 2014, sec. 6.2).

A 1 m x 0.1 m x 0.1 m block, E = 200 GPa, held at one end by a boundary region of 3 fictitious
layers (as the book's code does), 200 MPa traction on the other, relaxed by adaptive dynamic
relaxation. Classical answer (uniaxial stress): u_x = sigma x / E, 1.0e-3 m at the loaded end, and
a lateral contraction with nu = 1/4, the Poisson ratio of 3D bond-based peridynamics (Silling 2000).
"""
from __future__ import annotations

import tempfile
import time as clock
from pathlib import Path

import numpy as np

from ..api import run_case
from ..io import read_snapshot
from .core import Benchmark, Check, Result
from .report import CASES, save_figure

NAME = "block_tension"
TITLE = "Quasi-static tension of a 3D block"
CASE = CASES / "block_tension_3d.yaml"
SOURCE = ("Madenci and Oterkus (2014), Peridynamic Theory and Its Applications, Springer, sec. 6.2; "
          "Silling (2000) for nu = 1/4 in 3D bond-based peridynamics")

E = 200.0e9
SIGMA = 200.0e6
NU = 0.25
SIDE = 0.1             # m, the square cross-section
BOUNDARY_LAYERS = 3    # fictitious held layers outside the block (the book's nbnd)

#: Per resolution: block length and spacing. Full is the book's 100 x 10 x 10; CI keeps the spacing
#: and the 10 x 10 cross-section (the surface effect of a thin section is what this benchmark tests)
#: and halves the length, which halves the particles and the relaxation iterations.
SETTINGS = {"full": {"length": 1.0, "spacing": 0.01}, "ci": {"length": 0.5, "spacing": 0.01}}

#: The issue's bound on u_x at the loaded end, also applied to the interior strain.
TOLERANCE = 0.02


def run(resolution: str, workdir: Path, backend: str, precision: str = "float64") -> Result:
    started = clock.perf_counter()
    length, spacing = SETTINGS[resolution]["length"], SETTINGS[resolution]["spacing"]
    fixture = BOUNDARY_LAYERS * spacing
    overrides = [f"discretization.spacing={spacing}",
                 f"geometry.box.min=[{-fixture}, 0.0, 0.0]", f"geometry.box.max=[{length}, {SIDE}, {SIDE}]",
                 f"regions.held.box.min=[{-fixture}, 0.0, 0.0]",
                 f"regions.held.box.max=[0.0, {SIDE}, {SIDE}]",
                 f"regions.loaded.box.min=[{length - spacing}, 0.0, 0.0]",
                 f"regions.loaded.box.max=[{length}, {SIDE}, {SIDE}]", f"precision={precision}"]
    with tempfile.TemporaryDirectory() as scratch:
        summary = run_case(CASE, overrides=overrides, backend=backend, output=Path(scratch) / "block.h5",
                           overwrite=True)
        snapshot = read_snapshot(summary.output)
    x, u = snapshot["position"], snapshot["displacement"]
    block = x[:, 0] > 0
    columns = np.unique(np.round(x[block, 0] / spacing - 0.5).astype(int))
    centres = (columns + 0.5) * spacing
    layer_mean = np.array([u[block & (np.abs(x[:, 0] - c) < 1e-6 * spacing), 0].mean() for c in centres])

    expected_end = SIGMA * length / E
    end = float(layer_mean[-1])
    end_error = end / expected_end - 1
    checks = [Check(f"u_x at the loaded end (mean of the last layer, x = {centres[-1]:.3f} m)",
                    f"{expected_end:.4e} m (sigma L / E)", f"{end:.4e} m ({100 * end_error:+.2f} %)",
                    abs(end_error) <= TOLERANCE, "within 2 % (issue 4, item 2)")]

    # Strain away from both ends: a straight-line fit of the layer means over the middle 60 %.
    middle = (centres >= 0.2 * length) & (centres <= 0.8 * length)
    strain = float(np.polyfit(centres[middle], layer_mean[middle], 1)[0])
    strain_error = strain / (SIGMA / E) - 1
    checks.append(Check("interior strain du_x/dx (fit over the middle 60 % of the length)",
                        f"{SIGMA / E:.4e} (sigma / E)", f"{strain:.4e} ({100 * strain_error:+.2f} %)",
                        abs(strain_error) <= TOLERANCE, "within 2 %, the bound of the end value"))

    # Lateral contraction at mid-length: reported (the issue states nu but sets no bound on it).
    mid = block & (np.abs(x[:, 0] - centres[len(centres) // 2]) < 1e-6 * spacing)
    slope_y = float(np.polyfit(x[mid, 1], u[mid, 1], 1)[0])
    slope_z = float(np.polyfit(x[mid, 2], u[mid, 2], 1)[0])
    nu_measured = -0.5 * (slope_y + slope_z) / strain

    figure = _figure(x, u, centres, layer_mean, mid, length)
    path = save_figure(figure, workdir, NAME, "displacement")
    wall = clock.perf_counter() - started
    n = round(length / spacing), round(SIDE / spacing)
    setup = (f"Block {length:g} m x 0.1 m x 0.1 m, {n[0]} x {n[1]} x {n[1]} particles at dx = {spacing:g} m, "
             "horizon 3.015 dx, E = 200 GPa, bonds unbreakable. Held end: a boundary region of 3 fictitious "
             "particle layers at x < 0 with all displacement components zero (the book's code does the "
             "same); loaded end: 200 MPa traction as a body force on the last particle layer "
             "(docs/theory.md sec. 8). One load step relaxed by adaptive dynamic relaxation to a relative "
             "residual of 1e-5. Case: `cases/block_tension_3d.yaml`"
             + ("." if resolution == "full" else f" with the length {length:g} m (the CI resolution)."))
    notes = (f"Expected: uniaxial stress gives u_x = sigma x / E, {SIGMA * length / E:.2e} m at x = L; the "
             "centre of the loaded layer is at L - dx/2, where the exact value is "
             f"{SIGMA * centres[-1] / E:.4e} m "
             f"({100 * (centres[-1] / length - 1):+.1f} % of sigma L / E). The held end also stops the "
             "lateral "
             "contraction there, which stiffens the first few layers slightly.\n\n"
             f"Lateral contraction at mid-length: effective Poisson ratio {nu_measured:.3f} against 1/4 "
             f"({100 * (nu_measured / NU - 1):+.1f} %), reported only. The cross-section is 10 x 10 "
             "particles "
             "with a horizon of 3 spacings, so only its central 4 x 4 particles have a full family: the "
             "energy surface correction, calibrated on uniaxial strain along each axis, does not restore "
             "the coupling between the axes near a surface, and leaves a thin bar slightly too stiff along "
             "it (the interior strain above; the thin strips of the bar and wave benchmarks show the same) "
             "and, here, contracting more than nu = 1/4 across it. Before this benchmark the shipped case "
             "held a layer "
             "inside the block (x in [0, 0.01]) instead of the book's fictitious layers outside it, which "
             "shortened the loaded length by one spacing and gave u_x at the end -2.7 %; the case now "
             f"follows the book. Relaxation: {summary.steps} iterations.")
    return Result(NAME, TITLE, SOURCE, setup, resolution, summary.backend, summary.particles, summary.steps,
                  wall, checks, [path], notes, precision)


def _figure(x, u, centres, layer_mean, mid, length):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    line = np.array([0.0, length])
    left.plot(line, SIGMA * line / E * 1e3, "k-", label="sigma x / E")
    left.plot(centres, layer_mean * 1e3, "o", ms=3, label="PD (mean over each layer)")
    left.set(xlabel="x (m)", ylabel="u_x (mm)", title="u_x along the block")
    left.legend(fontsize=8)
    y = x[mid, 1] - SIDE / 2
    strain = SIGMA / E
    line = np.array([-SIDE / 2, SIDE / 2])
    right.plot(line, -NU * strain * line * 1e3, "k-", label="-nu (sigma / E) (y - 0.05), nu = 1/4")
    right.plot(y, u[mid, 1] * 1e3, "o", ms=3, label="PD, every particle of the mid-length layer")
    right.set(xlabel="y - 0.05 (m)", ylabel="u_y (mm)", title="u_y across the block at mid-length")
    right.legend(fontsize=8)
    figure.tight_layout()
    return figure


BENCHMARK = Benchmark(NAME, TITLE, run)
