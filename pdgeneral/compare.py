"""Run one case on several backends, or in several precisions, for the same steps and compare speed
and fields.

Each run is ``backend`` (the case's precision) or ``backend:precision`` (``serial:float64/
serial:float32``, ``cuda:float64/cuda:float32``); a run in another precision than the case's builds
its own model from the case with ``precision`` changed. The first run is the reference.

Tolerances (what `pdgeneral compare` enforces, exit code 1 beyond them), between runs of one precision:
- CPU backends against each other: identical bits (the kernels are the same source, sums run in the
  same order).
- Any pair involving cuda: while no bond has broken beyond the pre-cracks in either run,
  displacement and velocity agree to a relative 1e-10 (float64) or 1e-4 (float32) of their largest
  magnitude (FMA contraction and the GPU's division give different roundings). Once bonds break,
  rounding can tip a bond that sits at its critical stretch, so the fields are compared through
  the crack path: the damage may differ by more than 0.1 on at most 1 % of the particles.

Between runs of two precisions (any backends): while no bond has broken beyond the pre-cracks, the
displacement agrees to a relative ``PRECISION_TOLERANCE`` (1e-3) of its largest magnitude; once bonds
break, the damage rule above. Velocity and damage differences are reported, not judged. Why:
float32 resolves about 6e-8 of a value, but a bond's elongation u_j - u_i is formed from displacements
that can be far larger than it (a 1 m bar stretched by 0.001 has |u| / |u_j - u_i| of about L / dx),
which costs that factor in every bond force, and an explicit run adds these roundings up over its
steps. The velocity follows each step's rounded forces and differs more (up to 6.7e-3 below); the
displacement is their time integral, so an error in the velocity that persists shows in it. A
relaxed (quasi-static) run's velocity is fictitious (it tends to zero), and each precision stops at
its own residual, so its displacements differ by a few times the residual tolerance.

Measured (serial:float64/serial:float32; displacement, velocity, relative to the largest magnitude):
- the tests' 40 x 20 plate (conftest.BASE_2D) with an edge pulled at 5 m/s, unbreakable bonds,
  20 steps: 1.8e-7, 1.1e-6;
- cases/crack_branching_glass_2d.yaml with unbreakable bonds (G0 = 3.8e6), 903 steps: 8.5e-7, 2.5e-4;
- cases/validation/bar_vibration_2d.yaml (no fracture), 2,563 steps (T/2): 1.7e-6, 6.1e-3; 5,126
  steps (T, when the bar is back near u = 0, so relative to a small largest value): 2.9e-4, 6.7e-3;
- cases/uniaxial_tension_2d.yaml relaxed to 1e-5 (float32 does not reach the case's 1e-6; its
  residual stalls near 2e-6): 4.9e-5 (569 and 634 iterations).
The largest, the bar after a whole period, is 0.3 of the tolerance. Through fracture, test_dynamics'
FRACTURE_2D (160 steps), cases/tension_to_failure_2d.yaml (557 steps) and
cases/crack_branching_glass_2d.yaml (903 steps, branching) broke the same bonds in both precisions
(3,282, 13,562 and 17,456), the damage differing by more than 0.1 on none of the particles.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from . import backends
from .api import Prepared, prepare
from .errors import CaseError
from .model import DEFAULT_LOAD_STEPS, DEFAULT_MAX_ITERATIONS, DEFAULT_TOLERANCE, time_stepping
from .solvers import run_explicit, run_quasi_static

FIELDS = ("displacement", "velocity", "damage")
DAMAGE_FRACTION_LIMIT = 0.01
DAMAGE_DIFFERENCE = 0.1
#: The values of the case key ``precision``.
PRECISIONS = ("float64", "float32")
#: Relative difference allowed between two precisions before fracture (see the module docstring).
PRECISION_TOLERANCE = 1e-3


def parse_runs(spec: str, key: str = "BACKENDS") -> list[str]:
    """The runs of ``spec`` ('serial/parallel', 'cuda:float64/cuda:float32'): each ``backend`` or
    ``backend:precision`` with the backend resolved ('auto' -> 'cuda' or 'parallel'); CaseError
    naming ``key`` for an unknown backend or precision."""
    runs = []
    for item in (part.strip() for part in spec.split("/")):
        if not item:
            continue
        name, colon, precision = item.partition(":")
        if colon and precision not in PRECISIONS:
            raise CaseError(key, f"unknown precision {precision!r} in {item!r} "
                                 f"(choose from {', '.join(PRECISIONS)})")
        resolved = backends.resolve(name, key=key)
        runs.append(f"{resolved}:{precision}" if colon else resolved)
    return runs


@dataclass
class BackendRun:
    backend: str                 # the resolved backend name
    setup_seconds: float
    seconds: float
    steps: int
    particle_steps_per_s: float
    bond_updates_per_s: float
    speedup: float = 1.0
    differences: dict = field(default_factory=dict)   # field -> max abs difference to the first
    relative: dict = field(default_factory=dict)      # field -> that / max |first|
    damage_mismatch_fraction: float = 0.0
    broken_bonds: int = 0
    agrees: bool = True
    reason: str = ""
    precision: str = "float64"   # the precision the run computed in
    label: str = ""              # as asked for: "serial", or "serial:float32"


def _run(prepared: Prepared, name: str, steps: int | None):
    model = prepared.model
    solver = prepared.case.solver
    started = time.perf_counter()
    engine = backends.create(name, model)
    engine.warm_up(solver.type)
    engine.synchronize()
    setup = time.perf_counter() - started
    started = time.perf_counter()
    if solver.type == "explicit":
        dt, total = time_stepping(model)
        work = run_explicit(engine, None, steps or total, dt, 10**12)
    else:
        _, work = run_quasi_static(engine, None, solver.load_steps or DEFAULT_LOAD_STEPS,
                                   solver.tolerance or DEFAULT_TOLERANCE,
                                   solver.max_iterations or DEFAULT_MAX_ITERATIONS, steps)
    engine.synchronize()
    seconds = time.perf_counter() - started
    fields = engine.fields()
    intact = engine.intact_bonds()
    rate = work / seconds if seconds > 0 else float("inf")
    run = BackendRun(name, setup, seconds, work, rate * model.particle_count, rate * model.bond_count,
                     broken_bonds=int(np.count_nonzero(~intact)), precision=prepared.case.precision,
                     label=name)
    return run, fields


def in_precision(prepared: Prepared, precision: str) -> Prepared:
    """``prepared`` in ``precision``: itself, or the same case with ``precision`` changed and its own
    model (the lattice, bonds and time step are the same; the arrays and kernels are not)."""
    if precision == prepared.case.precision:
        return prepared
    case = prepared.case.model_copy(update={"precision": precision})
    other = prepare(case, backend=prepared.backend, case_text=prepared.case_text)
    other.source, other.overrides = prepared.source, prepared.overrides
    return other


def compare_backends(prepared: Prepared, names: list[str], steps: int | None = None,
                     report=None) -> list[BackendRun]:
    """Run ``prepared`` on each of ``names`` (``backend`` or ``backend:precision``, as parse_runs
    gives them; the first is the reference) and fill in the comparison."""
    runs, all_fields = [], []
    precracked = prepared.model.precracked_bond_count
    models = {prepared.case.precision: prepared}
    for label in names:
        name, _, precision = label.partition(":")
        precision = precision or prepared.case.precision
        if precision not in models:
            models[precision] = in_precision(prepared, precision)
        run, fields = _run(models[precision], name, steps)
        run.label = label
        if runs:
            first, ref = runs[0], all_fields[0]
            run.speedup = first.seconds / run.seconds if run.seconds > 0 else float("inf")
            for key in FIELDS:
                diff = float(np.abs(fields[key].astype(np.float64) - ref[key]).max())
                scale = float(np.abs(ref[key]).max()) or 1.0
                run.differences[key] = diff
                run.relative[key] = diff / scale
            mismatch = np.abs(fields["damage"].astype(np.float64) - ref["damage"]) > DAMAGE_DIFFERENCE
            run.damage_mismatch_fraction = float(mismatch.mean())
            cpu_pair = "cuda" not in (first.backend, name)
            fractured = max(first.broken_bonds, run.broken_bonds) > precracked
            tolerance = 1e-10 if precision == "float64" else 1e-4
            if first.precision != run.precision:
                tolerance = PRECISION_TOLERANCE
            if cpu_pair and first.precision == run.precision:
                run.agrees = all(run.differences[k] == 0.0 for k in FIELDS) and \
                    first.broken_bonds == run.broken_bonds
                run.reason = "" if run.agrees else "CPU backends must agree bit for bit"
            elif not fractured:
                # Two precisions are judged on the displacement alone (module docstring: why).
                across = first.precision != run.precision
                judged = ("displacement",) if across else ("displacement", "velocity")
                run.agrees = all(run.relative[k] <= tolerance for k in judged)
                run.reason = "" if run.agrees else (
                    f"relative difference above {tolerance:g} before fracture"
                    + (" (displacement)" if across else ""))
            else:
                run.agrees = run.damage_mismatch_fraction <= DAMAGE_FRACTION_LIMIT
                run.reason = "" if run.agrees else (
                    f"damage differs by > {DAMAGE_DIFFERENCE} on more than "
                    f"{DAMAGE_FRACTION_LIMIT:.0%} of the particles")
        runs.append(run)
        all_fields.append(fields)
        if report is not None:
            report(run)
    return runs


def as_dict(runs: list[BackendRun]) -> list[dict]:
    return [asdict(r) for r in runs]
