"""Experiment: how many bytes and operations per bond the force kernel can shed, timed on the
synthetic bench cases (lattice order). Answers which layout the package should adopt next; not a
test, never run on CI.

    python benchmarks/gpu_layout_variants.py [--case 2d-4m] [--repeats 30]

Every variant is the package's select-form bond loop with one or more changes:

- ``rcp1``: one reciprocal per bond. f = c w num / (L0 L (L + L0)) y with num = 2 xi.eta + eta.eta,
  and the break test s > s0 as num > s0 L0 (L + L0) (no division); the package has two.
- ``w32``: the bond weights stored as float32 (the arithmetic stays float64).
- ``w0``: no weight array at all (w = 1): what removing the weight stream could give at best.
- ``i16``: neighbours stored as int16 offsets j - i (2D lattices fit).
- ``fused``: the force, the kick of this step and the kick-drift of the next in one kernel; u is
  double-buffered (read one, write the other) so that no thread sees a neighbour's new u.
- ``stencil``: no neighbour, reference or weight arrays: on a full lattice bond n of particle i is
  i + offset[n] with a fixed lattice vector, length and weight per n; bits mark the bonds that
  exist. ``corr``: plus the per-particle surface-correction factors gathered per bond.
"""
from __future__ import annotations

import argparse
import itertools
import math

import numpy as np
from gpu_variants import explicit_layout  # benchmarks/: the script's folder
from gpu_variants import timed as _timed
from numba import config, cuda

from pdgeneral import backends
from pdgeneral.bench import CASES, synthetic_case
from pdgeneral.case import load_case_text
from pdgeneral.model import build_model, time_stepping


def timed(fn, repeats):
    if config.ENABLE_CUDASIM:   # the simulator has no events: a functional check only
        fn()
        return 1.0
    return _timed(fn, repeats)


def make_kernel(dim, rcp1, weights, index, fused, corr, gather=False):
    """weights: 'f64' | 'f32' | 'none' | 'table'; index: 'i32' | 'i16' | 'stencil'; gather: the
    stencil path still takes xi from the reference positions (and |xi| from a square root)."""
    stencil = index == "stencil"

    def kernel(reference, u_in, no_fail, bond_count, stride, neighbors, bond_w, intact, c, s0,
               force, offsets, table_xi, table_w, correction, velocity, u_out, body,
               constrained, dt, rho):
        i = cuda.grid(1)
        if i >= u_in.shape[1]:
            return
        ux_i = u_in[0, i]
        uy_i = u_in[1, i]
        uz_i = u_in[2, i] if dim == 3 else 0.0
        x_i = 0.0 if stencil and not gather else reference[0, i]
        y_i = 0.0 if stencil and not gather else reference[1, i]
        z_i = reference[2, i] if dim == 3 and not (stencil and not gather) else 0.0
        gx_i = correction[0, i] if corr else 1.0
        gy_i = correction[1, i] if corr else 1.0
        gz_i = correction[2, i] if corr and dim == 3 else 1.0
        fx = 0.0
        fy = 0.0
        fz = 0.0
        count = offsets.shape[0] if stencil else bond_count[i]
        word = 0
        changed = False
        for n in range(count):
            bit = n & 31
            if bit == 0:
                word = intact[n >> 5, i]
                changed = False
            ok = (word >> bit) & 1
            if stencil:
                j = i + offsets[n] if ok else i
                if gather:
                    xi_x = reference[0, j] - x_i
                    xi_y = reference[1, j] - y_i
                    xi_z = reference[2, j] - z_i if dim == 3 else 0.0
                    length0 = math.sqrt(xi_x * xi_x + xi_y * xi_y + xi_z * xi_z)
                else:
                    xi_x = table_xi[0, n]
                    xi_y = table_xi[1, n]
                    xi_z = table_xi[2, n] if dim == 3 else 0.0
                    length0 = table_xi[3, n]
                w = table_w[n]
            else:
                k = n * stride + i
                if index == "i16":
                    j = i + neighbors[k]
                else:
                    j = neighbors[k]
                if weights == "none":
                    w = 1.0
                else:
                    w = bond_w[k]
                xi_x = reference[0, j] - x_i
                xi_y = reference[1, j] - y_i
                xi_z = reference[2, j] - z_i if dim == 3 else 0.0
                length0 = math.sqrt(xi_x * xi_x + xi_y * xi_y + xi_z * xi_z)
            eta_x = u_in[0, j] - ux_i
            eta_y = u_in[1, j] - uy_i
            eta_z = u_in[2, j] - uz_i if dim == 3 else 0.0
            yx = xi_x + eta_x
            yy = xi_y + eta_y
            yz = xi_z + eta_z
            length = math.sqrt(yx * yx + yy * yy + yz * yz)
            num = 2.0 * (xi_x * eta_x + xi_y * eta_y + xi_z * eta_z) + (
                eta_x * eta_x + eta_y * eta_y + eta_z * eta_z)
            if corr:
                ax = 2.0 / (gx_i + correction[0, j])
                ay = 2.0 / (gy_i + correction[1, j])
                az = 2.0 / (gz_i + correction[2, j]) if dim == 3 else 1.0
                qx = xi_x * ax
                qy = xi_y * ay
                qz = xi_z * az
                w = w * length0 / math.sqrt(qx * qx + qy * qy + qz * qz)
            sum_length = length0 * (length + length0)
            if rcp1:
                s = 0.0
                broken = num > s0 * sum_length
                scale_base = num * (1.0 / (sum_length * length))
            else:
                s = num * (1.0 / sum_length)
                broken = s > s0
                scale_base = 0.0
            if ok and broken and no_fail[i] == 0 and no_fail[j] == 0:
                word = word ^ (1 << bit)
                changed = True
                ok = 0
            if rcp1:
                scale = c * w * scale_base if ok else 0.0
            else:
                scale = c * w * s * (1.0 / length) if ok else 0.0
            fx += scale * yx
            fy += scale * yy
            fz += scale * yz
            if changed and (bit == 31 or n == count - 1):
                intact[n >> 5, i] = word
        if fused:
            flags = constrained[i]
            for d in range(dim):
                f = fx if d == 0 else (fy if d == 1 else fz)
                u = u_in[d, i]
                if (flags >> d) & 1 == 0:
                    v = velocity[d, i] + 0.5 * dt * (f + body[d, i]) / rho
                    v = v + 0.5 * dt * (f + body[d, i]) / rho
                    velocity[d, i] = v
                    u = u + dt * v
                u_out[d, i] = u
        else:
            force[0, i] = fx
            force[1, i] = fy
            if dim == 3:
                force[2, i] = fz
    return kernel


def lattice_shape(reference):
    """(nx, ny[, nz]) of a full lattice in x-fastest order, from the reference positions."""
    dim = reference.shape[0]
    counts = [np.unique(reference[d]).size for d in range(dim)]
    assert math.prod(counts) == reference.shape[1], counts
    return counts


def stencil_tables(model, shape):
    """Lattice offsets (sorted as the neighbour rows are), their vectors, lengths and weights, and
    the bond bits of every particle in stencil order."""
    dim = model.dimension
    h = model.spacing
    reach = math.ceil(model.horizon / h)
    vectors = [v for v in itertools.product(range(-reach, reach + 1), repeat=dim)
               if 0 < sum(c * c for c in v) * h * h <= model.horizon ** 2]
    strides = [1, shape[0], shape[0] * shape[1]][:dim]
    vectors.sort(key=lambda v: sum(c * s for c, s in zip(v, strides)))
    offsets = np.array([sum(c * s for c, s in zip(v, strides)) for v in vectors], dtype=np.int32)
    table = np.zeros((4, len(vectors)))
    weights = np.zeros(len(vectors))
    from pdgeneral.physics.pmb import partial_volume_factor
    volume = float(model.volume[0])
    for n, v in enumerate(vectors):
        table[:dim, n] = np.array(v) * h
        table[3, n] = math.sqrt(sum(c * c for c in v)) * h
        weights[n] = partial_volume_factor(table[3, n], model.horizon, h) * volume
    index = np.arange(model.particle_count)
    coords = []
    rest = index
    for d in range(dim):
        coords.append(rest % shape[d])
        rest = rest // shape[d]
    words = (len(vectors) + 31) // 32
    bits = np.zeros((words, model.particle_count), dtype=np.uint32)
    for n, v in enumerate(vectors):
        valid = np.ones(model.particle_count, dtype=bool)
        for d in range(dim):
            valid &= (coords[d] + v[d] >= 0) & (coords[d] + v[d] < shape[d])
        bits[n >> 5] |= valid.astype(np.uint32) << np.uint32(n & 31)
    return offsets, table, weights, bits


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", default="2d-4m")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--only", help="comma-separated variant names (default: all)")
    parser.add_argument("--threads", default="128,256", help="block sizes to try")
    parser.add_argument("--particles", type=int, help="override the case's size (simulator check)")
    args = parser.parse_args()
    dim, n = CASES[args.case]
    n = args.particles or n
    model = build_model(load_case_text(synthetic_case(dim, n, "float64")))
    engine = backends.create("cuda", model)
    engine.warm_up("explicit")
    a = engine.arrays
    N = model.particle_count
    rng = np.random.default_rng(1)
    u = 1e-6 * model.spacing * rng.standard_normal((dim, N))
    a.displacement.copy_to_device(u)
    base = timed(engine.compute_forces, args.repeats)
    reference_force = a.force.copy_to_host()
    dt, _ = time_stepping(model)
    print(f"{args.case} ({N} particles, {model.bond_count} bonds): package force kernel "
          f"{base * 1e3:.3f} ms", flush=True)

    shape = lattice_shape(model.reference)
    offsets, table, table_w, bits = stencil_tables(model, shape)
    reference, bond_count, stride, neighbors32, weights64 = explicit_layout(model, engine)
    padded_neighbors = neighbors32.copy_to_host()
    delta = padded_neighbors.reshape(-1, N) - np.arange(N, dtype=np.int64)[None, :]
    counts = bond_count.copy_to_host()
    mask = np.arange(delta.shape[0])[:, None] < counts[None, :]
    delta[~mask] = 0
    fits16 = np.abs(delta).max() < 2**15
    weights32 = cuda.to_device(weights64.copy_to_host().astype(np.float32))
    dev = {
        "neighbors16": cuda.to_device(delta.astype(np.int16).ravel()) if fits16 else None,
        "offsets": cuda.to_device(offsets), "table": cuda.to_device(table),
        "table_w": cuda.to_device(table_w), "stencil_bits": cuda.to_device(bits),
        "u_out": cuda.device_array_like(a.displacement),
        "correction": cuda.to_device(np.ones((dim, N)) * 1.01)}
    print(f"lattice {shape}, {len(offsets)} stencil bonds, int16 offsets fit: {fits16}", flush=True)

    variants = [
        ("base", {"rcp1": False, "weights": "f64", "index": "i32", "fused": False, "corr": False}),
        ("rcp1", {"rcp1": True, "weights": "f64", "index": "i32", "fused": False, "corr": False}),
        ("w32", {"rcp1": False, "weights": "f32", "index": "i32", "fused": False, "corr": False}),
        ("rcp1 w32", {"rcp1": True, "weights": "f32", "index": "i32", "fused": False, "corr": False}),
        ("rcp1 w0", {"rcp1": True, "weights": "none", "index": "i32", "fused": False, "corr": False}),
        ("rcp1 w32 i16", {"rcp1": True, "weights": "f32", "index": "i16", "fused": False, "corr": False}),
        ("rcp1 w32 fused", {"rcp1": True, "weights": "f32", "index": "i32", "fused": True, "corr": False}),
        ("rcp1 w64 fused", {"rcp1": True, "weights": "f64", "index": "i32", "fused": True, "corr": False}),
        ("rcp1 stencil", {"rcp1": True, "weights": "table", "index": "stencil", "fused": False, "corr": False}),
        ("stencil gather", {"rcp1": False, "weights": "table", "index": "stencil", "fused": False,
                                "corr": False, "gather": True}),
        ("rcp1 stencil gather", {"rcp1": True, "weights": "table", "index": "stencil", "fused": False,
                                     "corr": False, "gather": True}),
        ("rcp1 stencil fused", {"rcp1": True, "weights": "table", "index": "stencil", "fused": True,
                                    "corr": False}),
        ("rcp1 stencil corr", {"rcp1": True, "weights": "table", "index": "stencil", "fused": False,
                                   "corr": True}),
        ("rcp1 stencil corr fused", {"rcp1": True, "weights": "table", "index": "stencil", "fused": True,
                                         "corr": True}),
    ]
    if args.only:
        chosen = args.only.split(",")
        variants = [(name, flags) for name, flags in variants if name in chosen]
    scale = np.abs(reference_force).max()
    for name, flags in variants:
        if flags["index"] == "i16" and not fits16:
            print(f"  {name:24s}: skipped (offsets do not fit int16)")
            continue
        python_kernel = make_kernel(dim, **flags)
        stencil = flags["index"] == "stencil"
        neighbors = dev["neighbors16"] if flags["index"] == "i16" else neighbors32
        weights = weights32 if flags["weights"] == "f32" else weights64
        intact = dev["stencil_bits"] if stencil else a.intact
        call = (reference, a.displacement, a.no_fail, bond_count, stride, neighbors,
                weights, intact, engine.micromodulus, engine.critical_stretch, a.force,
                dev["offsets"], dev["table"], dev["table_w"], dev["correction"],
                a.velocity, dev["u_out"], a.body_force, a.constrained, dt * 0.0, engine.density)
        for cap in ((None,) if config.ENABLE_CUDASIM else (None, 64)):
            options = {} if cap is None else {"max_registers": cap}
            kernel = cuda.jit(**options)(python_kernel)
            for threads in [int(t) for t in args.threads.split(",")]:
                blocks = (N + threads - 1) // threads
                launch = kernel[blocks, threads]
                try:
                    seconds = timed(lambda launch=launch, call=call: launch(*call), args.repeats)
                except Exception as error:  # noqa: BLE001 - report and go on: one variant must not end the run
                    print(f"  {name:24s} cap={cap} threads={threads}: failed: {error!r}"[:300])
                    break
                note = ""
                if not flags["fused"]:
                    force = a.force.copy_to_host()
                    note = f", max |df|/max|f| {np.abs(force - reference_force).max() / scale:.1e}"
                regs = local = "-"
                if not config.ENABLE_CUDASIM:
                    regs = list(kernel.get_regs_per_thread().values())
                    local = list(kernel.get_local_mem_per_thread().values())
                print(f"  {name:24s} cap={cap} threads={threads}: {seconds * 1e3:.3f} ms "
                      f"({base / seconds:.2f}x), {N / seconds:.2e} particle-evals/s, registers "
                      f"{regs} local {local}{note}", flush=True)


if __name__ == "__main__":
    main()
