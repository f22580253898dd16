"""The regular lattice the particles sit on: cell centres of whole cells filling a box.

Positions are (N, dim) float64 arrays here; the model turns them into structure-of-arrays form.
"""
from __future__ import annotations

import numpy as np

from ..case.schema import Box


def lattice(box: Box, spacing: float) -> np.ndarray:
    """Cell centres of a regular lattice filling ``box``: first particle at min + spacing/2.

    Whole cells only: along each axis n = floor(extent / spacing) cells (an extent within 1e-6
    spacings of a whole number counts as that number). Order is lexicographic with x fastest, which
    keeps neighbours close in memory. Returns (N, dim) float64.
    """
    lo = np.asarray(box.min, dtype=np.float64)
    counts = lattice_counts(box, spacing)
    axes = [lo[d] + spacing * (0.5 + np.arange(counts[d])) for d in range(len(lo))]
    grids = np.meshgrid(*axes[::-1], indexing="ij")  # last axis slowest -> x fastest
    return np.stack([g.ravel() for g in grids[::-1]], axis=1)


def lattice_counts(box: Box, spacing: float) -> np.ndarray:
    """Cells of ``lattice`` along each axis (int64)."""
    lo = np.asarray(box.min, dtype=np.float64)
    hi = np.asarray(box.max, dtype=np.float64)
    return np.floor((hi - lo) / spacing + 1e-6).astype(np.int64)
