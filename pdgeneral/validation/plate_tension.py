"""Quasi-static uniaxial tension of a plane-stress plate (Madenci and Oterkus 2014, sec. 6.1).

A 1 m x 0.5 m plate, E = 200 GPa, traction 200 MPa on both short edges, relaxed by adaptive dynamic
relaxation. Classical answer (uniaxial stress, Timoshenko and Goodier): u_x = sigma x / E,
u_y = -nu sigma y / E about the centre, with nu = 1/3, the Poisson ratio of plane-stress bond-based
peridynamics (Silling 2000). The run uses the shipped case cases/uniaxial_tension_2d.yaml, which is the
book's set-up, and runs it twice: with the energy surface correction (the checks) and without it (the
error the correction removes).
"""
from __future__ import annotations

import math
import tempfile
import time as clock
from pathlib import Path

import numpy as np

from ..api import run_case
from ..io import read_snapshot
from .core import Benchmark, Check, Result, relaxation_tolerance
from .report import CASES, save_figure

NAME = "plate_tension"
TITLE = "Quasi-static uniaxial tension of a plate (2D, plane stress)"
CASE = CASES / "uniaxial_tension_2d.yaml"
SOURCE = ("Madenci and Oterkus (2014), Peridynamic Theory and Its Applications, Springer, sec. 6.1; "
          "Silling (2000) for nu = 1/3 in plane-stress bond-based peridynamics")

E = 200.0e9            # Pa, the case's Young's modulus
SIGMA = 200.0e6        # Pa, the traction on the short edges
NU = 1.0 / 3.0         # plane-stress bond-based PD (Silling 2000)
HALF_LENGTH, HALF_WIDTH = 0.5, 0.25
HORIZON_FACTOR = 3.015
#: The relaxation's relative residual: the case file's (float32 relaxes to core.FLOAT32_TOLERANCE).
RESIDUAL = 1.0e-6

#: Lattice spacing per resolution: the book's 0.01 m (100 x 50 particles), and half as fine for CI.
SPACING = {"full": 0.01, "ci": 0.02}

# Tolerances. u_x: the 2 %; u_y: its 5 % (the lateral displacement is three times smaller
# and its relative error larger near y = 0, Madenci and Oterkus compare it on the same terms).
UX_TOLERANCE = 0.02
UY_TOLERANCE = 0.05
#: Horizons from a loaded edge where the u_y comparison over the interior starts (see run()).
LOADED_EDGE_ZONE = 3.0
# Without the correction, the bulk is soft by the lattice factor g (computed below); the free long
# edges of the uncorrected plate are softer still, which the bulk factor leaves out, so the check asks
# for g within 5 % (measured: about 1 % over it in the interior).
UNCORRECTED_TOLERANCE = 0.05


def exact_displacement(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Uniaxial stress along x: u_x = sigma x / E, u_y = -nu sigma y / E (m)."""
    return SIGMA * x / E, -NU * SIGMA * y / E


def lattice_bulk_factor(horizon_factor: float = HORIZON_FACTOR) -> float:
    """g = I / m_x for a particle with a full family: how much softer the plain lattice sum is.

    I = pi delta^3 / 4 (per unit thickness) is the continuum integral of |xi| cos^4(theta) over the
    horizon (docs/theory.md sec. 2.1); m_x = sum_j n_x^4 |xi_j| beta_j dx^2 is its lattice sum with
    the partial-volume factor beta of Madenci and Oterkus sec. 2.4.1. Computed here from scratch
    (numpy), not by the model code, in units of dx.
    """
    reach = math.ceil(horizon_factor) + 1
    offsets = np.arange(-reach, reach + 1, dtype=float)
    ox, oy = np.meshgrid(offsets, offsets, indexing="ij")
    length = np.hypot(ox, oy)
    inside = (length > 0) & (length <= horizon_factor * (1 + 1e-10))
    beta = np.clip(horizon_factor + 0.5 - length[inside], 0.0, 1.0)
    moment = np.sum((ox[inside] / length[inside]) ** 4 * length[inside] * beta)
    return (math.pi * horizon_factor ** 3 / 4.0) / moment


def _run(resolution: str, backend: str, workdir: Path, correction: str, precision: str):
    spacing = SPACING[resolution]
    overrides = [f"discretization.spacing={spacing}", f"discretization.surface_correction={correction}",
                 # the loaded layers stay one particle column deep at every spacing (the book's set-up)
                 f"regions.left.box.max[0]={-HALF_LENGTH + spacing}",
                 f"regions.right.box.min[0]={HALF_LENGTH - spacing}", f"precision={precision}",
                 f"solver.tolerance={relaxation_tolerance(RESIDUAL, precision):.1e}"]
    summary = run_case(CASE, overrides=overrides, backend=backend, output=workdir / f"plate-{correction}.h5",
                       overwrite=True)
    return summary, read_snapshot(summary.output)


def _end_value(x: np.ndarray, u: np.ndarray, spacing: float, sign: int) -> float:
    """u_x of the end column at x = sign * (0.5 - dx/2), on the two rows nearest y = 0."""
    column = np.abs(x[:, 0] - sign * (HALF_LENGTH - spacing / 2)) < 1e-9 * HALF_LENGTH
    centre = np.abs(x[:, 1]) < spacing
    return float(np.mean(u[column & centre, 0]))


def _interior(x: np.ndarray, horizon: float) -> np.ndarray:
    """At least a horizon from every edge (away from the loaded layers' surface effect)."""
    return (np.abs(x[:, 0]) <= HALF_LENGTH - horizon) & (np.abs(x[:, 1]) <= HALF_WIDTH - horizon)


def run(resolution: str, workdir: Path, backend: str, precision: str = "float64") -> Result:
    started = clock.perf_counter()
    spacing = SPACING[resolution]
    horizon = HORIZON_FACTOR * spacing
    with tempfile.TemporaryDirectory() as scratch:
        summary, corrected = _run(resolution, backend, Path(scratch), "energy", precision)
        plain_summary, plain = _run(resolution, backend, Path(scratch), "none", precision)
    x, u = corrected["position"], corrected["displacement"]
    ux_exact, uy_exact = exact_displacement(x[:, 0], x[:, 1])
    interior = _interior(x, horizon)
    checks = []

    x_end = HALF_LENGTH - spacing / 2
    expected_end = SIGMA * x_end / E
    for sign in (1, -1):
        got = _end_value(x, u, spacing, sign)
        error = got / (sign * expected_end) - 1
        checks.append(Check(f"u_x at x = {sign * x_end:+.3f} m (end column, centre rows)",
                            f"{sign * expected_end:.4e} m", f"{got:.4e} m ({100 * error:+.2f} %)",
                            abs(error) <= UX_TOLERANCE, "within 2 % (issue 4, item 1)"))

    ux_zone = interior & (np.abs(x[:, 0]) >= 0.1)   # relative error is meaningless near x = 0
    ux_error = np.abs(u[ux_zone, 0] / ux_exact[ux_zone] - 1)
    checks.append(Check(f"interior u_x, largest relative deviation ({int(ux_zone.sum())} particles "
                        "a horizon from the edges, |x| >= 0.1 m)", "sigma x / E",
                        f"{100 * ux_error.max():.2f} % (mean {100 * ux_error.mean():.2f} %)",
                        ux_error.max() <= UX_TOLERANCE, "within 2 % (issue 4, item 1)"))

    # u_y: along the vertical centre line, as the book compares it, and over the interior away from the
    # loaded edges. Next to a loaded edge the lateral contraction departs from -nu sigma y / E over about
    # 2.5 horizons (the corrected lattice's Poisson coupling at an edge; measured, reported in the notes),
    # so "interior" for u_y starts LOADED_EDGE_ZONE horizons from the loaded edges.
    uy_error = np.abs(u[:, 1] / np.where(uy_exact == 0, np.inf, uy_exact) - 1)
    lateral = (np.abs(x[:, 1]) >= 0.05) & (np.abs(x[:, 1]) <= HALF_WIDTH - horizon)
    centre_line = lateral & (np.abs(np.abs(x[:, 0]) - spacing / 2) < 1e-9)
    checks.append(Check("u_y along the vertical centre line (x = +-dx/2, 0.05 m <= |y| <= 0.25 m - delta), "
                        "largest relative deviation", "-nu sigma y / E, nu = 1/3",
                        f"{100 * uy_error[centre_line].max():.2f} %",
                        uy_error[centre_line].max() <= UY_TOLERANCE, "within 5 % (issue 4, item 1)"))
    edge_distance = HALF_LENGTH - np.abs(x[:, 0])
    uy_zone = lateral & (edge_distance >= LOADED_EDGE_ZONE * horizon)
    checks.append(Check(f"interior u_y, largest relative deviation ({int(uy_zone.sum())} particles at least "
                        f"{LOADED_EDGE_ZONE:g} horizons from the loaded edges, |y| >= 0.05 m)",
                        "-nu sigma y / E, nu = 1/3",
                        f"{100 * uy_error[uy_zone].max():.2f} % "
                        f"(mean {100 * uy_error[uy_zone].mean():.2f} %)",
                        uy_error[uy_zone].max() <= UY_TOLERANCE, "within 5 % (issue 4, item 1)"))
    band = lateral & (edge_distance < LOADED_EDGE_ZONE * horizon)
    band_signed = u[band, 1] / uy_exact[band] - 1
    band_worst = band_signed[np.argmax(np.abs(band_signed))]
    distances = np.unique(np.round(edge_distance[lateral], 9))
    band_profile = np.array([
        (d / horizon, uy_error[lateral & (np.abs(edge_distance - d) < 1e-6 * spacing)].max())
        for d in distances])
    outside = band_profile[:, 1] > UY_TOLERANCE
    last_outside = int(np.nonzero(outside)[0].max()) if outside.any() else -1
    below_tolerance = band_profile[min(last_outside + 1, len(band_profile) - 1), 0]

    xp, up = plain["position"], plain["displacement"]
    g = lattice_bulk_factor()
    plain_zone = _interior(xp, horizon) & (np.abs(xp[:, 0]) >= 0.1)
    plain_ratio = up[plain_zone, 0] / exact_displacement(xp[plain_zone, 0], xp[plain_zone, 1])[0]
    plain_end = _end_value(xp, up, spacing, 1) / expected_end - 1
    checks.append(Check("without the surface correction: interior u_x / (sigma x / E), mean",
                        f"{g:.4f} (bulk lattice factor g: the lattice sum is {100 * (1 - 1 / g):.1f} % "
                        "below the continuum integral)",
                        f"{plain_ratio.mean():.4f} (range {plain_ratio.min():.4f}-{plain_ratio.max():.4f}); "
                        f"u_x at the end {100 * plain_end:+.1f} %",
                        abs(plain_ratio.mean() / g - 1) <= UNCORRECTED_TOLERANCE,
                        "within 5 % of g: confirms what the correction removes; the 2 % bound of the "
                        "issue is not met without it"))

    figure = _figure(x, u, xp, up, spacing, band_profile)
    path = save_figure(figure, workdir, NAME, "displacement")
    wall = clock.perf_counter() - started
    nx, ny = round(2 * HALF_LENGTH / spacing), round(2 * HALF_WIDTH / spacing)
    setup = (f"Plate 1 m x 0.5 m (centre at the origin), plane stress, {nx} x {ny} particles at dx = "
             f"{spacing:g} m, horizon 3.015 dx, E = 200 GPa, rho = 7850 kg/m^3, bonds unbreakable. A "
             "traction "
             "of 200 MPa pulls each short edge, applied as a body force on the outermost particle column "
             "(docs/theory.md sec. 8); no displacement is constrained (the load is self-balanced). One load "
             "step relaxed by adaptive dynamic relaxation to a relative residual of "
             + f"{relaxation_tolerance(RESIDUAL, precision):.0e}".replace("e-0", "e-") + ". Case: "
             "`cases/uniaxial_tension_2d.yaml`"
             + ("." if resolution == "full" else f" with dx = {spacing:g} m (the CI resolution)."))
    notes = (f"Expected values: uniaxial stress sigma_xx = 200 MPa gives u_x = sigma x / E (4.95e-4 m at the "
             "end-column centres x = +-0.495 m) and u_y = -nu sigma y / E with nu = 1/3, the only Poisson "
             "ratio plane-stress bond-based peridynamics has (Silling 2000). The book compares u_x along the "
             "horizontal and u_y along the vertical centre line; the checks add the whole interior. Interior "
             "means at least one horizon from every edge; u_x is compared where |x| >= 0.1 m and u_y where "
             "|y| >= 0.05 m, where a relative error means something.\n\n"
             f"**Known gap: u_y next to the loaded edges.** Within {LOADED_EDGE_ZONE:g} horizons of a loaded "
             f"edge the lateral displacement departs from -nu sigma y / E by up to {100 * band_worst:+.1f} % "
             "(at the edge column itself; the third panel of the figure shows the largest deviation per "
             "column against the distance from the loaded edge); it stays below 5 % from "
             f"{below_tolerance:.1f} horizons inward. "
             "The cause is the surface effect at the loaded edge: its particles miss the bonds beyond the "
             "edge, and the energy correction, which rescales each bond to restore the uniaxial-strain "
             "energy along x and along y separately, does not restore the coupling between the two (the "
             "effective Poisson ratio) there. Spreading the traction over three particle columns instead of "
             "the book's one makes it worse (measured at full resolution: 20 % within 1.7 horizons of the "
             "edge, 15 % between 1.7 and 3.3), so the book's one-column load is kept. u_x is not affected "
             "(the interior u_x check includes those columns).\n\n"
             f"Without the surface correction the same run gives u_x {100 * plain_end:+.1f} % at the end and "
             f"interior u_x {100 * (plain_ratio.mean() - 1):+.1f} % on average: the plain lattice sum with "
             f"partial volumes is {100 * (1 - 1 / g):.1f} % below the continuum integral the micromodulus "
             f"is calibrated on (g = {g:.4f}, computed in the benchmark from the lattice), so the whole body "
             "is softer, and the free edges more so. The energy correction (docs/theory.md sec. 5) brings "
             f"this to the values in the table. Runs: corrected {summary.steps} relaxation iterations, "
             f"uncorrected {plain_summary.steps}.")
    return Result(NAME, TITLE, SOURCE, setup, resolution, summary.backend, summary.particles, summary.steps,
                  wall, checks, [path], notes, precision)


def _figure(x, u, xp, up, spacing, band_profile):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, (left, right, edge) = plt.subplots(1, 3, figsize=(14, 3.8))
    row = np.abs(x[:, 1] - spacing / 2) < 1e-9
    order = np.argsort(x[row, 0])
    line = np.linspace(-HALF_LENGTH, HALF_LENGTH, 3)
    left.plot(line, SIGMA * line / E * 1e3, "k-", label="sigma x / E")
    left.plot(x[row, 0][order], u[row, 0][order] * 1e3, "o", ms=3, label="PD, energy correction")
    row_p = np.abs(xp[:, 1] - spacing / 2) < 1e-9
    order_p = np.argsort(xp[row_p, 0])
    left.plot(xp[row_p, 0][order_p], up[row_p, 0][order_p] * 1e3, "x", ms=3, label="PD, no correction")
    left.set(xlabel="x (m), row y = dx/2", ylabel="u_x (mm)", title="u_x along the plate")
    left.legend(fontsize=8)
    column = np.abs(x[:, 0] - spacing / 2) < 1e-9
    order = np.argsort(x[column, 1])
    line = np.linspace(-HALF_WIDTH, HALF_WIDTH, 3)
    right.plot(line, -NU * SIGMA * line / E * 1e3, "k-", label="-nu sigma y / E")
    right.plot(x[column, 1][order], u[column, 1][order] * 1e3, "o", ms=3, label="PD, energy correction")
    column_p = np.abs(xp[:, 0] - spacing / 2) < 1e-9
    order_p = np.argsort(xp[column_p, 1])
    right.plot(xp[column_p, 1][order_p], up[column_p, 1][order_p] * 1e3, "x", ms=3, label="PD, no correction")
    right.set(xlabel="y (m), column x = dx/2", ylabel="u_y (mm)", title="u_y across the plate")
    right.legend(fontsize=8)
    edge.plot(band_profile[:, 0], 100 * band_profile[:, 1], "o-", ms=3)
    edge.axhline(100 * UY_TOLERANCE, color="grey", ls=":", label="5 %")
    edge.axvline(LOADED_EDGE_ZONE, color="grey", ls="--", label=f"{LOADED_EDGE_ZONE:g} horizons")
    edge.set(xlabel="distance from the loaded edge / horizon", ylabel="largest |u_y error| in the column (%)",
             title="u_y next to the loaded edges")
    edge.legend(fontsize=8)
    figure.tight_layout()
    return figure


BENCHMARK = Benchmark(NAME, TITLE, run)
