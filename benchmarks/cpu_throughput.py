"""CPU throughput and set-up cost on a synthetic 2D plate (horizon 3.015 dx, no fracture).

    python benchmarks/cpu_throughput.py [--particles 1000000] [--steps 20] [--json out.json]

Prints the neighbour-search time, the whole model-build time, and per backend the stepping rate in
particle-steps/s and bond updates/s (compilation excluded: each backend is warmed up first). Never
run by the tests.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import time

import numba

from pdgeneral import backends
from pdgeneral.case import load_case_text
from pdgeneral.geometry import lattice
from pdgeneral.model import build_model, time_stepping
from pdgeneral.neighbors import find_neighbors


def plate_case(particles: int) -> str:
    side = int(round(math.sqrt(particles / 2)))
    spacing = 1.0e-4
    return f"""
name: bench-plate-2d
dimension: 2
thickness: 1.0e-3
material: {{model: pmb, youngs_modulus: 72.0e9, density: 2440.0, critical_stretch: .inf}}
discretization: {{spacing: {spacing}, horizon_factor: 3.015, surface_correction: energy}}
geometry: {{box: {{min: [0, 0], max: [{2 * side * spacing!r}, {side * spacing!r}]}}}}
regions: {{all: {{box: {{min: [0, 0], max: [{2 * side * spacing!r}, {side * spacing!r}]}}}}}}
boundary_conditions: [{{region: all, type: initial_velocity, value: [1.0, 0.5]}}]
solver: {{type: explicit, steps: 10}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--backends", default="serial,parallel")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    case = load_case_text(plate_case(args.particles), source="bench")
    points = lattice(case.geometry.box, case.discretization.spacing)
    find_neighbors(points[:1000], case.horizon)  # compile (cached on disk after the first run)
    started = time.perf_counter()
    offsets, _ = find_neighbors(points, case.horizon)
    neighbour_seconds = time.perf_counter() - started
    started = time.perf_counter()
    model = build_model(case)
    build_seconds = time.perf_counter() - started
    dt, _ = time_stepping(model)
    result = {
        "date": datetime.date.today().isoformat(),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip(),
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "particles": model.particle_count, "bonds": model.bond_count,
        "neighbour_search_s": neighbour_seconds, "model_build_s": build_seconds, "backends": {},
    }
    print(f"{model.particle_count:,} particles, {model.bond_count:,} bonds: neighbour search "
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
