"""Neighbour search: a numba cell list that writes the bond list in CSR form.

The model finds its bonds by walking the lattice stencil (stencil.lattice_bonds); this search over
the positions is the independent reference it is tested against (tests/test_stencil.py), and works
for point sets that are not a lattice.

Cells have the size of the horizon, so the neighbours of a particle lie in its own cell and the
3^dim cells around it. Each particle's row is filled independently (prange), then sorted by
neighbour index, so the result does not depend on the thread count.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

# Bonds with |xi| <= horizon * (1 + this) are kept: a horizon that falls exactly on a lattice
# distance (e.g. 3 dx) must include that shell whatever the rounding of the coordinates.
HORIZON_TOLERANCE = 1e-10


@njit(cache=True)
def _cell_coords(points, lo, cell_size, dims):
    n, dim = points.shape
    cell = np.empty(n, dtype=np.int64)
    for i in range(n):
        index = 0
        stride = 1
        for d in range(dim):
            c = int((points[i, d] - lo[d]) / cell_size)
            c = min(max(c, 0), dims[d] - 1)
            index += c * stride
            stride *= dims[d]
        cell[i] = index
    return cell


@njit(parallel=True, cache=True)
def _scan(points, lo, cell_size, dims, cell_start, order, radius2, offsets, neighbors, fill):
    """Count (fill=False) or write (fill=True) the neighbours of every particle."""
    n, dim = points.shape
    for i in prange(n):
        ci = np.zeros(3, dtype=np.int64)
        for d in range(dim):
            c = int((points[i, d] - lo[d]) / cell_size)
            ci[d] = min(max(c, 0), dims[d] - 1)
        count = 0
        write = offsets[i] if fill else 0
        zr = 1 if dim == 3 else 0
        for dz in range(-zr, zr + 1):
            for dy in range(-1, 2):
                for dx in range(-1, 2):
                    cx = ci[0] + dx
                    cy = ci[1] + dy
                    cz = ci[2] + dz
                    if cx < 0 or cy < 0 or cz < 0 or cx >= dims[0] or cy >= dims[1]:
                        continue
                    if dim == 3 and cz >= dims[2]:
                        continue
                    cell = cx + dims[0] * (cy + dims[1] * cz)
                    for p in range(cell_start[cell], cell_start[cell + 1]):
                        j = order[p]
                        if j == i:
                            continue
                        r2 = 0.0
                        for d in range(dim):
                            delta = points[j, d] - points[i, d]
                            r2 += delta * delta
                        if r2 <= radius2:
                            if fill:
                                neighbors[write + count] = j
                            count += 1
        if fill:
            # Insertion sort of the short row: ascending j, independent of the cell traversal.
            start = offsets[i]
            for a in range(start + 1, start + count):
                value = neighbors[a]
                b = a - 1
                while b >= start and neighbors[b] > value:
                    neighbors[b + 1] = neighbors[b]
                    b -= 1
                neighbors[b + 1] = value
        else:
            offsets[i + 1] = count


def find_neighbors(points: np.ndarray, horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """All pairs with |x_j - x_i| <= horizon, as CSR: (offsets (N+1,) int64, neighbors (M,) int32).

    ``points`` is (N, dim) float64. Row i holds the neighbours of i in ascending order; every bond is
    stored from both ends.
    """
    points = np.ascontiguousarray(points, dtype=np.float64)
    n, _dim = points.shape
    lo = points.min(axis=0)
    extent = points.max(axis=0) - lo
    # Cells a little wider than the search radius: two particles within the radius then always lie
    # in the same or adjacent cells, whatever the rounding of (x - lo) / cell_size. Cells of exactly
    # the horizon lost bonds of length 3 dx in a horizon of 3 dx (x = 2e-3/3 * k on a 2 mm horizon).
    cell_size = float(horizon) * (1.0 + 1e3 * HORIZON_TOLERANCE)
    dims = np.maximum(1, np.floor(extent / cell_size).astype(np.int64) + 1)
    cell = _cell_coords(points, lo, cell_size, dims)
    order = np.argsort(cell, kind="stable")
    counts = np.bincount(cell, minlength=int(np.prod(dims)))
    cell_start = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=cell_start[1:])
    radius2 = (horizon * (1.0 + HORIZON_TOLERANCE)) ** 2
    offsets = np.zeros(n + 1, dtype=np.int64)
    dummy = np.empty(0, dtype=np.int32)
    _scan(points, lo, cell_size, dims, cell_start, order, radius2, offsets, dummy, False)
    np.cumsum(offsets, out=offsets)
    neighbors = np.empty(offsets[-1], dtype=np.int32)
    _scan(points, lo, cell_size, dims, cell_start, order, radius2, offsets, neighbors, True)
    return offsets, neighbors
