"""What recording a history costs (issue 13, item 2): the crack-branching glass plate refined to
about 4M particles, N explicit steps without a history and with a row every 10 (and 100) steps,
no output files. Prints the stepping times and the overhead. Not a test.

    python benchmarks/history_overhead.py [--backend cuda] [--steps 4000] [--spacing 3.1623e-5]
"""
from __future__ import annotations

import argparse
import time

from pdgeneral import api, backends
from pdgeneral.io.history import History
from pdgeneral.model import time_stepping
from pdgeneral.solvers import run_explicit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="cuda")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--spacing", type=float, default=3.1623e-5)
    parser.add_argument("--precision", default="float64")
    parser.add_argument("--every", default="10,100")
    args = parser.parse_args()
    overrides = [f"discretization.spacing={args.spacing}", f"discretization.horizon={3.015 * args.spacing}",
                 "solver.end_time=null", "solver.time_step=null", f"solver.steps={args.steps}",
                 f"precision={args.precision}"]
    prepared = api.prepare("cases/crack_branching_glass_2d.yaml", overrides, args.backend)
    model = prepared.model
    dt, steps = time_stepping(model)
    print(f"{model.particle_count:,} particles, {steps} steps, {prepared.backend}, {args.precision}",
          flush=True)
    runs = [None, *(int(e) for e in args.every.split(","))] * 2
    results = {}
    for every in runs:
        engine = backends.create(prepared.backend, model, steps)
        engine.warm_up("explicit")
        history = History(model, engine, every) if every else None
        if history is not None:   # compile the energy pass before the clock starts
            engine.energy_totals()
            engine.history_terms()
        engine.synchronize()
        started = time.perf_counter()
        run_explicit(engine, None, steps, dt, 10**9, history=history)
        if history is not None:
            history.resolve()   # the rows still pending on the GPU: part of what a row costs
        engine.synchronize()
        wall = time.perf_counter() - started
        results.setdefault(every, []).append(wall)
        rows = len(history.rows["step"]) if history is not None else 0
        print(f"history every {every or '-':>4}: {wall:.3f} s stepping, {rows} rows, "
              f"{model.particle_count * steps / wall:.3e} particle-steps/s", flush=True)
        del engine
    base = min(results[None])
    for every, walls in results.items():
        if every:
            print(f"every {every}: overhead {min(walls) / base - 1:+.1%} (best of {len(walls)})")


if __name__ == "__main__":
    main()
