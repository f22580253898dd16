"""Where does the CUDA step spend its time? Times the force kernel alone and the whole step for
variants of one synthetic case (a diagnostic for docs/performance.md, not a test).

    python benchmarks/gpu_variants.py [--case 2d-4m] [--steps 50]
"""
from __future__ import annotations

import argparse
import time

from numba import cuda

from pdgeneral import backends
from pdgeneral.bench import CASES, synthetic_case
from pdgeneral.case import load_case_text
from pdgeneral.model import build_model, time_stepping


def timed(fn, repeats):
    fn()
    cuda.synchronize()
    start, stop = cuda.event(), cuda.event()
    start.record()
    for _ in range(repeats):
        fn()
    stop.record()
    stop.synchronize()
    return cuda.event_elapsed_time(start, stop) / 1e3 / repeats


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", default="2d-4m")
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    dim, n = CASES[args.case]
    from pdgeneral.backends import cuda as cuda_backend
    for precision in ("float64", "float32"):
        model = build_model(load_case_text(synthetic_case(dim, n, precision)))
        dt, _ = time_stepping(model)
        for store in (False,):
            cuda_backend.CudaBackend.store_bond_factors = store
            for threads in (128, 256):
                cuda_backend.THREADS_PER_BLOCK = threads
                engine = backends.create("cuda", model)
                engine.warm_up("explicit")
                if threads == 256:
                    for kernel in ("forces_kernel", "kick_drift_kernel"):
                        dispatcher = getattr(engine.k, kernel)
                        print(f"  {kernel}: registers {dispatcher.get_regs_per_thread()}, local memory "
                              f"{dispatcher.get_local_mem_per_thread()}", flush=True)
                force = timed(engine.compute_forces, args.steps)
                step = timed(lambda: engine.advance(0, 1, dt), args.steps)
                engine.corrected = False
                plain = timed(engine.compute_forces, args.steps)
                print(f"{args.case} {precision} stored_factor={store} threads={threads}: force kernel "
                      f"{force * 1e3:.3f} ms (without surface correction {plain * 1e3:.3f} ms), "
                      f"whole step {step * 1e3:.3f} ms -> {model.particle_count / step:.3g} p-steps/s",
                      flush=True)
                del engine
    # Launch overhead: a whole step on a tiny case.
    model = build_model(load_case_text(synthetic_case(2, 2000, "float64")))
    engine = backends.create("cuda", model)
    engine.warm_up("explicit")
    dt, _ = time_stepping(model)
    started = time.perf_counter()
    engine.advance(0, 200, dt)
    cuda.synchronize()
    print(f"tiny case (2,000 particles): {(time.perf_counter() - started) / 200 * 1e6:.1f} us per step "
          "(launch overhead)")


if __name__ == "__main__":
    main()
