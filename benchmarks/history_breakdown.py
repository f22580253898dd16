"""Where a history row's time goes on the GPU: the energy pass, the reductions, the entries and
the host's share, each timed alone on the 4M crack-branching plate. Not a test.

    python benchmarks/history_breakdown.py [--spacing 3.1623e-5]
"""
from __future__ import annotations

import argparse
import time

from pdgeneral import api, backends
from pdgeneral.io.history import History
from pdgeneral.model import time_stepping


def timed(label, function, engine, repeat=50):
    function()
    engine.synchronize()
    started = time.perf_counter()
    for _ in range(repeat):
        function()
    engine.synchronize()
    print(f"{label:<40} {(time.perf_counter() - started) / repeat * 1e3:8.3f} ms", flush=True)


def plate_with_history(spacing: float, backend: str):
    """(model, engine, history with a row every 10 steps, dt) of the crack-branching plate at
    ``spacing`` (horizon 3.015 of it), the engine warmed up for explicit steps."""
    overrides = [f"discretization.spacing={spacing}", f"discretization.horizon={3.015 * spacing}",
                 "solver.end_time=null", "solver.time_step=null", "solver.steps=4000"]
    prepared = api.prepare("cases/crack_branching_glass_2d.yaml", overrides, backend)
    model = prepared.model
    dt, steps = time_stepping(model)
    engine = backends.create(prepared.backend, model, steps)
    engine.warm_up("explicit")
    history = History(model, engine, 10)
    history.time_step = dt
    return model, engine, history, dt


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spacing", type=float, default=3.1623e-5)
    parser.add_argument("--backend", default="cuda")
    args = parser.parse_args()
    model, engine, history, dt = plate_with_history(args.spacing, args.backend)
    print(f"{model.particle_count:,} particles, {history.backend.entry_count} history entries")
    timed("one step (advance 1)", lambda: engine.advance(0, 1, dt), engine)
    timed("ten steps (advance 10)", lambda: engine.advance(0, 10, dt), engine)
    timed("ten steps, the last one a row's (advance 10)",
          lambda: engine.advance(0, 10, dt, energy=True), engine)
    if getattr(engine, "forces_kick_launch", None) is not None:
        timed("force-and-kick kernel (a plain step)", engine.forces_kick_launch, engine)
        if engine.forces_kick_energy_launch is not None:
            timed("force, kick and row sums kernel", engine.forces_kick_energy_launch, engine)
        timed("kick_drift kernel (a chunk's first)", engine.kick_drift_launch, engine)
        timed("kick kernel", engine.kick_launch, engine)
    timed("energy pass (kernel)", engine.compute_energy, engine)
    timed("energy_totals (pass + reduce + copy)", engine.energy_totals, engine)
    timed("history_terms (entries, reduce, copy)", engine.history_terms, engine)
    timed("constraint_work", engine.constraint_work, engine)
    timed("History.record (all of a row)", lambda: history.record(10, 10 * dt), engine, repeat=20)
    history.resolve()
    # what a row in a chunk queues on the GPU, each part queued back to back (no host waits)
    if getattr(engine, "_row_partial", None) is not None:
        timed("row sums: reduce (queued)", lambda: engine._reduced(engine._row_partial, "row_partial"),
              engine)
    if engine.entry_count:
        timed("entries kernel + reduce (queued)", engine._term_sums, engine)
    engine._energy_fresh = True   # as after a row's step: the sums come from its kernel
    timed("history_sample (queued: reduce, entries, copies)", engine.history_sample, engine)


if __name__ == "__main__":
    main()
