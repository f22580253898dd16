"""The force loop of a stencil particle, unrolled over the stencil, with the stencil's numbers as
kernel parameters.

A stencil particle (pdgeneral.stencil) has the whole stencil as its row: bond n goes to i + offset[n]
with the lattice vector xi[n], length |xi[n]| and the interior weight w[n]. These are the same for
every such particle of a model, so the loop over them can be written out slot by slot: the loop
counter and most of the index arithmetic go away, and a neighbour's displacement is one load at a
fixed distance from the particle's own. On an H200 this halves the instructions per bond of the
general loop (kernels.pmb.particle_force; docs/performance.md has the numbers).

The loop is compiled for the stencil's shape: its lattice vectors k (integers, which depend only on
the horizon factor) are compile-time constants, so neighbour n's index is i + k_x + k_y n_x
(+ k_z n_x n_y), where the lattice's row lengths come at run time and k_x lands in the load's
address as an immediate. The stencil's numbers (xi, |xi| or 1/|xi| and the break threshold, the
weights) and the row lengths reach the loop as one tuple of tuples, ``table`` (``stencil_table``):
on the GPU a kernel's tuple arguments live in its constant parameter bank, which arithmetic
instructions read as operands. So a sweep over the material, the spacing at a fixed horizon
factor, the loads or the body's size compiles the loop once (issue 12; earlier versions bound every
number, offsets included, at compile time, and every new material or spacing compiled again).

The physics is not restated here: every bond calls kernels.pmb.bond_force, the same law as the
general loop, in the same slot order and with the same operations, so the forces and the broken
bonds are the same bits (tests/test_unrolled.py). Only the loop around it is generated, from the
stencil size and the dimension; no text from a case file reaches it.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba.extending import register_jitable


def table_columns(dimension: int, reciprocal_form: bool, material: str = "pmb",
                  energy: bool = False) -> tuple[str, ...]:
    """What the loops read from ``table``, in order: the lattice's row strides (n_x, and n_x n_y
    in 3D), then per slot xi's components and the weight, with what the material's passes use:
    PMB |xi| (stretch form) or 1/|xi| and ((1 + s0) |xi|)^2 (reciprocal form); the LPS |xi|,
    ((1 + s0) |xi|)^2 (reciprocal form) and the influence omega. Only what is used, for the
    parameter space is small (4 KiB). Both LPS passes read the same table. ``energy``: PMB's loop
    that also sums a history row's bond terms (kernels.pmb.RECORD_ENERGY), which reads |xi| in
    either form and, last, ``held_total``: one value, the sum of |xi| w over the slots
    (``held_total``)."""
    if material == "lps":
        per_form = ("length", "break_squared") if reciprocal_form else ("length",)
        return ("stride", *("xi_x", "xi_y", "xi_z")[:dimension], *per_form, "weight", "influence")
    per_form = ("inverse_length", "break_squared") if reciprocal_form else ("length",)
    if energy and reciprocal_form:
        per_form += ("length",)
    return ("stride", *("xi_x", "xi_y", "xi_z")[:dimension], *per_form, "weight",
            *(("held_total",) if energy else ()))


def table_bytes(size: int, dimension: int, reciprocal_form: bool, real_bytes: int,
                material: str = "pmb", energy: bool = False) -> int:
    """Bytes of ``table`` as kernel parameters."""
    columns = [name for name in table_columns(dimension, reciprocal_form, material, energy)
               if name not in ("stride", "held_total")]
    return 8 * (dimension - 1) + size * real_bytes * len(columns) + real_bytes * energy


def held_total(length: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(sum over the slots of |xi| w,): what a stencil particle's intact bonds add up to in a
    history row's loop while none of them is broken, summed in slot order in the table's
    precision as the loop sums a damaged particle's."""
    total = length.dtype.type(0.0)
    for value_length, value_weight in zip(length, weight, strict=True):
        total = total + value_length * value_weight
    return np.array([total], dtype=length.dtype)


def stencil_force_source(size: int, dimension: int, reciprocal_form: bool,
                         energy: bool = False) -> str:
    """Python source of ``stencil_particle_force(i, displacement, no_fail, intact, material, table,
    force)`` (``material``: kernels.arguments.Pmb): the force on stencil particle i and the
    breaking of its bonds, the loop of kernels.pmb.particle_force written out for ``size`` slots: slot n's
    neighbour is i + K_X_n + K_Y_n n_x (+ K_Z_n n_x n_y), its numbers ``table``'s n-th entries
    (``stencil_table``). ``energy``: also the sums of kernels.pmb.RECORD_ENERGY, returned as
    kernels.pmb.particle_force returns them: kernels.pmb.bond_force's energy of each bond (0 for a broken
    one), the sum of |xi| w over the intact bonds and their number. The last two come from the
    new bit words at the end: the number by ``population_count``, the sum from the table
    (``held_total``, all slots) for a particle whose bonds are all intact, as nearly all are, and
    slot by slot only for the others: an addition a bond only where a bond is broken."""
    if size < 1 or dimension not in (2, 3):
        raise ValueError(f"no unrolled loop for {size} slots in {dimension}D")
    axes = "xyz"[:dimension]
    # bond_force takes every table; the form's own are read, the others are never used (|xi|
    # is read in the reciprocal form too where it forms the bond's energy)
    length, inverse, threshold = (("length" if energy else "inverse_length", "inverse_length",
                                   "break_squared")
                                  if reciprocal_form else ("length", "length", "length"))
    lines = ["def stencil_particle_force(i, displacement, no_fail, intact, material, table, force):",
             "    i = as_index(i)",
             "    micromodulus = material.micromodulus",
             "    critical_stretch = material.critical_stretch",
             "    " + ", ".join(table_columns(dimension, reciprocal_form, energy=energy))
             + " = table"]
    lines += [f"    u{a}_i = displacement[{d}, i]" for d, a in enumerate(axes)]
    lines += [f"    f{a} = REAL(0.0)" for a in axes]
    if energy:
        lines += ["    stretched = REAL(0.0)", "    held = REAL(0.0)"]
    words = (size + 31) // 32
    for w in range(words):
        lines += [f"    word_{w} = intact[{w}, i]", f"    new_{w} = word_{w}"]
    for n in range(size):
        w, bit = divmod(n, 32)
        row = f"K_Y_{n} * stride[0]" + (f" + K_Z_{n} * stride[1]" if dimension == 3 else "")
        lines.append(f"    j = i + ({row}) + K_X_{n}")
        lines += [f"    eta_{a} = displacement[{d}, j] - u{a}_i" for d, a in enumerate(axes)]
        xi_z, eta_z = (f"xi_z[{n}]", "eta_z") if dimension == 3 else ("REAL(0.0)", "REAL(0.0)")
        lines += [
            f"    bond_intact = (word_{w} >> {bit}) & 1",
            f"    scale, still_intact, energy = bond_force(i, j, xi_x[{n}], xi_y[{n}], {xi_z},",
            f"                                     {length}[{n}], {inverse}[{n}], {threshold}[{n}],",
            f"                                     weight[{n}], eta_x, eta_y, {eta_z}, bond_intact,",
            "                                     no_fail, micromodulus, critical_stretch,",
            f"                                     RECIPROCAL_FORM, {dimension})",
            "    if still_intact != bond_intact:",
            f"        new_{w} ^= MASK_{n}"]
        if energy:   # (a broken bond's energy is 0: its factor is)
            lines.append("    stretched += energy")
        lines += [f"    f{a} += scale * (xi_{a}[{n}] + eta_{a})" for a in axes]
    for w in range(words):
        lines += [f"    if new_{w} != word_{w}:", f"        intact[{w}, i] = new_{w}"]
    lines += [f"    force[{d}, i] = f{a}" for d, a in enumerate(axes)]
    if energy:   # the intact bonds: the bits set in the new words (BITS_w: the stencil's)
        whole = " and ".join(f"(new_{w} & BITS_{w}) == BITS_{w}" for w in range(words))
        lines += [f"    if {whole}:", "        held = held_total[0]", "    else:"]
        for n in range(size):
            lines += [f"        if (new_{n // 32} >> {n % 32}) & 1:",
                      f"            held += length[{n}] * weight[{n}]"]
        count = " + ".join(f"population_count(new_{w} & BITS_{w})" for w in range(words))
        lines.append(f"    return stretched, held, REAL({count})")
    else:   # (particle_force's type: a loop without the sums ignores these zeros)
        lines.append("    return REAL(0.0), REAL(0.0), REAL(0.0)")
    return "\n".join(lines) + "\n"


def _lps_prologue(name: str, size: int, dimension: int, reciprocal_form: bool) -> list[str]:
    axes = "xyz"[:dimension]
    lines = [f"def {name}(i, displacement, no_fail, intact, material, table, force):",
             "    i = as_index(i)",
             "    " + ", ".join(table_columns(dimension, reciprocal_form, "lps")) + " = table"]
    lines += [f"    u{a}_i = displacement[{d}, i]" for d, a in enumerate(axes)]
    lines += [f"    word_{w} = intact[{w}, i]" for w in range((size + 31) // 32)]
    return lines


def _lps_bond(n: int, dimension: int, test: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The test of slot n's bond-state bit (``test``), then inside it the neighbour, eta and the
    ``extra`` loads; the lines after these go inside the test too. (Loading before the test, as
    PMB's loop does, was measured no faster here: docs/performance.md.)"""
    row = f"K_Y_{n} * stride[0]" + (f" + K_Z_{n} * stride[1]" if dimension == 3 else "")
    loads = [f"j = i + ({row}) + K_X_{n}"]
    loads += [f"eta_{a} = displacement[{d}, j] - u{a}_i" for d, a in enumerate("xyz"[:dimension])]
    loads += list(extra)
    return [test] + [f"        {line}" for line in loads]


def lps_dilatation_source(size: int, dimension: int, reciprocal_form: bool) -> str:
    """Python source of ``stencil_lps_dilatation(i, displacement, no_fail, intact, material, table,
    force)``: kernels.lps.lps_dilatation for stencil particle i, written out for ``size`` slots
    (the same operations in the same order: the same bits)."""
    lines = _lps_prologue("stencil_lps_dilatation", size, dimension, reciprocal_form)
    lines += ["    critical_stretch = material.critical_stretch", "    total = REAL(0.0)"]
    lines += [f"    new_{w} = word_{w}" for w in range((size + 31) // 32)]
    threshold = "break_squared" if reciprocal_form else "length"   # the stretch form ignores it
    for n in range(size):
        w, bit = divmod(n, 32)
        xi_z, eta_z = (f"xi_z[{n}]", "eta_z") if dimension == 3 else ("REAL(0.0)", "REAL(0.0)")
        lines += [*_lps_bond(n, dimension, f"    if (word_{w} >> {bit}) & 1:"),
                  f"        extension, _, breaks = bond_extension(xi_x[{n}], xi_y[{n}], {xi_z}, eta_x,",
                  (f"            eta_y, {eta_z}, length[{n}], {threshold}[{n}], critical_stretch,"
                  f" {dimension})"),
                  "        if breaks and no_fail[i] == 0 and no_fail[j] == 0:",
                  f"            new_{w} ^= MASK_{n}",
                  "        else:",
                  f"            total += influence[{n}] * length[{n}] * weight[{n}] * extension"]
    for w in range((size + 31) // 32):
        lines += [f"    if new_{w} != word_{w}:", f"        intact[{w}, i] = new_{w}"]
    lines += [f"    theta = REAL({dimension}) * material.inverse_weighted_volume * total",
              "    material.dilatation[i] = theta",
              "    material.dilatation_term[i] = material.dilatation_factor[i] * theta"]
    return "\n".join(lines) + "\n"


def lps_force_source(size: int, dimension: int, reciprocal_form: bool) -> str:
    """Python source of ``stencil_lps_force(i, displacement, no_fail, intact, material, table,
    force)``: kernels.lps.lps_force for stencil particle i, written out for ``size`` slots (the
    same operations in the same order: the same bits)."""
    axes = "xyz"[:dimension]
    lines = _lps_prologue("stencil_lps_force", size, dimension, reciprocal_form)
    lines += ["    dilatation_term = material.dilatation_term", "    p_i = dilatation_term[i]",
              "    q = material.deviatoric_factor + material.deviatoric_factor"]
    lines += [f"    f{a} = REAL(0.0)" for a in axes]
    for n in range(size):
        w, bit = divmod(n, 32)
        xi_z, eta_z = (f"xi_z[{n}]", "eta_z") if dimension == 3 else ("REAL(0.0)", "REAL(0.0)")
        lines += [*_lps_bond(n, dimension, f"    if (word_{w} >> {bit}) & 1:",
                             ("p_j = dilatation_term[j]",)),
                  f"        extension, inverse_length, _ = bond_extension(xi_x[{n}], xi_y[{n}],",
                  (f"            {xi_z}, eta_x, eta_y, {eta_z}, length[{n}], REAL(0.0), REAL(0.0),"
                  f" {dimension})"),
                  "        p = p_i + p_j",
                  (f"        scale = influence[{n}] * weight[{n}] * (length[{n}] * p + extension * q)"
                   " * inverse_length")]
        lines += [f"        f{a} += scale * (xi_{a}[{n}] + eta_{a})" for a in axes]
    lines += [f"    force[{d}, i] = f{a}" for d, a in enumerate(axes)]
    return "\n".join(lines) + "\n"


def _integer(value: int, unsigned: bool):
    """An index constant: int64, or uint64 two's complement (wrapping sums give the same index)."""
    return np.uint64(int(value) % 2**64) if unsigned else np.int64(value)


def lattice_strides(vectors: np.ndarray, offsets: np.ndarray) -> tuple[int, ...]:
    """(n_x[, n_x n_y]): the index distance of one lattice step in y (and z), read off the stencil
    (whose offsets are k . strides; the unit vectors are always in it)."""
    dimension = vectors.shape[1]
    strides = []
    for axis in range(1, dimension):
        unit = np.zeros(dimension, dtype=vectors.dtype)
        unit[axis] = 1
        slot = np.flatnonzero(np.all(vectors == unit, axis=1))
        strides.append(int(offsets[slot[0]]))
    return tuple(strides)


def stencil_table(stencil, tables: dict, reciprocal_form: bool, unsigned: bool,
                  material: str = "pmb", energy: bool = False) -> tuple:
    """The ``table`` argument of the generated loop (``table_columns``): the lattice's row strides
    as index constants (``unsigned``: uint64 two's complements, for a loop whose index ``as_index``
    makes unsigned, the GPU's, where numba then drops the negative-index correction of every array
    access), then per name a tuple of the stencil's S values, as backends.base.slot_tables gives
    them (the values the general loop reads from its arrays; ``influence`` too for the LPS's
    table, ``material`` "lps"). ``stencil``: pdgeneral.stencil.Stencil."""
    xi = tables["xi"]
    stride = tuple(_integer(value, unsigned)
                   for value in lattice_strides(stencil.vectors, stencil.offsets))
    columns = {"xi_x": xi[0], "xi_y": xi[1], "xi_z": xi[2] if xi.shape[0] == 3 else None,
               **{name: tables[name] for name in ("length", "inverse_length", "break_squared",
                                                   "weight", "influence") if name in tables}}
    if energy:
        columns["held_total"] = held_total(tables["length"], tables["weight"])
    names = table_columns(xi.shape[0], reciprocal_form, material, energy)
    return (stride, *(tuple(columns[name]) for name in names[1:]))


@register_jitable(inline="always")
def same_index(i):
    """The particle index as it is (CPU loops and the CUDA simulator)."""
    return i


#: The bodies whose stencil loop can be unrolled (a material's FORCE_PASSES), and the source of each.
SOURCES = {"lps_dilatation": lps_dilatation_source, "lps_force": lps_force_source}


def stencil_pass(body: str, vectors: np.ndarray, reciprocal_form: bool, table: dict,
                 as_index: Callable = same_index, real: type = np.float64,
                 record_energy: bool = False) -> Callable:
    """The unrolled stencil loop of the force pass ``body`` (kernels.pmb.particle_force,
    kernels.lps.lps_dilatation or lps_force), taking ``(i, displacement, no_fail, intact,
    material, table, force)``: compiled against ``table``, the caller's build of the shared
    bodies (kernels.specialize: its bond_force, population_count, bond_extension); the rest as
    ``stencil_particle_force``."""
    if body == "particle_force":
        return stencil_particle_force(vectors, reciprocal_form, table["bond_force"], as_index, real,
                                      table["population_count"] if record_energy else None)
    size, dimension = vectors.shape
    namespace = _constants(vectors, as_index)
    namespace.update(bond_extension=table["bond_extension"], as_index=as_index, REAL=real)
    source = SOURCES[body](size, dimension, reciprocal_form)
    # Generated from two integers only (see the module docstring): no case text reaches exec.
    exec(compile(source, f"<unrolled {body}, {size} slots>", "exec"), namespace)  # noqa: S102
    return namespace[f"stencil_{body}"]


def _constants(vectors: np.ndarray, as_index: Callable) -> dict:
    """The loop's compile-time constants: each slot's bit mask and lattice vector components."""
    size, dimension = vectors.shape
    unsigned = as_index is not same_index
    namespace = {f"MASK_{n}": np.uint32(1 << (n % 32)) for n in range(size)}
    for n in range(size):
        for axis, name in enumerate("XYZ"[:dimension]):
            namespace[f"K_{name}_{n}"] = _integer(vectors[n, axis], unsigned)
    return namespace


def stencil_particle_force(vectors: np.ndarray, reciprocal_form: bool, bond_force: Callable,
                           as_index: Callable = same_index, real: type = np.float64,
                           population_count: Callable | None = None) -> Callable:
    """The unrolled loop for a stencil of lattice vectors ``vectors`` ((S, dim) integers, in slot
    order), as a plain Python function to compile (njit, cuda.jit(device=True)) or run (the CUDA
    simulator); it takes the stencil's numbers as its ``table`` argument (``stencil_table``).
    ``bond_force`` is the per-bond law in the form the caller compiles (kernels.pmb.bond_force or
    its device version); ``as_index`` converts the particle index: numba.uint64 (then give
    ``stencil_table`` ``unsigned=True``) or ``same_index``; ``real`` is the type of the arithmetic
    (kernels.pmb.REAL), the same as ``bond_force``'s. With ``population_count`` (kernels.pmb's,
    or the caller's version of it) the loop also records the history's bond sums
    (``stencil_force_source``)."""
    size, dimension = vectors.shape
    namespace = _constants(vectors, as_index)
    namespace.update(bond_force=bond_force, as_index=as_index, REAL=real,
                     RECIPROCAL_FORM=bool(reciprocal_form), population_count=population_count)
    for w in range((size + 31) // 32):   # the stencil's bits of word w
        namespace[f"BITS_{w}"] = np.uint32((1 << min(32, size - 32 * w)) - 1)
    source = stencil_force_source(size, dimension, reciprocal_form,
                                  energy=population_count is not None)
    # Generated from two integers only (see the module docstring): no case text reaches exec.
    exec(compile(source, f"<unrolled stencil loop, {size} slots>", "exec"), namespace)  # noqa: S102
    return namespace["stencil_particle_force"]
