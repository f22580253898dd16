"""A/B of the GPU step's kernels, in the state of `pdgeneral bench`: the general force loop
(kernels.pmb.particle_force) against the stencil particles' unrolled loop (kernels/unrolled.py), the
force and kick passes as two kernels or fused (forces_kick_kernel), and the force kernels' register
cap and threads per block. Prints per case and configuration the set-up time (with compilation),
the force kernel, the fused force-and-kick kernel, a whole step, and the largest force difference
against the first configuration. Not a test; never run on CI.

    python benchmarks/gpu_unrolled.py [--cases 2d-1m,2d-4m,3d-8m] [--precision float64] [--quick]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from gpu_variants import timed  # benchmarks/ is the script's own folder
from numba import cuda

from pdgeneral.backends import cuda as cuda_backend
from pdgeneral.backends.cuda import CudaBackend
from pdgeneral.bench import CASES, synthetic_case
from pdgeneral.case import load_case_text
from pdgeneral.model import build_model, time_stepping

# (name, unroll, fuse, register cap, threads per block)
CONFIGURATIONS = [
    ("general, 2 kernels", False, False, 64, 128),
    ("general, fused", False, True, 64, 128),
    ("general, fused, 256 threads", False, True, 64, 256),
    ("unrolled, 2 kernels", True, False, None, 128),
    ("unrolled, fused", True, True, None, 128),
    ("unrolled, fused, cap 64", True, True, 64, 128),
    ("unrolled, fused, 256 threads", True, True, None, 256),
]


def measure(model, unroll, fuse, cap, threads, repeats):
    options = cuda_backend.UNROLLED_KERNEL_OPTIONS if unroll else cuda_backend.FORCE_KERNEL_OPTIONS
    saved = (CudaBackend.unroll_stencil, CudaBackend.fuse_kick, dict(options),
             cuda_backend.THREADS_PER_BLOCK)
    CudaBackend.unroll_stencil, CudaBackend.fuse_kick = unroll, fuse
    options.clear()
    if cap is not None:
        options["max_registers"] = cap
    cuda_backend.THREADS_PER_BLOCK = threads
    try:
        started = time.perf_counter()
        engine = CudaBackend(model)
        engine.warm_up("explicit")
        setup = time.perf_counter() - started
    finally:
        CudaBackend.unroll_stencil, CudaBackend.fuse_kick = saved[:2]
        options.clear()
        options.update(saved[2])
        cuda_backend.THREADS_PER_BLOCK = saved[3]
    engine.fuse_kick = fuse   # read by advance
    dt, _ = time_stepping(model)
    # A small smooth displacement so that every bond carries force (no bond breaks: s << s0).
    rng = np.random.default_rng(1)
    u = 1e-6 * model.spacing * rng.standard_normal((model.dimension, model.particle_count))
    engine.arrays.displacement.copy_to_device(u.astype(model.dtype))
    force_time = timed(engine.compute_forces, repeats)
    force = engine.arrays.force.copy_to_host()
    engine.forces_kick_launch.set(engine._forces_kick_dt, dt)
    fused = timed(engine.forces_kick_launch, repeats)   # writes the other array: u stays
    step = timed(lambda: engine.advance(1, 100, dt), 3) / 100
    return engine.unrolled, setup, force_time, fused, step, force


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", default="2d-1m,2d-4m,3d-8m")
    parser.add_argument("--precision", default="float64")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="the first three configurations only")
    args = parser.parse_args()
    for name in args.cases.split(","):
        dim, n = CASES[name]
        model = build_model(load_case_text(synthetic_case(dim, n, args.precision)))
        reference = None
        for label, unroll, fuse, cap, threads in CONFIGURATIONS[:3] if args.quick else CONFIGURATIONS:
            used, setup, force, fused, step, out = measure(model, unroll, fuse, cap, threads,
                                                           args.repeats)
            reference = out if reference is None else reference
            difference = np.abs(out - reference).max() / np.abs(reference).max()
            label += "" if used == unroll else " (general loop used)"
            print(f"{name} {args.precision} {label:32s}: set-up {setup:6.2f} s, force "
                  f"{force * 1e3:7.3f} ms, force+kick {fused * 1e3:7.3f} ms, step "
                  f"{step * 1e3:7.3f} ms, {model.particle_count / step:.3e} particle-steps/s, "
                  f"force difference {difference:.1e}", flush=True)
        del model
        cuda.current_context().deallocations.clear()


if __name__ == "__main__":
    main()
