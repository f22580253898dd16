"""Regions named by points (``point_set``): from a CSV file, and from a mesh's node and element sets
read through meshio; the particles they select against the points written; bad input as one line
naming the file and the key, exit code 2."""
import meshio
import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from conftest import BASE_2D, merge
from test_malformed import check_one_line

from pdgeneral.case import load_case
from pdgeneral.cli import main
from pdgeneral.model import build_model

DX = BASE_2D["discretization"]["spacing"]


def positions():
    """The lattice points of BASE_2D's plate (the particles' reference positions)."""
    case = load_case_raw(BASE_2D)
    return build_model(case).positions


def load_case_raw(raw, folder=None, name="case.yaml"):
    if folder is None:
        from conftest import case_from
        return case_from(raw)
    path = folder / name
    path.write_text(yaml.safe_dump(raw))
    return load_case(path)[0]


def with_region(shape):
    return merge(BASE_2D, {"regions": {"grip": shape}})


def test_a_csv_point_set_selects_the_particles_at_its_points(tmp_path):
    points = positions()
    chosen = np.array([0, 17, 41, 42, 300, len(points) - 1])
    # in mm, with a header line and a third column the region does not read; the points rounded
    # to a micrometre (well within half a spacing of their particles)
    rows = np.round(points[chosen] * 1e3, 3)
    text = "x_mm,y_mm,label\n" + "".join(f"{x},{y},{k}\n" for k, (x, y) in enumerate(rows))
    folder = tmp_path / "sets"
    folder.mkdir()
    (folder / "grip.csv").write_text(text)
    raw = with_region({"point_set": {"file": "sets/grip.csv", "scale": 1.0e-3}})
    model = build_model(load_case_raw(raw, tmp_path))
    assert np.array_equal(model.regions["grip"], np.sort(chosen))


def two_triangles(points, node_set, element_set):
    """A mesh of two triangles over the given points (meshio), with a node set and an element set."""
    return meshio.Mesh(points, [("triangle", np.array([[0, 1, 2], [2, 3, 4]]))],
                       point_sets={"LOAD": np.array(node_set)},
                       cell_sets={"GRIP": [np.array(element_set)]})


@pytest.mark.parametrize("name, expected", [("LOAD", [0, 4]), ("GRIP", [2, 3, 4]),
                                            (None, [0, 1, 2, 3, 4])])
def test_a_mesh_point_set_selects_the_particles_of_a_node_set_or_an_element_set(
        tmp_path, name, expected):
    points = positions()
    chosen = np.array([5, 6, 45, 46, 90])
    mesh = two_triangles(np.column_stack([points[chosen], np.zeros(5)]), [0, 4], [1])
    meshio.write(tmp_path / "part.inp", mesh)   # Abaqus input: NSET and ELSET
    spec = {"file": "part.inp", **({"set": name} if name else {})}
    model = build_model(load_case_raw(with_region({"point_set": spec}), tmp_path))
    assert np.array_equal(model.regions["grip"], np.sort(chosen[expected]))


def bad_cases(tmp_path):
    points = positions()
    # a cell centre: 0.71 spacings from the four particles around it
    (tmp_path / "off.csv").write_text(f"{points[3, 0] + 0.5 * DX},{points[3, 1] + 0.5 * DX}\n")
    (tmp_path / "words.csv").write_text("x,y\n0.001,0.002\nhalf,0.003\n")
    (tmp_path / "empty.csv").write_text("# no points\n")
    (tmp_path / "one.csv").write_text("0.001\n")
    (tmp_path / "notes.msh").write_text("not a mesh\n")
    meshio.write(tmp_path / "part.inp",
                 two_triangles(np.column_stack([points[:5], np.zeros(5)]), [0], [0]))
    region = "regions.grip.point_set"
    return [
        ("missing", {"file": "gone.csv"}, f"{region}.file", "no such file"),
        ("off-lattice", {"file": "off.csv"}, region,
         "1 of its 1 points are not at a particle"),
        ("not-numbers", {"file": "words.csv"}, f"{region}.file", "line 3: not a row of numbers"),
        ("no-point", {"file": "empty.csv"}, f"{region}.file", "holds no point"),
        ("one-coordinate", {"file": "one.csv"}, f"{region}.file",
         "gives 1 coordinates a point; a 2D case needs 2"),
        ("set-of-a-csv", {"file": "one.csv", "set": "LOAD"}, f"{region}.file", "has no sets"),
        ("unknown-set", {"file": "part.inp", "set": "PIN"}, f"{region}.file",
         "has no node or element set 'PIN' (it has: GRIP, LOAD)"),
        ("not-a-mesh", {"file": "notes.msh"}, f"{region}.file", "notes.msh as a mesh"),
    ]


def test_bad_point_sets_give_one_line_and_exit_code_2(tmp_path):
    for label, spec, key, words in bad_cases(tmp_path):
        path = tmp_path / f"{label}.yaml"
        path.write_text(yaml.safe_dump(with_region({"point_set": spec})))
        result = CliRunner().invoke(main, ["check", str(path)])
        check_one_line(result, str(path), key, words)


def test_a_point_set_is_not_a_body_or_a_hole(tmp_path):
    (tmp_path / "points.csv").write_text("0.001,0.001\n")
    raw = merge(BASE_2D, {"geometry": {"holes": [{"point_set": {"file": "points.csv"}}]}})
    path = tmp_path / "hole.yaml"
    path.write_text(yaml.safe_dump(raw))
    check_one_line(CliRunner().invoke(main, ["check", str(path)]), str(path),
                   "geometry.holes[0].point_set", "use it in regions")


def test_the_shipped_beam_is_loaded_on_the_particles_its_box_selected():
    # cases/notched_beam_3d.yaml lists its load line in parts/load_line.csv (comment lines, a
    # header, mm): the same 20 particles as the box it replaced
    from pathlib import Path

    from pdgeneral.case.schema import Shape
    from pdgeneral.geometry import inside
    case = load_case(Path(__file__).parent.parent / "cases" / "notched_beam_3d.yaml")[0]
    model = build_model(case)
    box = Shape(box={"min": [0.049, 0.019, 0.0], "max": [0.051, 0.02, 0.01]})
    expected = np.flatnonzero(inside(box, model.positions, case.discretization.spacing))
    assert expected.size == 20
    assert np.array_equal(model.regions["load"], expected)


def test_resume_refuses_a_point_set_file_that_changed(tmp_path):
    """The case text and the particles are the same, the grip's point file is not: resuming would
    continue with other grips, so it is refused (naming the region and the file)."""
    from pdgeneral.api import run_case
    from pdgeneral.errors import CaseError
    points = positions()

    def write(rows):
        (tmp_path / "grip.csv").write_text("".join(f"{x},{y}\n" for x, y in points[rows]))
    write([0, 1, 2])
    raw = merge(with_region({"point_set": {"file": "grip.csv"}}),
                {"boundary_conditions": [{"region": "grip", "type": "velocity",
                                          "value": [-0.1, 0.0]}],
                 "solver": {"steps": 6}, "output": {"every": 2, "path": str(tmp_path / "out.h5")}})
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(raw))
    run_case(path, backend="serial", steps=2)
    write([0, 1, 40])
    with pytest.raises(CaseError, match=r"other particles in region grip \(did grip.csv change"):
        run_case(path, backend="serial", resume=True)
    write([0, 1, 2])
    assert run_case(path, backend="serial", resume=True).steps == 4
