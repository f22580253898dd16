"""Explicit dynamics: velocity Verlet (Silling and Askari 2005, sec. 4), snapshots every ``every``
steps and at the last step. The backend advances several steps per call; the host sees data only at
snapshots: it copies the fields and hands them to the writer, which writes them in its background
thread while the run steps on (io/hdf5.py). Every snapshot holds what a run needs to continue
(displacement, velocity, bond state), so a run can resume from any of them with the same bits as an
uninterrupted run."""
from __future__ import annotations

import time as clock
from collections.abc import Callable

import numpy as np

from ..backends.base import Backend
from ..io.history import History
from ..kernels.pmb import INITIAL, PRESCRIBED_VELOCITY
from .interrupt import RunInterrupted, RunUnstable, deferred_interrupts

# A chunk of steps between progress reports lasts about this long (s), and holds at most this many
# steps, which bounds how late a blow-up is caught.
PROGRESS_INTERVAL = 0.5
MAX_CHUNK = 1000
# A particle faster than this multiple of the bar wave speed sqrt(E / rho) means a strain of order
# one or more: far outside what the PMB model describes, the sign of an unstable run.
SPEED_LIMIT_FACTOR = 1.0

Progress = Callable[[int, int], None] | None


def fastest_load(model) -> float:
    """The largest speed (m/s) a prescribed velocity or an initial velocity gives a particle."""
    speed_squared = np.zeros(model.particle_count)
    velocity = model.constraint_kind == PRESCRIBED_VELOCITY
    np.add.at(speed_squared, model.constraint_particle[velocity],
              model.constraint_value[velocity] ** 2)
    speed_squared = np.maximum(speed_squared, (model.initial_velocity ** 2).sum(axis=0))
    return float(np.sqrt(speed_squared.max(initial=0.0)))


def _snapshot(backend: Backend, writer, step: int, dt: float) -> None:
    fields, bits = backend.snapshot_state()
    writer.write(step, step * dt, fields, bond_state=bits, time_step=dt)


def _checkpoint(backend: Backend, writer, step: int, dt: float) -> None:
    fields, bits = backend.snapshot_state()
    writer.checkpoint(step, step * dt, fields["displacement"], fields["velocity"], bits, time_step=dt)


def run_explicit(backend: Backend, writer, steps: int, dt: float, every: int,
                 progress: Progress = None, start_step: int = 0,
                 checkpoint_every: int | None = None,
                 checkpoint_minutes: float | None = None, history: History | None = None) -> int:
    """Run up to step ``steps`` with step size ``dt``; returns the number of steps run.

    ``start_step`` > 0 continues from a state the backend already holds (loaded from the snapshot
    of that step): forces and body forces are recomputed from it, which reproduces the arrays the
    uninterrupted run had at that step (bonds over their limit there were already broken).
    ``checkpoint_every`` (steps) and ``checkpoint_minutes`` (wall clock) add restart points between
    snapshots; only the newest is kept. Chunks of steps end on them, which changes no result.
    ``history`` (io/history.py) records its rows at its steps, each before that step's snapshot.
    """
    if start_step == 0:
        backend.apply_constraints(0.0, dt, INITIAL)
    backend.set_body_force(start_step * dt)
    backend.compute_forces()
    if history is not None:
        history.time_step = dt
    if history is not None and start_step == 0:
        history.record(0, 0.0)
    if writer is not None and start_step == 0:
        _snapshot(backend, writer, 0, dt)
    material = backend.model.case.material
    speed_limit = SPEED_LIMIT_FACTOR * (material.youngs_modulus / material.density) ** 0.5
    step = start_step
    chunk = 1
    last_checkpoint = clock.monotonic()
    with deferred_interrupts() as interrupted:
        while step < steps:
            next_snapshot = min(steps, (step // every + 1) * every)
            next_stop = next_snapshot
            if checkpoint_every:
                next_stop = min(next_stop, (step // checkpoint_every + 1) * checkpoint_every)
            chunk_end = min(step + chunk, next_stop)
            started = clock.perf_counter()
            # pausing at the history rows, which check nothing else, unless the backend records
            # them between its steps
            inside = history is not None and backend.records_rows_inside_chunks
            while step < chunk_end:
                stop = chunk_end if history is None or inside else min(
                    chunk_end, (step // history.every + 1) * history.every)
                row = history is not None and (history.regular(stop) or stop == steps)
                backend.advance(step, stop - step, dt, energy=row,
                                history=history if inside else None)
                step = stop
                if row:
                    history.record(step, step * dt)
            backend.synchronize()
            # (the rows the GPU queued stay pending: they become rows while it steps on, when
            # their ring of buffers fills (io/history.py), or when a reader or the writer asks)
            elapsed = clock.perf_counter() - started
            if elapsed < PROGRESS_INTERVAL / 2:
                chunk = min(chunk * 2, MAX_CHUNK)
            elif elapsed > PROGRESS_INTERVAL * 2 and chunk > 1:
                chunk //= 2
            # Checked after every chunk (at most MAX_CHUNK steps): a blow-up is caught within
            # one chunk, and an unphysical state is never written.
            bad = backend.first_unphysical_particle(speed_limit)
            if bad >= 0:
                if writer is not None:
                    writer.wait()   # the snapshot in flight is the last good one
                last_good = writer.steps[-1][0] if writer is not None and writer.steps else None
                raise RunUnstable(step, bad, backend.model.positions[bad], last_good, dt,
                                  backend.model.stable_time_step, speed_limit,
                                  fastest_load(backend.model))
            if writer is not None and (step == next_snapshot or interrupted):
                _snapshot(backend, writer, step, dt)
            elif writer is not None and (
                    (checkpoint_every and step % checkpoint_every == 0)
                    or (checkpoint_minutes and clock.monotonic() - last_checkpoint
                        >= 60 * checkpoint_minutes)):
                _checkpoint(backend, writer, step, dt)
                last_checkpoint = clock.monotonic()
            if progress is not None:
                progress(step, steps)
            if interrupted:
                raise RunInterrupted(step, str(writer.path) if writer is not None else None)
    return step - start_step
