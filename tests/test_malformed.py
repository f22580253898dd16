"""Malformed case files through the command line: each gives exit code 2 and one line
`error: FILE: KEY: problem`, never a traceback. (More refusals live beside the features they guard:
cuda without a GPU in test_cli.py, a case too large for the GPU in test_memory.py.)"""
import pytest
import yaml
from click.testing import CliRunner
from conftest import BASE_2D, merge
from test_dynamics import THREE_D

from pdgeneral.cli import main

LEFT = {"left": {"box": {"min": [0, 0], "max": [0.002, 0.02]}}}
QS = {"solver": {"type": "quasi_static", "steps": None}}

# (id, case: dict changes to BASE_2D, or raw YAML text, or ("3d", changes), expected key, words)
CASES = [
    ("yaml-syntax", "name: x\ndimension: 2\nmaterial: {model: pmb\n", "", "YAML syntax error at line"),
    ("yaml-tab", "name: x\n\tdimension: 2\n", "", "YAML syntax error"),
    ("not-a-mapping", "- just\n- a list\n", "", "must be a mapping"),
    ("empty-file", "", "", "must be a mapping"),
    ("unknown-top-key", {"solvr": {}}, "solvr", "did you mean 'solver'"),
    ("unknown-nested-key", {"material": {"youngs_modulos": 1.0}}, "material.youngs_modulos",
     "did you mean 'youngs_modulus'"),
    ("unknown-bc-key", {"regions": LEFT, "boundary_conditions": [
        {"region": "left", "type": "velocity", "value": [1, None], "ramp": 1e-6}]},
     "boundary_conditions[0].ramp", "did you mean 'ramp_time'"),
    ("wrong-type-number", {"material": {"youngs_modulus": "stiff"}}, "material.youngs_modulus",
     "valid number"),
    ("wrong-type-dimension", {"dimension": "two"}, "dimension", "Input should be 2 or 3"),
    ("wrong-type-list", {"geometry": {"box": {"min": 0.0, "max": [0.04, 0.02]}}}, "geometry.box.min",
     "valid list"),
    ("missing-name", {"name": None}, "name", "valid string"),
    ("missing-solver-type", {"solver": {"type": None}}, "solver.type", "Input should be"),
    ("zero-spacing", {"discretization": {"spacing": 0.0}}, "discretization.spacing", "greater than 0"),
    ("negative-spacing", {"discretization": {"spacing": -1e-3}}, "discretization.spacing",
     "greater than 0"),
    ("zero-density", {"material": {"density": 0.0}}, "material.density", "greater than 0"),
    ("lps-poissons-ratio-half", {"material": {"model": "lps", "poissons_ratio": 0.5}},
     "material.poissons_ratio", "less than 0.5"),
    ("lps-poissons-ratio-minus-one", {"material": {"model": "lps", "poissons_ratio": -1.0}},
     "material.poissons_ratio", "greater than -1"),
    ("lps-without-poissons-ratio", {"material": {"model": "lps"}}, "material",
     "needs poissons_ratio"),
    ("pmb-with-poissons-ratio", {"material": {"poissons_ratio": 0.3}}, "material",
     "material.poissons_ratio applies to model lps only"),
    ("pmb-with-influence", {"material": {"influence": "gaussian"}}, "material",
     "material.influence applies to model lps only"),
    ("unknown-influence", {"material": {"model": "lps", "poissons_ratio": 0.3,
                                        "influence": "cubic"}}, "material.influence", "Input should be"),
    ("negative-modulus", {"material": {"youngs_modulus": -1.0}}, "material.youngs_modulus",
     "greater than 0"),
    ("infinite-modulus", {"material": {"youngs_modulus": float("inf")}}, "material.youngs_modulus",
     "finite number"),
    ("horizon-below-spacing", {"discretization": {"horizon_factor": 0.9}},
     "discretization.horizon_factor", "must be larger than the spacing"),
    ("both-failure-laws", {"material": {"critical_stretch": 1e-3}}, "material", "exactly one of"),
    ("3-vector-in-2d", {"geometry": {"box": {"min": [0, 0, 0], "max": [1, 1, 1]}}},
     "geometry.box.min", "expected 2 components"),
    ("3-vector-region", {"regions": {"r": {"box": {"min": [0, 0, 0], "max": [1, 1, 1]}}}},
     "regions.r.box.min", "expected 2 components"),
    ("3-vector-bc", {"regions": LEFT, "boundary_conditions": [
        {"region": "left", "type": "velocity", "value": [1, 0, 0]}]},
     "boundary_conditions[0].value", "expected 2 components"),
    ("box-inverted", {"geometry": {"box": {"min": [0.04, 0], "max": [0, 0.02]}}}, "geometry.box",
     "max must exceed min"),
    ("region-selects-nothing", {"regions": {"far": {"box": {"min": [1, 1], "max": [2, 2]}}}},
     "regions.far", "selects no particle"),
    ("bc-unknown-region", {"regions": LEFT, "boundary_conditions": [
        {"region": "lef", "type": "velocity", "value": [1, None]}]},
     "boundary_conditions[0].region", "did you mean 'left'"),
    ("no-fail-unknown-region", {"no_fail": ["nowhere"]}, "no_fail[0]", "unknown region"),
    ("precrack-outside", {"precracks": [{"segment": {"start": [1, 1], "end": [2, 1]}}]},
     "precracks[0]", "cuts no bond"),
    ("precrack-3d-shape-in-2d", {"precracks": [{"rectangle": {
        "corner": [0, 0], "edge1": [1, 0], "edge2": [0, 1]}}]}, "precracks[0].rectangle",
     "3D pre-crack"),
    ("sphere-in-2d", {"geometry": {"box": BASE_2D["geometry"]["box"], "holes": [
        {"sphere": {"center": [0.02, 0.01], "radius": 0.002}}]}}, "geometry.holes[0].sphere",
     "3D shape"),
    ("circle-in-3d", ("3d", {"regions": {"c": {"circle": {"center": [0, 0, 0], "radius": 1}}}}),
     "regions.c.circle", "2D shape"),
    ("plane-in-3d", ("3d", {"plane": "stress"}), "plane", "2D setting"),
    ("unknown-backend", {"backend": "tpu"}, "backend", "Input should be"),
    ("float16", {"precision": "float16"}, "precision", "Input should be"),
    ("end-time-and-steps", {"solver": {"type": "explicit", "steps": 10, "end_time": 1e-6}}, "solver",
     "exactly one of end_time or steps"),
    ("safety-and-time-step", {"solver": {"type": "explicit", "steps": 10, "safety_factor": 0.5,
                                         "time_step": 1e-9}}, "solver", "not both"),
    ("safety-above-one", {"solver": {"type": "explicit", "steps": 10, "safety_factor": 1.5}},
     "solver.safety_factor", "less than or equal to 1"),
    ("time-step-above-stable", {"solver": {"type": "explicit", "steps": 10, "time_step": 1.0}},
     "solver.time_step", "exceeds the stable time step"),
    ("velocity-in-quasi-static", {**QS, "regions": LEFT, "boundary_conditions": [
        {"region": "left", "type": "velocity", "value": [1, 0]}]}, "boundary_conditions[0].type",
     "no meaning in a quasi_static run"),
    ("ramp-in-quasi-static", {**QS, "regions": LEFT, "boundary_conditions": [
        {"region": "left", "type": "traction", "value": [1, 0], "ramp_time": 1e-6}]},
     "boundary_conditions[0].ramp_time", "load_steps"),
    ("steps-in-quasi-static", {"solver": {"type": "quasi_static", "steps": 10}}, "solver.steps",
     "belongs to the explicit solver"),
    ("null-in-traction", {"regions": LEFT, "boundary_conditions": [
        {"region": "left", "type": "traction", "value": [1, None]}]},
     "boundary_conditions[0].value", "null components are allowed only"),
    ("all-null", {"regions": LEFT, "boundary_conditions": [
        {"region": "left", "type": "velocity", "value": [None, None]}]},
     "boundary_conditions[0].value", "every component is null"),
    ("negative-thickness", {"thickness": -1.0}, "thickness", "greater than 0"),
]


def write(tmp_path, case) -> str:
    path = tmp_path / "case.yaml"
    if isinstance(case, str):
        path.write_text(case)
    elif isinstance(case, tuple):
        path.write_text(yaml.safe_dump(merge(THREE_D, case[1])))
    else:
        path.write_text(yaml.safe_dump(merge(BASE_2D, case)))
    return str(path)


def check_one_line(result, path, key, words):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    prefix = f"error: {path}: {key}: " if key else f"error: {path}: "
    assert lines[0].startswith(prefix), lines[0]
    assert words in lines[0], lines[0]


def test_the_table_has_at_least_thirty_mistakes():
    assert len(CASES) >= 30 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case, key, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_case_gives_one_line_and_exit_code_2(tmp_path, case, key, words):
    path = write(tmp_path, case)
    check_one_line(CliRunner().invoke(main, ["check", path]), path, key, words)


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    path = write(tmp_path, {})
    result = CliRunner().invoke(main, ["run", path, "-b", "serial", "-q", "--set",
                                       f"output.path={blocker}/out.h5"])
    check_one_line(result, path, "output.path", "cannot write")


def test_bad_override_names_the_key(tmp_path):
    path = write(tmp_path, {})
    result = CliRunner().invoke(main, ["check", path, "--set", "discretization.spacing=-1"])
    check_one_line(result, path, "discretization.spacing (given by --set discretization.spacing=-1)",
                   "greater than 0")
