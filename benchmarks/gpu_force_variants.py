"""Experiment: formulations of the 2D force kernel, timed on the package's own arrays (bond-major
padded neighbours and weights, bond bits). Answers which formulation the package should adopt; not a
test, never run on CI.

    python benchmarks/gpu_force_variants.py [--case 2d-4m] [--repeats 30]

Variants: ``branchy`` (the package's particle_force), ``select`` (every bond's loads issued
unconditionally, broken bonds masked by a select, so the compiler can overlap the gathers of
successive bonds), and ``lanes T`` (T threads per particle, bonds n = lane (mod T), forces summed by a
fixed butterfly of warp shuffles: deterministic, but a different summation order from the CPU).
Each result is checked against the package kernel (max relative force difference).
"""
from __future__ import annotations

import argparse
import math

import numpy as np
from gpu_variants import explicit_layout, timed  # benchmarks/ is the script's own folder
from numba import cuda

from pdgeneral import backends
from pdgeneral.bench import CASES, synthetic_case
from pdgeneral.case import load_case_text
from pdgeneral.model import build_model


def select_kernel(reference, displacement, no_fail, bond_count, stride, neighbors, weights, intact,
                  c, s0, force):
    i = cuda.grid(1)
    if i >= force.shape[1]:
        return
    x_i = reference[0, i]
    y_i = reference[1, i]
    ux_i = displacement[0, i]
    uy_i = displacement[1, i]
    fx = 0.0
    fy = 0.0
    count = bond_count[i]
    word = 0
    changed = False
    for n in range(count):
        bit = n & 31
        if bit == 0:
            word = intact[n >> 5, i]
            changed = False
        k = n * stride + i
        j = neighbors[k]
        w = weights[k]
        xi_x = reference[0, j] - x_i
        xi_y = reference[1, j] - y_i
        eta_x = displacement[0, j] - ux_i
        eta_y = displacement[1, j] - uy_i
        length0 = math.sqrt(xi_x * xi_x + xi_y * xi_y)
        yx = xi_x + eta_x
        yy = xi_y + eta_y
        length = math.sqrt(yx * yx + yy * yy)
        s = (2.0 * (xi_x * eta_x + xi_y * eta_y) + (eta_x * eta_x + eta_y * eta_y)) / (
            length0 * (length + length0))
        ok = (word >> bit) & 1
        if ok and s > s0 and no_fail[i] == 0 and no_fail[j] == 0:
            word = word ^ (1 << bit)
            changed = True
            ok = 0
        scale = c * w * s / length if ok else 0.0
        fx += scale * yx
        fy += scale * yy
        if changed and (bit == 31 or n == count - 1):
            intact[n >> 5, i] = word
    force[0, i] = fx
    force[1, i] = fy


def make_lanes_kernel(lanes, shared_threads=0):
    """shared_threads = 0: warp-shuffle reduction; else a shared-memory reduction for blocks of that
    many threads (what numba's simulator can run)."""
    def lanes_kernel(reference, displacement, no_fail, bond_count, stride, neighbors, weights, intact,
                     c, s0, force):
        g = cuda.grid(1)
        i = g // lanes
        lane = g % lanes
        n_particles = force.shape[1]
        inside = i < n_particles
        ii = i if inside else 0
        x_i = reference[0, ii]
        y_i = reference[1, ii]
        ux_i = displacement[0, ii]
        uy_i = displacement[1, ii]
        count = bond_count[ii] if inside else 0
        fx = 0.0
        fy = 0.0
        for n in range(lane, count, lanes):
            bit = n & 31
            word = intact[n >> 5, ii]
            if (word >> bit) & 1:
                k = n * stride + ii
                j = neighbors[k]
                xi_x = reference[0, j] - x_i
                xi_y = reference[1, j] - y_i
                eta_x = displacement[0, j] - ux_i
                eta_y = displacement[1, j] - uy_i
                length0 = math.sqrt(xi_x * xi_x + xi_y * xi_y)
                yx = xi_x + eta_x
                yy = xi_y + eta_y
                length = math.sqrt(yx * yx + yy * yy)
                s = (2.0 * (xi_x * eta_x + xi_y * eta_y) + (eta_x * eta_x + eta_y * eta_y)) / (
                    length0 * (length + length0))
                if s > s0 and no_fail[ii] == 0 and no_fail[j] == 0:
                    # AND is order-independent: concurrent lanes clearing their own bits commute.
                    cuda.atomic.and_(intact, (n >> 5, ii), ~np.uint32(1 << bit))
                else:
                    scale = c * weights[k] * s / length
                    fx += scale * yx
                    fy += scale * yy
        if shared_threads:
            partial = cuda.shared.array((2, max(shared_threads, 1)), dtype=np.float64)
            t = cuda.threadIdx.x
            partial[0, t] = fx
            partial[1, t] = fy
            cuda.syncthreads()
            if inside and lane == 0:
                sx = 0.0
                sy = 0.0
                for m in range(lanes):   # lanes in order: a fixed summation order
                    sx += partial[0, t + m]
                    sy += partial[1, t + m]
                force[0, i] = sx
                force[1, i] = sy
            return
        offset = lanes // 2
        while offset > 0:
            fx += cuda.shfl_xor_sync(0xFFFFFFFF, fx, offset)
            fy += cuda.shfl_xor_sync(0xFFFFFFFF, fy, offset)
            offset //= 2
        if inside and lane == 0:
            force[0, i] = fx
            force[1, i] = fy
    return lanes_kernel


def step_breakdown(engine, model, repeats):
    """Force kernel, kick pass, the fused force-and-kick kernel and whole steps, timed separately in
    the state of `pdgeneral bench`."""
    import time

    from pdgeneral.model import time_stepping
    dt, _ = time_stepping(model)
    engine.compute_forces()
    engine.advance(0, 1, dt)
    force = timed(engine.compute_forces, repeats)
    engine.kick_kick_drift_launch.set(0, dt)   # the unfused kick pass (last steps of chunks)
    kick = timed(engine.kick_kick_drift_launch, repeats)
    engine.forces_kick_launch.set(engine._forces_kick_dt, dt)
    fused = timed(engine.forces_kick_launch, repeats)   # writes the other array: u stays
    steps = timed(lambda: engine.advance(1, 100, dt), 3) / 100
    cuda.synchronize()
    started = time.perf_counter()
    for _ in range(100):
        engine.forces_launch()
    host_launch = (time.perf_counter() - started) / 100
    cuda.synchronize()
    from pdgeneral.backends.cuda import THREADS_PER_BLOCK
    ordinary = engine._force_kernel.passes[-1][engine._blocks, THREADS_PER_BLOCK]
    args = engine._force_args()
    started = time.perf_counter()
    for _ in range(100):
        ordinary(*args)
    host_ordinary = (time.perf_counter() - started) / 100
    cuda.synchronize()
    print(f"host time per force launch: prepared {host_launch * 1e6:.1f} us (fast path "
          f"{engine.forces_launch.fast}), through the dispatcher {host_ordinary * 1e6:.1f} us",
          flush=True)
    print(f"{model.particle_count} particles, {engine.rows.stencil_particles} stencil particles; "
          f"bench state: force kernel {force * 1e3:.3f} ms, kick pass {kick * 1e3:.3f} ms, "
          f"force and kick fused {fused * 1e3:.3f} ms, whole step (advance of 100) "
          f"{steps * 1e3:.3f} ms", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", default="2d-4m")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--step-only", action="store_true",
                        help="only where the time of a whole step goes (no variants)")
    args = parser.parse_args()
    dim, n = CASES[args.case]
    model = build_model(load_case_text(synthetic_case(dim, n, "float64")))
    engine = backends.create("cuda", model)
    engine.warm_up("explicit")
    a = engine.arrays
    if args.step_only:
        step_breakdown(engine, model, args.repeats)
        return
    assert dim == 2, "the variants are 2D kernels"
    # A small smooth displacement so that every bond carries force (no bond breaks: s << s0).
    rng = np.random.default_rng(1)
    u = 1e-6 * model.spacing * rng.standard_normal((2, model.particle_count))
    a.displacement.copy_to_device(u)
    base = timed(engine.compute_forces, args.repeats)
    reference_force = a.force.copy_to_host()
    print(f"{args.case}: package kernel {base * 1e3:.3f} ms", flush=True)
    reference, bond_count, stride, neighbors, weights = explicit_layout(model, engine)
    common = (reference, a.displacement, a.no_fail, bond_count, stride, neighbors, weights,
              a.intact, engine.micromodulus, engine.critical_stretch, a.force)
    N = model.particle_count
    variants = [("select", select_kernel, 1)]
    variants += [(f"lanes {t}", make_lanes_kernel(t), t) for t in (2, 4, 8)]
    variants += [(f"lanes {t} shared", make_lanes_kernel(t, 256), t) for t in (4,)]
    for name, python_kernel, lanes in variants:
        for cap in (None, 64, 48):
            options = {} if cap is None else {"max_registers": cap}
            kernel = cuda.jit(**options)(python_kernel)
            for threads in ((256,) if "shared" in name else (128, 256)):
                blocks = (N * lanes + threads - 1) // threads
                launch = kernel[blocks, threads]
                seconds = timed(lambda launch=launch: launch(*common), args.repeats)
                force = a.force.copy_to_host()
                scale = np.abs(reference_force).max()
                difference = np.abs(force - reference_force).max() / scale
                regs = list(kernel.get_regs_per_thread().values())
                print(f"  {name:8s} max_registers={cap} threads={threads}: {seconds * 1e3:.3f} ms "
                      f"({base / seconds:.2f}x), registers {regs}, max |df|/max|f| {difference:.1e}",
                      flush=True)


if __name__ == "__main__":
    main()
