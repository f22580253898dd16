"""Plate with a pre-existing crack under velocity boundary conditions (Madenci and Oterkus 2014,
Peridynamic Theory and Its Applications, sec. 9.2, and the book's Fortran programs
plate_with_a_preexisting_crack_v20.f90 / _v50.f90).

A 50 mm x 50 mm plate (2D plane stress, E = 192 GPa, rho = 8000 kg/m^3, critical stretch 0.04472 at
dx = 0.1 mm and horizon 3.015 dx) with a central crack 10 mm long is pulled apart by three particle
rows outside its top and bottom edges moving at +-20 m/s, and again at +-50 m/s, for 16.7 us (the
book's 1250 steps of 13.367 ns). Published behaviour (issue 4, item 7): at 20 m/s the crack grows
straight from about 7.5 us, each tip 12 to 20 mm by 16.7 us, without branching; at 50 m/s it branches.

Checks, per loading speed (tips: ``analysis.tip_history``, farthest cracked particle, damage >= 0.3):
  * the crack starts (a tip has advanced by one horizon) after the dilatational wave from the loaded
    rows has reached it, (25 mm + 1.5 dx) / c_d, and near the published 7.5 us (20 m/s);
  * each tip's extension at 16.7 us lies in 12-20 mm (20 m/s);
  * no branching (20 m/s) / branching at both tips (50 m/s) (``analysis.branching``).
The tip speeds are reported against the Rayleigh speed c_R but not checked: on the CI lattice the
farthest damaged particle outruns c_R at 50 m/s (see ``_notes``), which is no crack-tip speed.
The case file is cases/validation/precracked_plate.yaml (the book's set-up); ``"ci"`` coarsens it to
dx = 0.25 mm and keeps the fracture energy that the book's critical stretch gives at dx = 0.1 mm
(``fracture_energy_of``), so that the crack needs the same energy per unit area.
"""
from __future__ import annotations

import math
import tempfile
import time as clock
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from .. import analysis
from ..api import prepare, run_case
from ..case import load_case_text
from ..physics import pmb
from .core import Benchmark, Check, Result
from .report import CASES, save_figure

NAME = "precracked_plate"
TITLE = "Pre-cracked plate under velocity boundary conditions (2D, plane stress)"
CASE_FILE = CASES / "validation" / "precracked_plate.yaml"
SOURCE = ("E. Madenci and E. Oterkus, Peridynamic Theory and Its Applications, Springer (2014), "
          "sec. 9.2 (plate with a pre-existing crack under velocity boundary conditions) and its "
          "programs plate_with_a_preexisting_crack_v20.f90 / _v50.f90; L. B. Freund, Dynamic Fracture "
          "Mechanics, Cambridge (1990), for the limiting crack speed")

END_TIME = 16.7e-6           # s: the book's 1250 steps of 13.367 ns
PLATE_HALF = 0.025           # m, half the plate's side
CRACK_HALF = 0.005           # m, half the pre-crack's length
BOOK_SPACING = 1.0e-4        # m
HORIZON_FACTOR = 3.015
BOOK_CRITICAL_STRETCH = 0.04472
GRIP_ROWS = 3                # particle rows outside each loaded edge (the book's nbnd = 3)
SPEEDS = (20.0, 50.0)        # m/s, the book's two programs

#: Published behaviour at 20 m/s (issue 4, item 7, after the book's sec. 9.2).
ONSET_TIME = 7.5e-6          # s
#: "Near 7.5 us" comes without a tolerance; the test accepts +-1.5 us (20 %), the time the dilatational
#: wave (c_d = 5196 m/s) takes to cross 7.8 mm, one and a half times the crack's half-length.
ONSET_TOLERANCE = 1.5e-6     # s
EXTENSION_BAND = (12.0e-3, 20.0e-3)   # m, each tip's growth at 16.7 us
#: The tip has moved by one horizon: the first unambiguous crack growth (a single broken bond ahead of
#: the tip already raises a particle's damage, but only growth by a horizon detaches a new face).
ONSET_ADVANCE_HORIZONS = 1.0
#: Snapshots this far apart (tip history resolution): about 0.24 us at both resolutions.
SPEED_WINDOW = 4             # snapshots per tip-speed estimate (about 1 us)


@dataclass(frozen=True)
class Variant:
    """One discretisation: ``steps`` fixes dt = END_TIME / steps (0.80 of the stable step at both
    resolutions: 19.92 ns and 49.79 ns), ``every`` gives about 70 snapshots."""
    spacing: float           # m
    steps: int
    every: int
    book_stretch: bool       # True: the book's critical stretch; False: the fracture energy it implies


VARIANTS = {
    "full": Variant(BOOK_SPACING, 1050, 15, True),
    "ci": Variant(2.5e-4, 420, 6, False),
}


def fracture_energy_of(critical_stretch: float, youngs_modulus: float, horizon: float) -> float:
    """G0 (J/m^2) that gives ``critical_stretch`` in plane stress: the inverse of
    s0 = sqrt(4 pi G0 / (9 E delta)) (Ha and Bobaru 2010, eq. 7; ``physics.pmb.critical_stretch``),
    G0 = 9 E s0^2 delta / (4 pi). The book's s0 = 0.04472 at delta = 0.3015 mm: G0 = 82.9 kJ/m^2."""
    return 9.0 * youngs_modulus * critical_stretch**2 * horizon / (4.0 * math.pi)


def damage_image(position: np.ndarray, values: np.ndarray, spacing: float) -> tuple[np.ndarray, list]:
    """Lattice values (N,) of a 2D run as an image (rows along y) and its extent in mm, for imshow."""
    low = position.min(axis=0)
    index = np.rint((position - low) / spacing).astype(np.int64)
    image = np.full(index.max(axis=0)[::-1] + 1, np.nan)
    image[index[:, 1], index[:, 0]] = values
    high = position.max(axis=0)
    extent = [(low[0] - spacing / 2) * 1e3, (high[0] + spacing / 2) * 1e3,
              (low[1] - spacing / 2) * 1e3, (high[1] + spacing / 2) * 1e3]
    return image, extent


def case_dict(variant: Variant, speed: float, output: Path) -> dict:
    """The case file with this variant's lattice, the loading speed, time step and output."""
    raw = yaml.safe_load(CASE_FILE.read_text())
    dx = variant.spacing
    edge = PLATE_HALF + GRIP_ROWS * dx
    raw["discretization"]["spacing"] = dx
    raw["geometry"]["box"] = {"min": [-PLATE_HALF, -edge], "max": [PLATE_HALF, edge]}
    regions = raw["regions"]
    regions["bottom"]["box"] = {"min": [-PLATE_HALF, -edge], "max": [PLATE_HALF, -PLATE_HALF]}
    regions["top"]["box"] = {"min": [-PLATE_HALF, PLATE_HALF], "max": [PLATE_HALF, edge]}
    regions["bottom_band"]["box"]["min"] = [-PLATE_HALF, -edge]
    regions["top_band"]["box"]["max"] = [PLATE_HALF, edge]
    # Crack tips a quarter spacing beyond +-5 mm, as in the case file (bonds through a lattice corner
    # would otherwise be cut by rounding, differently above and below the crack).
    tip = CRACK_HALF + dx / 4
    raw["precracks"] = [{"segment": {"start": [-tip, 0.0], "end": [tip, 0.0]}}]
    if not variant.book_stretch:
        material = load_case_text(CASE_FILE.read_text(), source=str(CASE_FILE)).material
        raw["material"].pop("critical_stretch")
        raw["material"]["fracture_energy"] = fracture_energy_of(
            BOOK_CRITICAL_STRETCH, material.youngs_modulus, HORIZON_FACTOR * BOOK_SPACING)
    raw["boundary_conditions"][0]["value"] = [None, -speed]
    raw["boundary_conditions"][1]["value"] = [None, speed]
    raw["solver"] = {"type": "explicit", "end_time": END_TIME, "time_step": END_TIME / variant.steps}
    raw["output"] = {"path": str(output), "every": variant.every}
    return raw


@dataclass
class Measured:
    """What one run gave (SI units); ``tips[k]`` is the right (k = 0) or left (k = 1) tip."""
    speed: float
    spacing: float
    horizon: float
    particles: int
    steps: int
    wall: float
    times: np.ndarray                  # (S,) s
    tips: np.ndarray                   # (2, S, 2) m
    extension: np.ndarray              # (2, S) m, growth of each tip along its direction
    onset: float | None                # s, when a tip first advanced by ONSET_ADVANCE_HORIZONS
    branches: list                     # per tip: analysis.Branching or None, final state
    branch_times: list                 # per tip: s of the first snapshot showing branches, or None
    lateral: float                     # m, largest |y| of the crack's particles beyond the pre-crack
    fastest: float                     # m/s, largest tip speed over SPEED_WINDOW snapshots, before
                                       # the first snapshot that shows a branch
    critical_stretch: float
    position: np.ndarray               # (N, 2)
    damage: np.ndarray                 # (N,) at END_TIME


def _onset(times: np.ndarray, advance: np.ndarray, threshold: float) -> float | None:
    """First time ``advance`` (S,) reaches ``threshold``, interpolated between the two snapshots around
    it (the tip moves in whole lattice steps, so this is accurate to about one snapshot interval)."""
    reached = np.nonzero(advance >= threshold)[0]
    if reached.size == 0:
        return None
    k = int(reached[0])
    if k == 0:
        return float(times[0])
    fraction = (threshold - advance[k - 1]) / (advance[k] - advance[k - 1])
    return float(times[k - 1] + fraction * (times[k] - times[k - 1]))


def _measure(variant: Variant, speed: float, path: Path, horizon: float, critical_stretch: float,
             particles: int, steps: int, wall: float) -> Measured:
    dx = variant.spacing
    start = CRACK_HALF + dx / 4
    ends = (((start, 0.0), (1.0, 0.0)), ((-start, 0.0), (-1.0, 0.0)))
    times, tips, branch_times = None, [], []
    for point, direction in ends:
        times, history = analysis.tip_history(path, point, direction=direction, spacing=dx)
        tips.append(history)
    tips = np.array(tips)
    extension = np.array([(tips[k, :, 0] - tips[k, 0, 0]) * ends[k][1][0] for k in range(2)])
    onset = _onset(times, extension.max(axis=0), ONSET_ADVANCE_HORIZONS * horizon)
    position, damage, _ = analysis.damage_field(path)
    branches = [analysis.branching(position, damage, point, dx, direction=direction)
                for point, direction in ends]
    for (point, direction), found in zip(ends, branches):
        first = None
        if found is not None:
            hit = analysis.branching_time(path, point, direction=direction, spacing=dx)
            first = hit[0] if hit is not None else None
        branch_times.append(first)
    crack = analysis.crack_from(position, damage, (start, 0.0), dx)
    beyond = crack[np.abs(position[crack, 0]) > start]
    lateral = float(np.abs(position[beyond, 1]).max()) if beyond.size else 0.0
    # Tip speeds up to the first snapshot that shows a branch: after it, the farthest cracked particle
    # can jump when damage that nucleated ahead of the tip joins the crack, which is no tip speed.
    until = min((t for t in branch_times if t is not None), default=times[-1])
    fastest = 0.0
    for k in range(2):
        mid, speeds = analysis.crack_speed(times, tips[k], window=SPEED_WINDOW)
        fastest = max(fastest, float(np.max(speeds[mid <= until], initial=0.0)))
    return Measured(speed=speed, spacing=dx, horizon=horizon, particles=particles, steps=steps,
                    wall=wall, times=times, tips=tips, extension=extension, onset=onset,
                    branches=branches, branch_times=branch_times, lateral=lateral, fastest=fastest,
                    critical_stretch=critical_stretch, position=position, damage=damage)


def _checks(m: Measured, c_d: float) -> list[Check]:
    us, mm = 1e6, 1e3
    label = f"{m.speed:g} m/s"
    interval = (m.times[1] - m.times[0]) * us
    checks = []

    arrival = (PLATE_HALF + 1.5 * m.spacing) / c_d
    onset_text = "no growth" if m.onset is None else f"{m.onset * us:.2f} us"
    checks.append(Check(
        f"{label}: crack growth starts after the stress wave reaches the crack",
        f"after (25 mm + 1.5 dx) / c_d = {arrival * us:.2f} us",
        onset_text, m.onset is not None and m.onset > arrival,
        f"growth start: a tip has advanced by one horizon ({m.horizon * mm:.3g} mm), interpolated "
        f"between snapshots {interval:.2f} us apart; c_d = {c_d:.0f} m/s (plane stress, nu = 1/3) from "
        "the middle of the loaded rows"))

    right, left = m.extension[:, -1]
    if m.speed == SPEEDS[0]:
        checks.append(Check(
            f"{label}: start of crack growth",
            f"near {ONSET_TIME * us:.1f} us (+-{ONSET_TOLERANCE * us:.1f} us)",
            onset_text, m.onset is not None and abs(m.onset - ONSET_TIME) <= ONSET_TOLERANCE,
            "7.5 us: issue 4, after the book's sec. 9.2, which states no tolerance; +-1.5 us (20 %) is "
            "ours: the time the dilatational wave takes to cross 7.8 mm, 1.5 times the crack's half-length"))
        low, high = EXTENSION_BAND
        checks.append(Check(
            f"{label}: extension of each tip at 16.7 us", f"{low * mm:.0f}-{high * mm:.0f} mm",
            f"right {right * mm:.1f} mm, left {left * mm:.1f} mm "
            f"(crack {2 * CRACK_HALF * mm + (right + left) * mm:.1f} mm long)",
            bool(low <= right <= high and low <= left <= high),
            "tip = farthest cracked particle (damage >= 0.3) along the crack line, from its place at "
            "t = 0 (analysis.tip_history)"))
        branched = [b for b in m.branches if b is not None]
        found = "; ".join(f"tip {side}: junction at ({b.point[0] * mm:.1f}, {b.point[1] * mm:.2f}) mm"
                          + (f", seen from {t * us:.1f} us" if t is not None else "")
                          for side, b, t in zip(("right", "left"), m.branches, m.branch_times)
                          if b is not None)
        checks.append(Check(
            f"{label}: straight crack, no branching by 16.7 us", "one crack along y = 0, no branch",
            (f"branched: {found}" if branched else "no branch")
            + f"; crack within |y| <= {m.lateral * mm:.2f} mm", not branched,
            "analysis.branching: two separate damaged bands over at least 10 dx along the crack"))
    else:
        both = all(b is not None for b in m.branches)
        found = "; ".join(
            f"tip {side}: " + ("no branch" if b is None else
                               f"junction at ({b.point[0] * mm:.1f}, {b.point[1] * mm:.2f}) mm, angle "
                               f"{b.angle:.0f} deg"
                               + (f", seen from {t * us:.1f} us" if t is not None else ""))
            for side, b, t in zip(("right", "left"), m.branches, m.branch_times))
        checks.append(Check(f"{label}: the crack branches", "branching at both tips by 16.7 us", found,
                            both, "analysis.branching: two separate damaged bands over at least 10 dx"))

    return checks


def _figures(measured: list[Measured], directory: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(measured), 1, figsize=(7.0, 3.3 * len(measured)), squeeze=False)
    for ax, m in zip(axes[:, 0], measured):
        image, extent = damage_image(m.position, m.damage, m.spacing)
        shown = ax.imshow(image, origin="lower", extent=extent, cmap="viridis", vmin=0.0, vmax=0.5,
                          interpolation="nearest")
        ax.set_xlim(-25, 25)
        ax.set_ylim(-12.5, 12.5)
        ax.set_aspect("equal")
        ax.set_ylabel("y (mm)")
        ax.set_title(f"{m.speed:g} m/s, dx = {m.spacing * 1e3:g} mm: damage at {END_TIME * 1e6:.1f} us "
                     "(|y| <= 12.5 mm, where bonds may break)", fontsize=9)
        for b in m.branches:
            if b is not None:
                ax.plot(*(b.point * 1e3), "r+", markersize=10)
    axes[-1, 0].set_xlabel("x (mm)")
    fig.colorbar(shown, ax=axes[:, 0], label="damage", shrink=0.7)
    paths = [save_figure(fig, directory, NAME, "damage")]

    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    for m in measured:
        for k, style in enumerate(("-", "--")):
            ax.plot(m.times * 1e6, m.extension[k] * 1e3, style, label=f"{m.speed:g} m/s, "
                    f"{('right', 'left')[k]} tip")
    low, high = EXTENSION_BAND
    ax.errorbar([END_TIME * 1e6], [(low + high) / 2 * 1e3], yerr=[[(high - low) / 2 * 1e3]], fmt="k_",
                capsize=4, label="published, 20 m/s")
    ax.axvspan((ONSET_TIME - ONSET_TOLERANCE) * 1e6, (ONSET_TIME + ONSET_TOLERANCE) * 1e6, color="0.85",
               label="published start, 20 m/s")
    ax.set_xlabel("t (us)")
    ax.set_ylabel("tip extension (mm)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    paths.append(save_figure(fig, directory, NAME, "tips"))
    return paths


def run(resolution: str, workdir: Path, backend: str, precision: str = "float64") -> Result:
    """Run both loading speeds at ``resolution``, measure, draw, and compare with the literature."""
    started = clock.perf_counter()
    workdir = Path(workdir)
    variant = VARIANTS[resolution]
    material = load_case_text(CASE_FILE.read_text(), source=str(CASE_FILE)).material
    c_d, _, c_r = analysis.wave_speeds(material.youngs_modulus, material.density, pmb.POISSON_RATIO["stress"],
                              "stress")
    measured, s0, g0 = [], None, None
    with tempfile.TemporaryDirectory(prefix="pdgeneral-precracked-") as scratch:
        for speed in SPEEDS:
            path = Path(scratch) / f"precracked-{speed:g}.h5"
            text = yaml.safe_dump(case_dict(variant, speed, path) | {"precision": precision}, sort_keys=False)
            prepared = prepare(load_case_text(text, source=str(CASE_FILE)), backend=backend,
                               case_text=text)
            s0, horizon = prepared.model.critical_stretch, prepared.model.horizon
            g0 = prepared.case.material.fracture_energy
            summary = run_case(prepared, overwrite=True)
            measured.append(_measure(variant, speed, path, horizon, s0, summary.particles,
                                     summary.steps, summary.wall_seconds + summary.setup_seconds))
    checks = [check for m in measured for check in _checks(m, c_d)]
    figures = _figures(measured, workdir)
    m = measured[0]
    failure = (f"critical stretch {s0:g} (the book's)" if g0 is None else
               f"G0 = {g0:.4g} J/m^2, the fracture energy of the book's s0 = {BOOK_CRITICAL_STRETCH} at "
               f"dx = 0.1 mm (G0 = 9 E s0^2 delta / (4 pi)), which gives s0 = {s0:.4g} here")
    setup = (
        "Plate 50 mm x 50 mm, central crack 10 mm long on y = 0 (a pre-crack between particle rows, tips a "
        "quarter spacing beyond +-5 mm). E = 192 GPa, rho = 8000 kg/m^3, 2D plane stress PMB (nu = 1/3), "
        f"energy surface correction, horizon 3.015 dx, {failure}. Three particle rows added outside the "
        "top and bottom edges move at +-v along y from t = 0 (x free); bonds break only within |y| <= "
        "12.5 mm (the book's program; here the outer bands are no_fail). Explicit velocity Verlet to "
        f"16.7 us, {m.steps} steps of {END_TIME / m.steps * 1e9:.2f} ns, snapshots every "
        f"{(m.times[1] - m.times[0]) * 1e6:.2f} us. Runs: "
        + "; ".join(f"v = {x.speed:g} m/s: dx = {x.spacing * 1e3:g} mm, {x.particles:,} particles, "
                    f"{x.wall:.0f} s" for x in measured)
        + ". Case file: cases/validation/precracked_plate.yaml.")
    return Result(name=NAME, title=TITLE, source=SOURCE, setup=setup, resolution=resolution,
                  backend=prepared.backend, particles=m.particles, steps=sum(x.steps for x in measured),
                  wall_seconds=clock.perf_counter() - started, checks=checks, figures=figures,
                  notes=_notes(measured, c_d, c_r), precision=precision)


#: What was tried about the branching at 20 m/s (exploratory runs on the full lattice, cuda on an H200,
#: before the crack tips were moved a quarter spacing, and CPU runs of the breaking order and the time
#: step; the numbers are those runs', not recomputed by this module).
GAP_20 = (
    "Gap: issue 4, after the book's sec. 9.2, expects a straight crack at 20 m/s, and the CI lattice "
    "gives one; on the book's lattice (dx = 0.1 mm), though, each tip splits into two symmetric "
    "branches at |x| = 14 mm, about 13 us, once the tips run at 0.68 c_R (1900 m/s). Causes looked "
    "for, each on the full lattice: the time step (the book's 13.367 ns, and 0.4 of the stable step "
    "instead of 0.8: the same split at the same place); the load (no-fail only on the moving rows "
    "instead of |y| > 12.5 mm: identical); the surface correction (switched off: a softer plate whose "
    "crack ends in short side branches instead); the resolution (dx = 0.05 mm, 1,006,000 particles, "
    "the same G0: the same split, at |x| = 14 mm); the crack insertion (tips on lattice corners or a "
    "quarter spacing off: the same split). The book's program differs in its integrator (explicit "
    "Euler), in breaking bonds in compression too, and in the order of breaking: it adds a bond's "
    "force in the step in which its stretch first exceeds s0 and breaks it for the next step, where "
    "this code drops the force at once (Silling and Askari 2005). Scratch runs of the 20 m/s case on "
    "this lattice (2-core CPU, 2026-11-29), with the time step as a fraction of ours (15.9 ns): "
    "breaking in compression too changes nothing (split at +-13.0 mm). The book's order gives a "
    "straight crack at dt and dt/4 (each tip +15.5 and +17.9 mm at 16.7 us), but at dt/16 (1.0 ns) it "
    "splits too, at +-14.7 mm from 13.8 us; at dt its 50 m/s run still branches (+-12.6 mm from "
    "11.0 us). Our order splits at every step tried: dt/4 at +-15.6 mm (14.1 us), dt/16 at "
    "+-13.1 mm (12.6 us). Both orders converge to the split as the step shrinks, so the book's straight "
    "crack at 20 m/s comes from its breaking order at its step, not from the model. Its order also "
    "fails the glass-branching benchmark here (15/18 at dt: later branching, no branch at x = 95 mm "
    "by 43 us), so the code keeps breaking at once and reports this check's failure as it is.")


def _notes(measured: list[Measured], c_d: float, c_r: float) -> str:
    us, mm = 1e6, 1e3
    lines = [(
        f"Wave speeds (plane stress, nu = 1/3): c_d = {c_d:.0f} m/s, c_R = {c_r:.0f} m/s. The book's "
        "program integrates with explicit Euler at 13.367 ns and breaks bonds when |stretch| > s0; this "
        "run uses velocity Verlet and breaks bonds in tension only (compressive stretches stay far "
        "below s0 here). 'Extension' is read as each tip's growth; the two tips together grow twice as "
        "much.")]
    for m in measured:
        mean = m.extension.mean(axis=0)
        onset = "none" if m.onset is None else f"{m.onset * us:.2f} us"
        lines.append(f"{m.speed:g} m/s: growth starts at {onset}; each tip has grown "
                     f"{mean[-1] * mm:.1f} mm by 16.7 us; largest tip speed before branching "
                     f"{m.fastest:.0f} m/s ({m.fastest / c_r:.2f} c_R, over {SPEED_WINDOW} snapshots).")
    lines.append(
        "Tip speeds are not checked against c_R: the tip is the farthest particle with damage >= 0.3, "
        "and where the critical stretch comes close to the strain the loading wave brings (2 v / c_d = "
        f"{2 * SPEEDS[1] / c_d:.3f} at 50 m/s after reflection, against s0 = "
        f"{measured[0].critical_stretch:.3f} here), bonds ahead of the crack break too and that "
        "particle can run ahead of any crack tip (seen on the CI lattice, dx = 0.25 mm, where keeping "
        "the book's G0 lowers s0 to 0.028).")
    slow = measured[0]
    if slow.speed == SPEEDS[0] and any(b is not None for b in slow.branches):
        lines.append(GAP_20)
    lines.append("Particles are those of one run; steps and wall time cover both speeds, the analysis "
                 "and the figures.")
    return " ".join(lines)


BENCHMARK = Benchmark(name=NAME, title=TITLE, run=run)
