"""Accuracy in float32 (issue 12, item 3): `pdgeneral validate --precision float32` keeps its results
apart from the float64 ones and sets each check beside float64 at the same resolution, and
`pdgeneral compare` sets two precisions side by side within the tolerance pdgeneral/compare.py states.
"""
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import BASE_2D, merge
from test_dynamics import FRACTURE_2D
from test_validation_elastic import invoke as validate

import pdgeneral.api
from pdgeneral import compare
from pdgeneral.cli import main
from pdgeneral.validation import Benchmark, Check, Result, report

# --- validate --precision, on stand-in benchmarks (the plumbing, quickly) ----------------------------


def precision_run(name: str, float32_passes: bool, calls: list):
    """A benchmark whose single check reads 1.000 in float64 and 1.001 in float32; in float32 it
    passes or fails as asked. ``calls`` collects (name, precision) of every run."""
    def run(resolution: str, workdir: Path, backend: str, precision: str = "float64") -> Result:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        calls.append((name, precision))
        figure, axes = plt.subplots()
        axes.plot([0, 1], [0, 1])
        path = report.save_figure(figure, workdir, name, "line")
        passed = precision == "float64" or float32_passes
        obtained = "1.000" if precision == "float64" else "1.001"
        return Result(name, f"The {name} benchmark", "nobody", "nothing", resolution, backend, 10, 20, 0.5,
                      [Check("one", "1", obtained, passed, "within 1e-3")], [path], "", precision)
    return run


def run_without_precision(resolution: str, workdir: Path, backend: str) -> Result:
    """A benchmark written before precision existed."""
    return Result("old", "The old benchmark", "nobody", "nothing", resolution, backend, 1, 1, 0.1,
                  [Check("one", "1", "1", True)], [], "")


@pytest.fixture
def suite(monkeypatch):
    calls = []
    benchmarks = [Benchmark("steady", "The steady benchmark", precision_run("steady", True, calls)),
                  Benchmark("fragile", "The fragile benchmark", precision_run("fragile", False, calls)),
                  Benchmark("old", "The old benchmark", run_without_precision)]
    monkeypatch.setattr(report, "benchmarks", lambda: benchmarks)
    return calls


def test_float32_results_go_to_their_own_folder_beside_float64_at_the_same_resolution(tmp_path, suite):
    directory = tmp_path / "docs" / "validation"
    assert validate(tmp_path, "--only", "steady").exit_code == 0
    float64_json = (directory / "steady.json").read_bytes()
    float64_figure = (directory / "steady-line.png").read_bytes()

    result = validate(tmp_path, "--only", "steady,fragile", "--precision", "float32")
    assert result.exit_code == 1, result.output          # fragile fails in float32
    # steady's float64 result at ci (the first call) was reused; fragile had none, so its reference ran.
    assert suite == [("steady", "float64"), ("steady", "float32"), ("fragile", "float64"),
                     ("fragile", "float32")]
    assert "PASS fragile (float64 reference): 1/1 checks" in result.output
    assert "PASS steady (float32): 1/1 checks" in result.output
    assert "FAIL fragile (float32): 0/1 checks" in result.output
    assert "1 of 2 benchmarks passed in float32 (failed: fragile)" in result.output

    # Nothing of float64 was replaced, and the reference run left no file beside the float64 ones.
    assert (directory / "steady.json").read_bytes() == float64_json
    assert (directory / "steady-line.png").read_bytes() == float64_figure
    assert sorted(p.name for p in directory.iterdir()) == ["float32", "steady-line.png", "steady.json"]
    folder = directory / "float32"
    assert sorted(p.name for p in folder.iterdir()) == ["fragile-line.png", "fragile.json",
                                                         "steady-line.png", "steady.json"]
    steady = json.loads((folder / "steady.json").read_text())
    assert steady["precision"] == "float32" and steady["resolution"] == "ci"
    assert steady["figures"] == ["validation/float32/steady-line.png"]     # relative to the document
    assert steady["reference"]["precision"] == "float64"
    assert steady["reference"]["date"] == json.loads(float64_json)["date"]
    assert steady["reference"]["checks"][0]["obtained"] == "1.000"
    fragile = json.loads((folder / "fragile.json").read_text())
    assert fragile["passed"] is False and fragile["reference"]["passed"] is True
    assert json.loads(float64_json)["precision"] == "float64"
    loaded = {r.name: r for r in report.load_results(folder, root=tmp_path / "docs")}
    assert loaded["steady"].precision == "float32"
    assert loaded["steady"].figures == [folder / "steady-line.png"]

    text = (tmp_path / "docs" / "validation.md").read_text()
    main_part, float32_part = text.split("\n## float32\n")
    assert "## The steady benchmark" in main_part and "fragile" not in main_part   # float64 only
    assert "| one | 1 | 1.000 | pass |" in main_part
    assert "[validation/float32/](validation/float32/)" in float32_part
    assert "| [The steady benchmark](#float32-the-steady-benchmark) | ci | pass 1/1 | pass 1/1 |" \
        in float32_part
    assert "| one | 1 | 1.000 | 1.001 | pass / pass |" in float32_part
    assert "| one | 1 | 1.000 | 1.001 | pass / **FAIL** |" in float32_part
    assert "Every check that passes in float64 passes in float32." in float32_part
    assert "Passes in float64, fails in float32: one. (Its cause is not recorded yet" in float32_part
    assert "[steady-line](validation/float32/steady-line.png)" in float32_part

    # The cause, written by hand beside the results, is copied into the benchmark's part.
    (folder / "fragile.md").write_text("The cause: float32 rounds 1 to 1.001 here.\n")
    report.write_document(directory, tmp_path / "docs" / "validation.md")
    text = (tmp_path / "docs" / "validation.md").read_text()
    assert "The cause: float32 rounds 1 to 1.001 here." in text and "not recorded yet" not in text


def test_a_float64_result_at_another_resolution_is_not_the_reference(tmp_path, suite):
    directory = tmp_path / "docs" / "validation"
    assert validate(tmp_path, "--only", "steady").exit_code == 0
    record = json.loads((directory / "steady.json").read_text())
    record["resolution"] = "full"
    (directory / "steady.json").write_text(json.dumps(record))
    assert validate(tmp_path, "--only", "steady", "--precision", "float32").exit_code == 0
    assert suite == [("steady", "float64"), ("steady", "float64"), ("steady", "float32")]
    assert json.loads((directory / "steady.json").read_text())["resolution"] == "full"   # kept


def test_a_benchmark_that_cannot_take_a_precision_fails_a_float32_run(tmp_path, suite):
    # Rather than run float64 and record it as float32.
    result = validate(tmp_path, "--only", "old", "--precision", "float32")
    assert result.exit_code == 1
    assert "PASS old (float64 reference)" in result.output and "FAIL old (float32)" in result.output
    record = json.loads((tmp_path / "docs" / "validation" / "float32" / "old.json").read_text())
    assert record["precision"] == "float32" and "precision" in record["checks"][0]["obtained"]


def test_an_unknown_precision_is_one_line_and_exit_code_2(tmp_path, suite):
    result = validate(tmp_path, "--precision", "float16")
    assert result.exit_code == 2
    assert result.output == "error: --precision: unknown precision 'float16' (choose from float64, float32)\n"
    assert suite == [] and not (tmp_path / "docs").exists()


@pytest.mark.slow
def test_a_real_benchmark_runs_every_case_in_float32(tmp_path, monkeypatch):
    # crack_branching at ci, the cheapest benchmark (9,000 particles); every model it builds is
    # recorded, so a case that missed the precision (and ran float64) fails this.
    built = []
    build_model = pdgeneral.api.build_model

    def recording(case):
        built.append(case.precision)
        return build_model(case)
    monkeypatch.setattr(pdgeneral.api, "build_model", recording)
    result = CliRunner().invoke(main, ["validate", "--resolution", "ci", "--backend", "parallel",
                                       "--only", "crack_branching", "--precision", "float32",
                                       "--directory", str(tmp_path / "validation"),
                                       "--document", str(tmp_path / "validation.md")])
    assert result.exit_code == 0, result.output
    # The float64 reference at ci first (none was recorded), then the float32 run.
    assert built == ["float64"] * (len(built) // 2) + ["float32"] * (len(built) // 2) and built
    assert not (tmp_path / "validation" / "crack_branching.json").exists()
    record = json.loads((tmp_path / "validation" / "float32" / "crack_branching.json").read_text())
    assert record["precision"] == "float32" and record["passed"]
    assert record["reference"]["precision"] == "float64" and record["reference"]["resolution"] == "ci"
    assert [c["name"] for c in record["reference"]["checks"]] == [c["name"] for c in record["checks"]]
    assert (tmp_path / "validation" / "float32" / "crack_branching-tip.png").exists()
    text = (tmp_path / "validation.md").read_text()
    assert "### float32: Dynamic crack branching in soda-lime glass" in text
    assert "Every check that passes in float64 passes in float32." in text


def test_every_benchmark_passes_its_precision_to_its_first_case(monkeypatch, tmp_path):
    # Each benchmark stops at the first model it builds, which must be float32: a cheap check of
    # the modules that the test above does not run (their runs take a minute or more together).
    class Built(Exception):
        pass

    def stop(case):
        raise Built(case.precision)
    monkeypatch.setattr(pdgeneral.api, "build_model", stop)
    from pdgeneral.validation import benchmarks
    for benchmark in benchmarks():
        with pytest.raises(Built) as built:
            benchmark.run("ci", tmp_path, "serial", precision="float32")
        assert str(built.value) == "float32", benchmark.name


# --- compare across precisions -----------------------------------------------------------------------

#: The tests' 40 x 20 plate with its left edge pulled at 5 m/s; its bonds do not break (s0 = 1).
PULLED = merge(BASE_2D, {"material": {"fracture_energy": None, "critical_stretch": 1.0},
                         "regions": {"left": {"box": {"min": [0, 0], "max": [0.002, 0.02]}}},
                         "boundary_conditions": [{"region": "left", "type": "velocity",
                                                  "value": [-5.0, None]}]})


def write(tmp_path, raw: dict) -> Path:
    raw = merge(raw, {"output": {"path": str(tmp_path / "out.h5")}})
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def compare_precisions(tmp_path, raw: dict, steps: int, spec: str = "serial:float64/serial:float32"):
    out = tmp_path / "compare.json"
    result = CliRunner().invoke(main, ["compare", str(write(tmp_path, raw)), spec, "--steps", str(steps),
                                       "--json", str(out)])
    return result, (json.loads(out.read_text())["runs"] if out.exists() else None)


def test_compare_sets_float64_and_float32_side_by_side(tmp_path, monkeypatch):
    result, runs = compare_precisions(tmp_path, PULLED, 20)
    assert result.exit_code == 0, result.output
    assert [(r["label"], r["backend"], r["precision"]) for r in runs] == [
        ("serial:float64", "serial", "float64"), ("serial:float32", "serial", "float32")]
    assert runs[0]["broken_bonds"] == runs[1]["broken_bonds"] == 0    # the tolerance before fracture
    assert runs[1]["agrees"]
    for field in ("displacement", "velocity"):
        # float32's rounding shows (about 1e-7 of the largest value, measured), far inside the tolerance
        assert 0 < runs[1]["relative"][field] <= compare.PRECISION_TOLERANCE / 100, field
    assert "serial:float32" in result.output and "(relative: displacement " in result.output
    # The tolerance is enforced: one below float32's resolution rejects the same runs.
    monkeypatch.setattr(compare, "PRECISION_TOLERANCE", 1e-9)
    result, runs = compare_precisions(tmp_path, PULLED, 20)
    assert result.exit_code == 1
    assert "DISAGREES: relative difference above 1e-09 before fracture" in result.output


def test_compare_float64_and_float32_through_fracture(tmp_path):
    # The notched plate of test_dynamics, 160 steps: bonds break, so the crack paths are compared.
    result, runs = compare_precisions(tmp_path, FRACTURE_2D, 160, "serial/serial:float32")
    assert result.exit_code == 0, result.output
    assert runs[0]["precision"] == "float64" and runs[1]["precision"] == "float32"
    assert runs[1]["broken_bonds"] > 1000      # far beyond the 522 bonds the pre-crack cuts
    assert runs[1]["damage_mismatch_fraction"] <= compare.DAMAGE_FRACTION_LIMIT and runs[1]["agrees"]
    # Measured: 1.8e-6 of the largest displacement (the same bonds broke in both runs).
    assert 0 < runs[1]["relative"]["displacement"] < 1e-4


def test_compare_rejects_an_unknown_precision_in_one_line(tmp_path):
    result, runs = compare_precisions(tmp_path, PULLED, 2, "serial:float16/serial")
    assert result.exit_code == 2 and runs is None
    assert result.output == ("error: BACKENDS: unknown precision 'float16' in 'serial:float16' "
                             "(choose from float64, float32)\n")
