"""The force loop of a stencil particle, unrolled over the stencil with its tables as constants.

A stencil particle (pdgeneral.stencil) has the whole stencil as its row: bond n goes to i + offset[n]
with the lattice vector xi[n], length |xi[n]| and the interior weight w[n]. These are the same for
every such particle of a model, so a force loop made for one model can carry them as compile-time
constants and be unrolled: the loads of the tables, the loop counter and most of the index
arithmetic go away, and a neighbour's displacement is one load at a constant distance from the
particle's own. On an H200 this halves the instructions per bond of the general loop
(kernels.pmb.particle_force; docs/performance.md has the numbers).

The physics is not restated here: every bond calls kernels.pmb.bond_force, the same law as the
general loop, in the same slot order and with the same operations, so the forces and the broken
bonds are the same bits (tests/test_unrolled.py). Only the loop around it is generated.

The generated source depends on nothing but the stencil size and the dimension (it names bond n's
constants OFFSET_n, XI_X[n], ...); the numbers are bound as globals of the function, never written
into source text, and no text from a case file reaches it.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba.extending import register_jitable


def stencil_force_source(size: int, dimension: int) -> str:
    """Python source of ``stencil_particle_force(i, displacement, no_fail, intact, micromodulus,
    critical_stretch, force)``: the force on stencil particle i and the breaking of its bonds, the
    loop of kernels.pmb.particle_force written out for ``size`` slots."""
    if size < 1 or dimension not in (2, 3):
        raise ValueError(f"no unrolled loop for {size} slots in {dimension}D")
    axes = "xyz"[:dimension]
    lines = ["def stencil_particle_force(i, displacement, no_fail, intact, micromodulus,",
             "                           critical_stretch, force):",
             "    i = as_index(i)"]
    lines += [f"    u{a}_i = displacement[{d}, i]" for d, a in enumerate(axes)]
    lines += [f"    f{a} = REAL(0.0)" for a in axes]
    words = (size + 31) // 32
    for w in range(words):
        lines += [f"    word_{w} = intact[{w}, i]", f"    new_{w} = word_{w}"]
    for n in range(size):
        w, bit = divmod(n, 32)
        lines.append(f"    j = i + OFFSET_{n}")
        lines += [f"    eta_{a} = displacement[{d}, j] - u{a}_i" for d, a in enumerate(axes)]
        xi_z, eta_z = (f"XI_Z[{n}]", "eta_z") if dimension == 3 else ("REAL(0.0)", "REAL(0.0)")
        lines += [
            f"    bond_intact = (word_{w} >> {bit}) & 1",
            f"    scale, still_intact = bond_force(i, j, XI_X[{n}], XI_Y[{n}], {xi_z}, LENGTH[{n}],",
            f"                                     INVERSE_LENGTH[{n}], BREAK_SQUARED[{n}],",
            f"                                     WEIGHT[{n}], eta_x, eta_y, {eta_z}, bond_intact,",
            "                                     no_fail, micromodulus, critical_stretch,",
            f"                                     RECIPROCAL_FORM, {dimension})",
            "    if still_intact != bond_intact:",
            f"        new_{w} ^= MASK_{n}"]
        lines += [f"    f{a} += scale * (XI_{a.upper()}[{n}] + eta_{a})" for a in axes]
    for w in range(words):
        lines += [f"    if new_{w} != word_{w}:", f"        intact[{w}, i] = new_{w}"]
    lines += [f"    force[{d}, i] = f{a}" for d, a in enumerate(axes)]
    return "\n".join(lines) + "\n"


def stencil_constants(offsets: np.ndarray, tables: dict, reciprocal_form: bool,
                      unsigned: bool) -> dict:
    """The globals of the generated loop: OFFSET_n and MASK_n for each slot, the tables XI_X, XI_Y
    (XI_Z), LENGTH, INVERSE_LENGTH, BREAK_SQUARED and WEIGHT (backends.base.slot_tables: the
    values the general loop reads from its arrays) and RECIPROCAL_FORM. ``unsigned``: offsets as
    uint64 two's complements, for a loop whose index ``as_index`` makes unsigned (the GPU's, where
    numba then drops the negative-index correction of every array access)."""
    xi = tables["xi"]
    constants: dict = {f"XI_{a}": np.ascontiguousarray(xi[d]) for d, a in enumerate("XYZ"[:xi.shape[0]])}
    constants.update({name.upper(): np.ascontiguousarray(tables[name])
                      for name in ("length", "inverse_length", "break_squared", "weight")})
    constants["RECIPROCAL_FORM"] = bool(reciprocal_form)
    for n in range(offsets.shape[0]):
        offset = int(offsets[n])
        constants[f"OFFSET_{n}"] = np.uint64(offset % 2**64) if unsigned else offset
        constants[f"MASK_{n}"] = np.uint32(1 << (n % 32))
    return constants


@register_jitable(inline="always")
def same_index(i):
    """The particle index as it is (CPU loops and the CUDA simulator)."""
    return i


def stencil_particle_force(offsets: np.ndarray, tables: dict, reciprocal_form: bool,
                           bond_force: Callable, as_index: Callable = same_index,
                           real: type = np.float64) -> Callable:
    """The unrolled loop for one model's stencil (``offsets``, and ``tables`` as
    backends.base.slot_tables gives them), as a plain Python function to compile (njit,
    cuda.jit(device=True)) or run (the CUDA simulator). ``bond_force`` is the per-bond law in the
    form the caller compiles (kernels.pmb.bond_force or its device version); ``as_index`` converts
    the particle index: numba.uint64 (then the offsets are unsigned too) or ``same_index``;
    ``real`` is the type of the arithmetic (kernels.pmb.REAL), the same as ``bond_force``'s."""
    unsigned = as_index is not same_index
    namespace = stencil_constants(offsets, tables, reciprocal_form, unsigned)
    namespace.update(bond_force=bond_force, as_index=as_index, REAL=real)
    source = stencil_force_source(offsets.shape[0], tables["xi"].shape[0])
    # Generated from two integers only (see the module docstring): no case text reaches exec.
    exec(compile(source, f"<unrolled stencil loop, {offsets.shape[0]} slots>", "exec"), namespace)  # noqa: S102
    return namespace["stencil_particle_force"]
