"""Memory a run needs, from the array layouts of backends/base.py and backends/cuda.py.

Used by `pdgeneral check` and by the CUDA backend, which refuses a case that does not fit before it
allocates anything.
"""
from __future__ import annotations

import math

import numpy as np


def estimate_bytes(particles: int, bonds: int, dimension: int, precision: str, backend: str = "cpu",
                   max_bonds: int | None = None, explicit_particles: int | None = None,
                   stencil_size: int = 0, load_groups: int = 0, histories: bool = True,
                   constraint_entries: int = 0, history_entries: int = 0,
                   material: str = "pmb") -> int:
    """Bytes of the working arrays of one backend.

    ``bonds`` and ``explicit_particles`` count the explicit bond rows (pdgeneral.stencil): the
    stencil particles of a lattice's interior need no per-bond storage. Without
    ``explicit_particles`` every particle is counted as explicit with ``bonds`` bonds in all (an
    upper bound, what `pdgeneral check` reports before the rows are classified).

    Per particle (both backends): displacement, velocity, force, body force and two relaxation
    residuals (6 * dim reals), volume, initial bond volume, damage, relaxation mass (4 reals), 4
    relaxation sums (float64 on the GPU), the constraint bits and the no-fail flag (2 bytes), the
    explicit-row index (4), and the bond-state words (4 bytes per 32 bonds).
    The GPU keeps a second displacement array (dim reals), which its fused force-and-kick kernel
    writes the next step's displacement into, and 3 more reals per particle below the force (what
    a history step's force kernel sums of the intact bonds).
    Per explicit row: row start and count (12 bytes). Per explicit bond: neighbour index (4),
    stencil slot (2) and bond weight (one real); on the GPU padded to max_bonds slots per row.
    Per stencil vector: its offset (8) and vector, length, inverse length, breaking threshold
    and weight (dim + 4 reals). Per load group (traction or body force with its own ramp): a
    body-force field of dim reals per particle. With ``histories`` (every run that writes
    output), the energy pass's arrays: the strain energy density (one real) and 4 + load groups
    float64 sums per particle (io/history.py), and per history entry (a region's particle and
    component, or a constraint entry) its particle, component, row, column (int32), rate and
    two float64 terms (their table is padded to the largest region: counted as twice that). Per
    constraint entry: particle, component, kind (int32), value, ramp and work (float64).
    The LPS (``material`` lps) adds per particle its dilatation, its factor P and their product
    (3 reals) and per stencil vector its influence (one real).
    """
    real = 8 if precision == "float64" else 4
    max_bonds = max_bonds if max_bonds is not None else math.ceil(bonds / max(particles, 1))
    explicit = particles if explicit_particles is None else explicit_particles
    words = max(1, (max_bonds + 31) // 32)
    fields = 6 + load_groups + (1 if backend == "cuda" else 0)
    per_particle = (fields * dimension + 4) * real + 4 * 8 + 2 + 4 + 4 * words
    if backend == "cuda":
        per_particle += 3 * real   # the force array's rows of a history step's bond sums
    if histories:
        per_particle += real + (4 + load_groups) * 8
    lps = material == "lps"
    if lps:
        per_particle += 3 * real
    per_bond = 4 + 2 + real
    tables = stencil_size * (8 + (dimension + 4 + lps) * real) + 8 * load_groups   # + ramp times
    tables += 36 * max(1, constraint_entries)
    if histories:
        tables += (24 + 2 * 2 * 8) * max(1, history_entries)
    if backend == "cuda":
        return particles * per_particle + explicit * (12 + max_bonds * per_bond) + tables
    return particles * per_particle + explicit * 12 + bonds * per_bond + tables


def model_bytes(model, precision: str, backend: str = "cpu", rows=None,
                histories: bool = True) -> int:
    """``estimate_bytes`` of a built model; with its explicit rows (Model.bond_rows) when given,
    else the upper bound of every particle explicit."""
    explicit_bonds = model.bond_count
    explicit_particles = None
    if rows is not None:
        explicit = rows.explicit
        explicit_bonds = int(np.sum(model.offsets[explicit + 1] - model.offsets[explicit]))
        explicit_particles = int(explicit.shape[0])
    return estimate_bytes(model.particle_count, explicit_bonds, model.dimension, precision,
                          backend=backend, max_bonds=model.max_bonds,
                          explicit_particles=explicit_particles, stencil_size=model.stencil.size,
                          load_groups=len(model.load_groups), histories=histories,
                          constraint_entries=int(model.constraint_particle.shape[0]),
                          history_entries=int(model.constraint_particle.shape[0] + model.dimension
                                              * sum(r.size for r in model.regions.values())),
                          material=model.material.model)


def step_traffic_bytes(dimension: int, precision: str, max_bonds: int,
                       explicit_fraction: float = 1.0, fused: bool = False) -> int:
    """Compulsory device-memory traffic of one explicit step per particle, in bytes, counting each
    array element once (neighbour gathers are assumed to hit the caches).

    Force kernel: reads displacement (dim reals), no-fail flag (1), explicit-row index (4),
    bond-state words (4 per 32 bonds) and, for the ``explicit_fraction`` of particles with explicit
    rows, row start and count (8) and per bond the neighbour index, stencil slot and weight
    (4 + 2 + real); writes force (dim reals). Inside a chunk of steps a kick-and-drift pass then
    reads v, u, f and b and writes v and u (6 dim reals) and reads the constraint bits (1); when it
    is ``fused`` into the force kernel (the GPU's forces_kick_kernel), u and f are the thread's own,
    already read or written, and it moves 4 dim reals and the constraint bits."""
    real = 8 if precision == "float64" else 4
    words = max(1, (max_bonds + 31) // 32)
    explicit = explicit_fraction * (8 + (4 + 2 + real) * max_bonds)
    force = dimension * real + 1 + 4 + 4 * words + explicit + dimension * real
    kick = (4 if fused else 6) * dimension * real + 1
    return round(force + kick)
