"""Bodies, holes and regions from polygons (shapely) and STL surfaces (trimesh): inside tests against
points known by hand, unions, particle counts against analytic volumes, the errors of bad input
through the command line, and file paths relative to the case file."""
import math

import numpy as np
import pytest
import trimesh
import yaml
from click.testing import CliRunner
from conftest import BASE_2D, case_from
from test_dynamics import THREE_D
from test_malformed import check_one_line

from pdgeneral import geometry
from pdgeneral.case import load_case
from pdgeneral.case.schema import Shape
from pdgeneral.cli import main
from pdgeneral.errors import CaseError
from pdgeneral.geometry import body_particles

DX = 1.0e-3
# An L: the 40 x 20 mm box less its upper right 20 x 10 mm quarter (non-convex: re-entrant corner
# at (20, 10) mm).
L_POINTS = [[0.0, 0.0], [0.04, 0.0], [0.04, 0.01], [0.02, 0.01], [0.02, 0.02], [0.0, 0.02]]


def polygon(points):
    return {"polygon": {"points": points}}


def with_geometry(geometry, **changes):
    return {**BASE_2D, "geometry": geometry, **changes}


def write_stl(path, mesh):
    mesh.export(str(path))
    return path


def case_3d(geometry, spacing=DX, **changes):
    raw = {**THREE_D, "geometry": geometry, **changes}
    raw["discretization"] = {**THREE_D["discretization"], "spacing": spacing}
    return raw


def write_case(folder, raw, name="case.yaml"):
    path = folder / name
    path.write_text(yaml.safe_dump(raw))
    return path


# --- inside tests ------------------------------------------------------------------------------

@pytest.mark.parametrize("points, expected", [
    # a convex quadrilateral (a trapezoid): inside, outside beside each edge, and on an edge
    ([[0, 0], [4, 0], [3, 2], [1, 2]],
     {(2, 1): True, (0.6, 1): True, (0.4, 1): False, (3.6, 1): False, (2, 2.1): False,
      (2, -0.1): False, (2, 0): True, (3.5, 1): True}),
    # the L (non-convex): the cut-out quarter is outside, the re-entrant corner's edges inside
    (L_POINTS,
     {(0.01, 0.015): True, (0.03, 0.005): True, (0.03, 0.015): False, (0.021, 0.011): False,
      (0.019, 0.011): True, (0.021, 0.009): True, (0.02, 0.015): True, (0.05, 0.005): False}),
    # a star-like arrow head (non-convex, listed clockwise): the notch between the barbs is outside
    ([[0, 0], [1, 3], [2, 0], [1, 1]],
     {(1, 2): True, (1, 0.5): False, (0.5, 0.8): True, (1.5, 0.8): True, (1, 3.1): False,
      (0.5, 0.5): True}),
])
def test_polygon_inside_known_points(points, expected):
    shape = Shape(**polygon(points))
    xy = np.array(list(expected), dtype=np.float64)
    got = geometry.inside(shape, xy, 1e-3)
    assert dict(zip(expected, got.tolist())) == expected


def test_a_polygon_edge_through_a_row_of_centres_selects_that_row():
    # As for boxes: the edge x = 1.5 mm passes through centres (rounded: 3 * 0.5e-3 != 1.5e-3).
    shape = Shape(**polygon([[0.0, 0.0], [3 * 0.5e-3, 0.0], [3 * 0.5e-3, 0.01], [0.0, 0.01]]))
    xy = np.array([[0.0015, 0.005], [0.0015 + 1e-8, 0.005]])
    assert geometry.inside(shape, xy, 0.5e-3).tolist() == [True, False]


# --- bodies, holes, regions ---------------------------------------------------------------------

def lattice_points(lo, counts, spacing=DX):
    axes = [a + spacing * (0.5 + np.arange(n)) for a, n in zip(lo, counts)]
    grid = np.meshgrid(*axes[::-1], indexing="ij")
    return np.stack([g.ravel() for g in grid[::-1]], axis=1)


def test_box_given_as_polygon_or_union_is_the_box():
    # The oracle is today's box body: same lattice, same particles, same order.
    box = {"box": {"min": [0.0, 0.0], "max": [0.04, 0.02]}}
    reference = body_particles(case_from(with_geometry(box)).geometry, DX)
    rectangle = polygon([[0.0, 0.0], [0.04, 0.0], [0.04, 0.02], [0.0, 0.02]])
    for given in (rectangle, {"union": [box]}, {"union": [rectangle, box]}):
        got = body_particles(case_from(with_geometry(given)).geometry, DX)
        for a, b in zip(got, reference):
            np.testing.assert_array_equal(a, b)


def test_polygon_body_is_the_l():
    points, kept, counts = body_particles(case_from(with_geometry(polygon(L_POINTS))).geometry, DX)
    assert counts.tolist() == [40, 20]
    assert len(points) == 40 * 10 + 20 * 10            # area / dx^2 exactly: edges on cell faces
    outside_quarter = ~((points[:, 0] > 0.02) & (points[:, 1] > 0.01))
    assert outside_quarter.all()
    np.testing.assert_allclose(points, lattice_points([0, 0], [40, 20])[kept])


def test_union_of_box_and_circle_less_a_polygon_hole():
    body = {"union": [{"box": {"min": [0.0, 0.0], "max": [0.04, 0.01]}},
                      {"circle": {"center": [0.02, 0.01], "radius": 0.0055}}],
            "holes": [polygon([[0.005, 0.002], [0.015, 0.002], [0.010, 0.008]])]}
    _, kept, counts = body_particles(case_from(with_geometry(body)).geometry, DX)
    # The lattice fills the union's bounding box, from its min corner.
    assert counts.tolist() == [40, 15]
    grid = lattice_points([0.0, 0.0], [40, 15])
    x, y = grid[:, 0], grid[:, 1]
    in_box = y < 0.01
    in_circle = np.hypot(x - 0.02, y - 0.01) < 0.0055
    # the triangle (5, 2), (15, 2), (10, 8) mm: above its base, below both sloped edges
    in_hole = (y > 0.002) & (y < 0.002 + 1.2 * (x - 0.005)) & (y < 0.002 + 1.2 * (0.015 - x))
    expected = (in_box | in_circle) & ~in_hole
    np.testing.assert_array_equal(kept, np.flatnonzero(expected))
    assert np.count_nonzero(in_box & in_hole) > 10       # the hole did remove particles


def test_polygon_region_selects_its_particles_and_carries_a_condition():
    triangle = [[0.03, 0.0], [0.04, 0.0], [0.04, 0.012]]     # the slope misses every centre
    model = build(with_geometry({"box": {"min": [0.0, 0.0], "max": [0.04, 0.02]}},
                                regions={"corner": polygon(triangle)},
                                boundary_conditions=[{"region": "corner", "type": "velocity",
                                                      "value": [1.0, None]}]))
    x, y = model.positions[:, 0], model.positions[:, 1]
    expected = np.flatnonzero((x > 0.03) & (y < 1.2 * (x - 0.03)))
    np.testing.assert_array_equal(model.regions["corner"], expected)
    np.testing.assert_array_equal(model.constraint_particle, expected)


def build(raw):
    from pdgeneral.model import build_model
    return build_model(case_from(raw))


# --- STL solids ---------------------------------------------------------------------------------

def test_stl_cylinder_body_particle_count_against_its_volume(tmp_path):
    radius, height, spacing = 5.0, 12.0, 0.5e-3          # mm in the file, m in the case
    write_stl(tmp_path / "cylinder.stl",
              trimesh.creation.cylinder(radius=radius, height=height, sections=256))
    case = load_case(write_case(tmp_path, case_3d({"stl": {"file": "cylinder.stl", "scale": 1e-3}},
                                                 spacing=spacing)))[0]
    points, _, _ = body_particles(case.geometry, spacing)
    volume = math.pi * (radius * 1e-3) ** 2 * height * 1e-3
    # 20 cells across the diameter: a staircase circle holds pi r^2 within about 1 % (the Gauss
    # circle problem at r = 10 cells: 316 lattice points against 314.2).
    assert len(points) * spacing**3 == pytest.approx(volume, rel=0.02)
    assert np.all(np.hypot(points[:, 0], points[:, 1]) < radius * 1e-3)
    assert np.all(np.abs(points[:, 2]) < height / 2 * 1e-3)


def test_stl_box_as_body_hole_and_region_is_exact(tmp_path):
    # Faces on cell faces: trimesh's inside test matches the box shape particle for particle.
    write_stl(tmp_path / "block.stl", trimesh.creation.box(bounds=[[0, 0, 0], [8, 6, 5]]))
    write_stl(tmp_path / "pocket.stl", trimesh.creation.box(bounds=[[2, 2, 1], [5, 4, 5]]))
    by_stl = case_3d({"stl": {"file": "block.stl", "scale": 1e-3},
                      "holes": [{"stl": {"file": "pocket.stl", "scale": 1e-3}}]},
                     regions={"end": {"stl": {"file": "pocket.stl", "scale": 2e-3}}})
    by_box = case_3d({"box": {"min": [0, 0, 0], "max": [0.008, 0.006, 0.005]},
                      "holes": [{"box": {"min": [0.002, 0.002, 0.001], "max": [0.005, 0.004, 0.005]}}]},
                     regions={"end": {"box": {"min": [0.004, 0.004, 0.002], "max": [0.010, 0.008, 0.010]}}})
    model_stl = build_at(tmp_path, by_stl)
    model_box = build_at(tmp_path, by_box, "box.yaml")
    assert model_stl.particle_count == 8 * 6 * 5 - 3 * 2 * 4
    np.testing.assert_array_equal(model_stl.positions, model_box.positions)
    np.testing.assert_array_equal(model_stl.regions["end"], model_box.regions["end"])


def build_at(folder, raw, name="case.yaml"):
    from pdgeneral.model import build_model
    return build_model(load_case(write_case(folder, raw, name))[0])


def test_stl_path_is_relative_to_the_case_file(tmp_path, monkeypatch):
    parts = tmp_path / "specimens" / "parts"
    parts.mkdir(parents=True)
    write_stl(parts / "block.stl", trimesh.creation.box(bounds=[[0, 0, 0], [4, 4, 4]]))
    path = write_case(tmp_path / "specimens", case_3d({"stl": {"file": "parts/block.stl",
                                                               "scale": 1e-3}}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    case = load_case(path)[0]
    assert case.geometry.stl.path == parts / "block.stl"
    assert case.model_dump()["geometry"]["stl"]["file"] == "parts/block.stl"   # kept as written
    assert len(body_particles(case.geometry, DX)[0]) == 64
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert "particles   64" in result.output


# --- bad input: one line, the file and the key, exit code 2 ------------------------------------

def open_box():
    mesh = trimesh.creation.box(bounds=[[0, 0, 0], [4, 4, 4]])
    return trimesh.Trimesh(mesh.vertices, mesh.faces[:-1])      # one triangle missing


BOX_3D = {"box": {"min": [0, 0, 0], "max": [0.008, 0.006, 0.005]}}
BAD = [
    ("stl-missing", "3d", {"stl": {"file": "nowhere.stl"}}, {}, "geometry.stl.file",
     "no such file: {dir}/nowhere.stl"),
    ("stl-not-stl", "3d", {"stl": {"file": "notes.stl"}}, {}, "geometry.stl.file", "holds no triangle"),
    ("stl-truncated", "3d", {"stl": {"file": "truncated.stl"}}, {}, "geometry.stl.file",
     "truncated.stl as STL: it is neither an ASCII STL nor a binary one"),
    ("stl-a-folder", "3d", {"stl": {"file": "folder.stl"}}, {}, "geometry.stl.file", "is a folder"),
    ("stl-open", "3d", {"stl": {"file": "open.stl"}}, {}, "geometry.stl.file",
     "is not closed (not watertight: 3 edges"),
    ("stl-hole-open", "3d", {**BOX_3D, "holes": [{"stl": {"file": "open.stl"}}]}, {},
     "geometry.holes[0].stl.file", "not closed"),
    ("stl-region-missing", "3d", BOX_3D, {"regions": {"r": {"stl": {"file": "gone.stl"}}}},
     "regions.r.stl.file", "no such file"),
    ("stl-in-2d", "2d", {"stl": {"file": "open.stl"}}, {}, "geometry.stl", "3D shape; use polygon"),
    ("polygon-in-3d", "3d", polygon([[0, 0], [1, 0], [0, 1]]), {}, "geometry.polygon",
     "2D shape; use stl"),
    ("polygon-crossing", "2d", polygon([[0, 0], [0.04, 0.02], [0.04, 0], [0, 0.02]]), {},
     "geometry.polygon", "not simple (Self-intersection at (0.02, 0.01))"),
    ("polygon-hole-crossing", "2d", {"box": {"min": [0, 0], "max": [0.04, 0.02]}, "holes": [
        polygon([[0.01, 0.01], [0.02, 0.015], [0.02, 0.01], [0.01, 0.015]])]}, {},
     "geometry.holes[0].polygon", "not simple"),
    ("polygon-two-points", "2d", polygon([[0, 0], [0.04, 0.02]]), {}, "geometry.polygon.points",
     "at least 3 points, got 2"),
    ("polygon-3-vector", "2d", polygon([[0, 0], [0.04, 0, 0], [0, 0.02]]), {},
     "geometry.polygon.points[1]", "expected 2 components"),
    ("body-empty", "2d", polygon([[0, 0], [0.0004, 0], [0, 0.0004]]), {}, "geometry.polygon",
     "the body holds no particle"),
    ("union-part-empty", "2d", {"union": [{"box": {"min": [0, 0], "max": [0.04, 0.02]}},
                                          {"circle": {"center": [0.02, 0.02], "radius": 1e-4}}]}, {},
     "geometry.union[1]", "this shape of the body holds no particle"),
    ("hole-selects-nothing", "2d", {"box": {"min": [0, 0], "max": [0.04, 0.02]}, "holes": [
        polygon([[0.1, 0.1], [0.2, 0.1], [0.2, 0.2]])]}, {}, "geometry.holes[0]",
     "the hole removes no particle"),
    ("polygon-region-selects-nothing", "2d", polygon(L_POINTS),
     {"regions": {"notch": polygon([[0.025, 0.012], [0.035, 0.012], [0.03, 0.018]])}},
     "regions.notch", "selects no particle"),
    ("two-bodies", "2d", {"box": {"min": [0, 0], "max": [0.04, 0.02]}, **polygon(L_POINTS)}, {},
     "geometry", "exactly one of box, circle, sphere, cylinder, polygon, stl, ring, union (found: box, polygon)"),
]


@pytest.mark.parametrize("dimension, body, changes, key, words", [c[1:] for c in BAD],
                         ids=[c[0] for c in BAD])
def test_bad_geometry_gives_one_line_and_exit_code_2(tmp_path, dimension, body, changes, key, words):
    write_stl(tmp_path / "open.stl", open_box())
    (tmp_path / "notes.stl").write_text("not a surface\n")
    (tmp_path / "folder.stl").mkdir()
    binary = trimesh.exchange.stl.export_stl(trimesh.creation.box())
    (tmp_path / "truncated.stl").write_bytes(binary[:150])
    raw = case_3d(body, **changes) if dimension == "3d" else with_geometry(body, **changes)
    path = str(write_case(tmp_path, raw))
    result = CliRunner().invoke(main, ["check", path])
    check_one_line(result, path, key, words.format(dir=tmp_path))


def test_the_normalised_case_of_a_box_body_is_what_outputs_recorded_before_polygons():
    # --resume compares the case with the one the output recorded, key by key: an output written
    # before polygon, stl and union existed (these dumps) must still match.
    from pdgeneral.io.hdf5 import case_differences
    raw = {**BASE_2D, "geometry": {"box": {"min": [0.0, 0.0], "max": [0.04, 0.02]},
                                   "holes": [{"circle": {"center": [0.02, 0.01], "radius": 0.002}}]},
           "regions": {"left": {"box": {"min": [0.0, 0.0], "max": [0.002, 0.02]}}}}
    dumped = case_from(raw).model_dump(mode="json")
    assert dumped["geometry"] == {
        "box": {"min": [0.0, 0.0], "max": [0.04, 0.02]},
        "holes": [{"box": None, "circle": {"center": [0.02, 0.01], "radius": 0.002}, "sphere": None,
                   "cylinder": None}]}
    assert dumped["regions"] == {"left": {"box": {"min": [0.0, 0.0], "max": [0.002, 0.02]},
                                          "circle": None, "sphere": None, "cylinder": None}}
    assert case_differences(dumped, dumped) == []
    polygon_body = case_from(with_geometry(polygon(L_POINTS))).model_dump(mode="json")["geometry"]
    assert polygon_body == {"polygon": {"points": L_POINTS}, "holes": []}


def test_resume_refuses_particles_that_an_edited_stl_changed(tmp_path):
    """The case text is the same, the STL it reads is not: the file's particles are not the
    case's, and resume says so (naming the STL) instead of continuing a state on other ones."""
    from pdgeneral.api import run_case
    write_stl(tmp_path / "block.stl", trimesh.creation.box(bounds=[[0, 0, 0], [8, 6, 5]]))
    path = write_case(tmp_path, case_3d({"stl": {"file": "block.stl", "scale": 1e-3}},
                                        solver={"type": "explicit", "steps": 6},
                                        output={"every": 2, "path": str(tmp_path / "out.h5")}))
    run_case(path, backend="serial", steps=2)
    write_stl(tmp_path / "block.stl", trimesh.creation.box(bounds=[[0, 0, 0], [8, 6, 6]]))
    with pytest.raises(CaseError, match=r"other particles \(240 in the file, 288 now.*block.stl"):
        run_case(path, backend="serial", resume=True)
    write_stl(tmp_path / "block.stl", trimesh.creation.box(bounds=[[0, 0, 0], [8, 6, 5]]))
    assert run_case(path, backend="serial", resume=True).steps == 4   # the same solid: it resumes


def test_within_box_is_the_componentwise_test_boundary_included():
    """geometry.within_box (a column at a time, for speed) selects what lo <= x <= hi in every axis
    selects: the box's faces and corners in, a NaN coordinate out."""
    from pdgeneral.geometry import within_box
    rng = np.random.default_rng(3)
    for dim in (2, 3):
        points = rng.random((5000, dim))
        lo = rng.random(dim) * 0.5
        hi = lo + 0.4
        points[:4] = lo
        points[4:8] = hi
        points[8, -1] = np.nan
        expected = np.all((points >= lo) & (points <= hi), axis=1)
        assert expected[:8].all() and not expected[8]
        assert np.array_equal(within_box(points, lo, hi), expected)
