"""`pdgeneral plot` (issue 18, item 8): components, the deformed shape, 3D slices, units and the
load factor in the title, and the snapshot steps listed on a wrong --step."""
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import BASE_2D, case_from, merge
from test_dynamics import THREE_D
from test_quasi_static import STRIP

from pdgeneral.api import run_case
from pdgeneral.cli import main
from pdgeneral.errors import PdgeneralError
from pdgeneral.io import read_snapshot
from pdgeneral.io.summary import plot_data

MOVING = merge(BASE_2D, {"regions": {"left": {"box": {"min": [0.0, 0.0], "max": [0.003, 0.02]}}},
                         "boundary_conditions": [{"region": "left", "type": "velocity",
                                                  "value": [-5.0, 2.0]}],
                         "solver": {"steps": 20}, "output": {"every": 10}})


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plot")
    made = {}
    for name, raw in (("2d", MOVING), ("3d", merge(THREE_D, {"output": {"every": 5}})),
                      ("static", merge(STRIP, {"solver": {"load_steps": 2}}))):
        made[name] = run_case(case_from(raw), backend="serial", output=folder / f"{name}.h5").output
    return made


def test_a_component_is_drawn_with_its_unit(outputs):
    data = plot_data(outputs["2d"], "displacement:y", step=10)
    snap = read_snapshot(outputs["2d"], 10)
    assert np.array_equal(data["values"], snap["displacement"][:, 1])
    assert data["label"] == "displacement y (m)" and data["title"].endswith("step 10, t = "
                                                                           f"{snap['time']:.4g} s")
    assert plot_data(outputs["2d"], "velocity")["label"] == "|velocity| (m/s)"
    assert plot_data(outputs["2d"], "damage")["label"] == "damage"


def test_the_deformed_shape_moves_each_particle_by_the_factor_times_its_displacement(outputs):
    snap = read_snapshot(outputs["2d"])
    data = plot_data(outputs["2d"], "damage", deform=100.0)
    assert np.allclose(data["xy"], snap["position"] + 100.0 * snap["displacement"])
    assert not np.allclose(data["xy"], snap["position"])
    assert "displacements x 100" in data["title"]
    # Markers one lattice spacing wide, as undeformed (the deformed gaps drew dots too small to see)
    spacing = BASE_2D["discretization"]["spacing"]
    assert data["spacing"] == pytest.approx(spacing, rel=1e-9)
    assert plot_data(outputs["3d"], "damage", deform=50.0)["spacing"] == pytest.approx(
        THREE_D["discretization"]["spacing"], rel=1e-9)


def test_a_3d_slice_is_the_plane_of_particles_nearest_the_value(outputs):
    snap = read_snapshot(outputs["3d"])
    z = snap["position"][:, 2]
    planes = np.unique(z)
    data = plot_data(outputs["3d"], "displacement:z", slice_at=f"z={planes[1] + 1e-5}")
    assert len(data["values"]) == np.count_nonzero(np.isclose(z, planes[1]))
    assert data["label"].endswith(f"(slice z = {planes[1]:.4g} m) (m)") and data["axes"] == ["x", "y"]
    side = plot_data(outputs["3d"], "damage", slice_at="y=0.003")
    assert side["axes"] == ["x", "z"]
    default = plot_data(outputs["3d"], "damage")
    assert "slice z = " in default["label"]


def test_a_quasi_static_title_gives_the_load_factor(outputs):
    assert plot_data(outputs["static"], "displacement:x", step=1)["title"].endswith(
        "step 1, load factor 0.5")


@pytest.mark.parametrize("kwargs, words", [
    ({"step": 7}, "no complete snapshot at step 7; the snapshots are at steps 0, 10, 20 (3 snapshots)"),
    ({"field": "damage:x"}, "no component 'x' of damage in 2D (components: none (a scalar))"),
    ({"field": "displacement:z"}, "no component 'z' of displacement in 2D (components: x, y)"),
    ({"field": "stress"}, "unknown field 'stress'"),
    ({"slice_at": "z=0.001"}, "--slice is for 3D outputs"),
])
def test_bad_requests_say_what_exists(outputs, kwargs, words):
    with pytest.raises(PdgeneralError, match=words.replace("(", r"\(").replace(")", r"\)")):
        plot_data(outputs["2d"], **kwargs)


def test_the_command_line_draws_and_refuses_in_one_line(outputs, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["plot", outputs["3d"], "--field", "velocity:x", "--deform", "50",
                                  "--slice", "x=0.004", "-o", str(tmp_path / "v.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "v.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = runner.invoke(main, ["plot", outputs["3d"], "--slice", "z=1.0"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "outside the body (z from 0 to 0.005 m)" in result.output
