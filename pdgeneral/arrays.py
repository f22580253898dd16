"""Every per-particle, per-bond and per-slot array a backend holds, declared once.

``ARRAYS`` is the table: an array's name (its attribute in ``Backend.arrays``), what it has one
column per (``per``: particles, explicit rows, explicit bond slots, stencil slots, constraint entries,
load groups, history entries), how many rows (``rows``: 1, the dimension, the bond-state words, ...),
its element type (``dtype``: ``real`` is the run's precision) and its ``role``:

- ``model``: built from the model once (backends/base.py converts each to the declared type);
- ``state``: what the run advances, zeros or the model's initial values at the start;
- ``restart``: state that a restart point holds (io/hdf5.py writes it, ``Backend.load_state`` reads
  it back): a resumed run continues with the same bits;
- ``work``: scratch a pass writes and another reads, zeros at the start.

The table drives the allocation of the zero-initialised arrays (``Backend.__init__``), the memory
estimate (memory.py sums it, so that ``pdgeneral check`` and the GPU's refusal of a case that does
not fit follow every new array) and the restart fields; tests/test_memory.py checks that a backend
allocates exactly the table's arrays with the declared shapes and types. An array only some runs
have names its condition in ``when``: ``lps`` (the material), ``histories`` (a run that writes
output), ``cuda`` (the GPU backend's own).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: What an array has one column per.
PARTICLES, ROWS, BONDS, SLOTS, CONSTRAINTS, GROUPS, ENTRIES = (
    "particle", "explicit row", "explicit bond", "stencil slot", "constraint entry", "load group",
    "history entry")


@dataclass(frozen=True)
class Array:
    name: str
    per: str
    rows: int | str   # an integer, or "dim", "words" (bond-state words), "dim*groups" (a
                      # body-force field per load group), "sums" (4 + load groups)
    dtype: str        # "real" (the run's precision) or a numpy type name
    role: str         # "model", "state", "restart", "work"
    when: str = ""    # "", "lps", "histories", "cuda"
    doc: str = ""
    #: At least one column even where there is nothing to store (device arrays of size zero are
    #: not allowed everywhere; the loops over them run over the model's own counts).
    at_least_one: bool = False
    #: A restart array's dataset in the output (io/hdf5.py for a snapshot's, io/history.py's
    #: ``restart/`` group for the constraints' work).
    stored_as: str = ""


ARRAYS = (
    # per particle
    Array("volume", PARTICLES, 1, "real", "model", doc="V_i"),
    Array("no_fail", PARTICLES, 1, "uint8", "model", doc="1: no bond of i breaks"),
    Array("bond_row", PARTICLES, 1, "int32", "model", doc="explicit row of i, -1: stencil"),
    Array("initial_bond_volume", PARTICLES, 1, "real", "model", doc="damage's denominator"),
    Array("constrained", PARTICLES, 1, "uint8", "model", doc="bit d: component d prescribed"),
    Array("fictitious_density", PARTICLES, 1, "real", "model", doc="the relaxation's mass"),
    Array("load_forces", PARTICLES, "dim*groups", "real", "model",
          doc="each load group's body-force density"),
    Array("displacement", PARTICLES, "dim", "real", "restart", doc="u", stored_as="displacement"),
    Array("velocity", PARTICLES, "dim", "real", "restart", doc="v", stored_as="velocity"),
    Array("intact", PARTICLES, "words", "uint32", "restart", doc="one bit per bond", stored_as="bond_state"),
    Array("force", PARTICLES, "dim", "real", "work", doc="internal force density"),
    Array("body_force", PARTICLES, "dim", "real", "work", doc="the ramped loads' sum"),
    Array("damage", PARTICLES, 1, "real", "work", doc="for snapshots"),
    Array("old_residual", PARTICLES, "dim", "real", "work", doc="relaxation"),
    Array("residual", PARTICLES, "dim", "real", "work", doc="relaxation"),
    Array("sums", PARTICLES, 4, "real", "work", doc="relaxation's damping sums"),
    Array("energy_density", PARTICLES, 1, "real", "work", when="histories",
          doc="strain energy density W_i"),
    Array("history_sums", PARTICLES, "sums", "float64", "work", when="histories",
          doc="a history row's per-particle terms"),
    Array("dilatation_factor", PARTICLES, 1, "real", "model", when="lps", doc="P_i"),
    Array("dilatation", PARTICLES, 1, "real", "work", when="lps", doc="theta_i"),
    Array("dilatation_term", PARTICLES, 1, "real", "work", when="lps", doc="P_i theta_i"),
    Array("next_displacement", PARTICLES, "dim", "real", "work", when="cuda",
          doc="the fused force-and-kick kernel's output; swaps with displacement"),
    # per explicit row and bond (the GPU pads every row to the longest: BONDS = rows x max_bonds)
    Array("row_first", ROWS, 1, "int64", "model", doc="where the row starts", at_least_one=True),
    Array("row_count", ROWS, 1, "int32", "model", at_least_one=True),
    Array("neighbors", BONDS, 1, "int32", "model", doc="j", at_least_one=True),
    Array("bond_slot", BONDS, 1, "uint16", "model", doc="the bond's stencil slot", at_least_one=True),
    Array("bond_weights", BONDS, 1, "real", "model", doc="w_ij", at_least_one=True),
    # per stencil slot
    Array("stencil_offset", SLOTS, 1, "int64", "model"),
    Array("stencil_xi", SLOTS, "dim", "real", "model"),
    Array("stencil_length", SLOTS, 1, "real", "model"),
    Array("stencil_inverse_length", SLOTS, 1, "real", "model"),
    Array("stencil_break_squared", SLOTS, 1, "real", "model"),
    Array("stencil_weight", SLOTS, 1, "real", "model"),
    Array("stencil_influence", SLOTS, 1, "real", "model", doc="the LPS's omega (ones for PMB)"),
    # per constraint entry, load group and history entry
    Array("constraint_particle", CONSTRAINTS, 1, "int32", "model"),
    Array("constraint_component", CONSTRAINTS, 1, "int32", "model"),
    Array("constraint_kind", CONSTRAINTS, 1, "int32", "model"),
    Array("constraint_value", CONSTRAINTS, 1, "real", "model"),
    Array("constraint_ramp", CONSTRAINTS, 1, "real", "model"),
    Array("constraint_work", CONSTRAINTS, 1, "float64", "restart",
          doc="the prescribed motion's work so far (kept with the history)", at_least_one=True, stored_as="restart/constraint_work"),
    Array("load_ramps", GROUPS, 1, "float64", "model"),
    Array("entry_particle", ENTRIES, 1, "int32", "model", when="histories", at_least_one=True),
    Array("entry_component", ENTRIES, 1, "int32", "model", when="histories", at_least_one=True),
    Array("entry_row", ENTRIES, 1, "int32", "model", when="histories", at_least_one=True),
    Array("entry_column", ENTRIES, 1, "int32", "model", when="histories", at_least_one=True),
    Array("entry_rate", ENTRIES, 1, "float64", "model", when="histories", at_least_one=True),
    Array("history_terms", ENTRIES, 4, "float64", "work", when="histories",
          doc="two terms per entry, its table padded to the largest region (counted twice)", at_least_one=True),
)

#: The arrays a restart point holds.
RESTART = tuple(a.name for a in ARRAYS if a.role == "restart")
#: The datasets of a snapshot or checkpoint file that are restart arrays (io/hdf5.py), in the
#: table's order; the constraints' work is kept with the history.
RESTART_DATASETS = tuple(a.stored_as for a in ARRAYS
                         if a.role == "restart" and "/" not in a.stored_as)


@dataclass(frozen=True)
class Sizes:
    """The numbers the table's shapes are made of, for one model and backend."""
    particles: int
    dimension: int
    words: int              # bond-state words per particle
    explicit_rows: int
    explicit_bonds: int     # the explicit rows' bond slots as stored (padded on the GPU)
    slots: int
    constraints: int
    groups: int
    entries: int
    real_bytes: int
    backend: str            # "cpu" or "cuda"
    material: str
    histories: bool

    def count(self, per: str) -> int:
        return {PARTICLES: self.particles, ROWS: self.explicit_rows, BONDS: self.explicit_bonds,
                SLOTS: self.slots, CONSTRAINTS: self.constraints, GROUPS: self.groups,
                ENTRIES: self.entries}[per]

    def columns(self, array: Array) -> int:
        count = self.count(array.per)
        return max(1, count) if array.at_least_one else count

    def rows(self, rows: int | str) -> int:
        if isinstance(rows, int):
            return rows
        return {"dim": self.dimension, "words": self.words,
                "dim*groups": self.dimension * self.groups, "sums": 4 + self.groups}[rows]

    def itemsize(self, dtype: str) -> int:
        return self.real_bytes if dtype == "real" else np.dtype(dtype).itemsize

    def present(self, array: Array) -> bool:
        return (not array.when or (array.when == "lps" and self.material == "lps")
                or (array.when == "histories" and self.histories)
                or (array.when == "cuda" and self.backend == "cuda"))

    def nbytes(self, array: Array) -> int:
        return self.columns(array) * self.rows(array.rows) * self.itemsize(array.dtype)


def sizes(particles: int, dimension: int, precision: str, backend: str = "cpu",
          max_bonds: int = 0, explicit_particles: int = 0, explicit_bonds: int = 0,
          stencil_size: int = 0, load_groups: int = 0, histories: bool = True,
          constraint_entries: int = 0, history_entries: int = 0, material: str = "pmb") -> Sizes:
    """The Sizes of a run; ``explicit_bonds``: the explicit rows' bond slots as stored (the GPU
    pads every row to the longest)."""
    return Sizes(particles=particles, dimension=dimension, words=max(1, math.ceil(max_bonds / 32)),
                 explicit_rows=explicit_particles, explicit_bonds=explicit_bonds, slots=stencil_size,
                 constraints=constraint_entries, groups=load_groups, entries=history_entries,
                 real_bytes=8 if precision == "float64" else 4, backend=backend,
                 material=material, histories=histories)


def shape(array: Array, sizes_: Sizes) -> tuple[int, ...]:
    """The array's shape: (columns,) for one row, else (rows, columns); load_forces is
    (groups, dim, particles)."""
    count = sizes_.columns(array)
    if array.rows == "dim*groups":
        return (sizes_.groups, sizes_.dimension, count)
    rows = sizes_.rows(array.rows)
    return (count,) if array.rows == 1 else (rows, count)


def dtype_of(array: Array, real: np.dtype) -> np.dtype:
    return np.dtype(real) if array.dtype == "real" else np.dtype(array.dtype)


def total_bytes(sizes_: Sizes) -> int:
    """Bytes of every array the table gives a run of these sizes."""
    return sum(sizes_.nbytes(a) for a in ARRAYS if sizes_.present(a))


def by_name(name: str) -> Array:
    return _BY_NAME[name]


_BY_NAME = {a.name: a for a in ARRAYS}
