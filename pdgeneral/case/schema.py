"""Schema of a case file. Every model is closed: an unknown key is an error, not a silent default.

Structural rules (types, signs, one-of choices) live here; rules that need the whole case (vector
lengths against ``dimension``, region names, solver combinations) live in ``loading.py``.
docs/case-reference.md documents every key; keep the two in step.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

Vector = list[float]
OptionalVector = list[float | None]


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _exactly_one(model: BaseModel, names: tuple[str, ...], where: str) -> None:
    given = [n for n in names if getattr(model, n) is not None]
    if len(given) != 1:
        listed = ", ".join(names)
        found = ", ".join(given) if given else "none"
        raise ValueError(f"{where} needs exactly one of {listed} (found: {found})")


def _finite(value: float) -> bool:
    return math.isfinite(value)


class Material(Closed):
    model: Literal["pmb", "lps"] = Field(
        description="Material model: pmb, the prototype microelastic brittle bond (bond-based; "
                    "Poisson's ratio fixed at 1/4, 1/3 in plane stress), or lps, the linear "
                    "peridynamic solid (state-based; any Poisson's ratio).")
    youngs_modulus: float = Field(gt=0, allow_inf_nan=False, description="Young's modulus E, Pa.")
    poissons_ratio: float | None = Field(
        None, gt=-1.0, lt=0.5, allow_inf_nan=False,
        description="Poisson's ratio nu, in (-1, 0.5): model lps only (PMB fixes it).")
    influence: Literal["constant", "inverse_length", "gaussian"] | None = Field(
        None, description="Influence function omega(|xi|) of model lps: constant (1, the default), "
                          "inverse_length (delta / |xi|) or gaussian (exp(-|xi|^2 / delta^2)).")
    density: float = Field(gt=0, allow_inf_nan=False, description="Mass density rho, kg/m^3.")
    fracture_energy: float | None = Field(None, gt=0, allow_inf_nan=False,
                                             description="Critical energy release rate G0, J/m^2.")
    critical_stretch: float | None = Field(
        None, gt=0, description="Critical bond stretch s0 (dimensionless); .inf for an unbreakable material.")

    @model_validator(mode="after")
    def _one_failure_law(self):
        _exactly_one(self, ("fracture_energy", "critical_stretch"), "material")
        from .. import materials  # the model's own keys are its module's to check
        materials.module(self.model).check_keys(self)
        return self

    @property
    def influence_function(self) -> str:
        return self.influence or "constant"


class Discretization(Closed):
    spacing: float = Field(gt=0, allow_inf_nan=False, description="Lattice spacing dx, m.")
    horizon_factor: float | None = Field(None, gt=0, allow_inf_nan=False,
                                            description="Horizon as a multiple of the spacing.")
    horizon: float | None = Field(None, gt=0, allow_inf_nan=False, description="Horizon delta, m.")
    surface_correction: Literal["none", "energy"] = Field(
        "energy", description="Surface correction of bond stiffness near free surfaces.")
    bonds_through_voids: Literal["cut", "keep"] = Field(
        "cut", description="Bonds whose segment passes through a lattice cell outside the body (a "
                           "hole, a notch, the outside of a concave outline): cut (no such bond is "
                           "made) or keep them.")

    @model_validator(mode="after")
    def _one_horizon(self):
        _exactly_one(self, ("horizon_factor", "horizon"), "discretization")
        return self


class Box(Closed):
    min: Vector = Field(description="Lower corner, m.")
    max: Vector = Field(description="Upper corner, m.")


class Circle(Closed):
    center: Vector
    radius: float = Field(gt=0, allow_inf_nan=False)


class Ring(Closed):
    """An annulus (2D) about ``center``; with ``facing``, only its half on that side (or the
    ``arc`` centred on ``facing``): the bearing side of a pin hole, the part of the hole's rim that
    a pin pulling along ``facing`` presses on."""
    center: Vector
    inner_radius: float = Field(ge=0, allow_inf_nan=False, description="m; 0 for a disc.")
    outer_radius: float = Field(gt=0, allow_inf_nan=False, description="m; > inner_radius.")
    facing: Vector | None = Field(None, description="Keep the half on this side of the centre "
                                                    "(a direction, any length); default: the whole ring.")
    arc: float = Field(180.0, gt=0, le=360, allow_inf_nan=False,
                       description="With facing: the arc kept, degrees, centred on facing.")

    @model_validator(mode="after")
    def _radii(self):
        if self.outer_radius <= self.inner_radius:
            raise ValueError(f"outer_radius ({self.outer_radius:g}) must exceed inner_radius "
                             f"({self.inner_radius:g})")
        return self


class Sphere(Closed):
    center: Vector
    radius: float = Field(gt=0, allow_inf_nan=False)


class Cylinder(Closed):
    start: Vector = Field(description="Centre of one end face, m.")
    end: Vector = Field(description="Centre of the other end face, m.")
    radius: float = Field(gt=0, allow_inf_nan=False)


class Polygon(Closed):
    """A simple polygon (2D), convex or not; the outline closes by itself (last point -> first)."""
    points: list[Vector] = Field(description="Vertices [x, y] in order around the outline, m.")

    @field_validator("points")
    @classmethod
    def _three_points(cls, points: list[Vector]) -> list[Vector]:
        if len(points) < 3:
            raise ValueError(f"a polygon needs at least 3 points, got {len(points)}")
        return points


class FileShape(Closed):
    """A shape read from a file. ``file`` is kept as written (it is what outputs record); ``path``
    is where it is read from: relative to the case file's folder when the case was loaded from a
    file (the loader passes the folder as the validation context's ``directory``), else relative
    to the working folder."""
    file: str = Field(min_length=1, description="File, relative to the case file.")
    scale: float = Field(1.0, gt=0, allow_inf_nan=False,
                         description="Factor from the file's length unit to m (1.0e-3 for mm).")
    _path: Path | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo):
        # pydantic runs this again when a validated shape is passed into another model, without
        # the context: the path resolved the first time is kept then.
        directory = (info.context or {}).get("directory")
        if directory is not None:
            self._path = Path(directory) / self.file
        return self

    @property
    def path(self) -> Path:
        return self._path if self._path is not None else Path(self.file)


class Stl(FileShape):
    """A closed triangulated surface (3D) read from an STL file; the lattice fills its inside."""
    file: str = Field(min_length=1, description="STL file (ASCII or binary), relative to the case file.")


class PointSet(FileShape):
    """Particles named by points (regions only): for each point of the file, the particle at it
    (the nearest, which must lie within half a spacing). The file: CSV or text (x, y[, z] in its
    first columns, a header line allowed), or a mesh through meshio (.msh, .inp, .vtu, .vtk, ...):
    the points of its node set ``set``, or the nodes of its element set ``set``, or (no ``set``)
    all its points."""
    file: str = Field(min_length=1, description="CSV/text or mesh file of the points, relative to "
                                                "the case file.")
    set: str | None = Field(None, min_length=1,
                            description="A mesh file's node set or element set (meshio's point_sets "
                                        "or cell_sets); not for CSV files.")


SHAPE_KINDS = ("box", "circle", "sphere", "cylinder", "polygon", "stl", "ring")
#: A region's shapes: the body's, and a point set.
REGION_KINDS = (*SHAPE_KINDS, "point_set")


class Shape(Closed):
    """Exactly one of the keys: ``box`` (2D/3D), ``circle``, ``polygon`` and ``ring`` (2D), ``sphere``,
    ``cylinder`` and ``stl`` (3D), ``point_set`` (regions only)."""
    box: Box | None = None
    circle: Circle | None = None
    sphere: Sphere | None = None
    cylinder: Cylinder | None = None
    polygon: Polygon | None = None
    stl: Stl | None = None
    ring: Ring | None = None
    point_set: PointSet | None = None

    @model_validator(mode="after")
    def _one_shape(self):
        _exactly_one(self, REGION_KINDS, "shape")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in REGION_KINDS if getattr(self, k) is not None)

    @property
    def spec(self) -> BaseModel:
        return getattr(self, self.kind)

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict:
        return _without_unused(handler(self), ("polygon", "stl", "ring", "point_set"))


def _without_unused(dumped: dict, keys: tuple[str, ...]) -> dict:
    """A dump without the shape keys that came later (polygon, stl, ring, a body other than a box),
    where they are unused: --resume compares the case it is given with the one an output
    recorded key by key (io/hdf5.case_differences), and an output written before these keys
    existed must still match."""
    return {key: value for key, value in dumped.items() if not (key in keys and value is None)}


class Geometry(Closed):
    """The body: one shape (any of Shape's keys, side by side with ``holes``) or ``union``, a list
    of shapes; then ``holes`` are removed. The lattice fills the body's bounding box."""
    box: Box | None = None
    circle: Circle | None = None
    sphere: Sphere | None = None
    cylinder: Cylinder | None = None
    polygon: Polygon | None = None
    stl: Stl | None = None
    ring: Ring | None = None
    union: list[Shape] | None = Field(None, min_length=1, description="Shapes whose union is the body.")
    holes: list[Shape] = Field(default_factory=list, description="Shapes cut out of the body.")

    @model_validator(mode="after")
    def _one_body(self):
        _exactly_one(self, (*SHAPE_KINDS, "union"), "geometry")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict:
        return _without_unused(handler(self), (*SHAPE_KINDS, "union"))

    @property
    def parts(self) -> list[tuple[str, Shape]]:
        """(dotted key, shape) of each shape whose union is the body."""
        if self.union is not None:
            return [(f"geometry.union[{index}]", shape) for index, shape in enumerate(self.union)]
        kind = next(k for k in SHAPE_KINDS if getattr(self, k) is not None)
        return [("geometry", Shape.model_construct(**{kind: getattr(self, kind)}))]


class Segment(Closed):
    start: Vector
    end: Vector


class Rectangle(Closed):
    corner: Vector = Field(description="One corner of the planar quad, m.")
    edge1: Vector = Field(description="First edge vector from the corner, m.")
    edge2: Vector = Field(description="Second edge vector from the corner, m.")


class Precrack(Closed):
    """Exactly one of ``segment`` (2D) or ``rectangle`` (3D)."""
    segment: Segment | None = None
    rectangle: Rectangle | None = None

    @model_validator(mode="after")
    def _one_crack(self):
        _exactly_one(self, ("segment", "rectangle"), "precrack")
        return self


BoundaryType = Literal["velocity", "displacement", "body_force", "traction", "force", "initial_velocity"]


class BoundaryCondition(Closed):
    region: str
    type: BoundaryType
    value: OptionalVector = Field(description="Vector value; null leaves a component free "
                                              "(velocity and displacement only).")
    ramp_time: float = Field(0.0, ge=0, allow_inf_nan=False,
                             description="Linear ramp from 0 to value over this time, s (explicit only).")


class Solver(Closed):
    type: Literal["explicit", "quasi_static"]
    end_time: float | None = Field(None, gt=0, allow_inf_nan=False)
    steps: int | None = Field(None, gt=0)
    safety_factor: float | None = Field(None, gt=0, le=1)
    time_step: float | None = Field(None, gt=0, allow_inf_nan=False)
    load_steps: int | None = Field(None, gt=0)
    tolerance: float | None = Field(None, gt=0, lt=1)
    max_iterations: int | None = Field(None, gt=0)


class Output(Closed):
    path: str | None = Field(None, description="HDF5 file; default results/<name>.h5.")
    every: int = Field(100, gt=0, description="Steps between snapshots (explicit).")
    checkpoint_every: int | None = Field(
        None, gt=0, description="Steps between restart points kept apart from the snapshots "
                                "(explicit; only the newest is kept).")
    checkpoint_minutes: float | None = Field(
        None, gt=0, allow_inf_nan=False,
        description="Wall-clock minutes between restart points (explicit; only the newest is kept).")
    fields: list[Literal["displacement", "velocity", "damage", "strain_energy_density"]] = Field(
        default_factory=lambda: ["displacement", "velocity", "damage"], min_length=1,
        description="Snapshot fields to write (strain_energy_density in J/m^3, per particle).")
    precision: Literal["float32", "float64"] = Field(
        "float32", description="Precision of the snapshot fields (what plots and ParaView read); "
                               "restart points always keep the run's full state.")
    compression: Literal["none", "lzf", "gzip"] = Field(
        "none", description="Lossless compression of the snapshot fields (h5py filters).")
    history_every: int | None = Field(
        None, gt=0, description="Steps between history rows (explicit; default 10). Quasi-static "
                                "runs write one row per load step.")


class Case(Closed):
    name: str = Field(min_length=1)
    dimension: Literal[2, 3]
    plane: Literal["stress", "strain"] | None = None
    thickness: float | None = Field(None, gt=0, allow_inf_nan=False)
    material: Material
    discretization: Discretization
    geometry: Geometry
    precracks: list[Precrack] = Field(default_factory=list)
    regions: dict[str, Shape] = Field(default_factory=dict)
    boundary_conditions: list[BoundaryCondition] = Field(default_factory=list)
    no_fail: list[str] = Field(default_factory=list)
    solver: Solver
    output: Output = Field(default_factory=Output)
    backend: Literal["auto", "serial", "parallel", "cuda", "gpu"] = "auto"
    precision: Literal["float64", "float32"] = "float64"

    # Values that defaults and choices resolve to; loading.py has checked consistency.
    @property
    def horizon(self) -> float:
        d = self.discretization
        return d.horizon if d.horizon is not None else d.horizon_factor * d.spacing

    @property
    def plane_kind(self) -> str:
        """'3d', or the 2D plane assumption ('stress' by default)."""
        return "3d" if self.dimension == 3 else (self.plane or "stress")

    @property
    def thickness_value(self) -> float:
        return 1.0 if self.dimension == 3 else (self.thickness if self.thickness is not None else 1.0)

    @property
    def output_path(self) -> str:
        return self.output.path if self.output.path is not None else f"results/{self.name}.h5"
