"""Kalthoff-Winkler impact: mode II loading of two edge notches (Kalthoff and Winkler 1988; Kalthoff
2000; in peridynamics Silling 2003).

A maraging steel plate, 100 mm (x) by 200 mm (y), 9 mm thick, has two notches 50 mm long cut into its
left edge, 50 mm apart (y = +-25 mm). A projectile of the same steel strikes the edge between them at
32 m/s. At this speed each notch tip sends out one brittle crack, at about 70 degrees to the notch
direction and away from the impact axis (Kalthoff and Winkler 1988). 2D plane strain runs (and 3D with
``"full"``): E = 191 GPa, rho = 8000 kg/m^3, G0 = 22170 J/m^2; the struck strip moves at 16 m/s, half
the projectile's speed (see the case file), for 90 us.

Checks, per run (for 3D on the mid-plane slice):
  * the cracks start after the dilatational wave from the struck edge reaches the notch tips,
    50 mm / c_d (plane strain; a lower bound: the tips need time to load up);
  * each notch tip emits one crack: one cracked band crosses each circle of radius 10, 20 and 30 mm
    around the tip, the notch itself left out (``_crossings``; no branch, no second crack);
  * its angle to the notch direction is 70 +- 8 degrees: a line fitted to the crack's particles between
    2 horizons and 30 mm from the tip (``analysis.crack_angle``);
  * the two cracks are mirror images about the impact axis y = 0 within two horizons, where they
    leave the tips (``analysis.mirror_asymmetry`` on the notch-tip cracks within 30 mm of the tips;
    the whole cracks' value is reported too, see ``_checks``);
  * no tip outruns the Rayleigh speed c_R (Freund 1990).
The case files are cases/validation/kalthoff_winkler_2d.yaml and kalthoff_winkler_3d.yaml.
"""
from __future__ import annotations

import math
import tempfile
import time as clock
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from .. import analysis, backends
from ..api import prepare, run_case
from ..case import load_case_text
from ..io import snapshot_steps
from ..physics import pmb
from .core import Benchmark, Check, Result
from .precracked_plate import damage_image
from .report import CASES, save_figure

NAME = "kalthoff_winkler"
TITLE = "Kalthoff-Winkler impact (2D plane strain and 3D)"
CASE_FILES = {2: CASES / "validation" / "kalthoff_winkler_2d.yaml",
              3: CASES / "validation" / "kalthoff_winkler_3d.yaml"}
SOURCE = ("J. F. Kalthoff and S. Winkler, Failure mode transition at high rates of shear loading, in "
          "Impact Loading and Dynamic Behavior of Materials, vol. 1, DGM (1988) 185-195; J. F. Kalthoff, "
          "Modes of dynamic shear failure in solids, Int. J. Fract. 101 (2000) 1-31; S. A. Silling, "
          "Dynamic fracture modeling with a meshfree peridynamic code, in Computational Fluid and Solid "
          "Mechanics (K. J. Bathe, ed.), Elsevier (2003) 641-644")

END_TIME = 90.0e-6           # s
NOTCH_LENGTH = 0.05          # m
NOTCH_Y = 0.025              # m, the notches lie on y = -+NOTCH_Y
PROJECTILE_SPEED = 32.0      # m/s (Kalthoff and Winkler 1988)
EXPECTED_ANGLE = 70.0        # degrees to the notch direction (Kalthoff and Winkler 1988)
ANGLE_TOLERANCE = 8.0        # degrees (issue 4, item 6)
FIT_FROM_HORIZONS = 2.0      # the fit starts this many horizons from the tip (issue 4) ...
FIT_TO = 0.03                # ... and ends 30 mm from it (m)
CIRCLES = (0.01, 0.02, 0.03)  # m, radii around the tip on which one crack must cross
SYMMETRY_HORIZONS = 2.0      # largest mirror distance allowed, in horizons (see _checks)
SPEED_WINDOW = 3             # snapshots (1 us apart) per tip-speed estimate
SNAPSHOTS = 90               # one per microsecond


@dataclass(frozen=True)
class Variant:
    """One run: ``steps`` is a multiple of SNAPSHOTS, so that dt = 90 us / steps (0.72-0.80 of the
    stable step, listed in VARIANTS) puts a snapshot on every microsecond."""
    label: str
    dimension: int
    spacing: float           # m
    steps: int

    @property
    def every(self) -> int:
        return self.steps // SNAPSHOTS


#: Stable steps: 154.7 ns (2D, dx = 0.8 mm), 96.7 ns (0.5 mm), 48.3 ns (0.25 mm), 155.5 ns (3D, 1 mm).
#: CI: dx = 0.8 mm (31,250 particles). At dx = 1 mm the same set-up also cracks the back face near
#: y = 0 after 55 us (no notch-tip crack is involved, but the picture is no longer the test's).
VARIANTS = {
    "full": (Variant("2D, dx = 0.5 mm", 2, 0.5e-3, 1170), Variant("2D, dx = 0.25 mm", 2, 0.25e-3, 2340)),
    "ci": (Variant("2D, dx = 0.8 mm", 2, 0.8e-3, 810),),
}
#: The 3D run of "full": 18 particle layers through the 9 mm (1,440,000 particles; stable step 77.8 ns)
#: on a GPU; on a CPU, where that takes about half an hour on two cores, 9 layers (180,000 particles).
FULL_3D = {"cuda": Variant("3D, dx = 0.5 mm", 3, 0.5e-3, 1440)}
FULL_3D_CPU = Variant("3D, dx = 1 mm", 3, 1.0e-3, 810)


def variants(resolution: str, backend: str) -> tuple[Variant, ...]:
    """The runs of ``resolution`` on ``backend`` (a resolved backend name)."""
    if resolution == "full":
        return VARIANTS["full"] + (FULL_3D.get(backend, FULL_3D_CPU),)
    return VARIANTS[resolution]


def notch_tips(spacing: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """(upper, lower) notch tips (m): a quarter spacing beyond 50 mm, as in the case files."""
    x = NOTCH_LENGTH + spacing / 4
    return (x, NOTCH_Y), (x, -NOTCH_Y)


def case_dict(variant: Variant, output: Path) -> dict:
    """The case file of the variant's dimension with its lattice, notches, time step and output."""
    raw = yaml.safe_load(CASE_FILES[variant.dimension].read_text())
    dx = variant.spacing
    raw["discretization"]["spacing"] = dx
    raw["regions"]["impact"]["box"]["max"][0] = 3 * dx     # three particle columns
    (upper_x, _), _ = notch_tips(dx)
    for crack in raw["precracks"]:
        if variant.dimension == 2:
            crack["segment"]["end"][0] = upper_x
        else:
            crack["rectangle"]["edge1"][0] = upper_x
    raw["solver"] = {"type": "explicit", "end_time": END_TIME, "time_step": END_TIME / variant.steps}
    raw["output"] = {"path": str(output), "every": variant.every}
    return raw


def mid_plane(position: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2D fields as they are; 3D fields: the x-y slice of particles nearest the mid-plane in z."""
    if position.shape[1] == 2:
        return position, values
    z = position[:, 2]
    middle = z[np.argmin(np.abs(z - 0.5 * (z.min() + z.max())))]
    keep = np.isclose(z, middle)
    return np.ascontiguousarray(position[keep, :2]), values[keep]


def _crossings(position: np.ndarray, damage: np.ndarray, tip, radius: float, spacing: float) -> int:
    """How many separate cracked bands of the crack connected to ``tip`` cross the circle of
    ``radius`` around it (2D), the notch left out.

    The particles within ``spacing/2`` of the circle, sorted by angle, form one band while consecutive
    ones are at most 1.5 spacings apart along the circle (``analysis.LINK_FACTOR``, as for a line in
    ``analysis.crack_bands``). The band that holds the direction of the notch (-x from the tip) is the
    notch and does not count.
    """
    members = analysis.crack_from(position, damage, tip, spacing)
    offset = position[members] - np.asarray(tip)
    on_circle = np.abs(np.linalg.norm(offset, axis=1) - radius) <= 0.5 * spacing * (1 + 1e-6)
    # Angles measured from the notch direction (-x), in [0, 2 pi): the notch band sits at both ends.
    angles = np.sort(np.mod(np.arctan2(-offset[on_circle, 1], -offset[on_circle, 0]), 2 * math.pi))
    if angles.size == 0:
        return 0
    gap = analysis.LINK_FACTOR * spacing / radius
    breaks = np.nonzero(np.diff(angles) > gap)[0]
    bands = [(angles[a], angles[b]) for a, b in zip(np.concatenate(([0], breaks + 1)),
                                                    np.concatenate((breaks, [angles.size - 1])))]
    notch = [band for band in bands if band[0] <= gap or band[1] >= 2 * math.pi - gap]
    return len(bands) - len(notch)


@dataclass
class Measured:
    """What one run gave (SI units); per-tip lists are (upper, lower)."""
    variant: Variant
    particles: int
    steps: int
    wall: float
    horizon: float
    times: np.ndarray                  # (S,) s
    onsets: list                       # s: when the tip's crack first reached one horizon, or None
    crossings: list                    # per tip: crossings of each circle in CIRCLES
    angles: list                       # per tip: degrees to +x (upper > 0, lower < 0), or None
    asymmetry: float                   # m, between the notch-tip cracks within FIT_TO of the tips
    asymmetry_whole: float             # m, between the whole notch-tip cracks
    other: int                         # cracked particles not on the notch-tip cracks
    fastest: float                     # m/s
    position: np.ndarray               # (N, 2), mid-plane in 3D
    frames: dict                       # time (s) -> (N,) damage, for the figures


def _measure(variant: Variant, path: Path, horizon: float, particles: int, steps: int,
             wall: float) -> Measured:
    dx = variant.spacing
    tips = notch_tips(dx)
    times, histories, frames = [], ([], []), {}
    shown = {round(t * 1e6) for t in (30e-6, 50e-6, 70e-6, END_TIME)}
    for step in snapshot_steps(path):
        position, damage, time = analysis.damage_field(path, step)
        position, damage = mid_plane(position, damage)
        times.append(time)
        for k, (tip, outward) in enumerate(zip(tips, (1.0, -1.0))):
            # The crack's farthest particle from the notch tip, among those on the tip's outer side and
            # not behind it (the notch, which lies behind, would otherwise be the farthest).
            ahead = ((position[:, 1] - tip[1]) * outward > 0) & (position[:, 0] >= tip[0] - dx)
            found = analysis.crack_tip(position, np.where(ahead, damage, 0.0), tip, dx)
            histories[k].append(np.asarray(tip) if found is None else found)
        if round(time * 1e6, 6) in shown:
            frames[time] = damage
    times = np.array(times)
    histories = np.array(histories)
    reach = np.linalg.norm(histories - np.array(tips)[:, None, :], axis=2)
    onsets = []
    for k in range(2):
        started = np.nonzero(reach[k] >= horizon)[0]
        onsets.append(float(times[started[0]]) if started.size else None)
    crossings = [[_crossings(position, damage, tip, r, dx) for r in CIRCLES] for tip in tips]
    angles = []
    for tip, side in zip(tips, (1, -1)):
        try:
            angles.append(analysis.crack_angle(position, damage, tip, (1.0, 0.0), FIT_FROM_HORIZONS * horizon,
                                               FIT_TO, spacing=dx, side=side))
        except ValueError:
            angles.append(None)
    # Symmetry of the two notch-tip cracks (other damage, e.g. at the struck edge, left out).
    both = np.union1d(analysis.crack_from(position, damage, tips[0], dx),
                      analysis.crack_from(position, damage, tips[1], dx))
    asymmetry_whole = analysis.mirror_asymmetry(position[both], damage[both], 0.0)
    near = both[np.min([np.linalg.norm(position[both] - np.asarray(tip), axis=1) for tip in tips],
                       axis=0) <= FIT_TO]
    asymmetry = analysis.mirror_asymmetry(position[near], damage[near], 0.0)
    other = int(np.count_nonzero(analysis.cracked(damage))) - both.size
    fastest = max(float(np.max(analysis.crack_speed(times, histories[k], window=SPEED_WINDOW)[1],
                               initial=0.0)) for k in range(2))
    return Measured(variant=variant, particles=particles, steps=steps, wall=wall, horizon=horizon,
                    times=times, onsets=onsets, crossings=crossings, angles=angles, asymmetry=asymmetry,
                    asymmetry_whole=asymmetry_whole, other=other,
                    fastest=fastest, position=position, frames=frames)


def _checks(m: Measured, c_d: float, c_r: float, nu: float = 0.25) -> list[Check]:
    us, mm = 1e6, 1e3
    label = m.variant.label + (" (mid-plane)" if m.variant.dimension == 3 else "")
    checks = []
    arrival = NOTCH_LENGTH / c_d
    shown = ", ".join("none" if t is None else f"{t * us:.0f} us" for t in m.onsets)
    checks.append(Check(
        f"{label}: cracks start after the stress wave reaches the notch tips",
        f"after 50 mm / c_d = {arrival * us:.1f} us", f"upper, lower: {shown}",
        all(t is not None and t > arrival for t in m.onsets),
        f"start: the crack has grown one horizon from the notch tip (snapshots 1 us apart); c_d = "
        f"{c_d:.0f} m/s, plane strain, nu = {nu:.4g}"))

    counts = "; ".join(f"{name}: " + ", ".join(str(c) for c in crossing)
                       for name, crossing in zip(("upper", "lower"), m.crossings))
    checks.append(Check(
        f"{label}: each notch tip emits one crack",
        "one crack crossing r = 10, 20, 30 mm around each tip", f"crossings {counts}",
        all(c == 1 for crossing in m.crossings for c in crossing),
        "separate cracked bands (damage >= 0.3) on circles around the tip, the notch left out: "
        "a branch or a second crack from the tip adds a band"))

    for name, angle in zip(("upper", "lower"), m.angles):
        value = None if angle is None else abs(angle)
        outward = angle is not None and (angle > 0) == (name == "upper")
        checks.append(Check(
            f"{label}: {name} crack angle to the notch direction",
            f"{EXPECTED_ANGLE:.0f} +- {ANGLE_TOLERANCE:.0f} deg, away from y = 0",
            "no crack to fit" if value is None else
            f"{value:.1f} deg" + ("" if outward else " (towards the impact axis)"),
            value is not None and outward and abs(value - EXPECTED_ANGLE) <= ANGLE_TOLERANCE,
            f"line fitted to the crack's particles {FIT_FROM_HORIZONS:g} horizons "
            f"({FIT_FROM_HORIZONS * m.horizon * mm:.1f} mm) to 30 mm from the tip (analysis.crack_angle); "
            "70 deg: Kalthoff and Winkler 1988; +-8 deg: issue 4"))

    limit = SYMMETRY_HORIZONS * m.horizon
    checks.append(Check(
        f"{label}: the two cracks leave the tips as mirror images about y = 0",
        f"within {SYMMETRY_HORIZONS:g} horizons = {limit * mm:.1f} mm, up to 30 mm from the tips",
        f"{m.asymmetry * mm:.2f} mm ({m.asymmetry / m.variant.spacing:.1f} dx); whole cracks "
        f"{m.asymmetry_whole * mm:.2f} mm", m.asymmetry <= limit,
        "largest distance from a particle of the notch-tip cracks within 30 mm of a tip (the range "
        "of the angle fit) to the mirrored cracks (analysis.mirror_asymmetry); two horizons is where "
        "the fit starts. The whole cracks are reported, not checked: the lattice and the force sums "
        "are mirror-exact only to rounding, and the paths amplify it (see the notes)"))

    interval = (m.times[1] - m.times[0]) * us
    checks.append(Check(
        f"{label}: largest tip speed", f"below c_R = {c_r:.0f} m/s",
        f"{m.fastest:.0f} m/s = {m.fastest / c_r:.2f} c_R", m.fastest < c_r,
        f"both tips, over {SPEED_WINDOW} snapshots ({SPEED_WINDOW * interval:.0f} us); lattice "
        f"quantisation +-{m.variant.spacing / (SPEED_WINDOW * interval / us):.0f} m/s; c_R for plane "
        f"strain, nu = {nu:.4g} (Freund 1990)"))
    return checks


def _figures(measured: list[Measured], directory: Path, name: str = NAME) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(measured), figsize=(3.2 * len(measured) + 1.0, 6.2), squeeze=False,
                             sharey=True)
    for ax, m in zip(axes[0], measured):
        final = m.frames[max(m.frames)]
        image, extent = damage_image(m.position, final, m.variant.spacing)
        shown = ax.imshow(image, origin="lower", extent=extent, cmap="viridis", vmin=0.0, vmax=0.5,
                          interpolation="nearest")
        for tip, angle in zip(notch_tips(m.variant.spacing), m.angles):
            if angle is not None:
                # The fitted direction, drawn over the fitted range.
                r = np.array([FIT_FROM_HORIZONS * m.horizon, FIT_TO])
                ax.plot((tip[0] + r * math.cos(math.radians(angle))) * 1e3,
                        (tip[1] + r * math.sin(math.radians(angle))) * 1e3, "r-", linewidth=1)
        ax.set_title(f"{m.variant.label}\n{max(m.frames) * 1e6:.0f} us" +
                     (", mid-plane" if m.variant.dimension == 3 else ""), fontsize=9)
        ax.set_xlabel("x (mm)")
    axes[0, 0].set_ylabel("y (mm)")
    fig.colorbar(shown, ax=axes[0, :], label="damage", shrink=0.7)
    paths = [save_figure(fig, directory, name, "damage")]

    m = measured[0]
    times = sorted(m.frames)
    fig, axes = plt.subplots(1, len(times), figsize=(2.6 * len(times) + 1.0, 5.6), squeeze=False,
                             sharey=True)
    for ax, time in zip(axes[0], times):
        image, extent = damage_image(m.position, m.frames[time], m.variant.spacing)
        shown = ax.imshow(image, origin="lower", extent=extent, cmap="viridis", vmin=0.0, vmax=0.5,
                          interpolation="nearest")
        ax.set_title(f"{time * 1e6:.0f} us", fontsize=9)
        ax.set_xlabel("x (mm)")
    axes[0, 0].set_ylabel(f"y (mm); {m.variant.label}")
    fig.colorbar(shown, ax=axes[0, :], label="damage", shrink=0.7)
    paths.append(save_figure(fig, directory, name, "frames"))
    return paths


def run(resolution: str, workdir: Path, backend: str, precision: str = "float64") -> Result:
    """Run every variant of ``resolution``, measure, draw, and compare with the experiment."""
    return run_material(resolution, workdir, backend, precision)


def run_material(resolution: str, workdir: Path, backend: str, precision: str = "float64",
                 material: dict | None = None, name: str = NAME, title: str = TITLE) -> Result:
    """``run`` with the case files' material changed by ``material`` (case keys, e.g. the LPS of
    kalthoff_winkler_lps), reported as benchmark ``name``."""
    started = clock.perf_counter()
    workdir = Path(workdir)
    raw = yaml.safe_load(CASE_FILES[2].read_text())
    raw["material"].update(material or {})
    base = load_case_text(yaml.safe_dump(raw), source=str(CASE_FILES[2])).material
    nu = base.poissons_ratio if base.model == "lps" else pmb.POISSON_RATIO["strain"]
    c_d, _, c_r = analysis.wave_speeds(base.youngs_modulus, base.density, nu, "strain")
    measured, stretches = [], {}
    with tempfile.TemporaryDirectory(prefix="pdgeneral-kalthoff-") as scratch:
        for index, variant in enumerate(variants(resolution, backends.resolve(backend))):
            path = Path(scratch) / f"kalthoff-{index}.h5"
            case = case_dict(variant, path)
            case["material"].update(material or {})
            text = yaml.safe_dump(case | {"precision": precision}, sort_keys=False)
            prepared = prepare(load_case_text(text, source=str(CASE_FILES[variant.dimension])),
                               backend=backend, case_text=text)
            stretches[variant.label] = prepared.model.critical_stretch
            summary = run_case(prepared, overwrite=True)
            measured.append(_measure(variant, path, prepared.model.horizon, summary.particles,
                                     summary.steps, summary.wall_seconds + summary.setup_seconds))
    checks = [check for m in measured for check in _checks(m, c_d, c_r, nu)]
    figures = _figures(measured, workdir, name)
    runs = "; ".join(f"{m.variant.label}: {m.particles:,} particles, {m.steps} steps of "
                     f"{END_TIME / m.steps * 1e9:.1f} ns, s0 = {stretches[m.variant.label]:.4g}, "
                     f"{m.wall:.0f} s" for m in measured)
    model_text = ("PMB, 2D plane strain (nu = 1/4) or 3D" if base.model == "pmb" else
                  f"LPS (nu = {nu:g}, influence {base.influence_function}), 2D plane strain or 3D")
    setup = (
        "Plate 100 mm (x) x 200 mm (y) (x 9 mm in 3D), notches from the left edge along y = +-25 mm to x = "
        "50 mm (pre-cracks between particle rows, tips a quarter spacing beyond 50 mm). Maraging steel: "
        f"E = {base.youngs_modulus / 1e9:g} GPa, rho = {base.density:g} kg/m^3, G0 = "
        f"{base.fracture_energy:g} J/m^2; {model_text}, energy "
        "surface correction, horizon 3.015 dx. The struck strip, |y| < 25 mm on the left edge (three "
        "particle columns, no-fail), moves along +x at 16 m/s, half the projectile's 32 m/s, from t = 0 "
        f"to 90 us; snapshots every 1 us. Runs: {runs}. Case files: "
        "cases/validation/kalthoff_winkler_2d.yaml, kalthoff_winkler_3d.yaml"
        + ("." if not material else f", with material {material}."))
    finest = max(measured, key=lambda x: x.particles)
    return Result(name=name, title=title, source=SOURCE, setup=setup, resolution=resolution,
                  backend=prepared.backend, particles=finest.particles, steps=sum(x.steps for x in measured),
                  wall_seconds=clock.perf_counter() - started, checks=checks, figures=figures,
                  notes=_notes(measured, base, c_d, c_r, nu), precision=precision)


def _notes(measured: list[Measured], material, c_d: float, c_r: float, nu: float) -> str:
    k_ic = 90.0e6
    g_from_k = k_ic**2 * (1.0 - nu * nu) / material.youngs_modulus
    lines = [(
        f"Fracture energy: the runs use G0 = {material.fracture_energy:.0f} J/m^2, the value issue 4 "
        "gives for this test. The fracture toughness K_Ic = 90 MPa sqrt(m) quoted for the steel gives "
        f"G = K_Ic^2 (1 - nu^2) / E = {g_from_k:.0f} J/m^2 (plane strain, nu = {nu:.4g}), "
        f"{g_from_k / material.fracture_energy:.1f} times more; the crack angle is set by the mode II "
        "loading of the tips rather than by G0."
    ), (
        "Load: the projectile, of the same steel as the plate, strikes at v0 = 32 m/s; two bodies of the "
        "same impedance meet at a contact face moving at v0 / 2 (1D impedance matching; M. A. Meyers, "
        "Dynamic Behavior of Materials, Wiley 1994, ch. 3), so the struck strip is driven at 16 m/s. "
        "Prescribing 32 m/s on the strip instead, as issue 4 words it, was tried in exploratory runs "
        "(2D, dx = 0.5 and 0.25 mm; 3D, dx = 0.5 mm; cuda on an H200): the cracks still leave the "
        "notch tips at 63-65 degrees, but from about 40 us a crack opens from the back face at y = 0, "
        "the notch-tip cracks branch, and later a second crack leaves each notch tip towards the "
        "impact axis: none of this is seen in the experiment at this speed."
    ), f"Wave speeds (plane strain, nu = {nu:.4g}): c_d = {c_d:.0f} m/s, c_R = {c_r:.0f} m/s."]
    for m in measured:
        angles = ", ".join("none" if a is None else f"{abs(a):.1f}" for a in m.angles)
        other = (f"; {m.other:,} cracked particles lie off the notch-tip cracks (see the damage map)"
                 if m.other else "; no cracked particle off the notch-tip cracks")
        lines.append(f"{m.variant.label}: angles (upper, lower) {angles} deg, largest tip speed "
                     f"{m.fastest:.0f} m/s ({m.fastest / c_r:.2f} c_R); the whole cracks are mirror "
                     f"images within {m.asymmetry_whole * 1e3:.1f} mm{other}.")
    lines.append("Particles in the summary line are those of the largest run; steps and wall time cover "
                 "every run, the analysis and the figures.")
    return " ".join(lines)


BENCHMARK = Benchmark(name=NAME, title=TITLE, run=run)
