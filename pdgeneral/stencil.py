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
from the table and read no per-bond data at all. The others (within about two horizons of a surface
or a hole, where the rows are shorter or the surface correction changes the weights) keep an explicit
row. The choice only changes where the same numbers are read from, never which numbers: forces are
identical either way (tests/test_stencil.py).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange


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


def lattice_indices(points: np.ndarray, origin: np.ndarray, spacing: float) -> np.ndarray:
    """(N, dim) int32 lattice coordinates of the cell centres origin + spacing * (k + 1/2)."""
    return np.rint((points - origin) / spacing - 0.5).astype(np.int32)


@njit(parallel=True, cache=True)
def _candidate_slots(index, offsets, neighbors, reach, lookup, bond_slot):
    """bond_slot[k] = lookup[key of the lattice vector of bond k] (-1 if outside the reach)."""
    n, dim = index.shape
    width = 2 * reach + 1
    for i in prange(n):
        for k in range(offsets[i], offsets[i + 1]):
            j = neighbors[k]
            key = 0
            outside = False
            for d in range(dim - 1, -1, -1):
                step = index[j, d] - index[i, d]
                if step < -reach or step > reach:
                    outside = True
                key = key * width + step + reach
            bond_slot[k] = -1 if outside else lookup[key]


@njit(cache=True)
def _mark_used(bond_slot, used):
    for k in range(bond_slot.shape[0]):
        used[bond_slot[k]] = True


@njit(parallel=True, cache=True)
def _renumber(bond_slot, new_slot, out):
    for k in prange(bond_slot.shape[0]):
        out[k] = new_slot[bond_slot[k]]


def build(index: np.ndarray, counts: np.ndarray, offsets: np.ndarray, neighbors: np.ndarray,
          horizon: float, spacing: float) -> tuple[Stencil, np.ndarray]:
    """The stencil of a lattice model and each bond's slot in it: (Stencil, bond_slot (M,) uint16).

    ``index`` (N, dim) lattice coordinates, ``counts`` the lattice size along each axis, ``offsets``
    and ``neighbors`` the CSR bond rows. Raises ValueError if a bond is not a lattice vector within
    the horizon (a bug, not a user error)."""
    dim = index.shape[1]
    reach = int(math.ceil(horizon / spacing * (1 + 1e-6)))
    width = 2 * reach + 1
    strides = np.cumprod([1, *counts[:-1]]).astype(np.int64)
    candidates = [v for v in itertools.product(range(-reach, reach + 1), repeat=dim) if any(v)]
    lookup = np.full(width**dim, -1, dtype=np.int64)
    for slot, v in enumerate(candidates):
        key = 0
        for d in range(dim - 1, -1, -1):
            key = key * width + v[d] + reach
        lookup[key] = slot
    slots = np.empty(neighbors.shape[0], dtype=np.int64)
    _candidate_slots(index, offsets, neighbors, reach, lookup, slots)
    if slots.size and slots.min() < 0:
        raise ValueError("a bond is longer than the horizon allows on the lattice")
    used = np.zeros(len(candidates), dtype=np.bool_)
    _mark_used(slots, used)
    kept = [v for v, keep in zip(candidates, used) if keep]
    kept.sort(key=lambda v: int(np.dot(v, strides)))
    if len(kept) > np.iinfo(np.uint16).max:
        raise ValueError(f"{len(kept)} lattice vectors in the horizon: more than a bond slot holds")
    new_slot = np.full(len(candidates), -1, dtype=np.int64)
    position = {v: s for s, v in enumerate(kept)}
    for old, v in enumerate(candidates):
        if v in position:
            new_slot[old] = position[v]
    bond_slot = np.empty(neighbors.shape[0], dtype=np.uint16)
    _renumber(slots, new_slot, bond_slot)
    vectors = np.array(kept, dtype=np.int32).reshape(-1, dim)
    xi = np.ascontiguousarray(vectors.T.astype(np.float64) * spacing)
    length = np.sqrt(np.sum(xi * xi, axis=0))   # the same sum for v and -v: equal lengths
    return Stencil(vectors=vectors, offsets=vectors.astype(np.int64) @ strides, xi=xi,
                   length=length), bond_slot


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
        _full_rows(offsets, neighbors, bond_slot, stencil.offsets, full)
        if full.any():
            keys = np.empty(n)
            coefficients = np.random.default_rng(0).uniform(0.5, 1.5, stencil.size)
            _row_keys(offsets, weights, full, coefficients, keys)
            values, first, counts = np.unique(keys[full], return_index=True, return_counts=True)
            typical = np.flatnonzero(full)[first[np.argmax(counts)]]
            stencil_weight = np.array(weights[offsets[typical]:offsets[typical + 1]])
            _same_weights(offsets, weights, stencil_weight, full)
    explicit = np.flatnonzero(~full)
    bond_row = np.full(n, -1, dtype=np.int32)
    bond_row[explicit] = np.arange(explicit.size, dtype=np.int32)
    return Rows(bond_row=bond_row, explicit=explicit, stencil_weight=stencil_weight)


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
