"""The lattice stencil: every bond of a model is one of a fixed set of lattice vectors.

Particles sit on a regular lattice (geometry.lattice), so the reference vector xi of every bond is
an integer vector times the spacing. The model stores each bond's slot in a table of these vectors,
and everything that needs xi or |xi| (forces, damage, weights, surface correction) reads the table:

- xi is the exact lattice vector, so the bond j -> i has exactly -xi of i -> j, the same |xi| and the
  same stretch: both ends of a bond break in the same step, whichever way each end reads its data;
- the force loop gathers no reference positions and takes no square root for |xi|.

A particle whose bond row is the whole stencil in stencil order (neighbour j = i + offset[n] for
every slot n, as in the interior of a lattice in x-fastest order) and whose bond weights equal the
interior weights bit for bit is a *stencil particle*: the kernels take its neighbours and weights
from the table and read no per-bond data at all. The others keep an explicit row: those within
about two horizons of a surface (shorter rows, or weights the surface correction changes) and, in a
body with holes, those whose index distance to a neighbour changes because particles between them
in the numbering were removed (the rows or planes across a hole's extent). The choice only
changes where the same numbers are read from, never which numbers: forces are identical either
way (tests/test_stencil.py).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from .neighbors import HORIZON_TOLERANCE  # the same bonds as the search over positions


@dataclass(frozen=True)
class Stencil:
    """The S lattice vectors that occur as bonds, ordered by their offset in the lattice's
    x-fastest numbering (so a full row in ascending neighbour order is the stencil in slot order)."""
    vectors: np.ndarray   # (S, dim) int32, lattice steps
    offsets: np.ndarray   # (S,) int64, j - i in a lattice without holes
    xi: np.ndarray        # (dim, S) float64, reference bond vectors (m)
    length: np.ndarray    # (S,) float64, |xi| (m)

    @property
    def size(self) -> int:
        return self.offsets.shape[0]


def vectors_within(horizon: float, spacing: float, counts: np.ndarray,
                   tolerance: float = HORIZON_TOLERANCE) -> np.ndarray:
    """(S, dim) int32 lattice vectors k with 0 < |k| dx <= horizon (1 + tolerance), ordered by
    their offset k_x + n_x k_y (+ n_x n_y k_z) in a lattice of ``counts`` cells: for one particle,
    ascending offset is ascending neighbour index, the order of a bond row."""
    dim = len(counts)
    reach = math.floor(horizon / spacing * (1 + tolerance))
    limit = (horizon * (1 + tolerance)) ** 2
    strides = np.cumprod([1, *counts[:-1]]).astype(np.int64)
    vectors = [v for v in itertools.product(range(-reach, reach + 1), repeat=dim)
               if any(v) and sum((c * spacing) ** 2 for c in v) <= limit]
    vectors.sort(key=lambda v: int(np.dot(v, strides)))
    if len(vectors) > np.iinfo(np.uint16).max:
        raise ValueError(f"{len(vectors)} lattice vectors in the horizon: more than a bond slot holds")
    return np.array(vectors, dtype=np.int32).reshape(-1, dim)


@njit(inline="always")
def _cell_of(index, i, offsets, s, counts):
    """The x-fastest number of the lattice cell at particle i's cell plus offsets[s], -1 outside
    the lattice."""
    cell = 0
    stride = 1
    for d in range(index.shape[1]):
        c = index[i, d] + offsets[s, d]
        if c < 0 or c >= counts[d]:
            return -1
        cell += c * stride
        stride *= counts[d]
    return cell


@njit(parallel=True, cache=True)
def _lattice_rows(index, grid_to_particle, counts, vectors, offsets, neighbors, bond_slot, fill):
    """Count (fill=False) or write (fill=True) each particle's bonds: the stencil vectors whose end
    is a lattice cell inside the box that holds a particle (holes remove some)."""
    n = index.shape[0]
    for i in prange(n):
        count = 0
        write = offsets[i] if fill else 0
        for s in range(vectors.shape[0]):
            cell = _cell_of(index, i, vectors, s, counts)
            if cell < 0:
                continue
            j = grid_to_particle[cell]
            if j < 0:
                continue
            if fill:
                neighbors[write + count] = j
                bond_slot[write + count] = s
            count += 1
        if not fill:
            offsets[i + 1] = count


def lattice_bonds(index: np.ndarray, kept: np.ndarray, counts: np.ndarray, horizon: float,
                  spacing: float) -> tuple[Stencil, np.ndarray, np.ndarray, np.ndarray]:
    """The bonds of a lattice model without a neighbour search: (Stencil, offsets (N+1,) int64,
    neighbors (M,) int32, bond_slot (M,) uint16), rows in ascending neighbour order.

    ``index`` (N, dim) lattice coordinates of the particles, ``kept`` their cells' numbers in the
    x-fastest lattice of ``counts`` cells (ascending: geometry.lattice's order with holes removed).
    The same rows as a search for |x_j - x_i| <= horizon (1 + 1e-10) among the positions
    (neighbors.find_neighbors, which tests/test_stencil.py compares against), found by walking the
    stencil from each particle: each particle's row costs S lookups and no distances."""
    counts = np.asarray(counts, dtype=np.int64)
    vectors = vectors_within(horizon, spacing, counts)
    grid_to_particle = np.full(int(np.prod(counts)), -1, dtype=np.int32)
    grid_to_particle[kept] = np.arange(kept.shape[0], dtype=np.int32)
    n = index.shape[0]
    offsets = np.zeros(n + 1, dtype=np.int64)
    _lattice_rows(index, grid_to_particle, counts, vectors, offsets, np.empty(0, np.int32),
                  np.empty(0, np.uint16), False)
    np.cumsum(offsets, out=offsets)
    neighbors = np.empty(offsets[-1], dtype=np.int32)
    bond_slot = np.empty(offsets[-1], dtype=np.uint16)
    _lattice_rows(index, grid_to_particle, counts, vectors, offsets, neighbors, bond_slot, True)
    strides = np.cumprod([1, *counts[:-1]]).astype(np.int64)
    xi = np.ascontiguousarray(vectors.T.astype(np.float64) * spacing)
    length = np.sqrt(np.sum(xi * xi, axis=0))   # the same sum for v and -v: equal lengths
    stencil = Stencil(vectors=vectors, offsets=vectors.astype(np.int64) @ strides, xi=xi,
                      length=length)
    return stencil, offsets, neighbors, bond_slot


@njit(parallel=True, cache=True)
def _full_rows(offsets, neighbors, bond_slot, stencil_offsets, full):
    """full[i] = the row of i is the whole stencil in slot order with j = i + offset[n]."""
    size = stencil_offsets.shape[0]
    for i in prange(offsets.shape[0] - 1):
        first = offsets[i]
        ok = offsets[i + 1] - first == size
        if ok:
            for n in range(size):
                if bond_slot[first + n] != n or neighbors[first + n] - i != stencil_offsets[n]:
                    ok = False
                    break
        full[i] = ok


@njit(parallel=True, cache=True)
def _row_keys(offsets, weights, full, coefficients, keys):
    """A number per full row that equal weight rows share (a fixed linear combination)."""
    for i in prange(offsets.shape[0] - 1):
        key = np.nan
        if full[i]:
            key = 0.0
            first = offsets[i]
            for n in range(coefficients.shape[0]):
                key += weights[first + n] * coefficients[n]
        keys[i] = key


@njit(parallel=True, cache=True)
def _same_weights(offsets, weights, row_weights, full):
    for i in prange(offsets.shape[0] - 1):
        if full[i]:
            first = offsets[i]
            for n in range(row_weights.shape[0]):
                if weights[first + n] != row_weights[n]:
                    full[i] = False
                    break


@dataclass(frozen=True)
class Rows:
    """Which particles read their bonds from the stencil, and the explicit rows of the others."""
    bond_row: np.ndarray         # (N,) int32: -1 for stencil particles, else the explicit row
    explicit: np.ndarray         # (E,) int64, the particles with explicit rows, ascending
    stencil_weight: np.ndarray   # (S,) float64, the weights of a stencil particle's bonds

    @property
    def stencil_particles(self) -> int:
        return int(self.bond_row.shape[0] - self.explicit.shape[0])


def full_rows(offsets: np.ndarray, neighbors: np.ndarray, bond_slot: np.ndarray,
              stencil: Stencil) -> np.ndarray:
    """(N,) bool: the particle's row is the whole stencil in slot order, j = i + offset[n]."""
    full = np.zeros(offsets.shape[0] - 1, dtype=np.bool_)
    if stencil.size:
        _full_rows(offsets, neighbors, bond_slot, stencil.offsets, full)
    return full


def rows_of(is_stencil: np.ndarray, stencil_weight: np.ndarray) -> Rows:
    """The Rows of a classification: explicit rows for the particles that are not stencil ones."""
    explicit = np.flatnonzero(~is_stencil)
    bond_row = np.full(is_stencil.shape[0], -1, dtype=np.int32)
    bond_row[explicit] = np.arange(explicit.size, dtype=np.int32)
    return Rows(bond_row=bond_row, explicit=explicit, stencil_weight=stencil_weight)


def key_coefficients(size: int) -> np.ndarray:
    """The fixed coefficients of a full row's key (_row_keys)."""
    return np.random.default_rng(0).uniform(0.5, 1.5, size)


def most_common_row(keys: np.ndarray, full: np.ndarray) -> int:
    """The first full row of the most common key (classify's interior row)."""
    _values, first, counts = np.unique(keys[full], return_index=True, return_counts=True)
    return int(np.flatnonzero(full)[first[np.argmax(counts)]])


def classify(offsets: np.ndarray, neighbors: np.ndarray, bond_slot: np.ndarray, weights: np.ndarray,
             stencil: Stencil, enabled: bool = True) -> Rows:
    """Split the particles into stencil particles and explicit rows (see the module text).

    The interior weight row is the most common weight row among the structurally full rows (the
    interior, away from surfaces where the correction changes the weights); particles qualify when
    their weights equal it bit for bit. ``enabled=False`` gives every particle an explicit row."""
    n = offsets.shape[0] - 1
    full = np.zeros(n, dtype=np.bool_)
    stencil_weight = np.zeros(stencil.size)
    if enabled and stencil.size:
        full = full_rows(offsets, neighbors, bond_slot, stencil)
        if full.any():
            keys = np.empty(n)
            _row_keys(offsets, weights, full, key_coefficients(stencil.size), keys)
            typical = most_common_row(keys, full)
            stencil_weight = np.array(weights[offsets[typical]:offsets[typical + 1]])
            _same_weights(offsets, weights, stencil_weight, full)
    return rows_of(full, stencil_weight)


@njit(parallel=True, cache=True)
def _gather_rows(offsets, explicit, row_offsets, values, out):
    for r in prange(explicit.shape[0]):
        i = explicit[r]
        start = offsets[i]
        for n in range(offsets[i + 1] - start):
            out[row_offsets[r] + n] = values[start + n]


def explicit_rows(offsets: np.ndarray, explicit: np.ndarray, *per_bond: np.ndarray):
    """CSR rows of the explicit particles only: (row offsets (E + 1,) int64, then each per-bond
    array restricted to those rows)."""
    counts = offsets[explicit + 1] - offsets[explicit]
    row_offsets = np.zeros(explicit.size + 1, dtype=np.int64)
    np.cumsum(counts, out=row_offsets[1:])
    gathered = []
    for values in per_bond:
        out = np.empty(int(row_offsets[-1]), dtype=values.dtype)
        _gather_rows(offsets, explicit, row_offsets, values, out)
        gathered.append(out)
    return (row_offsets, *gathered)


def crossed_cells(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lattice cells that each stencil vector's bond passes through: (first (S+1,) int64,
    cells (C, dim) int64), CSR over the vectors, cells as offsets from the bond's first particle.

    A cell counts when the open segment from 0 to the vector crosses the inside of the cell's box
    (half a spacing about the cell centre) over a positive length: a bond that only touches a
    cell's corner or runs along its edge does not pass through it. The two end cells are left
    out. Exact for the integer vectors of a lattice (slab test in cell units)."""
    vectors = np.asarray(vectors, dtype=np.int64)
    first = [0]
    cells: list[np.ndarray] = []
    for vector in vectors:
        lo, hi = np.minimum(vector, 0), np.maximum(vector, 0)
        grid = np.stack(np.meshgrid(*[np.arange(a, b + 1) for a, b in zip(lo, hi, strict=True)],
                                    indexing="ij"), axis=-1).reshape(-1, vectors.shape[1])
        start = np.zeros(len(grid))
        stop = np.ones(len(grid))
        for d, component in enumerate(vector):
            if component == 0:   # the segment stays on this axis's cell centre line
                stop = np.where(grid[:, d] == 0, stop, -1.0)
                continue
            a = (grid[:, d] - 0.5) / component
            b = (grid[:, d] + 0.5) / component
            start = np.maximum(start, np.minimum(a, b))
            stop = np.minimum(stop, np.maximum(a, b))
        ends = np.all(grid == 0, axis=1) | np.all(grid == vector, axis=1)
        crossed = grid[(stop - start > 1e-9) & ~ends]
        cells.append(crossed)
        first.append(first[-1] + len(crossed))
    return (np.asarray(first, dtype=np.int64),
            np.concatenate(cells).astype(np.int64) if cells else np.zeros((0, vectors.shape[1]),
                                                                            np.int64))


@njit(cache=True)
def _bonds_through_voids(rows, index, offsets, neighbors, bond_slot, counts, solid, cell_first,
                         cells, through):
    """through[k] = True for the bonds k of ``rows`` that pass through a cell outside the body
    (not ``solid``, or outside the lattice), and for their twins in the neighbours' rows."""
    for i in rows:
        for k in range(offsets[i], offsets[i + 1]):
            s = bond_slot[k]
            for m in range(cell_first[s], cell_first[s + 1]):
                cell = _cell_of(index, i, cells, m, counts)
                if cell < 0 or not solid[cell]:
                    through[k] = True
                    j = neighbors[k]
                    for q in range(offsets[j], offsets[j + 1]):   # the twin, j's bond to i
                        if neighbors[q] == i:
                            through[q] = True
                            break
                    break


def bonds_through_voids(stencil: Stencil, index: np.ndarray, kept: np.ndarray, counts: np.ndarray,
                        offsets: np.ndarray, neighbors: np.ndarray, bond_slot: np.ndarray,
                        horizon: float, spacing: float, search_all: bool = False) -> np.ndarray:
    """(M,) bool: the bonds that pass through a lattice cell that is not part of the body (a
    hole, a notch, the outside of a concave outline), both ends of each (crossed_cells).

    Only rows that miss a stencil neighbour are searched: a cell that a bond passes through lies
    within |xi|/2 + sqrt(dim)/2 spacings of one of the bond's ends, so within that end's horizon
    when this reach is at most the horizon (3.015 spacings: 1.51 + 0.87 in 3D), and a row with
    every stencil neighbour has every cell within its horizon in the body. Shorter horizons (and
    ``search_all``) search every row."""
    dim = index.shape[1]
    solid = np.zeros(int(np.prod(counts)), dtype=np.bool_)
    solid[kept] = True
    reach = float(np.max(stencil.length)) / spacing / 2.0 + 0.5 * np.sqrt(dim)
    whole = np.diff(offsets) == stencil.vectors.shape[0]
    if search_all or reach > horizon / spacing:
        rows = np.arange(index.shape[0])
    else:
        rows = np.flatnonzero(~whole)
    cell_first, cells = crossed_cells(stencil.vectors)
    through = np.zeros(neighbors.shape[0], dtype=np.bool_)
    _bonds_through_voids(rows.astype(np.int64), index, offsets, neighbors, bond_slot,
                         np.asarray(counts, dtype=np.int64), solid, cell_first, cells, through)
    return through


@njit(cache=True)
def without(values: np.ndarray, drop: np.ndarray) -> np.ndarray:
    """``values`` less the entries where ``drop`` is set, in order (np.delete took 0.7 s for a
    1M-particle 3D model's bonds; one pass here)."""
    out = np.empty(values.shape[0] - np.count_nonzero(drop), dtype=values.dtype)
    n = 0
    for k in range(values.shape[0]):
        if not drop[k]:
            out[n] = values[k]
            n += 1
    return out
