"""Run one case on several backends for the same steps and compare speed and fields.

Tolerances (what `pdgeneral compare` enforces, exit code 1 beyond them):
- CPU backends against each other: identical bits (the kernels are the same source, sums run in the
  same order).
- Any pair involving cuda: while no bond has broken beyond the pre-cracks in either run,
  displacement and velocity agree to a relative 1e-10 (float64) or 1e-4 (float32) of their largest
  magnitude (FMA contraction and the GPU's division give different roundings). Once bonds break,
  rounding can tip a bond that sits at its critical stretch, so the fields are compared through
  the crack path: the damage may differ by more than 0.1 on at most 1 % of the particles.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from . import backends
from .api import Prepared
from .model import DEFAULT_LOAD_STEPS, DEFAULT_MAX_ITERATIONS, DEFAULT_TOLERANCE, time_stepping
from .solvers import run_explicit, run_quasi_static

FIELDS = ("displacement", "velocity", "damage")
DAMAGE_FRACTION_LIMIT = 0.01
DAMAGE_DIFFERENCE = 0.1


@dataclass
class BackendRun:
    backend: str
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
                     broken_bonds=int(np.count_nonzero(~intact)))
    return run, fields


def compare_backends(prepared: Prepared, names: list[str], steps: int | None = None,
                     report=None) -> list[BackendRun]:
    """Run ``prepared`` on each backend (the first is the reference) and fill in the comparison."""
    runs, all_fields = [], []
    precracked = prepared.model.precracked_bond_count
    tolerance = 1e-10 if prepared.case.precision == "float64" else 1e-4
    for name in names:
        run, fields = _run(prepared, name, steps)
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
            if cpu_pair:
                run.agrees = all(run.differences[k] == 0.0 for k in FIELDS) and \
                    first.broken_bonds == run.broken_bonds
                run.reason = "" if run.agrees else "CPU backends must agree bit for bit"
            elif not fractured:
                run.agrees = all(run.relative[k] <= tolerance for k in ("displacement", "velocity"))
                run.reason = "" if run.agrees else f"relative difference above {tolerance:g} before fracture"
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
