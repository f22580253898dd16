"""CUDA backend: the shared loop bodies of kernels/pmb.py compiled as numba.cuda kernels.

- One thread per particle (gather): a particle's thread is the only writer of its force, damage and
  bond-state words, so there are no atomics and the force sum has one fixed order: runs are
  deterministic.
- Interior particles of the lattice read their bonds from the stencil (pdgeneral.stencil): the
  neighbour is i + offset[n], the bond vector, length and weight come from small tables that stay
  in cache, so such a particle reads no per-bond data at all. The other particles' explicit rows
  are stored bond-major and padded to the longest row: bond n of row r is at ``n * E + r``, so the
  threads of a warp read consecutive entries (coalesced); a bond costs 4 (neighbour) + 2 (stencil
  slot) + one real (weight) bytes. The bond state is one bit per bond (32 to a word, words laid
  out (words, N)). Damage is computed by its own kernel, only for snapshots.
- State stays on the device for the whole run; the host sees data only at snapshots (and, in the
  quasi-static solver, four reduced numbers per relaxation iteration).

numba.cuda is imported by this module only; the registry imports it when cuda is asked for.
"""
from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import numba
import numpy as np
from numba import config, cuda, njit, prange
from numba.cuda import libdevice

from .. import kernel_cache, materials, numba_internals
from ..errors import CaseError
from ..kernels import lps as lps_kernels
from ..kernels import pmb as kernels
from ..kernels import retarget, specialize, unrolled
from ..kernels.pmb import (
    constrain,
    energy_term,
    entry_terms,
    external_force,
    kick,
    kick_drift,
    kick_drift_to,
    kick_kick_drift,
    kick_kick_drift_to,
    particle_damage,
    relaxation_residual,
    relaxation_update,
    unphysical,
)
from ..memory import model_bytes
from ..physics import pmb as physics
from ..solvers import steps as step_driver
from .base import Backend, _not_empty, slot_tables, uses_reciprocal_form

# The simulator runs every thread as a Python thread: small blocks keep the tests quick there.
_SIMULATOR = bool(config.ENABLE_CUDASIM)
#: Threads per block of the per-particle kernels.
#: On an H200, 128 against 256: 2D 4M step 0.347 against 0.366 ms (benchmarks/gpu_unrolled.py).
THREADS_PER_BLOCK = 32 if _SIMULATOR else 128
#: Threads per block (a power of two) of the deterministic tree reduction.
REDUCE_THREADS = 32 if _SIMULATOR else 256


def forces_kernel(displacement, no_fail, bonds, stencil, material, stencil_table, force):
    """One force pass of the material (materials/: FORCE_PASSES). ``stencil_table``: the
    stencil's numbers as kernel parameters, for the unrolled loop (kernels/unrolled.py; a
    placeholder for the general one)."""
    i = cuda.grid(1)
    if i < displacement.shape[1]:
        # FORCE_PASS is bound when the kernel is built (_force_kernels).
        FORCE_PASS(i, displacement, no_fail, bonds, stencil, material,  # noqa: F821
                   stencil_table, force)


def forces_kick_kernel(displacement, no_fail, bonds, stencil, material, stencil_table, force, dt,
                       density, constrained, velocity, body_force, next_displacement):
    """forces_kernel (the material's last force pass), then kick_kick_drift of the same particle
    with the new displacement written to ``next_displacement``: the other threads read the old
    one, so the two passes of a step need no grid-wide barrier between them, and the kick's reads
    of u and f come from the thread's own registers and cache instead of device memory."""
    i = cuda.grid(1)
    if i < displacement.shape[1]:
        FORCE_PASS(i, displacement, no_fail, bonds, stencil, material,  # noqa: F821
                   stencil_table, force)
        kick_kick_drift_to(i, dt, density, constrained, displacement, velocity, force, body_force,
                           next_displacement)


#: Threads whose history terms forces_kick_energy_kernel sums into one column of its partial sums:
#: a warp.
WARP = 32


def warp_sum_shuffle(value):
    """The sum of ``value`` over the 32 lanes of a warp, in lane 0 (the other lanes hold partial
    sums): the tree of reduce_rows_kernel (strides 16, 8, 4, 2, 1: the same additions in the same
    order) through register shuffles, without shared memory or barriers. Every lane calls it."""
    value += cuda.shfl_down_sync(0xFFFFFFFF, value, 16)
    value += cuda.shfl_down_sync(0xFFFFFFFF, value, 8)
    value += cuda.shfl_down_sync(0xFFFFFFFF, value, 4)
    value += cuda.shfl_down_sync(0xFFFFFFFF, value, 2)
    value += cuda.shfl_down_sync(0xFFFFFFFF, value, 1)
    return value


def warp_sum_shared(value):
    """``warp_sum_shuffle`` for the simulator, which has no shuffles (its blocks are one warp:
    THREADS_PER_BLOCK is 32 there): the 32 values through shared memory, then lane 0 adds them in
    the shuffles' tree (strides 16, 8, 4, 2, 1: lane l takes lane l + stride), the same additions
    in the same order. Two barriers instead of one a level: the simulator's barriers cost more
    than the sums. Lane 0 returns the sum (the other lanes 0.0)."""
    cache = cuda.shared.array(WARP, dtype=np.float64)
    t = cuda.threadIdx.x
    cache[t] = value
    cuda.syncthreads()
    total = 0.0
    if t == 0:
        values = cuda.local.array(WARP, dtype=np.float64)
        for lane in range(WARP):
            values[lane] = cache[lane]
        stride = WARP // 2
        while stride > 0:
            for lane in range(stride):
                values[lane] += values[lane + stride]
            stride //= 2
        total = values[0]
    cuda.syncthreads()   # before the next call overwrites the cache
    return total


def forces_kick_energy_kernel(displacement, no_fail, bonds, stencil, material, stencil_table, force,
                              dt, density, constrained, velocity, body_force, volume, load_forces,
                              partial, drift, next_displacement):
    """The step of a history row: the material's force pass with RECORD_ENERGY (which returns
    its bond sums), the kick, then each particle's history terms
    (kernels.pmb.energy_term, from RECORDED_ENERGY: bound at the build) summed over each warp
    (WARP_SUM) into partial[k, warp]: the force pass, the kick and the energy sums in one pass over
    the particles instead of three (io/history.py; the same bits of the state as the force and kick
    kernels). The constraints' AFTER_KICK comes after it; the terms read only free components'
    velocities, which it does not touch. With ``drift`` the next step's kick and drift follow, the
    new displacement into ``next_displacement`` (as forces_kick_kernel): a row inside a chunk of
    steps. Every thread of the grid takes part in the warp sums (those past the particles with
    zeros)."""
    i = cuda.grid(1)
    inside = i < displacement.shape[1]
    strain = critical = intact = REAL(0.0)  # noqa: F821
    if inside:
        sums = FORCE_PASS(i, displacement, no_fail, bonds, stencil, material,  # noqa: F821
                          stencil_table, force)
        kick(i, dt, density, constrained, velocity, force, body_force)
        strain, critical, intact = RECORDED_ENERGY(sums, material)  # noqa: F821
    lane = i % WARP
    column = i // WARP
    # energy_term with each fixed k a constant (its branches fold), then the load groups'
    for k in range(4):
        total = WARP_SUM(energy_term(k, i, strain, critical, intact, displacement,  # noqa: F821
                                     velocity, volume, density, constrained,
                                     load_forces) if inside else 0.0)
        if lane == 0:
            partial[k, column] = total
    for k in range(4, partial.shape[0]):
        total = WARP_SUM(energy_term(k, i, strain, critical, intact, displacement,  # noqa: F821
                                     velocity, volume, density, constrained,
                                     load_forces) if inside else 0.0)
        if lane == 0:
            partial[k, column] = total
    if inside and drift:   # after the terms, which read the velocity between the two kicks
        kick_drift_to(i, dt, density, constrained, displacement, velocity, force, body_force,
                      next_displacement)


def general_pass(i, displacement, no_fail, bonds, stencil, material, stencil_table, force):
    """A force pass's body (BODY, bound at the build) with the force kernels' arguments (the
    stencil table is the unrolled loop's); what the body returns (PMB's history sums)."""
    return BODY(i, displacement, no_fail, bonds, stencil, material, force)  # noqa: F821


def unrolled_pass(i, displacement, no_fail, bonds, stencil, material, stencil_table, force):
    """A force pass (BODY) with the stencil particles' loop unrolled (STENCIL_PASS:
    kernels/unrolled.py), which reads the stencil's numbers from ``stencil_table``: the same
    arguments and the same results (returned: PMB's history sums)."""
    if bonds.row[i] < 0:
        # Bound when the kernel is built (_force_kernels): the loop for the stencil's shape, and
        # the table to read (the argument, or the model's own as compile-time constants).
        return STENCIL_PASS(i, displacement, no_fail, bonds.intact, material,  # noqa: F821
                            stencil_numbers(stencil_table), force)  # noqa: F821
    return BODY(i, displacement, no_fail, bonds, stencil, material, force)  # noqa: F821


def damage_kernel(volume, horizon, spacing, bonds, stencil, initial_bond_volume, damage):
    i = cuda.grid(1)
    if i < damage.shape[0]:
        particle_damage(i, volume, horizon, spacing, bonds, stencil, initial_bond_volume, damage)


def energy_kernel(displacement, velocity, volume, density, constrained, bonds, stencil, material,
                  load_forces, energy_density, sums):
    """The material's energy pass (materials/: ENERGY_PASS, bound at the build)."""
    i = cuda.grid(1)
    if i < displacement.shape[1]:
        ENERGY_PASS(i, displacement, velocity, volume, density, constrained, bonds,  # noqa: F821
                    stencil, material, load_forces, energy_density, sums)


def entries_kernel(particle, component, row, column, rate, volume, density, force, displacement,
                   velocity, work, terms):
    m = cuda.grid(1)
    if m < particle.shape[0]:
        entry_terms(m, particle, component, row, column, rate, volume, density, force,
                    displacement, velocity, work, terms)


def kick_drift_kernel(dt, density, constrained, displacement, velocity, force, body_force):
    i = cuda.grid(1)
    if i < displacement.shape[1]:
        kick_drift(i, dt, density, constrained, displacement, velocity, force, body_force)


def unphysical_kernel(speed_limit, displacement, velocity, first):
    i = cuda.grid(1)
    if i < displacement.shape[1] and unphysical(i, speed_limit, displacement, velocity):
        cuda.atomic.min(first, 0, i)   # the smallest index, whatever the order: deterministic


def kick_kick_drift_kernel(dt, density, constrained, displacement, velocity, force, body_force):
    i = cuda.grid(1)
    if i < displacement.shape[1]:
        kick_kick_drift(i, dt, density, constrained, displacement, velocity, force, body_force)


def kick_kernel(dt, density, constrained, velocity, force, body_force):
    i = cuda.grid(1)
    if i < velocity.shape[1]:
        kick(i, dt, density, constrained, velocity, force, body_force)


def constrain_kernel(time, dt, phase, particle, component, kind, value, ramp_time, displacement,
                     velocity, volume, force, work):
    m = cuda.grid(1)
    if m < particle.shape[0]:
        constrain(m, time, dt, phase, particle, component, kind, value, ramp_time, displacement,
                  velocity, volume, force, work)


def body_force_kernel(time, load_ramps, load_forces, body_force):
    i = cuda.grid(1)
    if i < body_force.shape[1]:
        external_force(i, time, load_ramps, load_forces, body_force)


def residual_kernel(load_factor, dt, constrained, volume, force, body_force, fictitious_density,
                    velocity, displacement, old_residual, residual, sums):
    i = cuda.grid(1)
    if i < displacement.shape[1]:
        relaxation_residual(i, load_factor, dt, constrained, volume, force, body_force,
                            fictitious_density, velocity, displacement, old_residual, residual, sums)


def relaxation_update_kernel(first, damping, dt, constrained, fictitious_density, residual, velocity,
                             displacement, old_residual):
    i = cuda.grid(1)
    if i < displacement.shape[1]:
        relaxation_update(i, first, damping, dt, constrained, fictitious_density, residual, velocity,
                          displacement, old_residual)


def zero_kernel(values):
    i = cuda.grid(1)
    if i < values.shape[1]:
        for d in range(values.shape[0]):
            values[d, i] = 0.0


#: Rows a block of reduce_rows_kernel sums together: one on the GPU (a block per row and piece);
#: eight in the simulator, whose barriers (Python threads polling each other) cost more than the
#: sums, so that a level takes an eighth of the barriers.
REDUCE_ROWS_PER_BLOCK = 8 if _SIMULATOR else 1


def reduce_rows_kernel(values, partial):
    """partial[r, b] = sum of values[r, b*T:(b+1)*T] by a fixed shared-memory tree: the same
    additions in the same order on every run (T = REDUCE_THREADS). Block (b, y) sums the b-th
    piece of R rows from y R on (R = REDUCE_ROWS_PER_BLOCK), then of the next R rows a grid height
    further: on the GPU a grid of (pieces, rows) blocks (``reduce_grid``), so that the rows of a
    narrow level (a few pieces) are summed side by side rather than one after another in a few
    blocks. Each row's tree is the same whatever R and the grid: the same bits."""
    cache = cuda.shared.array((REDUCE_ROWS_PER_BLOCK, REDUCE_THREADS), dtype=np.float64)
    t = cuda.threadIdx.x
    b = cuda.blockIdx.x
    i = b * REDUCE_THREADS + t
    rows = values.shape[0]
    first = cuda.blockIdx.y * REDUCE_ROWS_PER_BLOCK
    while first < rows:
        for k in range(REDUCE_ROWS_PER_BLOCK):
            r = first + k
            cache[k, t] = values[r, i] if r < rows and i < values.shape[1] else 0.0
        cuda.syncthreads()
        stride = REDUCE_THREADS // 2
        while stride > 0:
            if t < stride:
                for k in range(REDUCE_ROWS_PER_BLOCK):
                    cache[k, t] += cache[k, t + stride]
            cuda.syncthreads()
            stride //= 2
        if t == 0:
            for k in range(REDUCE_ROWS_PER_BLOCK):
                if first + k < rows:
                    partial[first + k, b] = cache[k, 0]
        cuda.syncthreads()
        first += cuda.gridDim.y * REDUCE_ROWS_PER_BLOCK


def reduce_grid(pieces: int, rows: int) -> tuple[int, int]:
    """reduce_rows_kernel's grid for ``rows`` rows of ``pieces`` blocks each."""
    return pieces, (rows + REDUCE_ROWS_PER_BLOCK - 1) // REDUCE_ROWS_PER_BLOCK


# Shared device functions, callees before callers. The CPU compiles them through numba's overload
# machinery (register_jitable, inlined); numba-cuda cannot inline those overloads (its IR differs from
# numba's), so here each is compiled as a CUDA device function from the same Python code, with its
# global names pointing at the device versions of the functions it calls.
_KERNELS = (damage_kernel, energy_kernel, entries_kernel, kick_drift_kernel, kick_kernel,
            kick_kick_drift_kernel, unphysical_kernel, constrain_kernel, body_force_kernel,
            residual_kernel, relaxation_update_kernel, zero_kernel, reduce_rows_kernel)


def population_count(word):
    """kernels.pmb.population_count on the GPU: one POPC instruction."""
    return cuda.popc(word)


def reciprocal_sqrt(x):
    """physics.pmb.reciprocal_sqrt on the GPU: libdevice's rsqrt (at most 1 ulp off)."""
    return libdevice.rsqrt(x)


def reciprocal_sqrt_float32(x):
    """physics.pmb.reciprocal_sqrt of a float32 build: libdevice's rsqrtf (rsqrt is the double
    one, and would type the bond force's factor as float64 even where the stretch form is used)."""
    return libdevice.rsqrtf(x)


def square_root_float32(x):
    """physics.pmb.square_root of a float32 build: x / sqrt(x) from the hardware's reciprocal
    square root estimate (rsqrt.approx, at most 2 ulp), one instruction instead of sqrt.rn's
    sequence and slow path. sqrt(0) gives 0 * inf = NaN: a bond of zero deformed length, which
    the instability check reports (the float64 reciprocal form gives -inf there)."""
    return x * libdevice.rsqrtf(x)


def reciprocal_float32(x):
    """physics.pmb.reciprocal of a float32 build: the approximate division (div.approx.f32, at
    most 2 ulp) instead of rcp.rn's sequence and slow path."""
    return libdevice.fast_fdividef(np.float32(1.0), x)


#: Whether float32 builds take the hardware's approximate square root and reciprocal (above) in the
#: bond force; False keeps the correctly rounded ones (benchmarks/gpu_precision.py compares them).
FAST_FLOAT32_MATH = True


@functools.cache
def _approximate_reciprocal():
    """A device function for the hardware's float64 reciprocal estimate (PTX rcp.approx.ftz.f64,
    through its NVVM intrinsic; numba-cuda's public ``intrinsic`` and llvmlite only)."""
    from llvmlite import ir
    from numba import types
    from numba.cuda.extending import intrinsic

    @intrinsic
    def approximate_reciprocal(typingctx, x):
        if x != types.float64:
            return None

        def codegen(context, builder, signature, args):
            name = "llvm.nvvm.rcp.approx.ftz.d"
            function = builder.module.globals.get(name) or ir.Function(
                builder.module, ir.FunctionType(ir.DoubleType(), [ir.DoubleType()]), name)
            return builder.call(function, args)
        return types.float64(types.float64), codegen
    return approximate_reciprocal


def reciprocal_float64(x):
    """physics.pmb.reciprocal of a float64 build: the hardware's estimate (about 20 bits) and two
    Newton steps r += r (1 - x r) with fused multiply-adds (each doubles the bits: within an ulp of
    the correctly rounded 1 / x), instead of rcp.rn.f64's sequence and its special-case path. x is
    a deformed length plus a reference length here: positive, normal, never huge."""
    r = APPROXIMATE_RECIPROCAL(x)  # noqa: F821 - bound at the build (_device_functions)
    r = cuda.fma(r, cuda.fma(-x, r, 1.0), r)
    return cuda.fma(r, cuda.fma(-x, r, 1.0), r)


#: Whether float64 builds take ``reciprocal_float64`` (the LPS's extension, the stretch form) instead
#: of the correctly rounded division (benchmarks/gpu_lps_variants.py compares them).
FAST_FLOAT64_RECIPROCAL = True


_COMPILED: dict = {}


#: Options of the force kernel's compilation. A cap of 64 registers keeps half the warps resident.
#: With the stencil kernel on an H200: 3D 1M 1.079 ms with the cap against 1.269 without it (72
#: registers) and 1.287 at 56; 2D 4M 0.718 against 0.709 ms uncapped (61 registers), 56 slower
#: (benchmarks/gpu_variants.py --registers, docs/performance.md).
FORCE_KERNEL_OPTIONS: dict = {"max_registers": 64}
#: The unrolled loop's kernels need no cap: 2D 4M step 0.321 ms uncapped, 0.343 ms at 64.
UNROLLED_KERNEL_OPTIONS: dict = {}
#: The history row's unrolled kernel (forces_kick_energy_kernel) at 64 registers, where it keeps
#: the plain kernel's 32 resident warps (uncapped it takes 70 for the 2D stencil, and 24).
ENERGY_KERNEL_OPTIONS: dict = {"max_registers": 64}


def _device_functions(dimension: int, reciprocal_form: bool, dtype: np.dtype,
                      record_energy: bool = False) -> dict:
    """name -> device function of the shared bodies (kernels.pmb.BODIES) for one dimension,
    bond-force evaluation and precision (they see SPECIALIZED_DIMENSION, SPECIALIZED_FORM and REAL
    as compile-time constants: the 3D force loop with both evaluations compiled in took 8.14 ms at
    8M particles, with one 6.53; REAL makes a float32 build compute in float32)."""
    dtype = np.dtype(dtype)
    key = ("device", dimension, reciprocal_form, dtype.str, FAST_FLOAT32_MATH,
           FAST_FLOAT64_RECIPROCAL, record_energy)
    if key not in _COMPILED:
        constants = {"SPECIALIZED_DIMENSION": dimension, "SPECIALIZED_FORM": 1 if reciprocal_form else 2,
                     "RECORD_ENERGY": record_energy,
                     "SELECT_FACTOR": True, "REAL": dtype.type}
        # the GPU's own versions of a few bodies (the simulator has no libdevice)
        replace = {} if _SIMULATOR else {kernels.population_count: population_count}
        if not _SIMULATOR and dtype == np.float32:
            replace[physics.reciprocal_sqrt] = reciprocal_sqrt_float32
            if FAST_FLOAT32_MATH:
                replace.update({physics.square_root: square_root_float32,
                                physics.reciprocal: reciprocal_float32})
        elif not _SIMULATOR:
            replace[physics.reciprocal_sqrt] = reciprocal_sqrt
            if FAST_FLOAT64_RECIPROCAL:
                replace[physics.reciprocal] = retarget(
                    reciprocal_float64, {"APPROXIMATE_RECIPROCAL": _approximate_reciprocal()})
        _COMPILED[key] = specialize(kernels.BODIES + lps_kernels.BODIES, constants,
                                    cuda.jit(device=True), replace)
    return _COMPILED[key]


def _force_options(unrolled: bool = False, record_energy: bool = False) -> dict:
    if _SIMULATOR:
        return {}   # the simulator takes none
    if unrolled:
        return ENERGY_KERNEL_OPTIONS if record_energy else UNROLLED_KERNEL_OPTIONS
    return FORCE_KERNEL_OPTIONS


def compiled(dimension: int, reciprocal_form: bool, dtype: np.dtype, material: str,
             record_energy: bool = False) -> dict:
    """name -> CUDA kernel for one dimension, bond-force evaluation (kernels.pmb.bond_force),
    precision and material (its energy pass), built on first use (compilation itself happens at
    the first launch). The force kernels are _force_kernels'."""
    # REDUCE_THREADS sizes the reduction kernels' shared arrays when they are built
    key = (dimension, reciprocal_form, np.dtype(dtype).str, FAST_FLOAT32_MATH,
           FAST_FLOAT64_RECIPROCAL, record_energy,
           tuple(sorted(FORCE_KERNEL_OPTIONS.items())), REDUCE_THREADS, material)
    if key not in _COMPILED:
        table = dict(_device_functions(dimension, reciprocal_form, dtype, record_energy))
        table["ENERGY_PASS"] = table[materials.module(material).ENERGY_PASS]
        _COMPILED[key] = {kernel.__name__: kernel_cache.attach(cuda.jit(retarget(kernel, table)), key)
                          for kernel in _KERNELS}
    return _COMPILED[key]


#: The most stencil slots whose loop is unrolled (kernels/unrolled.py); a larger stencil keeps the
#: general loop. On an H200 the unrolled loop takes the 2D force kernel (28 slots) from 0.742 to
#: 0.451 ms at 4M particles, but the 3D one (122 slots) from 7.68 to 8.14 ms at 8M, after 28 s
#: of compilation (benchmarks/gpu_unrolled.py, docs/performance.md).
UNROLL_MAX_SLOTS = 64


#: The most bytes of kernel parameters the stencil table may take (kernels/unrolled.py): the
#: parameter space is 4 KiB, and the force kernels' arrays take about 1.2 KiB of it.
UNROLL_MAX_TABLE_BYTES = 2560


def unrolls(model) -> bool:
    """Whether the model's stencil fits the unrolled loop: at most UNROLL_MAX_SLOTS slots, and its
    table within the kernel parameters (2D stencils up to horizon factors of about 4.5)."""
    size = model.stencil.size
    return size <= UNROLL_MAX_SLOTS and unrolled.table_bytes(
        size, model.dimension, uses_reciprocal_form(model), model.dtype.itemsize,
        model.material.model) <= UNROLL_MAX_TABLE_BYTES


def argument_table(table):
    """The unrolled loop reads the kernel's stencil-table argument (a shared build)."""
    return table


def stencil_table_of(model, rows, reciprocal_form: bool, energy: bool = False) -> tuple:
    """The model's stencil table as the GPU's unrolled loop reads it (kernels/unrolled.py;
    ``energy``: the history row's kernel's)."""
    return unrolled.stencil_table(model.stencil, slot_tables(model, rows), reciprocal_form,
                                  unsigned=not _SIMULATOR, material=model.material.model,
                                  energy=energy)


def unrolls_energy(model) -> bool:
    """Whether the history row's kernel (whose table has |xi| too) fits the unrolled loop as well;
    else it takes the general loop, and only it."""
    return unrolled.table_bytes(model.stencil.size, model.dimension, uses_reciprocal_form(model),
                                model.dtype.itemsize, model.material.model,
                                energy=True) <= UNROLL_MAX_TABLE_BYTES


def _force_kernels(model, rows, reciprocal_form: bool, unroll: bool, constants: bool = False,
                   record_energy: bool = False) -> dict:
    """The model's force kernels: ``passes``, one forces_kernel per pass of its material
    (materials/: FORCE_PASSES), launched in order, and ``forces_kick_kernel``, the last pass fused
    with the kick. With ``unroll`` (kernels/unrolled.py writes out the material's passes) each
    pass's stencil particles take the unrolled loop. The unrolled loop comes in two builds
    (kernels/unrolled.py): *shared* (``constants`` False), reading the stencil's numbers and the
    lattice's row lengths from a kernel argument, so that its kernels depend on the stencil's shape
    (the horizon factor), the precision and the form only and every such model shares them (a sweep
    over the material, the spacing, the loads or the body's size compiles them once); and
    *specialized*, with the model's numbers as compile-time constants, which the compiler folds
    into the instructions: faster, compiled for each model (docs/performance.md).
    ``record_energy``: the kernels whose force pass also returns a history row's bond sums
    (kernels.pmb.RECORD_ENERGY), launched on the steps that end with a history row."""
    dimension = model.dimension
    material = model.material.model
    key = ("forces", material, dimension, model.dtype.str, reciprocal_form, FAST_FLOAT32_MATH,
           FAST_FLOAT64_RECIPROCAL,
           record_energy)
    if unroll:
        vectors = model.stencil.vectors   # the stencil's shape: set by the horizon factor alone
        key += ("unrolled", vectors.tobytes(), tuple(sorted(_force_options(True, record_energy)
                                                            .items())))
        numbers = argument_table
        if constants:
            model_table = stencil_table_of(model, rows, reciprocal_form, record_energy)
            key += ("constants", repr(model_table))

            def numbers(table):   # the model's table, bound as a constant: the argument is unused
                return MODEL_TABLE  # noqa: F821

            numbers = retarget(numbers, {"MODEL_TABLE": model_table})
    else:
        key += (tuple(sorted(FORCE_KERNEL_OPTIONS.items())),)
    if key not in _COMPILED:
        table = _device_functions(dimension, reciprocal_form, model.dtype, record_energy)
        bodies = []
        for name in materials.module(material).FORCE_PASSES:
            if unroll:
                loop = unrolled.stencil_pass(
                    name, vectors, reciprocal_form, table,
                    unrolled.same_index if _SIMULATOR else numba.uint64, model.dtype.type,
                    record_energy)
                body = cuda.jit(device=True)(retarget(unrolled_pass, {
                    "STENCIL_PASS": cuda.jit(device=True)(loop), "BODY": table[name],
                    "stencil_numbers": cuda.jit(device=True)(numbers)}))
            else:
                body = cuda.jit(device=True)(retarget(general_pass, {"BODY": table[name]}))
            bodies.append((name, body))

        def build(kernel, name, body, **names):
            return kernel_cache.attach(
                cuda.jit(**_force_options(unroll, record_energy))(
                    retarget(kernel, dict(table, FORCE_PASS=body, **names))),
                (*key, kernel.__name__, name))

        if record_energy:   # the last pass, fused with the kick and the history terms' block sums
            recorded = materials.module(material).RECORDED_ENERGY
            warp_sum = cuda.jit(device=True)(warp_sum_shared if _SIMULATOR else warp_sum_shuffle)
            _COMPILED[key] = {"forces_kick_energy_kernel": build(
                forces_kick_energy_kernel, *bodies[-1], RECORDED_ENERGY=table[recorded],
                WARP_SUM=warp_sum)}
        else:
            _COMPILED[key] = {
                "passes": tuple(build(forces_kernel, name, body) for name, body in bodies),
                "forces_kick_kernel": build(forces_kick_kernel, *bodies[-1])}
    return _COMPILED[key]


#: The stencil-table argument of the kernels that do not read it (the general and the specialized).
_NO_TABLE = (np.int64(0),)
#: A run of at least this many particle-steps takes the specialized build of the unrolled loop: its
#: compilation (about 5 s, once per model and then from the kernel cache) then costs less than the
#: shared build's slower steps would (measured on the H200: docs/performance.md).
SPECIALIZE_PARTICLE_STEPS = 3e11


def _order_event():
    """An event that only orders work (no timing: cheaper to record and wait for)."""
    return cuda.event() if _SIMULATOR else cuda.event(timing=False)


class PreparedLaunch:
    """One kernel, one launch configuration and one argument list, converted for the driver once.

    numba-cuda types and converts every argument on every launch, about 12 us per array: 0.2 ms for
    the force kernel's arguments, which is longer than the kernel itself at 1M particles (0.18 ms on
    an H200). The step loop launches the same kernels on the same arrays thousands of times, so
    the conversion is done here once, and a launch is one call of cuda.core's ``launch``. Scalars
    that change (time, dt) are set with ``set`` before a launch.

    This uses numba-cuda internals (numba_internals.prepared_launch: the compiled kernel's argument
    conversion, its cufunc, cuda.core's ``launch`` as numba-cuda 0.30 calls it), found at
    construction. Where they are missing or untested (another numba-cuda, the simulator), ``fast``
    is False and the launch goes through the dispatcher as usual, with the same arguments and
    results.
    """

    def __init__(self, dispatcher, griddim: int | tuple[int, int], blockdim: int, args: tuple,
                 stream=0):
        # Configured at each ordinary launch: the simulator's ``kernel[grid, block]`` configures
        # and returns the kernel itself, so a configuration kept here would be overwritten by the
        # next PreparedLaunch of the same kernel (the reduction levels launch one kernel twice).
        self._dispatcher = dispatcher
        self._config = (griddim, blockdim, stream)
        self._args = list(args)
        self._scalars: dict[int, object] = {}   # argument position -> its ctypes value
        self._launch = None
        if not _SIMULATOR:
            try:
                self._launch = self._prepare(dispatcher, griddim, blockdim, stream)
            except Exception:   # noqa: BLE001 - any change of the internals: the ordinary launch
                self._launch = None
                self._scalars = {}

    def _prepare(self, dispatcher, griddim, blockdim, stream):
        if not numba_internals.supported():
            return None
        prepared = numba_internals.prepared_launch(dispatcher, griddim, blockdim, self._args,
                                                   stream)
        if prepared is None:
            return None
        launch, self._scalars = prepared
        return launch

    @property
    def fast(self) -> bool:
        """True when launches skip numba-cuda's per-launch argument conversion."""
        return self._launch is not None

    def set(self, position: int, value) -> None:
        """Change scalar argument ``position`` for the following launches."""
        self._args[position] = value
        if self._launch is not None:
            self._scalars[position].value = value

    def __call__(self) -> None:
        if self._launch is not None:
            try:
                self._launch()
                return
            except TypeError:   # the internals' calling convention changed: launch as usual
                self._launch = None
                self._scalars = {}
        self._dispatcher[self._config](*self._args)


class LaunchSequence:
    """Prepared launches run one after the other as one pass (the LPS's dilatation, then its
    force); ``set`` addresses the last (the force-and-kick kernel's dt)."""

    def __init__(self, *launches: PreparedLaunch):
        self.launches = launches

    def set(self, position: int, value) -> None:
        self.launches[-1].set(position, value)

    def __call__(self) -> None:
        for launch in self.launches:
            launch()


def _blocks(n: int, threads: int | None = None) -> int:
    threads = threads or THREADS_PER_BLOCK
    return max(1, (n + threads - 1) // threads)


@njit(parallel=True, cache=True)
def _pad_rows(offsets, values, padded):
    n = offsets.shape[0] - 1
    for i in prange(n):
        for k in range(offsets[i], offsets[i + 1]):
            padded[(k - offsets[i]) * n + i] = values[k]


def padded_bond_layout(offsets: np.ndarray, values: np.ndarray, fill=0):
    """CSR rows -> bond-major padded columns: returns (first (N,), count (N,), stride N, padded
    (max_bonds * N,)) with bond n of particle i at n * N + i. Empty slots hold ``fill``."""
    n = offsets.shape[0] - 1
    counts = np.diff(offsets)
    width = int(counts.max()) if n else 0
    padded = np.full(width * n, fill, dtype=values.dtype)
    _pad_rows(offsets, values, padded)
    return np.arange(n, dtype=np.int32), counts.astype(np.int32), n, padded


# The operations of the step driver (solvers/steps.py) on the GPU: each a prepared launch of the
# backend ``b``. The kicks' dt is set on the launches before a chunk of steps (CudaBackend.advance).
def _kick_drift(step, b):
    b.kick_drift_launch()


def _constrain(time, dt, phase, b):
    b.apply_constraints(time, dt, phase)


def _body_force(time, b):
    b.set_body_force(time)


def _forces_kick(energy, step, b):
    if energy and b.forces_kick_energy_launch is not None:
        b._wait_for_sample()
        b.forces_kick_energy_launch()   # a history row follows: its sums in the same kernel
    else:
        b.forces_launch()
        b.kick_launch()


def _forces_kick_row_drift(step, b):
    b._wait_for_sample()
    b.forces_kick_energy_drift_launch()   # the next displacement into the other array


def _row(n, time, b):
    # the row's sums are in the partial sums; the entries read this step's displacement, so the
    # next one (written by the kernel above) becomes current only after the row is queued
    b._energy_fresh = True
    b._record_row(n, time)
    b._energy_fresh = False
    b._use(1 - b._parity)


def _forces_kick_drift(step, b):
    if b.fuse_kick:
        b.forces_kick_launch()   # writes the next displacement into the other array
        b._use(1 - b._parity)
    else:
        b.forces_launch()
        b.kick_kick_drift_launch()


def _held_forces(b):
    b.held_forces_launch()


def _residual(load_factor, dt, b):
    a = b.arrays
    b.k.residual_kernel[b._blocks, THREADS_PER_BLOCK](
        load_factor, dt, a.constrained, a.volume, a.force, a.body_force, a.fictitious_density,
        a.velocity, a.displacement, a.old_residual, a.residual, a.sums)
    return b._reduced_sums()


def _relaxation_update(first, damping, dt, b):
    a = b.arrays
    b.k.relaxation_update_kernel[b._blocks, THREADS_PER_BLOCK](
        first, damping, dt, a.constrained, a.fictitious_density, a.residual, a.velocity,
        a.displacement, a.old_residual)


_OPERATIONS = {"kick_drift": _kick_drift, "constrain": _constrain, "body_force": _body_force,
               "forces_kick": _forces_kick, "forces_kick_drift": _forces_kick_drift,
               "forces_kick_row_drift": _forces_kick_row_drift, "row": _row,
               "held_forces": _held_forces, "residual": _residual,
               "relaxation_update": _relaxation_update}


class CudaBackend(Backend):
    """Arrays live in GPU memory; every operation is a kernel launch. The explicit step loop has no
    host round trip; the relaxation reads four reduced numbers per iteration."""

    name = "cuda"
    layout = "cuda"
    #: Whether the stencil particles' force loop is unrolled for the model (kernels/unrolled.py);
    #: False keeps the general loop (the same results; tests and benchmarks compare the two).
    unroll_stencil = True
    #: Whether a step's force and kick passes run as one kernel (forces_kick_kernel); False launches
    #: them one after the other (the same results).
    fuse_kick = True

    #: None: specialize the unrolled loop when the run is long enough (SPECIALIZE_PARTICLE_STEPS);
    #: True or False force one build (tests and benchmarks compare them).
    specialize_stencil: bool | None = None

    def __init__(self, model, steps: int | None = None):
        """``steps``: how many steps the run will take, if known (it picks the unrolled loop's
        build: _force_kernels)."""
        bonds = model.explicit_bonds(self.use_stencil)
        rows = bonds[0]
        self.check_memory(model, rows)
        super().__init__(model, bonds)
        del bonds
        n = model.particle_count
        # whether _row_partial holds the current state's energy sums (the last step's kernel's)
        self._energy_fresh = False
        #: The history samples' side stream (history_sample), created at the first sample, and
        #: whether it overlaps the default stream's kernels (False: numba's ordinary stream).
        self._side = None
        self.side_stream_overlaps = False
        #: The last sample's event, until the default stream waits for it (_wait_for_sample).
        self._sample_done = None
        self.k = SimpleNamespace(**compiled(model.dimension, self.reciprocal_form, model.dtype,
                                            model.material.model))
        self._blocks = _blocks(n)
        self._constraint_blocks = _blocks(max(1, model.constraint_particle.shape[0]))
        self._partial = cuda.device_array((4, _blocks(n, REDUCE_THREADS)), dtype=np.float64)
        self._reductions: dict[str, list] = {}   # _reduced's partial-sum arrays, by table
        self._held_launches: dict[int, PreparedLaunch] = {}   # relax's force launch, by parity
        self._history_launches: dict = {}
        self._first_unphysical = cuda.device_array(1, dtype=np.int64)   # one number per check
        # The step driver (solvers/steps.py) run as Python over this backend's launches, with the
        # relaxation's scalars in the run's type (kernels.pmb.REAL).
        operations = dict(_OPERATIONS, REAL=self.real)
        self._verlet_steps = retarget(step_driver.verlet_steps, operations)
        self._relaxation_iterations = retarget(step_driver.relaxation_iterations, operations)
        self.unrolled = (self.unroll_stencil and rows.stencil_particles > 0 and unrolls(model)
                         and self.material_module.UNROLLED_FORCE)
        #: Whether the unrolled loop is specialized for the model (its numbers compiled in) rather
        #: than shared by every model of its stencil shape (SPECIALIZE_PARTICLE_STEPS).
        self.specialized = self.unrolled and (
            self.specialize_stencil if self.specialize_stencil is not None
            else steps is not None and steps * n >= SPECIALIZE_PARTICLE_STEPS)
        self._force_kernel = SimpleNamespace(**_force_kernels(model, rows, self.reciprocal_form,
                                                              self.unrolled, self.specialized))
        #: Whether the step before a history row sums the row's terms in its force pass
        #: (forces_kick_energy_kernel; the material's RECORDED_ENERGY); else the row takes the
        #: energy pass.
        self._force_records_energy = self.material_module.RECORDED_ENERGY is not None
        energy_unrolled = self.unrolled and unrolls_energy(model)
        self._energy_force_kernel = (_force_kernels(
            model, rows, self.reciprocal_form, energy_unrolled, self.specialized,
            record_energy=True)["forces_kick_energy_kernel"] if self._force_records_energy else None)
        #: forces_kick_energy_kernel's warp sums of a history row's terms (io/history.py): a
        #: few numbers per 32 particles, outside the array table like the force rows.
        self._row_partial = cuda.device_array(
            (4 + len(model.load_groups), self._blocks * THREADS_PER_BLOCK // WARP),
            dtype=np.float64)
        self._stencil_table = self._energy_stencil_table = _NO_TABLE
        if self.unrolled and not self.specialized:
            self._stencil_table = stencil_table_of(model, rows, self.reciprocal_form)
            if energy_unrolled and self._force_records_energy:
                self._energy_stencil_table = stencil_table_of(model, rows, self.reciprocal_form,
                                                              energy=True)
        # Two displacement arrays: the fused force-and-kick kernel reads the current one and writes
        # the next step's into the other; then they swap (_use).
        a = self.arrays
        self._displacements = (a.displacement, cuda.device_array_like(a.displacement))
        # The step loop's launches, arguments converted once (PreparedLaunch), one set per current
        # displacement array; time and dt are set per launch.
        #: Position of dt in forces_kick_kernel's arguments: right after the force loop's.
        self._forces_kick_dt = len(self._force_args())
        self._launches = tuple(self._prepare_launches(parity) for parity in (0, 1))
        # dt of the kicks in the run's type (a float32 build computes in float32: kernels.pmb.REAL)
        self.kick_launch = PreparedLaunch(self.k.kick_kernel, self._blocks, THREADS_PER_BLOCK,
                                          (self.real(0.0), self.density, a.constrained, a.velocity,
                                           a.force, a.body_force))
        self.body_force_launch = PreparedLaunch(self.k.body_force_kernel, self._blocks,
                                                THREADS_PER_BLOCK,
                                                (0.0, a.load_ramps, a.load_forces, a.body_force))
        self._use(0)

    def _force_args(self) -> tuple:
        """The force kernels' arguments: the CPU loops', with the stencil table before the force."""
        *args, force = super()._force_args()
        return (*args, self._stencil_table, force)

    def _pass_launches(self, kernels, args: tuple, last=None, last_args: tuple = ()):
        """The material's force passes as one launch (a LaunchSequence where there are several):
        each pass kernel of ``kernels`` with ``args``, the last replaced by ``last`` with
        ``last_args`` when given (the force-and-kick kernel)."""
        launches = [PreparedLaunch(kernel, self._blocks, THREADS_PER_BLOCK, args)
                    for kernel in kernels[:-1]]
        launches.append(PreparedLaunch(kernels[-1], self._blocks, THREADS_PER_BLOCK, args)
                        if last is None else
                        PreparedLaunch(last, self._blocks, THREADS_PER_BLOCK, last_args))
        return launches[0] if len(launches) == 1 else LaunchSequence(*launches)

    def _prepare_launches(self, parity: int) -> SimpleNamespace:
        a = self.arrays
        current, following = self._displacements[parity], self._displacements[1 - parity]
        a.displacement = current   # what _force_args and _constraint_args take
        blocks = self._blocks
        state = (self.density, a.constrained, current, a.velocity, a.force, a.body_force)
        force_args = self._force_args()
        kick_args = (self.real(0.0), self.density, a.constrained, a.velocity, a.body_force,
                     following)
        passes = self._force_kernel.passes
        forces = self._pass_launches(passes, force_args)
        # the step before a history row: the force pass, the kick and the row's sums in one
        # kernel, or (a material without RECORDED_ENERGY) forces and kick, the energy pass later
        forces_kick_energy = forces_kick_energy_drift = None
        if self._energy_force_kernel is not None:
            row_args = (*force_args[:-2], self._energy_stencil_table, a.force,
                        self.real(0.0), self.density,
                        a.constrained, a.velocity, a.body_force, a.volume, a.load_forces,
                        self._row_partial)
            forces_kick_energy = self._pass_launches(
                passes, force_args, self._energy_force_kernel, (*row_args, False, current))
            forces_kick_energy_drift = self._pass_launches(
                passes, force_args, self._energy_force_kernel, (*row_args, True, following))
        forces_kick = self._pass_launches(passes, force_args, self._force_kernel.forces_kick_kernel,
                                          (*force_args, *kick_args))
        launches = SimpleNamespace(
            forces=forces, forces_kick_energy=forces_kick_energy,
            forces_kick_energy_drift=forces_kick_energy_drift, forces_kick=forces_kick,
            kick_drift=PreparedLaunch(self.k.kick_drift_kernel, blocks, THREADS_PER_BLOCK,
                                      (self.real(0.0), *state)),
            kick_kick_drift=PreparedLaunch(self.k.kick_kick_drift_kernel, blocks,
                                           THREADS_PER_BLOCK, (self.real(0.0), *state)),
            constrain=None)
        if self.model.constraint_particle.shape[0]:
            launches.constrain = PreparedLaunch(self.k.constrain_kernel, self._constraint_blocks,
                                                THREADS_PER_BLOCK, (0.0, 0.0, 0,
                                                                    *self._constraint_args()))
        return launches

    def _use(self, parity: int) -> None:
        """Make displacement array ``parity`` the current one, with its launches."""
        self._parity = parity
        launches = self._launches[parity]
        self.arrays.displacement = self._displacements[parity]
        self.forces_launch = launches.forces
        self.forces_kick_energy_launch = launches.forces_kick_energy
        self.forces_kick_energy_drift_launch = launches.forces_kick_energy_drift
        self.forces_kick_launch = launches.forces_kick
        self.kick_drift_launch = launches.kick_drift
        self.kick_kick_drift_launch = launches.kick_kick_drift
        self.constrain_launch = launches.constrain

    @classmethod
    def check_memory(cls, model, rows=None) -> None:
        """Refuse, before allocating, a case whose working arrays do not fit in free GPU memory
        (``rows``: Model.bond_rows, classified here when not given)."""
        rows = model.bond_rows(use_stencil=cls.use_stencil) if rows is None else rows
        need = model_bytes(model, str(model.dtype), "cuda", rows)
        free, total = cuda.current_context().get_memory_info()
        if need > 0.95 * free:
            raise CaseError("backend", f"the case needs about {need / 2**30:.2f} GiB of GPU memory "
                                       f"but the GPU has {free / 2**30:.2f} GiB free of "
                                       f"{total / 2**30:.2f} GiB; use a coarser spacing or a CPU backend")

    def _bond_layout(self, row_offsets, per_bond: tuple):
        """Bond-major padded columns over the explicit rows: bond n of row r at n * E + r."""
        layouts = [padded_bond_layout(row_offsets, v) for v in per_bond]
        first, count, stride, _ = layouts[0]
        return (_not_empty(first), _not_empty(count), max(stride, 1),
                tuple(_not_empty(layout[3]) for layout in layouts))

    def _upload(self, array):
        return cuda.to_device(np.ascontiguousarray(array))

    def _zeros(self, shape: tuple, dtype):
        """Zeroed on the device: no host array to fill and copy (the 2D 4M plate's state arrays
        are half a gigabyte)."""
        if _SIMULATOR or not numba_internals.supported():
            return super()._zeros(shape, dtype)
        array = cuda.device_array(shape, dtype=dtype)
        numba_internals.device_memset(array)   # all-zero bytes: +0.0
        return array

    def download(self, array) -> np.ndarray:
        return array.copy_to_host()

    #: Sets of pinned host buffers the snapshots rotate through: one is being written in the
    #: background while the next is filled (SnapshotWriter keeps one write in flight).
    SNAPSHOT_BUFFERS = 2

    def snapshot_state(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Backend.snapshot_state with the copies made into page-locked host buffers, which the
        device copies into at full PCIe speed (about three times pageable memory's), allocated at
        the first snapshot. A host that cannot lock that much memory gets ordinary copies."""
        a = self.arrays
        sources = {"displacement": a.displacement, "velocity": a.velocity, "damage": a.damage,
                   "bond_state": a.intact}
        energy = "strain_energy_density" in self.model.case.output.fields
        if energy:
            self._allocate_energy()
            sources["strain_energy_density"] = a.energy_density
        if not hasattr(self, "_snapshot_buffers"):
            try:
                self._snapshot_buffers = [{name: cuda.pinned_array(array.shape, dtype=array.dtype)
                                           for name, array in sources.items()}
                                          for _ in range(self.SNAPSHOT_BUFFERS)]
            except Exception:   # noqa: BLE001 - no page-locked memory to spare: pageable copies
                self._snapshot_buffers = []
            self._snapshot_next = 0
        if not self._snapshot_buffers:
            return super().snapshot_state()
        self.compute_damage()
        if energy:
            self.compute_energy()
        buffers = self._snapshot_buffers[self._snapshot_next]
        self._snapshot_next = (self._snapshot_next + 1) % len(self._snapshot_buffers)
        for name, array in sources.items():
            array.copy_to_host(buffers[name])
        fields = {"displacement": buffers["displacement"].T, "velocity": buffers["velocity"].T,
                  "damage": buffers["damage"]}
        if energy:
            fields["strain_energy_density"] = buffers["strain_energy_density"]
        return fields, buffers["bond_state"]

    def _assign(self, target, host) -> None:
        self._energy_fresh = False
        target.copy_to_device(host)

    # Operations -------------------------------------------------------------------------------
    def compute_forces(self) -> None:
        self._energy_fresh = False
        self.forces_launch()

    def first_unphysical_particle(self, speed_limit: float) -> int:
        n = self.model.particle_count
        first = self._first_unphysical
        first.copy_to_device(np.array([n], dtype=np.int64))
        a = self.arrays
        self.k.unphysical_kernel[self._blocks, THREADS_PER_BLOCK](self.real(speed_limit),
                                                                 a.displacement, a.velocity, first)
        bad = int(first.copy_to_host()[0])
        return -1 if bad == n else bad

    def compute_damage(self) -> None:
        self.k.damage_kernel[self._blocks, THREADS_PER_BLOCK](*self._damage_args())

    def apply_constraints(self, time: float, dt: float, phase: int) -> None:
        self._energy_fresh = False
        launch = self.constrain_launch
        if launch is not None:
            launch.set(0, time)
            launch.set(1, dt)
            launch.set(2, phase)
            launch()

    def compute_energy(self) -> None:
        self._allocate_energy()
        self._wait_for_sample()   # (it overwrites the sums a sample's reductions read)
        self._history_launch("energy", self.k.energy_kernel, self.model.particle_count,
                             self._energy_args)()

    def _reduced(self, values, name: str, stream=0):
        """Each row of a (rows, width) float64 device array summed down to a few hundred numbers a
        row: block sums of block sums on the device (launches prepared once), which the host then
        adds exactly (``_exact``): fixed trees, so the same bits on every run. On ``stream`` (the
        side stream of the history samples, or 0), each with its own partial sums."""
        key = (name, not isinstance(stream, int))
        levels = self._reductions.get(key)
        if levels is None:
            levels = []
            width = values.shape[1]
            source = values
            while width > REDUCE_THREADS:
                width = _blocks(width, REDUCE_THREADS)
                partial = cuda.device_array((values.shape[0], width), dtype=np.float64)
                levels.append((PreparedLaunch(self.k.reduce_rows_kernel,
                                              reduce_grid(width, values.shape[0]),
                                              REDUCE_THREADS, (source, partial), stream), partial))
                source = partial
            self._reductions[key] = levels
        for launch, partial in levels:
            launch()
            values = partial
        return values

    @staticmethod
    def _exact(host: np.ndarray) -> np.ndarray:
        """Each row's exact sum, correctly rounded (math.fsum): for rows of one or two numbers
        (the usual last level of ``_reduced``) that is the number itself or one IEEE addition,
        done for all rows at once (the pending rows of a run's end resolve without 25 fsum calls
        a row)."""
        if host.shape[1] == 1:   # (+ 0.0: fsum's sum of -0.0 is 0.0)
            return host[:, 0] + 0.0
        if host.shape[1] == 2:
            return (host[:, 0] + host[:, 1]) + 0.0
        return np.array([math.fsum(row) for row in host])

    def _history_launch(self, name: str, kernel, count: int, args,
                        threads: int = THREADS_PER_BLOCK) -> PreparedLaunch:
        """A history kernel's launch over ``count`` threads, ``threads`` a block, with its
        arguments (``args()``) converted once, for the current displacement array (``_use``'s
        parity)."""
        key = (name, self._parity)
        launch = self._history_launches.get(key)
        if launch is None:
            launch = PreparedLaunch(kernel, _blocks(count, threads), threads, args())
            self._history_launches[key] = launch
        return launch

    def _energy_source(self) -> tuple:
        """(device array, its reductions' name) holding the current state's energy sums: the last
        step's kernel's (forces_kick_energy), else the energy pass's, run now."""
        if self._energy_fresh:
            return self._row_partial, "row_partial"
        self.compute_energy()
        return self.arrays.history_sums, "energy"

    def _energy_sums(self):
        """The energy sums of the current state, reduced on the device (``_reduced``)."""
        return self._reduced(*self._energy_source())

    def energy_totals(self) -> np.ndarray:
        return self._exact(self._energy_sums().copy_to_host())

    def _entry_terms(self) -> None:
        a = self.arrays
        self._wait_for_sample()   # (it overwrites the terms a sample's reductions read)
        self._history_launch("entries", self.k.entries_kernel, a.entry_particle.shape[0],
                             self._entry_args)()

    def _term_sums(self):
        self._entry_terms()
        return self._reduced(self.arrays.history_terms, "terms")

    def _wait_for_sample(self) -> None:
        """The default stream waits for the last history sample's reductions and copies (on the
        side stream) before anything overwrites what they read: the row kernels' partial sums,
        the energy pass's sums, the entries' terms. Queued, not waited for by the host."""
        if self._sample_done is not None:
            self._sample_done.wait(stream=0)
            self._sample_done = None

    #: History samples in flight at most (io/history.py resolves them before more are queued).
    SAMPLE_SLOTS = 64

    def history_sample(self):
        """Backend.history_sample, queued: the sums are reduced on the device and copied into
        page-locked buffers without waiting for them. The row's own kernels (the energy pass
        where the step's kernel did not sum it, the entries, which read this step's state) go on
        the default stream; the reductions and copies, which read only the sums, on a side
        stream of high priority (numba_internals.side_stream), where they overlap the next
        steps' kernels instead of adding about 30 us of small launches to each row."""
        energy_source = self._energy_source()
        if self.entry_count:
            self._entry_terms()
        summed = _order_event()
        summed.record(stream=0)
        stream = self._side_stream()
        summed.wait(stream=stream)
        energy = self._reduced(*energy_source, stream)
        terms = (self._reduced(self.arrays.history_terms, "terms", stream) if self.entry_count
                 else None)
        host_energy = self._pinned(energy.shape)
        energy.copy_to_host(host_energy, stream=stream)
        host_terms = None
        if terms is not None:
            host_terms = self._pinned(terms.shape)
            terms.copy_to_host(host_terms, stream=stream)
        copied = _order_event()   # history_values waits for this sample only
        copied.record(stream=stream)
        self._sample_done = copied
        return host_energy, host_terms, copied

    def _side_stream(self):
        if self._side is None:
            self._side, self.side_stream_overlaps = numba_internals.side_stream()
        return self._side

    def _pinned(self, shape: tuple):
        """The next of SAMPLE_SLOTS page-locked buffers of ``shape`` (the energy sums come in two
        shapes: from the separate pass, and from a history step's force kernel)."""
        if not hasattr(self, "_sample_buffers"):
            self._sample_buffers: dict = {}
        ring = self._sample_buffers.setdefault(shape, [[], 0])
        buffers, next_index = ring
        if len(buffers) < self.SAMPLE_SLOTS:
            buffers.append(cuda.pinned_array(shape, dtype=np.float64))
            return buffers[-1]
        ring[1] = (next_index + 1) % self.SAMPLE_SLOTS
        return buffers[next_index]

    def history_values(self, handle) -> tuple[np.ndarray, np.ndarray]:
        host_energy, host_terms, copied = handle
        copied.synchronize()
        terms = self._exact(host_terms) if host_terms is not None else np.zeros(self.history_rows)
        return self._exact(host_energy), terms

    def history_terms(self) -> np.ndarray:
        if self.entry_count == 0:    # the arrays hold one placeholder entry
            return np.zeros(self.history_rows)
        return self._exact(self._term_sums().copy_to_host())

    def set_body_force(self, time: float) -> None:
        self.body_force_launch.set(0, time)
        self.body_force_launch()

    @property
    def records_rows_inside_chunks(self) -> bool:
        """The step of a history row is one kernel that also does the next step's kick and
        drift (forces_kick_energy_kernel): the rows need no chunk of steps to end at them."""
        return self._energy_force_kernel is not None

    def advance(self, first_step: int, n_steps: int, dt: float, energy: bool = False,
                history=None) -> None:
        step = self.real(dt)   # the kicks' dt; time and the constraints keep float64 (kernels.pmb)
        for launches in self._launches:
            launches.kick_drift.set(0, step)
            launches.kick_kick_drift.set(0, step)
            launches.forces_kick.set(self._forces_kick_dt, step)
            if launches.forces_kick_energy is not None:
                launches.forces_kick_energy.set(self._forces_kick_dt, step)
                launches.forces_kick_energy_drift.set(self._forces_kick_dt, step)
        self.kick_launch.set(0, step)
        every = 0
        if history is not None and self.records_rows_inside_chunks:
            every = history.every
            self._record_row = history.record
        self._verlet_steps(first_step, n_steps, dt, self.last_ramp, energy, every, self)
        # (after the constraints, which clear it; a material without RECORD_ENERGY sums no energy)
        self._energy_fresh = energy and n_steps > 0 and self._force_records_energy

    def _reduced_sums(self) -> np.ndarray:
        a = self.arrays
        self.k.reduce_rows_kernel[reduce_grid(self._partial.shape[1], a.sums.shape[0]),
                                  REDUCE_THREADS](
            a.sums, self._partial)
        return self._exact(self._partial.copy_to_host())   # exact, order-independent

    def relax(self, load_factor: float, tolerance: float, max_iterations: int,
              resume: bool = False) -> tuple[int, float]:
        self._energy_fresh = False
        a = self.arrays
        if not resume:
            self.k.zero_kernel[self._blocks, THREADS_PER_BLOCK](a.velocity)
            self.k.zero_kernel[self._blocks, THREADS_PER_BLOCK](a.old_residual)
        held = self._held_launches.get(self._parity)
        if held is None:   # the force kernels with every bond held (Backend._held_force_args)
            held = self._pass_launches(self._force_kernel.passes, self._held_force_args())
            self._held_launches[self._parity] = held
        self.held_forces_launch = held
        iterations, ratio = self._relaxation_iterations(max_iterations, tolerance, load_factor, 1.0,
                                                        resume, self)
        return iterations, float(ratio)

    def device(self) -> str:
        """GPU name and UUID: tells the GPUs of one host apart (batch --gpus)."""
        gpu = cuda.get_current_device()
        name = getattr(gpu, "name", None) or "CUDA simulator"
        name = name.decode() if isinstance(name, bytes) else name
        return f"{name} ({getattr(gpu, 'uuid', 'no uuid')})"

    def synchronize(self) -> None:
        cuda.synchronize()

    def warm_up(self, solver: str) -> None:
        """Compile every kernel the solver uses by launching it once without changing the state."""
        self.compute_damage()
        self.first_unphysical_particle(math.inf)
        if solver == "explicit":
            for launch in (self.kick_drift_launch, self.kick_kick_drift_launch, self.kick_launch):
                launch.set(0, self.real(0.0))   # dt = 0: the state stays as it is
                launch()
            # dt = 0 as well; it writes the other displacement array, which is not current.
            self.forces_kick_launch.set(self._forces_kick_dt, 0.0)
            self.forces_kick_launch()
            self.set_body_force(0.0)
            self.compute_forces()
            if self.model.constraint_particle.shape[0]:
                from ..kernels.pmb import INITIAL
                self.apply_constraints(0.0, 1.0, INITIAL)
        else:
            self.relax(0.0, 1.0, 0)
        cuda.synchronize()
