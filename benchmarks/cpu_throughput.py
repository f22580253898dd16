"""CPU throughput and set-up cost on the synthetic 2D plate of `pdgeneral bench` (horizon 3.015 dx,
no fracture), with the cell-list neighbour search (neighbors.find_neighbors, the reference that the
model's stencil walk is tested against; the model no longer calls it) timed on its own.

    python benchmarks/cpu_throughput.py [--particles 1000000] [--steps 20] [--json out.json]

Prints the neighbour-search time, the whole model-build time, and per backend the stepping rate in
particle-steps/s and bond updates/s (compilation excluded: each backend is warmed up first). Never
run by the tests.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import time

import numba

from pdgeneral import backends
from pdgeneral.bench import synthetic_case
from pdgeneral.case import load_case_text
from pdgeneral.geometry import lattice
from pdgeneral.model import build_model, time_stepping
from pdgeneral.neighbors import find_neighbors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--backends", default="serial,parallel")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    case = load_case_text(synthetic_case(2, args.particles, "float64"), source="bench")
    points = lattice(case.geometry.box, case.discretization.spacing)
    find_neighbors(points[:1000], case.horizon)  # compile (cached on disk after the first run)
    started = time.perf_counter()
    _offsets, _ = find_neighbors(points, case.horizon)
    neighbour_seconds = time.perf_counter() - started
    started = time.perf_counter()
    model = build_model(case)
    build_seconds = time.perf_counter() - started
    dt, _ = time_stepping(model)
    result = {
        "date": datetime.date.today().isoformat(),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True, check=False).stdout.strip(),
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "particles": model.particle_count, "bonds": model.bond_count,
        "neighbour_search_s": neighbour_seconds, "model_build_s": build_seconds, "backends": {},
    }
    print(f"{model.particle_count:,} particles, {model.bond_count:,} bonds: cell-list search "
          f"{neighbour_seconds:.2f} s, whole model build {build_seconds:.2f} s")
    for name in args.backends.split(","):
        engine = backends.create(name, model)
        engine.warm_up("explicit")
        engine.compute_forces()
        started = time.perf_counter()
        engine.advance(0, args.steps, dt)
        seconds = time.perf_counter() - started
        rate = args.steps / seconds
        result["backends"][name] = {"steps": args.steps, "seconds": seconds,
                                    "particle_steps_per_s": rate * model.particle_count,
                                    "bond_updates_per_s": rate * model.bond_count}
        print(f"{name:>9}: {args.steps} steps in {seconds:.2f} s, "
              f"{rate * model.particle_count:.3g} particle-steps/s, "
              f"{rate * model.bond_count:.3g} bond updates/s")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
