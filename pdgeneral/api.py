"""Python API: what the CLI calls, and what users can import.

    from pdgeneral.api import run_case
    summary = run_case("cases/uniaxial_tension_2d.yaml", backend="serial")
"""
from __future__ import annotations

import time as clock
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import backends
from .case import Case, load_case
from .case.plausibility import solver_warnings, unit_warnings
from .errors import CaseError
from .io.history import History, HistoryWarning
from .model import (
    DEFAULT_LOAD_STEPS,
    DEFAULT_MAX_ITERATIONS,
    DEFAULT_TOLERANCE,
    Model,
    build_model,
    time_stepping,
)
from .solvers import run_explicit, run_quasi_static


def _check_resumable(prepared: Prepared, model: Model, start: int, steps: int | None,
                     kept_time_step: float | None, path: Path) -> None:
    """A resume must have steps left to run: an output that already reached the case's last step
    (or --steps) is complete, which the user is told instead of a run of 0 steps."""
    solver = prepared.case.solver
    if solver.type == "explicit":
        _, total = time_stepping(model, kept_time_step)
        unit = "step"
        further = ("to run on, resume with a larger solver.end_time or solver.steps "
                   "(--set solver.end_time=...)")
    else:
        total = solver.load_steps or DEFAULT_LOAD_STEPS
        unit = "load step"
        further = "load_steps cannot change on a resume, so a longer run needs a new output"
    if steps is not None and steps <= start:
        raise CaseError("--steps", f"{path} already reached {unit} {start}, at or past --steps {steps}: "
                                   "nothing to resume", file=prepared.source)
    if steps is None and start >= total:
        raise CaseError("output.path", f"{path} is complete: it reached {unit} {start} of {total}, "
                                       f"so there is nothing to resume; {further}", file=prepared.source)


#: Whether snapshots are written in a background thread while the run steps on (io/hdf5.py);
#: benchmarks/snapshot_overlap.py compares the two.
BACKGROUND_WRITES = True


@dataclass
class RunSummary:
    name: str
    backend: str
    particles: int
    bonds: int
    steps: int
    time_step: float
    setup_seconds: float
    wall_seconds: float
    particle_steps_per_second: float
    bond_updates_per_second: float
    output: str | None
    #: (step, time) of every snapshot in the output, ascending (the steps to read with
    #: read_snapshot(output, step)); time is the load factor for quasi-static runs.
    snapshots: list[tuple[int, float]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        return (f"{self.name}: {self.particles:,} particles, {self.bonds:,} bonds, {self.steps:,} steps "
                f"on {self.backend} in {self.wall_seconds:.2f} s (+{self.setup_seconds:.2f} s set-up), "
                f"{self.particle_steps_per_second:.3g} particle-steps/s, "
                f"{self.bond_updates_per_second:.3g} bond updates/s -> {self.output or 'no output'}")


@dataclass
class Prepared:
    case: Case
    case_text: str
    model: Model
    backend: str
    source: str
    overrides: tuple[str, ...] = ()
    #: Values outside the range of engineering solids and loads (case.plausibility): likely unit slips.
    warnings: list[str] = field(default_factory=list)


def case_yaml(case: Case) -> str:
    """The YAML text of a case (every key, defaults included; safe to load back)."""
    import yaml
    return yaml.safe_dump(case.model_dump(), sort_keys=False)


def prepare(case: str | Path | Case, overrides: Iterable[str] = (), backend: str | None = None,
            case_text: str | None = None) -> Prepared:
    """Load (if a path), validate and build the model; resolve the backend. Errors name the file."""
    if isinstance(case, Case):
        source = "<case>"
        # The output records the case whatever the entry point: a Case built in Python is written
        # as the YAML of its keys (the file it would have come from), which loads back to it.
        text = case_text or case_yaml(case)
        loaded = case
    else:
        source = str(case)
        loaded, text = load_case(case, overrides)
    try:
        name = backends.resolve(backend or loaded.backend, key="backend")
        model = build_model(loaded)
        if loaded.solver.type == "explicit":
            time_stepping(model)  # checks a given time_step against the stable one
    except CaseError as err:
        err.file = err.file or source
        raise
    return Prepared(loaded, text, model, name, source, tuple(overrides),
                    (*unit_warnings(loaded), *solver_warnings(loaded)))


def run_case(case: str | Path | Case | Prepared, *, overrides: Iterable[str] = (),
             backend: str | None = None, output: str | Path | None = None,
             steps: int | None = None, overwrite: bool = False, write: bool = True,
             resume: bool = False,
             progress: Callable[[int, int], None] | None = None) -> RunSummary:
    """Run a case and write its snapshots; returns a summary with timings and throughput.

    ``steps`` runs an explicit case to step N (a quasi-static one to load step N); ``write=False``
    runs without output (benchmarks, comparisons); ``resume=True`` continues the output file from
    its last complete snapshot, with the same bits as an uninterrupted run.
    """
    started = clock.perf_counter()
    prepared = case if isinstance(case, Prepared) else prepare(case, overrides, backend)
    if backend is not None and isinstance(case, Prepared):
        prepared.backend = backends.resolve(backend)
    model = prepared.model
    # the run's length (explicit runs), which lets the GPU pick its force loop's build
    length = (steps or time_stepping(model)[1]) if prepared.case.solver.type == "explicit" else None
    engine = backends.create(prepared.backend, model, length)
    path = Path(output) if output is not None else Path(prepared.case.output_path)
    writer = None
    if write or resume:
        from .io import SnapshotWriter
        try:
            writer = SnapshotWriter(path, model, prepared.case_text, prepared.backend, overwrite,
                                    attributes={"overrides": list(prepared.overrides),
                                                "device": engine.device()},
                                    resume=resume, background=BACKGROUND_WRITES)
        except CaseError as err:
            err.file = err.file or prepared.source
            raise
    solver = prepared.case.solver
    engine.warm_up(solver.type)
    start = 0
    kept_time_step = None
    if resume:
        last = writer.last_snapshot
        start = int(last["step"])
        if solver.type == "explicit":
            kept_time_step = float(last["time_step"])
        try:
            _check_resumable(prepared, model, start, steps, kept_time_step, writer.path)
        except CaseError:
            writer.close()
            raise
    history = None
    if writer is not None:
        try:    # before the state is loaded: it measures the bonds intact at the start
            history = History(model, engine, prepared.case.output.history_every,
                              quasi_static=solver.type != "explicit")
            if resume:
                try:
                    history.restore(writer.resumed_history_path, start)
                except ValueError as err:
                    warnings.warn(f"{writer.path}: the history is not continued ({err}); this run "
                                  "records none", HistoryWarning, stacklevel=2)
                    history = None
        except BaseException:
            writer.close()
            raise
        writer.history = history
    if resume:
        engine.load_state(last["displacement"], last["velocity"], last["bond_state"])
    setup = clock.perf_counter() - started
    try:
        stepping_started = clock.perf_counter()
        if solver.type == "explicit":
            dt, total = time_stepping(model, kept_time_step)
            if steps is not None:
                total = steps
            out = prepared.case.output
            work = run_explicit(engine, writer, total, dt, out.every, progress, start_step=start,
                                checkpoint_every=out.checkpoint_every,
                                checkpoint_minutes=out.checkpoint_minutes, history=history)
        else:
            dt = 1.0
            load_steps = solver.load_steps or DEFAULT_LOAD_STEPS
            _, iterations = run_quasi_static(
                engine, writer, load_steps, solver.tolerance or DEFAULT_TOLERANCE,
                solver.max_iterations or DEFAULT_MAX_ITERATIONS, steps, progress,
                start_load_step=start, history=history)
            work = iterations
        if writer is not None:
            writer.wait()       # the last snapshot's write is part of the run
        wall = clock.perf_counter() - stepping_started
    finally:
        if writer is not None:
            writer.close()
    rate = work / wall if wall > 0 else float("inf")
    return RunSummary(
        name=prepared.case.name, backend=prepared.backend, particles=model.particle_count,
        bonds=model.bond_count, steps=work, time_step=dt, setup_seconds=setup, wall_seconds=wall,
        particle_steps_per_second=rate * model.particle_count,
        bond_updates_per_second=rate * model.bond_count,
        output=str(path) if write else None,
        snapshots=list(writer.steps) if writer is not None else [])
