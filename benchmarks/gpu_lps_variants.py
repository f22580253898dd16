"""Experiment: the LPS's unrolled stencil loops (kernels/unrolled.py) on the H200, 2D 4M float64:
the shared build (the stencil's numbers as a kernel argument) against the specialized one (compiled
in), each with the correctly rounded float64 division and with the hardware's estimate and Newton
steps (cuda.FAST_FLOAT64_RECIPROCAL). Prints ms per step, particle-steps/s and the registers of
each force kernel. Not a test, never run on CI.

    python benchmarks/gpu_lps_variants.py [--case 2d-4m] [--steps 500]

Measured 2026-12-03 (docs/performance.md): also a variant that loaded every neighbour before
testing its bond-state bit (as PMB's loop does); it was no faster (4.04e9 against 4.01e9
particle-steps/s, shared build) and was dropped; a 64-register cap gave 4.09e9.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from numba import cuda

from pdgeneral import backends
from pdgeneral.backends import cuda as cuda_backend
from pdgeneral.bench import CASES, synthetic_case
from pdgeneral.case import load_case_text
from pdgeneral.model import build_model, time_stepping


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", default="2d-4m")
    parser.add_argument("--steps", type=int, default=500)
    args = parser.parse_args()
    dim, n = CASES[args.case]
    model = build_model(load_case_text(synthetic_case(dim, n, "float64", material="lps")))
    dt, _ = time_stepping(model)
    reference = None
    for specialized in (False, True):
        for fast in (False, True):
            cuda_backend.FAST_FLOAT64_RECIPROCAL = fast
            cuda_backend.CudaBackend.specialize_stencil = specialized
            engine = backends.create("cuda", model)
            engine.warm_up("explicit")
            engine.advance(0, 10, dt)
            cuda.synchronize()
            started = time.perf_counter()
            engine.advance(10, args.steps, dt)
            cuda.synchronize()
            seconds = (time.perf_counter() - started) / args.steps
            kernels = (*engine._force_kernel.passes, engine._force_kernel.forces_kick_kernel)
            registers = [list(k.get_regs_per_thread().values()) for k in kernels]
            displacement = engine.download(engine.arrays.displacement)
            if reference is None:
                reference = displacement
            print(f"{args.case} lps specialized={specialized} fast_reciprocal={fast}: "
                  f"{seconds * 1e3:.4f} ms/step, {model.particle_count / seconds:.3g} p-steps/s, "
                  f"registers (dilatation, force, force+kick) {registers}, largest displacement "
                  f"difference to the first {np.abs(displacement - reference).max():.3g} m",
                  flush=True)
            del engine
    cuda_backend.FAST_FLOAT64_RECIPROCAL = True
    cuda_backend.CudaBackend.specialize_stencil = None


if __name__ == "__main__":
    main()
