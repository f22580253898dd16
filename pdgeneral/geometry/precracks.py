"""Pre-cracks: which bonds a crack segment (2D) or rectangle (3D) cuts (docs/theory.md sec. 9).

Positions are (N, dim) float64 arrays here; the model turns them into structure-of-arrays form.
"""
from __future__ import annotations

import numpy as np

from ..case.schema import Precrack

#: Relative distance (to the bond length) below which a point counts as lying on a line.
SNAP = 1e-9


def _orientation(ax, ay, bx, by, px, py):
    """Twice the signed area of triangle (a, b, p): > 0 when p is left of a->b."""
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


def bonds_cut_by_segment(xi: np.ndarray, xj: np.ndarray, start, end) -> np.ndarray:
    """Mask of bonds (xi -> xj, arrays (M, 2)) that cross the crack segment start -> end.

    A bond is cut when its end points lie strictly on opposite sides of the crack line and the crack
    end points lie on opposite sides of (or on) the bond's line. A particle lying exactly on the crack
    line is therefore never detached, and a bond that touches the crack tip counts as cut.
    "Exactly" means within 1e-9 of the bond length: coordinates such as 0.05 or k * 2e-3 / 3 are not
    representable, and deciding a bond through the tip by the sign of a rounding error cut the two
    sides of a crack differently.
    """
    ax, ay = start
    bx, by = end
    length = np.hypot(xj[:, 0] - xi[:, 0], xj[:, 1] - xi[:, 1])
    crack_length = np.hypot(bx - ax, by - ay)

    def orientation(scale, *points):
        o = _orientation(*points)   # |o| = the length of one side times a distance
        return np.where(np.abs(o) <= SNAP * length * scale, 0.0, o)

    o1 = orientation(crack_length, ax, ay, bx, by, xi[:, 0], xi[:, 1])
    o2 = orientation(crack_length, ax, ay, bx, by, xj[:, 0], xj[:, 1])
    o3 = orientation(length, xi[:, 0], xi[:, 1], xj[:, 0], xj[:, 1], ax, ay)
    o4 = orientation(length, xi[:, 0], xi[:, 1], xj[:, 0], xj[:, 1], bx, by)
    return (o1 * o2 < 0) & (o3 * o4 <= 0)


def bonds_cut_by_rectangle(xi: np.ndarray, xj: np.ndarray, corner, edge1, edge2) -> np.ndarray:
    """Mask of bonds (arrays (M, 3)) that cross the planar parallelogram corner + a edge1 + b edge2,
    a and b in [0, 1]. End points strictly on opposite sides of the plane, as for segments."""
    corner = np.asarray(corner, dtype=np.float64)
    e1 = np.asarray(edge1, dtype=np.float64)
    e2 = np.asarray(edge2, dtype=np.float64)
    normal = np.cross(e1, e2)
    di = (xi - corner) @ normal
    dj = (xj - corner) @ normal
    crossing = di * dj < 0
    out = np.zeros(len(xi), dtype=bool)
    if not np.any(crossing):
        return out
    idx = np.nonzero(crossing)[0]
    t = di[idx] / (di[idx] - dj[idx])
    point = xi[idx] + t[:, None] * (xj[idx] - xi[idx]) - corner
    # Solve point = a e1 + b e2 in the plane through the 2x2 Gram system.
    g11, g12, g22 = e1 @ e1, e1 @ e2, e2 @ e2
    r1, r2 = point @ e1, point @ e2
    det = g11 * g22 - g12 * g12
    a = (r1 * g22 - r2 * g12) / det
    b = (r2 * g11 - r1 * g12) / det
    out[idx] = (a >= 0) & (a <= 1) & (b >= 0) & (b <= 1)
    return out


def precrack_bounds(crack: Precrack) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned bounding box of a pre-crack, to test only the bonds near it."""
    if crack.segment is not None:
        pts = np.array([crack.segment.start, crack.segment.end], dtype=np.float64)
    else:
        r = crack.rectangle
        c = np.asarray(r.corner, dtype=np.float64)
        e1 = np.asarray(r.edge1, dtype=np.float64)
        e2 = np.asarray(r.edge2, dtype=np.float64)
        pts = np.array([c, c + e1, c + e2, c + e1 + e2])
    return pts.min(axis=0), pts.max(axis=0)


def bonds_cut_by(crack: Precrack, xi: np.ndarray, xj: np.ndarray) -> np.ndarray:
    if crack.segment is not None:
        return bonds_cut_by_segment(xi, xj, crack.segment.start, crack.segment.end)
    r = crack.rectangle
    return bonds_cut_by_rectangle(xi, xj, r.corner, r.edge1, r.edge2)
