"""Explicit dynamics: velocity Verlet (Silling and Askari 2005, sec. 4), snapshots every ``every``
steps and at the last step. The backend advances several steps per call; the host sees data only at
snapshots."""
from __future__ import annotations

import time as clock
from typing import Callable, Optional

from ..backends.base import Backend
from ..kernels.pmb import INITIAL

# A chunk of steps between progress reports lasts about this long (s).
PROGRESS_INTERVAL = 0.5

Progress = Optional[Callable[[int, int], None]]


def run_explicit(backend: Backend, writer, steps: int, dt: float, every: int,
                 progress: Progress = None) -> int:
    """Run ``steps`` steps of size ``dt`` from t = 0; returns the number of steps run."""
    backend.apply_constraints(0.0, dt, INITIAL)
    backend.set_body_force(0.0)
    backend.compute_forces()
    if writer is not None:
        writer.write(0, 0.0, backend.fields())
    step = 0
    chunk = 1
    while step < steps:
        next_snapshot = min(steps, (step // every + 1) * every)
        n = min(chunk, next_snapshot - step)
        started = clock.perf_counter()
        backend.advance(step, n, dt)
        elapsed = clock.perf_counter() - started
        step += n
        if elapsed < PROGRESS_INTERVAL / 2:
            chunk = min(chunk * 2, 1 << 20)
        elif elapsed > PROGRESS_INTERVAL * 2 and chunk > 1:
            chunk //= 2
        if step == next_snapshot and writer is not None:
            writer.write(step, step * dt, backend.fields())
        if progress is not None:
            progress(step, steps)
    return step
