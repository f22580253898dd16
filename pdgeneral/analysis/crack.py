"""Crack metrics from a damage field: which particles are cracked, where a crack crosses a line, where
its tip is, how fast it runs, where it branches, at what angle it runs, how symmetric it is.

Every function works on plain arrays, so it applies to any run (or any other code's output):

    position   (N, dim) float, reference coordinates of the particles, m (``/particles/position``)
    damage     (N,) float in [0, 1], the broken fraction of each particle's bond volume
               (docs/theory.md sec. 4; ``/steps/<step>/damage``)
    spacing    lattice spacing dx, m (the file attribute ``spacing``)

A *crack* is a set of cracked particles (damage >= ``threshold``) linked to one another: two cracked
particles within ``LINK_FACTOR * spacing`` belong to the same crack. ``files.py`` reads the arrays
from an output file and applies these functions over its snapshots.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Damage at and above which a particle counts as cracked. A straight crack between two particle rows
#: takes from each particle next to it the bonds that cross the crack: in the continuum, the circular
#: segment of the horizon beyond the line, (acos(a) - a sqrt(1 - a^2)) / pi of the family with
#: a = z / delta. For delta = 3 dx the first row (z = dx/2) loses 0.39 and the second (z = 1.5 dx)
#: 0.20; for delta = 4 dx, 0.42 and 0.27. 0.3 keeps the rows that border crack faces and leaves out
#: the rows that only lost a few long bonds across them, for the usual horizon factors 3 to 4.
DEFAULT_THRESHOLD = 0.3

#: Two cracked particles closer than this many spacings belong to one crack: 1.5 takes in the eight
#: lattice neighbours (diagonal sqrt(2) dx) and nothing farther.
LINK_FACTOR = 1.5

#: A crack is connected to a start point when one of its particles lies within this many spacings of
#: it: a pre-crack drawn between particle rows has its nearest cracked particles within about dx of
#: its tip; 3 spacings (one horizon at factor 3) tolerates a crack that starts a little off the point.
REACH_FACTOR = 3.0


def _points(position: np.ndarray, damage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    position = np.asarray(position, dtype=float)
    damage = np.asarray(damage, dtype=float)
    if position.ndim != 2 or position.shape[0] != damage.shape[0] or damage.ndim != 1:
        raise ValueError(f"position must be (N, dim) and damage (N,); got {position.shape} and "
                         f"{damage.shape}")
    return position, damage


def _unit(vector: Sequence[float], dim: int) -> np.ndarray:
    v = np.asarray(vector, dtype=float)
    if v.shape != (dim,) or not np.all(np.isfinite(v)) or not np.any(v):
        raise ValueError(f"direction must be a non-zero vector of {dim} components, got {vector!r}")
    return v / np.linalg.norm(v)


def cracked(damage: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """(N,) bool: the particles whose damage is at least ``threshold`` (see DEFAULT_THRESHOLD)."""
    return np.asarray(damage) >= threshold


def crack_bands(position: np.ndarray, damage: np.ndarray, x: float, spacing: float,
                threshold: float = DEFAULT_THRESHOLD, axis: int = 0) -> list[tuple[float, float]]:
    """The separate cracked bands that the line ``position[:, axis] = x`` crosses (2D).

    The particles on the line are those of the lattice column(s) within ``spacing/2`` of ``x`` (two
    columns when ``x`` lies on a cell face). Their cracked particles, sorted along the other axis,
    form one band while consecutive ones are at most ``LINK_FACTOR * spacing`` apart, so two bands
    are separated by at least one uncracked particle row. Returns ``[(low, high), ...]`` in m, the
    centres of the outermost particles of each band, ascending; ``[]`` if the line crosses no crack.
    """
    position, damage = _points(position, damage)
    if position.shape[1] != 2:
        raise ValueError("crack_bands works on 2D fields (for 3D, pass a slice)")
    on_line = np.abs(position[:, axis] - x) <= 0.5 * spacing * (1 + 1e-6)
    across = np.sort(position[on_line & cracked(damage, threshold), 1 - axis])
    return _runs(across, LINK_FACTOR * spacing)


def _runs(values: np.ndarray, gap: float) -> list[tuple[float, float]]:
    """Sorted values split where consecutive ones are more than ``gap`` apart: [(low, high), ...]."""
    if values.size == 0:
        return []
    breaks = np.nonzero(np.diff(values) > gap)[0]
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [values.size - 1]))
    return [(float(values[a]), float(values[b])) for a, b in zip(starts, ends)]


def crack_clusters(position: np.ndarray, damage: np.ndarray, spacing: float,
                   threshold: float = DEFAULT_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """The separate cracks: (indices (K,) of the cracked particles, labels (K,) of their crack, 0..)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    position, damage = _points(position, damage)
    indices = np.nonzero(cracked(damage, threshold))[0]
    if indices.size == 0:
        return indices, np.zeros(0, dtype=np.int64)
    pairs = cKDTree(position[indices]).query_pairs(LINK_FACTOR * spacing, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])),
                       shape=(indices.size, indices.size))
    _, labels = connected_components(graph, directed=False)
    return indices, labels


def crack_from(position: np.ndarray, damage: np.ndarray, start: Sequence[float], spacing: float,
               threshold: float = DEFAULT_THRESHOLD, reach: float | None = None) -> np.ndarray:
    """Indices of the cracked particles connected to ``start`` (m): every crack with a particle within
    ``reach`` of it (default ``REACH_FACTOR * spacing``). Empty when no crack comes that close."""
    position, damage = _points(position, damage)
    start = np.asarray(start, dtype=float)
    reach = REACH_FACTOR * spacing if reach is None else reach
    indices, labels = crack_clusters(position, damage, spacing, threshold)
    if indices.size == 0:
        return indices
    near = np.linalg.norm(position[indices] - start, axis=1) <= reach
    return indices[np.isin(labels, np.unique(labels[near]))]


def crack_tip(position: np.ndarray, damage: np.ndarray, start: Sequence[float], spacing: float,
              direction: Sequence[float] | None = None, threshold: float = DEFAULT_THRESHOLD,
              reach: float | None = None) -> np.ndarray | None:
    """The tip (dim,) in m of the crack connected to ``start`` (e.g. a notch tip): its particle
    farthest from ``start``, or farthest along ``direction`` when given (pass it when a pre-crack
    lies behind the start, or the far end of the pre-crack is the farthest point).

    A crack between particle rows has two cracked rows of equal reach; the tip is the mean of the
    particles within ``spacing/2`` of the farthest reach and linked to the farthest one, so it lies on
    the crack line and not between two branches. ``None`` when no crack is connected to ``start``.
    The tip lies where the damage falls below ``threshold``, behind the end of the cut bonds: for a
    pre-crack ending on a cell face, by dx/2 to 1.5 dx (whether the bonds through the end itself are
    cut is decided by rounding).
    """
    position, damage = _points(position, damage)
    members = crack_from(position, damage, start, spacing, threshold, reach)
    if members.size == 0:
        return None
    start = np.asarray(start, dtype=float)
    offset = position[members] - start
    if direction is None:
        score = np.linalg.norm(offset, axis=1)
    else:
        score = offset @ _unit(direction, position.shape[1])
    far = int(np.argmax(score))
    group = ((score >= score[far] - 0.5 * spacing)
             & (np.linalg.norm(position[members] - position[members[far]], axis=1)
                <= LINK_FACTOR * spacing))
    return position[members[group]].mean(axis=0)


def crack_speed(times: np.ndarray, tips: np.ndarray, window: int = 1,
                direction: Sequence[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Tip speeds (m/s) between snapshots: ``(mid_times (S-w,), speeds (S-w,))`` with ``w = window``.

    ``speeds[k] = |tips[k+w] - tips[k]| / (times[k+w] - times[k])`` (along ``direction`` when given:
    the signed component). ``times`` (S,) in s, ``tips`` (S, dim) in m. The tip jumps by whole lattice
    spacings, so one interval carries an error of about ``spacing / (times[k+1] - times[k])``;
    ``window > 1`` averages over ``w`` intervals and divides that error by ``w``.
    """
    times = np.asarray(times, dtype=float)
    tips = np.asarray(tips, dtype=float)
    if window < 1 or len(times) <= window:
        return np.zeros(0), np.zeros(0)
    moved = tips[window:] - tips[:-window]
    if direction is None:
        distance = np.linalg.norm(moved, axis=1)
    else:
        distance = moved @ _unit(direction, tips.shape[1])
    elapsed = times[window:] - times[:-window]
    return 0.5 * (times[window:] + times[:-window]), distance / elapsed


def mean_crack_speed(times: np.ndarray, tips: np.ndarray, start_time: float, end_time: float) -> float:
    """Mean tip speed (m/s) between the snapshots at ``start_time`` and ``end_time`` (s; the nearest
    snapshots): the straight distance between the two tips over the time between them."""
    times = np.asarray(times, dtype=float)
    tips = np.asarray(tips, dtype=float)
    first = int(np.argmin(np.abs(times - start_time)))
    last = int(np.argmin(np.abs(times - end_time)))
    if last <= first:
        raise ValueError("end_time must come at least one snapshot after start_time")
    return float(np.linalg.norm(tips[last] - tips[first]) / (times[last] - times[first]))


@dataclass
class BranchCount:
    """The cracked bands of one crack on lines across it, at stations along its direction."""
    distances: np.ndarray      # (M,) m, station distance from start along the direction
    counts: np.ndarray         # (M,) int, number of separate bands crossed
    bands: list                # M lists of (low, high): band limits across the direction, m
    origin: np.ndarray         # (2,) m, the start point
    direction: np.ndarray      # (2,) unit vector along the crack
    normal: np.ndarray         # (2,) unit vector across it (direction turned +90 degrees)

    def point(self, distance: float, across: float) -> np.ndarray:
        """Reference coordinates (2,) of a point given along and across the crack."""
        return self.origin + distance * self.direction + across * self.normal


@dataclass
class Branching:
    """Where a crack splits into two paths."""
    point: np.ndarray          # (2,) m, the junction: intersection of lines fitted to the two branches
    separation: np.ndarray     # (2,) m, first station where the two branches are separate bands
    distance: float            # m, the junction's distance from start along the crack direction
    angle: float               # degrees, between the two fitted branches (positive: they diverge)


def branch_count(position: np.ndarray, damage: np.ndarray, start: Sequence[float], spacing: float,
                 direction: Sequence[float] | None = None, threshold: float = DEFAULT_THRESHOLD,
                 reach: float | None = None) -> BranchCount:
    """How many separate bands of the crack connected to ``start`` a line across it crosses, at
    stations every ``spacing`` from ``start`` to the crack's farthest reach along ``direction`` (2D).

    ``direction`` (default: from ``start`` to the crack's farthest particle) is the crack's overall
    direction; each station takes the crack's particles within ``spacing/2`` of it along
    ``direction`` and splits them across it into bands as ``crack_bands`` does.
    """
    position, damage = _points(position, damage)
    if position.shape[1] != 2:
        raise ValueError("branch_count works on 2D fields (for 3D, pass a slice)")
    origin = np.asarray(start, dtype=float)
    members = crack_from(position, damage, origin, spacing, threshold, reach)
    if direction is None:
        if members.size == 0:
            direction = (1.0, 0.0)
        else:
            offsets = position[members] - origin
            direction = offsets[int(np.argmax(np.linalg.norm(offsets, axis=1)))]
    along_unit = _unit(direction, 2)
    normal = np.array([-along_unit[1], along_unit[0]])
    offset = position[members] - origin
    along = offset @ along_unit
    across = offset @ normal
    reach_along = float(along.max()) if members.size else 0.0
    stations = np.arange(0.0, max(reach_along, 0.0) + 0.5 * spacing, spacing)
    bands = []
    for s in stations:
        here = np.abs(along - s) <= 0.5 * spacing * (1 + 1e-6)
        bands.append(_runs(np.sort(across[here]), LINK_FACTOR * spacing))
    counts = np.array([len(b) for b in bands], dtype=np.int64)
    return BranchCount(stations, counts, bands, origin, along_unit, normal)


def branching(position: np.ndarray, damage: np.ndarray, start: Sequence[float], spacing: float,
              direction: Sequence[float] | None = None, threshold: float = DEFAULT_THRESHOLD,
              reach: float | None = None, min_length: float | None = None) -> Branching | None:
    """Where the crack connected to ``start`` splits into two paths (2D), or ``None``.

    Along the crack (``branch_count``), the split is the first station from which every station over
    the next ``min_length`` (default 10 spacings) crosses at least two separate bands: shorter
    forks, a band with a hole, are not branches. Two branches at a small angle stay one (wider) band
    for a while after they part, so the separation station lies beyond the junction; the junction is
    taken where straight lines fitted to the outermost two bands over that ``min_length`` meet (kept
    between ``start`` and the separation station; the separation station if the lines do not meet
    there). ``angle`` is the angle between the two lines.
    """
    profile = branch_count(position, damage, start, spacing, direction, threshold, reach)
    min_length = 10 * spacing if min_length is None else min_length
    window = max(1, round(min_length / spacing))
    counts = profile.counts
    for k in range(len(counts) - window):
        if np.all(counts[k:k + window + 1] >= 2):
            break
    else:
        return None
    s = profile.distances[k:k + window + 1]
    low = np.array([b[0][0] + b[0][1] for b in profile.bands[k:k + window + 1]]) / 2
    high = np.array([b[-1][0] + b[-1][1] for b in profile.bands[k:k + window + 1]]) / 2
    slope_low, cut_low = np.polyfit(s, low, 1)
    slope_high, cut_high = np.polyfit(s, high, 1)
    separate = (low[0] + high[0]) / 2
    separation = profile.point(s[0], separate)
    junction, across = s[0], separate
    if slope_high != slope_low:
        meet = (cut_low - cut_high) / (slope_high - slope_low)
        if 0.0 <= meet <= s[0]:
            junction, across = meet, cut_low + slope_low * meet
    angle = math.degrees(math.atan(slope_high) - math.atan(slope_low))
    return Branching(profile.point(junction, across), separation, float(junction), angle)


def crack_angle(position: np.ndarray, damage: np.ndarray, tip: Sequence[float],
                direction: Sequence[float], r_min: float, r_max: float,
                spacing: float | None = None, threshold: float = DEFAULT_THRESHOLD,
                side: int | None = None, behind: bool = False) -> float:
    """Angle (degrees) from ``direction`` to the crack that leaves ``tip`` (2D), in (-180, 180],
    positive counter-clockwise (from +x towards +y).

    Fits a straight line (total least squares, so any orientation) to the cracked particles at
    distances ``r_min`` to ``r_max`` (m) from ``tip``, oriented away from the tip. Which particles
    count is explicit:
      * ``behind=False`` (default) drops those behind the tip (negative component along
        ``direction``), where a notch or pre-crack usually lies; set True for a crack that turns back;
      * ``side=+1`` keeps only those left of ``direction`` (counter-clockwise side), ``-1`` those on
        the right, ``None`` both (a crack that leaves the tip on one side only);
      * with ``spacing``, only the crack connected to ``tip`` counts (other cracks are left out).
    Raises ValueError when fewer than two particles remain.
    """
    position, damage = _points(position, damage)
    if position.shape[1] != 2:
        raise ValueError("crack_angle works on 2D fields (for 3D, pass a slice)")
    tip = np.asarray(tip, dtype=float)
    unit = _unit(direction, 2)
    if spacing is None:
        chosen = np.nonzero(cracked(damage, threshold))[0]
    else:
        chosen = crack_from(position, damage, tip, spacing, threshold)
    offset = position[chosen] - tip
    distance = np.linalg.norm(offset, axis=1)
    keep = (distance >= r_min) & (distance <= r_max)
    if not behind:
        keep &= offset @ unit >= 0.0
    if side is not None:
        cross = unit[0] * offset[:, 1] - unit[1] * offset[:, 0]
        keep &= (np.sign(side) * cross) > 0.0
    offset = offset[keep]
    if len(offset) < 2:
        raise ValueError(f"only {len(offset)} cracked particles between r_min and r_max of the tip")
    centred = offset - offset.mean(axis=0)
    line = np.linalg.svd(centred, full_matrices=False)[2][0]
    if np.dot(offset.mean(axis=0), line) < 0:
        line = -line
    angle = math.degrees(math.atan2(unit[0] * line[1] - unit[1] * line[0], np.dot(unit, line)))
    return angle if angle > -180.0 else 180.0


def mirror_asymmetry(position: np.ndarray, damage: np.ndarray, y_axis: float,
                     threshold: float = DEFAULT_THRESHOLD, axis: int = 1) -> float:
    """How far the cracked particles are from their mirror image about the plane
    ``position[:, axis] = y_axis`` (m): the largest distance from a cracked particle to the nearest
    mirrored cracked particle (the Hausdorff distance between the set and its mirror image; the
    reflection makes it the same in both directions). 0 for a mirror-symmetric field or no crack;
    divide by the spacing to compare with "symmetric within n dx"."""
    from scipy.spatial import cKDTree

    position, damage = _points(position, damage)
    points = position[cracked(damage, threshold)]
    if len(points) == 0:
        return 0.0
    mirrored = points.copy()
    mirrored[:, axis] = 2.0 * y_axis - mirrored[:, axis]
    distance, _ = cKDTree(mirrored).query(points)
    return float(distance.max())
