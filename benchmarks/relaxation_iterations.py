"""Iterations and wall time of each quasi-static load step (issue 18, item 7): relaxes a case's load
steps as solvers/relaxation.py does, without output files, and prints per load step the relaxation
iterations, the relative residual reached, the bonds broken so far, the reaction on a region and the
time. Not a test; docs/performance.md ("Quasi-static relaxation") quotes its results.

    python benchmarks/relaxation_iterations.py [benchmarks/notched_beam_qs.yaml] [--backend parallel]
        [--region load] [--json out.json] [--set key=value ...]
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time

import numpy as np

from pdgeneral import api, backends
from pdgeneral.kernels.pmb import QUASI_STATIC
from pdgeneral.model import DEFAULT_LOAD_STEPS, DEFAULT_MAX_ITERATIONS, DEFAULT_TOLERANCE
from pdgeneral.solvers.relaxation import relax_load_step


def intact_bonds(engine) -> int:
    """Intact bonds (both copies counted) of the backend's bond state."""
    bits = np.ascontiguousarray(engine.download(engine.arrays.intact))
    return int(np.unpackbits(bits.view(np.uint8)).sum())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("case", nargs="?", default="benchmarks/notched_beam_qs.yaml")
    parser.add_argument("--backend", default="parallel")
    parser.add_argument("--region", default="load", help="region whose reaction is printed")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--save", help="write each load step's displacement and bond state here (.npz)")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    prepared = api.prepare(args.case, args.overrides, args.backend)
    model, solver = prepared.model, prepared.case.solver
    load_steps = solver.load_steps or DEFAULT_LOAD_STEPS
    tolerance = solver.tolerance or DEFAULT_TOLERANCE
    max_iterations = solver.max_iterations or DEFAULT_MAX_ITERATIONS
    engine = backends.create(prepared.backend, model)
    engine.warm_up("quasi_static")
    engine.set_body_force(0.0)
    initial = intact_bonds(engine)
    region = api_region_mask(prepared, args.region)
    print(f"{model.particle_count:,} particles, {initial:,} bond ends, {prepared.backend}, "
          f"{load_steps} load steps, tolerance {tolerance:g}", flush=True)
    rows, saved = [], {}
    started = time.perf_counter()
    for load_step in range(1, load_steps + 1):
        factor = load_step / load_steps
        engine.apply_constraints(factor, 1.0, QUASI_STATIC)
        begin = time.perf_counter()
        relaxed = relax_load_step(engine, factor, tolerance, max_iterations)
        iterations, ratio = relaxed.iterations, relaxed.residual
        engine.synchronize()
        wall = time.perf_counter() - begin
        force = engine.download(engine.arrays.force).T
        reaction = (-(force[region] * model.volume[region, None]).sum(axis=0)
                    if region is not None else None)
        if args.save:
            saved[f"displacement_{load_step}"] = engine.download(engine.arrays.displacement)
            saved[f"intact_{load_step}"] = engine.download(engine.arrays.intact)
        broken = (initial - intact_bonds(engine)) // 2
        rows.append({"load_step": load_step, "iterations": iterations, "residual": ratio,
                     "relaxations": relaxed.relaxations,
                     "broken_bonds": broken, "seconds": wall,
                     "reaction": None if reaction is None else reaction.tolist()})
        print(f"load step {load_step}: {iterations:6d} iterations in {relaxed.relaxations} "
              f"relaxations, residual {ratio:.3g}, "
              f"{broken:,} bonds broken, reaction {reaction}, {wall:.2f} s", flush=True)
    total = time.perf_counter() - started
    print(f"total {sum(r['iterations'] for r in rows)} iterations, {total:.2f} s")
    if args.save:
        np.savez(args.save, **saved)
    if args.json:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], check=False, capture_output=True,
                                text=True).stdout.strip()
        with open(args.json, "w") as f:
            json.dump({"case": args.case, "overrides": args.overrides, "backend": prepared.backend,
                       "particles": model.particle_count, "machine": platform.processor()
                       or platform.machine(), "commit": commit, "seconds": total,
                       "load_steps": rows}, f, indent=1)


def api_region_mask(prepared, name: str):
    """Boolean mask (N,) of a region of the case, None if it has none of that name."""
    from pdgeneral.model import _region_masks
    case = prepared.case
    if name not in case.regions:
        return None
    return _region_masks(case, prepared.model.positions)[name]


if __name__ == "__main__":
    main()
