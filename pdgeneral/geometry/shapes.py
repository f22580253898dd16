"""Shapes and the body they make: which lattice points lie inside a box, circle, sphere, cylinder,
polygon or closed STL surface, and the particles of a body (a union of shapes, less its holes).

Polygons go through shapely (validity, vectorised inside test) and STL surfaces through trimesh
(reading, the closed-surface check, the ray inside test): nothing here re-implements what those
libraries do. Both are imported on first use, so that ``pdgeneral --help`` stays quick.
Positions are (N, dim) float64 arrays.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..case.schema import Box, Geometry, PointSet, Polygon, Ring, Shape, Stl
from ..errors import CaseError
from .lattice import lattice, lattice_counts

if TYPE_CHECKING:
    import shapely
    import trimesh

# Points within this fraction of the spacing of a shape's boundary count as inside, so that a shape
# whose edge passes exactly through a row of particle centres selects that row whatever the rounding.
_BOUNDARY_TOLERANCE = 1e-9

# Points per trimesh ``contains`` call. Its ray test keeps a list of candidate triangles for every
# ray at once: 1M points through the rtree engine on a 256-triangle cylinder took more than 24 GB.
_CONTAINS_CHUNK = 1 << 17


class ShapeError(ValueError):
    """A shape that cannot be used (an unreadable or open STL file, a polygon that crosses itself);
    the caller adds the case key."""


def within_box(points: np.ndarray, lo, hi) -> np.ndarray:
    """Boolean mask (N,) of the points (N, dim) with lo <= x <= hi in every axis, a column at a
    time: 4x faster than np.all over (N, dim) masks at 4M points (the model build's regions)."""
    mask = np.ones(points.shape[0], dtype=np.bool_)
    for d in range(points.shape[1]):
        column = points[:, d]
        mask &= column >= lo[d]
        mask &= column <= hi[d]
    return mask


def inside(shape: Shape, points: np.ndarray, spacing: float) -> np.ndarray:
    """Boolean mask (N,) of the points inside a shape (boundary included, within a tiny tolerance;
    for an STL surface, whatever trimesh's ray test decides for a point on it)."""
    tol = _BOUNDARY_TOLERANCE * spacing
    spec = shape.spec
    kind = shape.kind
    if kind == "box":
        lo = np.asarray(spec.min) - tol
        hi = np.asarray(spec.max) + tol
        return within_box(points, lo, hi)
    if kind in ("circle", "sphere"):
        distance = np.linalg.norm(points - np.asarray(spec.center), axis=1)
        return distance <= spec.radius + tol
    if kind == "cylinder":
        start = np.asarray(spec.start)
        axis = np.asarray(spec.end) - start
        length = np.linalg.norm(axis)
        axis = axis / length
        rel = points - start
        along = rel @ axis
        radial = np.linalg.norm(rel - np.outer(along, axis), axis=1)
        return (along >= -tol) & (along <= length + tol) & (radial <= spec.radius + tol)
    if kind == "polygon":
        return _inside_polygon(spec, points, tol)
    if kind == "stl":
        return _inside_solid(spec, points)
    if kind == "point_set":
        return _at_points(spec, points, spacing)
    if kind == "ring":
        rel = points - np.asarray(spec.center)
        distance = np.linalg.norm(rel, axis=1)
        mask = (distance >= spec.inner_radius - tol) & (distance <= spec.outer_radius + tol)
        if spec.facing is not None:
            facing = np.asarray(spec.facing, dtype=np.float64)
            # within arc/2 of facing, the arc's end radii included
            cosine = np.cos(np.radians(spec.arc / 2.0))
            mask &= rel @ (facing / np.linalg.norm(facing)) >= distance * cosine - tol
        return mask
    raise ValueError(kind)


def bounds(shape: Shape) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned bounding box (lo, hi) of a shape, m."""
    spec = shape.spec
    kind = shape.kind
    if kind == "box":
        return np.asarray(spec.min, dtype=np.float64), np.asarray(spec.max, dtype=np.float64)
    if kind in ("circle", "sphere"):
        center = np.asarray(spec.center, dtype=np.float64)
        return center - spec.radius, center + spec.radius
    if kind == "cylinder":
        ends = np.array([spec.start, spec.end], dtype=np.float64)
        axis = (ends[1] - ends[0]) / np.linalg.norm(ends[1] - ends[0])
        # An end disc reaches r sqrt(1 - a_d^2) along axis d (zero along an axis parallel to it).
        reach = spec.radius * np.sqrt(np.clip(1.0 - axis**2, 0.0, 1.0))
        return ends.min(axis=0) - reach, ends.max(axis=0) + reach
    if kind == "polygon":
        xmin, ymin, xmax, ymax = polygon(spec).bounds
        return np.array([xmin, ymin]), np.array([xmax, ymax])
    if kind == "stl":
        lo, hi = solid(spec).bounds
        return lo * spec.scale, hi * spec.scale
    if kind == "ring":
        return _ring_bounds(spec)
    raise ValueError(kind)


def _ring_bounds(spec: Ring) -> tuple[np.ndarray, np.ndarray]:
    """The box of a ring, or of its arc: the ends of the arc on both circles and the points of the
    outer circle that face along an axis within the arc."""
    center = np.asarray(spec.center, dtype=np.float64)
    r = spec.outer_radius
    if spec.facing is None or spec.arc >= 360.0:
        return center - r, center + r
    facing = np.asarray(spec.facing, dtype=np.float64)
    facing = facing / np.linalg.norm(facing)
    half = np.radians(spec.arc / 2.0)
    points = []
    for angle in (-half, half):
        end = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ facing
        points += [center + end * radius for radius in (spec.inner_radius, r)]
    points += [center + r * axis for axis in np.vstack([np.eye(2), -np.eye(2)])
               if axis @ facing >= np.cos(half)]
    points = np.array(points)
    return points.min(axis=0), points.max(axis=0)


def _file_stat(path: Path) -> os.stat_result:
    """A shape file's status (its modification time and size key the readers' caches);
    ShapeError when it is missing or cannot be read."""
    try:
        return path.stat()
    except FileNotFoundError:
        raise ShapeError(f"no such file: {path}") from None
    except OSError as err:
        raise ShapeError(f"cannot read {path} ({err.strerror or err})") from None


# --- point sets (CSV or meshio) -------------------------------------------------------------------

#: Files a point set reads as text (anything else goes to meshio).
_TEXT_SUFFIXES = (".csv", ".txt", ".dat", ".xyz")


def point_set(spec: PointSet, dimension: int) -> np.ndarray:
    """The points (P, dimension) of a ``point_set``, in m; ShapeError when the file cannot be read,
    holds no point, has fewer coordinates than the dimension or lacks the set."""
    path = spec.path
    stat = _file_stat(path)
    if path.is_dir():
        raise ShapeError(f"{path} is a folder, not a file of points")
    points = _read_points(str(path), stat.st_mtime_ns, stat.st_size, spec.set)
    if points.shape[1] < dimension:
        raise ShapeError(f"{path} gives {points.shape[1]} coordinates a point; a {dimension}D case "
                         f"needs {dimension}")
    return points[:, :dimension] * spec.scale


@functools.lru_cache(maxsize=8)
def _read_points(path: str, mtime_ns: int, size: int, name: str | None) -> np.ndarray:
    """Read a file of points once per file version (its modification time and size are in the key)."""
    if Path(path).suffix.lower() in _TEXT_SUFFIXES:
        if name is not None:
            raise ShapeError(f"{path} is a text file of points, which has no sets; remove set")
        return _text_points(path)
    import contextlib
    import io

    import meshio
    # meshio prints each reader's failure and then exits the process (sys.exit) when no reader of
    # the suffix takes the file: caught here, its words dropped, so that the user gets one line
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            mesh = meshio.read(path)
    except OSError as err:
        raise ShapeError(f"cannot read {path} ({err.strerror or err})") from None
    except SystemExit:
        raise ShapeError(f"cannot read {path} as a mesh (no meshio reader for its suffix takes "
                         "it)") from None
    except Exception as err:  # noqa: BLE001 - meshio's readers raise many kinds on bad files
        raise ShapeError(f"cannot read {path} as a mesh ({type(err).__name__}: {err})") from None
    points = np.asarray(mesh.points, dtype=np.float64)
    if name is None:
        chosen = np.arange(points.shape[0])
    elif name in mesh.point_sets:
        chosen = np.asarray(mesh.point_sets[name], dtype=np.int64)
    elif name in mesh.cell_sets:
        # an element set: the nodes of its elements, block by block
        nodes = [np.asarray(block.data)[np.asarray(cells, dtype=np.int64)].ravel()
                 for block, cells in zip(mesh.cells, mesh.cell_sets[name]) if len(cells)]
        chosen = np.concatenate(nodes) if nodes else np.zeros(0, dtype=np.int64)
    else:
        sets = sorted({*mesh.point_sets, *mesh.cell_sets})
        raise ShapeError(f"{path} has no node or element set {name!r}"
                         + (f" (it has: {', '.join(sets)})" if sets else " (it has none)"))
    if chosen.size == 0:
        raise ShapeError(f"{path}: the set {name!r} holds no point" if name else
                         f"{path} holds no point")
    return points[np.unique(chosen)]


def _text_points(path: str) -> np.ndarray:
    """Rows of numbers, comma or white-space separated; a first line that is not numbers is a
    header."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = [line.strip() for line in handle]
    except OSError as err:
        raise ShapeError(f"cannot read {path} ({err.strerror or err})") from None
    rows = []
    first = True   # the first line that is neither empty nor a comment may be a header
    for number, line in enumerate(lines, start=1):
        if not line or line.startswith("#"):
            continue
        fields = line.replace(",", " ").split()
        try:
            rows.append([float(field) for field in fields])
        except ValueError:
            if first:
                first = False
                continue
            raise ShapeError(f"{path}, line {number}: not a row of numbers: {line[:60]!r}") from None
        first = False
        if len(rows[-1]) != len(rows[0]):
            raise ShapeError(f"{path}, line {number}: {len(rows[-1])} numbers where the first row "
                             f"has {len(rows[0])}")
    if not rows:
        raise ShapeError(f"{path} holds no point")
    points = np.array(rows, dtype=np.float64)
    if not np.all(np.isfinite(points)):
        raise ShapeError(f"{path} holds a coordinate that is not a finite number")
    return points


def _at_points(spec: PointSet, particles: np.ndarray, spacing: float) -> np.ndarray:
    """The particles at a point set's points: each point's nearest particle (scipy's KD-tree),
    which must lie within half a spacing of it."""
    from scipy.spatial import cKDTree
    points = point_set(spec, particles.shape[1])
    distance, nearest = cKDTree(particles).query(points)
    far = np.flatnonzero(distance > 0.5 * spacing)
    if far.size:
        where = ", ".join(f"{value:g}" for value in points[far[0]])
        raise ShapeError(f"{far.size} of its {points.shape[0]} points are not at a particle, "
                         f"the first ({where}) {distance[far[0]]:g} m from the nearest (more than "
                         "half the spacing): the points must be lattice points of the body")
    mask = np.zeros(particles.shape[0], dtype=bool)
    mask[nearest] = True
    return mask


# --- polygons (shapely) -------------------------------------------------------------------------

def polygon(spec: Polygon) -> shapely.Polygon:
    """The shapely polygon of a ``polygon`` shape; ShapeError when it is not simple."""
    import shapely
    outline = shapely.Polygon(spec.points)
    if not shapely.is_valid(outline):
        reason = shapely.is_valid_reason(outline)
        raise ShapeError(f"the polygon is not simple ({_reason_text(reason)}); list its points in "
                         "order around the outline, without crossing or touching edges")
    return outline


def _reason_text(reason: str) -> str:
    """shapely's 'Self-intersection[0.5 0.5]' as 'Self-intersection at (0.5, 0.5)'."""
    text, _, place = reason.partition("[")
    coordinates = place.rstrip("]").split()
    return f"{text} at ({', '.join(coordinates)})" if coordinates else text


def _inside_polygon(spec: Polygon, points: np.ndarray, tol: float) -> np.ndarray:
    import shapely
    # Grown by the boundary tolerance (mitred corners keep the vertex count), as boxes and circles
    # are, so that a polygon edge through a row of centres selects that row whatever the rounding.
    grown = polygon(spec).buffer(tol, join_style="mitre")
    shapely.prepare(grown)
    return shapely.intersects_xy(grown, points[:, 0], points[:, 1])


# --- closed surfaces (trimesh) ------------------------------------------------------------------

def solid(spec: Stl) -> trimesh.Trimesh:
    """The closed surface of an ``stl`` shape, in the file's units (read once per file version).
    ShapeError when the file cannot be read, holds no triangle or is not closed (watertight)."""
    path = spec.path
    stat = _file_stat(path)
    return _read_solid(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _read_solid(path: str, mtime_ns: int, size: int) -> trimesh.Trimesh:
    """Read and check an STL file; the cache key includes the modification time and size, so an
    edited file is read anew (and the checks at loading and the model build read it once)."""
    import trimesh
    if Path(path).is_dir():
        raise ShapeError(f"{path} is a folder, not an STL file")
    try:
        with open(path, "rb") as handle:
            mesh = trimesh.load_mesh(handle, file_type="stl")
    except OSError as err:
        raise ShapeError(f"cannot read {path} ({err.strerror or err})") from None
    except Exception:  # noqa: BLE001 - trimesh's parsers raise many kinds on bad bytes
        # (a truncated binary file falls through to the ASCII parser, whose decoding error names
        # a missing text-encoding module: no help to the user, so not repeated)
        raise ShapeError(_not_stl(path)) from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        # A truncated binary file parses as an empty ASCII one where the text codecs are all
        # there (the GPU machine's Python), and fails above where they are not: the same message.
        if _binary(path):
            raise ShapeError(_not_stl(path))
        raise ShapeError(f"{path} holds no triangle (is it an STL file?)")
    if not mesh.is_watertight:
        open_edges = _open_edge_count(mesh)
        raise ShapeError(f"the surface in {path} is not closed (not watertight: {open_edges} edges "
                         "belong to one triangle only), so it has no inside; close it in the CAD "
                         "or mesh tool")
    return mesh


def _not_stl(path: str) -> str:
    return (f"cannot read {path} as STL: it is neither an ASCII STL nor a binary one whose size "
            "matches its triangle count (truncated?)")


def _binary(path: str) -> bool:
    """Whether a file holds bytes that no text STL has (a NUL in its first kilobyte)."""
    with open(path, "rb") as handle:
        return b"\0" in handle.read(1024)


def _open_edge_count(mesh: trimesh.Trimesh) -> int:
    """Edges that do not have exactly two triangles (what makes a surface not watertight)."""
    import trimesh
    groups = trimesh.grouping.group_rows(mesh.edges_sorted, require_count=2)
    return int(len(mesh.edges_sorted) - 2 * len(groups))


def _inside_solid(spec: Stl, points: np.ndarray) -> np.ndarray:
    mesh = solid(spec)
    local = points / spec.scale
    lo, hi = mesh.bounds
    mask = np.zeros(len(points), dtype=bool)
    near = np.flatnonzero(within_box(local, lo, hi))
    for first in range(0, near.size, _CONTAINS_CHUNK):
        chunk = near[first:first + _CONTAINS_CHUNK]
        mask[chunk] = mesh.contains(local[chunk])
    return mask


# --- the body -----------------------------------------------------------------------------------

def body_bounds(geometry: Geometry) -> Box:
    """The box the lattice fills: the bounding box of the body's shapes (a box body: the box)."""
    los, his = zip(*(bounds(shape) for _, shape in geometry.parts))
    return Box(min=np.min(los, axis=0).tolist(), max=np.max(his, axis=0).tolist())


def body_particles(geometry: Geometry, spacing: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The particles of the body: (points (N, dim) float64, each one's cell (N,) int64 in the
    lattice of ``body_bounds``, x fastest, and that lattice's cell counts (dim,) int64).

    Cells of the bounding box whose centre lies outside every shape of the body, or inside a hole,
    are removed, as holes always were: particles stay on the lattice. CaseError (with the key)
    for a shape of the body, or a hole, that holds no particle, and for a body left empty.
    """
    box = body_bounds(geometry)
    points = lattice(box, spacing)
    counts = lattice_counts(box, spacing)
    parts = geometry.parts
    if len(parts) == 1 and parts[0][1].kind == "box":
        keep = np.ones(len(points), dtype=bool)   # the lattice of a box is all inside it
    else:
        keep = np.zeros(len(points), dtype=bool)
        for key, shape in parts:
            selected = inside(shape, points, spacing)
            if not selected.any():
                what = "the body" if key == "geometry" else "this shape of the body"
                raise CaseError(f"{key}.{shape.kind}" if key == "geometry" else key,
                                f"{what} holds no particle: no lattice cell centre lies inside it "
                                f"(is it smaller than the spacing, {spacing:g} m, or given in "
                                "other units?)")
            keep |= selected
    for index, hole in enumerate(geometry.holes):
        removed = inside(hole, points, spacing) & keep
        if not removed.any():
            raise CaseError(f"geometry.holes[{index}]", "the hole removes no particle (check its "
                                                        "coordinates against the body and the spacing)")
        keep &= ~removed
    if not keep.any():
        raise CaseError("geometry.holes", "the holes remove every particle")
    kept = np.flatnonzero(keep)
    return np.ascontiguousarray(points[kept]), kept, counts
