"""Case-file validation: each mistake gives one line naming the file, the key and the problem."""
import pytest
import yaml
from conftest import BASE_2D, merge

from pdgeneral.case import load_case, load_case_text
from pdgeneral.errors import CaseError


def error_of(raw_or_text, overrides=()):
    text = raw_or_text if isinstance(raw_or_text, str) else yaml.safe_dump(raw_or_text)
    with pytest.raises(CaseError) as info:
        load_case_text(text, source="case.yaml", overrides=overrides)
    message = str(info.value)
    assert message.startswith("case.yaml: ") and "\n" not in message
    return message


def test_every_shipped_case_validates():
    from pathlib import Path
    for path in sorted(Path("cases").glob("*.yaml")):
        load_case(path)


def test_yaml_syntax_error_names_the_line():
    text = "name: x\ndimension: 2\nmaterial: {model: pmb\n"
    assert "line" in error_of(text) and "YAML syntax error" in error_of(text)


def test_yaml_syntax_error_names_the_line_of_the_mistake():
    # A key without its ':' on line 2; PyYAML notices only on line 3 (issue 18, item 4).
    assert error_of("name: x\ndimension 2\nmaterial:\n  model: pmb\n") == (
        "case.yaml: YAML syntax error at line 2, column 1: could not find expected ':'")
    # An unclosed bracket on line 2; the parser stops at line 3.
    assert "at line 2, column 6:" in error_of("name: x\nbox: [1, 2\nother: 3\n")
    # Where the problem mark is the mistake, it stays: a tab on line 3.
    assert "at line 3, column 1:" in error_of("name: x\nmaterial:\n\tmodel: pmb\n")


def test_a_misspelled_required_key_is_named_as_the_likely_typo():
    raw = merge(BASE_2D, {})
    raw["material"] = {"model": "pmb", "young_modulus": 200.0e9, "density": 7850.0,
                       "fracture_energy": 3.8}
    assert error_of(raw) == ("case.yaml: material.youngs_modulus: required key is missing; the unknown "
                             "key 'young_modulus' beside it looks like its misspelling")


def test_an_error_from_set_says_it_came_from_set():
    assert error_of(BASE_2D, overrides=["solver.end_tme=1e-3"]) == (
        "case.yaml: solver.end_tme (given by --set solver.end_tme=1e-3): unknown key 'end_tme'; did you "
        "mean 'end_time'?")
    assert error_of(BASE_2D, overrides=["material.density=-3"]).startswith(
        "case.yaml: material.density (given by --set material.density=-3): Input should be greater")
    # a mapping set by --set, wrong inside: still the command line's
    assert "(given by --set material={model: pmb})" in error_of(BASE_2D, overrides=["material={model: pmb}"])
    # the same mistake in the file is the file's
    assert "given by" not in error_of(merge(BASE_2D, {"solver": {"end_tme": 1e-3}}))


def test_unknown_key_suggests_the_right_one():
    raw = merge(BASE_2D, {"material": {"youngs_modulos": 1.0}})
    assert error_of(raw) == "case.yaml: material.youngs_modulos: unknown key 'youngs_modulos'; did you mean 'youngs_modulus'?"


def test_unknown_top_level_key():
    assert "did you mean 'solver'" in error_of(merge(BASE_2D, {"solvr": {}}))


@pytest.mark.parametrize("changes, key, words", [
    ({"material": {"youngs_modulus": "stiff"}}, "material.youngs_modulus", "valid number"),
    ({"material": {"density": -1.0}}, "material.density", "greater than 0"),
    ({"discretization": {"spacing": 0.0}}, "discretization.spacing", "greater than 0"),
    ({"discretization": {"horizon_factor": 0.8}}, "discretization.horizon_factor", "larger than the spacing"),
    ({"dimension": 4}, "dimension", "Input should be 2 or 3"),
    ({"geometry": {"box": {"min": [0, 0, 0], "max": [1, 1, 1]}}}, "geometry.box.min", "expected 2 components"),
    ({"backend": "tpu"}, "backend", "Input should be"),
    ({"precision": "float16"}, "precision", "Input should be"),
    ({"solver": {"type": "explicit", "steps": 10, "end_time": 1.0}}, "solver", "exactly one of end_time or steps"),
    ({"solver": {"type": "implicit"}}, "solver.type", "Input should be"),
    ({"material": {"critical_stretch": 0.01}}, "material", "exactly one of fracture_energy, critical_stretch"),
    ({"boundary_conditions": [{"region": "lft", "type": "velocity", "value": [1, None]}],
      "regions": {"left": {"box": {"min": [0, 0], "max": [0.001, 0.02]}}}},
     "boundary_conditions[0].region", "did you mean 'left'"),
    ({"no_fail": ["nowhere"]}, "no_fail[0]", "unknown region 'nowhere'"),
    ({"regions": {"ball": {"sphere": {"center": [0, 0], "radius": 1.0}}}}, "regions.ball.sphere", "3D shape"),
    ({"precracks": [{"rectangle": {"corner": [0, 0], "edge1": [1, 0], "edge2": [0, 1]}}]},
     "precracks[0].rectangle", "3D pre-crack"),
    ({"thickness": -1.0}, "thickness", "greater than 0"),
])
def test_structural_and_consistency_errors(changes, key, words):
    message = error_of(merge(BASE_2D, changes))
    assert message.startswith(f"case.yaml: {key}: "), message
    assert words in message, message


def test_missing_required_key():
    raw = dict(BASE_2D)
    del raw["material"]
    assert error_of(raw) == "case.yaml: material: required key is missing"


def test_quasi_static_rejects_velocity_conditions():
    raw = merge(BASE_2D, {"solver": {"type": "quasi_static", "steps": None},
                          "regions": {"a": {"box": {"min": [0, 0], "max": [0.001, 0.02]}}},
                          "boundary_conditions": [{"region": "a", "type": "velocity", "value": [1, 0]}]})
    assert "boundary_conditions[0].type: velocity has no meaning" in error_of(raw)


def test_overrides_are_validated_like_the_file():
    case = load_case_text(yaml.safe_dump(BASE_2D), overrides=["discretization.spacing=0.5e-3",
                                                              "output.path=elsewhere.h5"])
    assert case.discretization.spacing == 0.5e-3 and case.output_path == "elsewhere.h5"
    assert ("discretization.spacing (given by --set discretization.spacing=-1): Input should be greater "
            "than 0") in error_of(BASE_2D, overrides=["discretization.spacing=-1"])
    assert "unknown key 'spasing'" in error_of(BASE_2D, overrides=["discretization.spasing=1"])


def test_yaml_is_loaded_safely():
    text = "!!python/object/apply:os.system ['echo hacked']\n"
    assert "YAML" in error_of(text) or "mapping" in error_of(text)


def test_missing_file(tmp_path):
    with pytest.raises(CaseError, match="no such file"):
        load_case(tmp_path / "nope.yaml")
