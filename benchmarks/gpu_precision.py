"""float32 against float64 on the GPU (issue 12): the time of an explicit step on the synthetic
cases in float64, in float32 with the hardware's approximate square root and reciprocal
(backends.cuda.FAST_FLOAT32_MATH, the default) and in float32 with the correctly rounded ones; the
force kernel's registers; and how far each float32 variant's displacement is from float64's after
the timed steps (a diagnostic for docs/performance.md, not a test).

    python benchmarks/gpu_precision.py [--cases 2d-4m,3d-8m] [--steps 200]
"""
from __future__ import annotations

import argparse

import numpy as np
from numba import cuda

from pdgeneral import backends
from pdgeneral.backends import cuda as cuda_backend
from pdgeneral.bench import CASES, synthetic_case
from pdgeneral.case import load_case_text
from pdgeneral.model import build_model, time_stepping


def step_time(engine, dt, steps):
    """Seconds per explicit step (CUDA events around ``steps`` steps, after one untimed)."""
    engine.advance(0, 1, dt)
    cuda.synchronize()
    start, stop = cuda.event(), cuda.event()
    start.record()
    engine.advance(1, steps, dt)
    stop.record()
    stop.synchronize()
    return cuda.event_elapsed_time(start, stop) / 1e3 / steps


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", default="2d-4m,3d-8m")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--builds", default="specialized",
                        help="unrolled loop builds to time: specialized, shared or both (backends/cuda.py)")
    args = parser.parse_args()
    builds = {"specialized": (True,), "shared": (False,), "both": (True, False)}[args.builds]
    for case in args.cases.split(","):
        dim, n = CASES[case]
        displacement = {}
        variants = [(precision, fast, build) for build in builds
                    for precision, fast in (("float64", True), ("float32", True), ("float32", False))]
        for precision, fast, build in variants:
            cuda_backend.FAST_FLOAT32_MATH = fast
            cuda_backend.CudaBackend.specialize_stencil = build
            model = build_model(load_case_text(synthetic_case(dim, n, precision)))
            dt, _ = time_stepping(model)
            engine = backends.create("cuda", model)
            engine.warm_up("explicit")
            seconds = step_time(engine, dt, args.steps)
            kernel = engine._force_kernel.forces_kick_kernel
            label = precision if precision == "float64" else f"{precision} {'fast' if fast else 'ieee'}"
            if engine.unrolled:
                label += " specialized" if engine.specialized else " shared"
            displacement[label] = engine.download(engine.arrays.displacement).astype(np.float64)
            print(f"{case} {label:13s}: step {seconds * 1e3:.4f} ms, "
                  f"{model.particle_count / seconds:.3g} particle-steps/s, fused kernel registers "
                  f"{list(kernel.get_regs_per_thread().values())}", flush=True)
            del engine, model
        reference = next(u for label, u in displacement.items() if label.startswith("float64"))
        scale = np.abs(reference).max()
        for label in [label for label in displacement if label.startswith("float32")]:
            error = np.abs(displacement[label] - reference).max() / scale
            print(f"{case} {label}: max |u - u_float64| / max |u_float64| = {error:.3g}", flush=True)
    cuda_backend.FAST_FLOAT32_MATH = True
    cuda_backend.CudaBackend.specialize_stencil = None


if __name__ == "__main__":
    main()
