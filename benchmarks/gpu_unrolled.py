"""A/B of the force loop on the GPU: the general loop (kernels.pmb.particle_force) against the
stencil particles' unrolled loop (kernels/unrolled.py), in the state of `pdgeneral bench`.
Prints per case the compilation time, the force kernel, the fused kick and a whole step, and the
largest force difference between the two. Not a test; never run on CI.

    python benchmarks/gpu_unrolled.py [--cases 2d-1m,2d-4m,3d-1m,3d-8m] [--precision float64]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from numba import cuda

from pdgeneral.backends.cuda import CudaBackend
from pdgeneral.bench import CASES, synthetic_case
from pdgeneral.case import load_case_text
from pdgeneral.model import build_model, time_stepping

from gpu_variants import timed   # benchmarks/ is the script's own folder


def measure(model, unroll: bool, repeats: int):
    previous = CudaBackend.unroll_stencil
    CudaBackend.unroll_stencil = unroll
    try:
        started = time.perf_counter()
        engine = CudaBackend(model)
        engine.warm_up("explicit")
        setup = time.perf_counter() - started
    finally:
        CudaBackend.unroll_stencil = previous
    dt, _ = time_stepping(model)
    # A small smooth displacement so that every bond carries force (no bond breaks: s << s0).
    rng = np.random.default_rng(1)
    u = 1e-6 * model.spacing * rng.standard_normal((model.dimension, model.particle_count))
    engine.arrays.displacement.copy_to_device(u.astype(model.dtype))
    force_time = timed(engine.compute_forces, repeats)
    force = engine.arrays.force.copy_to_host()
    engine.kick_kick_drift_launch.set(0, dt)
    kick = timed(engine.kick_kick_drift_launch, repeats)
    step = timed(lambda: engine.advance(1, 100, dt), 3) / 100
    return engine.unrolled, setup, force_time, kick, step, force


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", default="2d-1m,2d-4m,3d-1m,3d-8m")
    parser.add_argument("--precision", default="float64")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    for name in args.cases.split(","):
        dim, n = CASES[name]
        model = build_model(load_case_text(synthetic_case(dim, n, args.precision)))
        forces = {}
        for unroll in (False, True):
            used, setup, force, kick, step, forces[unroll] = measure(model, unroll, args.repeats)
            rate = model.particle_count / step
            print(f"{name} {args.precision} {'unrolled' if used else 'general '}: set-up "
                  f"{setup:6.2f} s, force {force * 1e3:7.3f} ms, fused kick {kick * 1e3:6.3f} ms, "
                  f"step {step * 1e3:7.3f} ms, {rate:.3e} particle-steps/s", flush=True)
        scale = np.abs(forces[False]).max()
        print(f"{name}: largest force difference {np.abs(forces[True] - forces[False]).max() / scale:.2e}"
              f" of the largest force", flush=True)
        del model
        cuda.current_context().deallocations.clear()


if __name__ == "__main__":
    main()
