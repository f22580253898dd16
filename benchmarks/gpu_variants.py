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


def explicit_layout(model, engine):
    """The layout these variants were written for (every particle an explicit bond-major row, as
    before the stencil particles of pdgeneral.stencil): reference, bond counts, stride, padded
    neighbours and weights on the device, all from the model."""
    from pdgeneral.backends.cuda import padded_bond_layout
    _, count, stride, neighbors = padded_bond_layout(model.offsets, model.neighbors)
    weights = padded_bond_layout(model.offsets, model.bond_weights(), fill=0.0)[3]
    return (cuda.to_device(model.reference), cuda.to_device(count), stride,
            cuda.to_device(neighbors), cuda.to_device(weights))


def registers(case: str, steps: int) -> None:
    """Force-kernel time against a register cap (occupancy against spills)."""
    from pdgeneral.backends import cuda as cuda_backend
    dim, n = CASES[case]
    model = build_model(load_case_text(synthetic_case(dim, n, "float64")))
    for cap in (None, 72, 64, 56):
        cuda_backend.FORCE_KERNEL_OPTIONS = {} if cap is None else {"max_registers": cap}
        engine = backends.create("cuda", model)
        engine.warm_up("explicit")
        force = timed(engine.compute_forces, steps)
        dispatcher = engine._force_kernel.passes[-1]
        print(f"{case} float64 max_registers={cap}: force kernel {force * 1e3:.3f} ms, registers "
              f"{list(dispatcher.get_regs_per_thread().values())}, local memory "
              f"{list(dispatcher.get_local_mem_per_thread().values())}", flush=True)
        del engine
    cuda_backend.FORCE_KERNEL_OPTIONS = {"max_registers": 64}


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
        for threads in (128, 256, 512):
            cuda_backend.THREADS_PER_BLOCK = threads
            engine = backends.create("cuda", model)
            engine.warm_up("explicit")
            if threads == 256:
                for kernel, dispatcher in (("forces_kernel", engine._force_kernel.passes[-1]),
                                           ("kick_drift_kernel", engine.k.kick_drift_kernel)):
                    print(f"  {kernel}: registers {dispatcher.get_regs_per_thread()}, local memory "
                          f"{dispatcher.get_local_mem_per_thread()}", flush=True)
            force = timed(engine.compute_forces, args.steps)
            step = timed(lambda engine=engine, dt=dt: engine.advance(0, 1, dt), args.steps)
            print(f"{args.case} {precision} threads={threads}: force kernel {force * 1e3:.3f} ms, "
                  f"whole step {step * 1e3:.3f} ms -> {model.particle_count / step:.3g} p-steps/s",
                  flush=True)
            del engine
        cuda_backend.THREADS_PER_BLOCK = 256
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




def minimal_reference(case="2d-4m", repeats=30):
    """A minimal PMB force kernel in the spirit of the 'naive' reference of ../shared/gpu/README.md
    (one thread per particle, CSR int32 neighbours, uint8 bond state, float64, no partial volumes,
    no surface correction, no damage), timed in the same harness for an apples-to-apples gap."""
    import math

    import numpy as np
    dim, n = CASES[case]
    model = build_model(load_case_text(synthetic_case(dim, n, "float64")))
    x = cuda.to_device(np.ascontiguousarray(model.positions[:, 0]))
    y = cuda.to_device(np.ascontiguousarray(model.positions[:, 1]))
    ux = cuda.to_device(np.zeros(model.particle_count))
    uy = cuda.to_device(np.zeros(model.particle_count))
    fx = cuda.device_array(model.particle_count)
    fy = cuda.device_array(model.particle_count)
    offsets = cuda.to_device(model.offsets.astype(np.int32))
    neighbors = cuda.to_device(model.neighbors)
    state = cuda.to_device(np.ones(model.bond_count, dtype=np.uint8))

    @cuda.jit
    def naive(x, y, ux, uy, offsets, neighbors, state, c, volume, s0, fx, fy):
        i = cuda.grid(1)
        if i >= x.shape[0]:
            return
        ax = 0.0
        ay = 0.0
        for k in range(offsets[i], offsets[i + 1]):
            if state[k] == 0:
                continue
            j = neighbors[k]
            dx = x[j] - x[i]
            dy = y[j] - y[i]
            ex = dx + ux[j] - ux[i]
            ey = dy + uy[j] - uy[i]
            length0 = math.sqrt(dx * dx + dy * dy)
            length = math.sqrt(ex * ex + ey * ey)
            s = (length - length0) / length0
            if s > s0:
                state[k] = 0
                continue
            f = c * s * volume / length
            ax += f * ex
            ay += f * ey
        fx[i] = ax
        fy[i] = ay

    blocks = (model.particle_count + 255) // 256
    seconds = timed(lambda: naive[blocks, 256](x, y, ux, uy, offsets, neighbors, state, 1.0, 1.0,
                                               1e9, fx, fy), repeats)
    print(f"minimal reference force kernel ({case}, CSR, 1D arrays): {seconds * 1e3:.3f} ms "
          f"-> {model.particle_count / seconds:.3g} particle-forces/s, registers "
          f"{list(naive.get_regs_per_thread().values())}", flush=True)


if __name__ == "__main__":
    import sys
    if "--minimal" in sys.argv:
        minimal_reference()
    elif "--registers" in sys.argv:
        registers("2d-4m", 30)
        registers("3d-1m", 30)
    else:
        main()
