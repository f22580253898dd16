"""Domain decomposition of a lattice body into slabs, one per MPI rank (issue 16).

This is the first piece of running past one GPU: how a body is cut and what each rank holds, which
``pdgeneral check CASE --ranks N`` prints before anything runs (the ranks themselves, their halo
exchange and parallel output are not built yet; docs/design.md, "Towards domain decomposition").

A rank owns a slab of lattice layers along one axis, the one with the most layers (the cut then
crosses the fewest particles), and holds the particles of ``halo_layers`` = ceil(horizon / spacing)
layers on each side that belong to its neighbours: every bond of an owned particle reaches at most
that far, so a rank computes its own particles' forces from its own and its halo's displacements.
The cuts balance the owned particles (each cut at the layer where the running count passes k N / P),
and a slab must be at least ``halo_layers`` thick, so that a halo comes from the adjacent ranks
only. A rank's working arrays are those of the array table (arrays.py) for its owned and halo
particles, with bond rows for its owned particles only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import arrays
from .errors import CaseError

#: Environment variables an MPI launcher sets in every process it starts, with the number of
#: processes: Open MPI's mpiexec, MPICH's and Intel MPI's hydra (PMI), PMIx launchers, Slurm's srun.
LAUNCHER_SIZES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_STEP_NUM_TASKS")


def launched_ranks(environment: dict | None = None) -> tuple[int, str] | None:
    """(processes, the variable that says so) when this process is one of several that an MPI
    launcher started together (``mpiexec -n 4 pdgeneral run``, ``srun -n 4 ...``), else None. Until
    the ranks divide a run between them, each such process would run the whole case and write the
    same output: the CLI refuses (cli.run)."""
    import os
    environment = os.environ if environment is None else environment
    for name in LAUNCHER_SIZES:
        value = environment.get(name, "")
        if value.isdigit() and int(value) > 1:
            return int(value), name
    return None


@dataclass(frozen=True)
class Slab:
    """What one rank owns and holds."""
    rank: int
    first_layer: int        # owned layers first_layer .. last_layer - 1 along the axis
    last_layer: int
    owned: int              # particles
    halo: int               # particles of the neighbours' layers it holds
    explicit_rows: int      # owned particles with explicit bond rows
    explicit_bonds: int     # their bonds
    bytes: int              # working arrays (arrays.py)


@dataclass(frozen=True)
class Decomposition:
    axis: int               # 0: x, 1: y, 2: z
    layers: int             # lattice layers of the body along the axis
    halo_layers: int
    slabs: tuple[Slab, ...]

    @property
    def largest_bytes(self) -> int:
        return max(slab.bytes for slab in self.slabs)


def layer_index(model, axis: int) -> np.ndarray:
    """(N,) int64: each particle's lattice layer along ``axis``, 0 at the body's lowest."""
    coordinate = model.positions[:, axis]
    return np.rint((coordinate - coordinate.min()) / model.spacing).astype(np.int64)


def decompose(model, ranks: int, precision: str | None = None, backend: str = "cpu",
              rows=None, histories: bool = True) -> Decomposition:
    """Slabs of ``model`` for ``ranks`` ranks (see the module text); CaseError (key ``--ranks``)
    when the body is too thin for that many slabs of ``halo_layers`` layers each."""
    if ranks < 1:
        raise CaseError("--ranks", f"needs at least 1 rank, got {ranks}")
    precision = precision or model.case.precision
    rows = model.bond_rows() if rows is None else rows
    extent = model.positions.max(axis=0) - model.positions.min(axis=0)
    axis = int(np.argmax(np.rint(extent / model.spacing)[::-1]))
    axis = model.dimension - 1 - axis   # the last of the longest: z, then y, then x
    layer = layer_index(model, axis)
    layers = int(layer.max()) + 1
    # the farthest a bond reaches along the axis, in layers: floor(horizon / spacing) for a lattice
    halo_layers = int(np.abs(model.stencil.vectors[:, axis]).max(initial=0))
    if ranks * halo_layers > layers:
        raise CaseError("--ranks", f"{ranks} ranks need {ranks * halo_layers} lattice layers along "
                                   f"{'xyz'[axis]} (each slab at least the horizon's "
                                   f"{halo_layers} layers thick); the body has {layers}: at most "
                                   f"{max(1, layers // halo_layers)} ranks")
    per_layer = np.bincount(layer, minlength=layers)
    running = np.cumsum(per_layer)
    cuts = [0]
    for k in range(1, ranks):
        cut = int(np.searchsorted(running, k * running[-1] / ranks, side="left")) + 1
        # each slab at least halo_layers thick, and room left for the slabs after it
        cut = max(cut, cuts[-1] + halo_layers)
        cut = min(cut, layers - (ranks - k) * halo_layers)
        cuts.append(cut)
    cuts.append(layers)
    explicit = np.zeros(model.particle_count, dtype=bool)
    explicit[rows.explicit] = True
    row_bonds = np.diff(model.offsets)
    constrained = np.bincount(model.constraint_particle, minlength=model.particle_count)
    slabs = []
    for rank in range(ranks):
        first, last = cuts[rank], cuts[rank + 1]
        owned = (layer >= first) & (layer < last)
        near = (layer >= first - halo_layers) & (layer < last + halo_layers)
        owned_explicit = owned & explicit
        n_owned = int(owned.sum())
        n_halo = int(near.sum()) - n_owned
        n_rows = int(owned_explicit.sum())
        n_bonds = int(row_bonds[owned_explicit].sum())
        max_bonds = model.max_bonds
        stored = n_rows * max_bonds if backend == "cuda" else n_bonds
        regions = sum(int(np.count_nonzero(owned[members])) for members in model.regions.values())
        sizes = arrays.sizes(
            n_owned + n_halo, model.dimension, precision, backend, max_bonds=max_bonds,
            explicit_particles=n_rows, explicit_bonds=stored, stencil_size=model.stencil.size,
            load_groups=len(model.load_groups), histories=histories,
            constraint_entries=int(constrained[owned].sum()),
            history_entries=int(constrained[owned].sum()) + model.dimension * regions,
            material=model.material.model)
        slabs.append(Slab(rank=rank, first_layer=first, last_layer=last, owned=n_owned,
                          halo=n_halo, explicit_rows=n_rows, explicit_bonds=n_bonds,
                          bytes=arrays.total_bytes(sizes)))
    return Decomposition(axis=axis, layers=layers, halo_layers=halo_layers, slabs=tuple(slabs))
