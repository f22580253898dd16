"""Where the particles are: the lattice (``lattice``), the shapes that make a body, holes and
regions (``shapes``: boxes, circles, spheres, cylinders, shapely polygons, trimesh STL solids) and
the pre-cracks that cut bonds (``precracks``).

Positions are (N, dim) float64 arrays here; the model turns them into structure-of-arrays form.
"""
from .lattice import lattice, lattice_counts
from .precracks import (
    SNAP,
    bonds_cut_by,
    bonds_cut_by_rectangle,
    bonds_cut_by_segment,
    precrack_bounds,
)
from .shapes import ShapeError, body_bounds, body_particles, bounds, inside, polygon, solid, within_box

__all__ = ["SNAP", "ShapeError", "body_bounds", "body_particles", "bonds_cut_by",
           "bonds_cut_by_rectangle", "bonds_cut_by_segment", "bounds", "inside", "lattice",
           "lattice_counts", "polygon", "precrack_bounds", "solid", "within_box"]
