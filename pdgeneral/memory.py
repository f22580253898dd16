"""Memory a run needs, from the array table (arrays.py) that backends/base.py allocates from.

Used by `pdgeneral check` and by the CUDA backend, which refuses a case that does not fit before it
allocates anything.
"""
from __future__ import annotations

import math

import numpy as np

from . import arrays


def estimate_bytes(particles: int, bonds: int, dimension: int, precision: str, backend: str = "cpu",
                   max_bonds: int | None = None, explicit_particles: int | None = None,
                   stencil_size: int = 0, load_groups: int = 0, histories: bool = True,
                   constraint_entries: int = 0, history_entries: int = 0,
                   material: str = "pmb") -> int:
    """Bytes of the working arrays of one backend: the sum over the array table (arrays.py), whose
    entries say what each array is per (particle, explicit row and bond, stencil slot, constraint
    entry, load group, history entry), its rows and its type.

    ``bonds`` and ``explicit_particles`` count the explicit bond rows (pdgeneral.stencil): the
    stencil particles of a lattice's interior need no per-bond storage; on the GPU every explicit
    row is padded to ``max_bonds``. Without ``explicit_particles`` every particle is counted as
    explicit with ``bonds`` bonds in all (an upper bound, what `pdgeneral check` reports before the
    rows are classified). ``histories``: every run that writes output has the energy pass's arrays
    and the history entries (a region's particle and component, or a constraint entry)."""
    max_bonds = max_bonds if max_bonds is not None else math.ceil(bonds / max(particles, 1))
    explicit = particles if explicit_particles is None else explicit_particles
    stored = explicit * max_bonds if backend == "cuda" else bonds
    return arrays.total_bytes(arrays.sizes(
        particles, dimension, precision, backend, max_bonds=max_bonds,
        explicit_particles=explicit, explicit_bonds=stored, stencil_size=stencil_size,
        load_groups=load_groups, histories=histories, constraint_entries=constraint_entries,
        history_entries=history_entries, material=material))


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
