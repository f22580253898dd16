"""The Python API a script uses (docs/api.md; issue 18, item 9)."""
import re
from pathlib import Path

import h5py
import pytest
from conftest import BASE_2D, case_from, merge

import pdgeneral
from pdgeneral.case import load_case_text


def test_what_a_script_needs_is_exported():
    for name in ("load_case", "load_case_text", "build_model", "prepare", "run_case", "RunSummary",
                 "read_snapshot", "snapshot_steps", "CaseError", "PdgeneralError"):
        assert name in pdgeneral.__all__ and callable(getattr(pdgeneral, name)), name
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        pdgeneral.nothing  # noqa: B018


def test_a_case_built_in_python_is_recorded_in_its_output(tmp_path):
    case = case_from(merge(BASE_2D, {"solver": {"steps": 12}, "output": {"every": 5}}))
    summary = pdgeneral.run_case(case, backend="serial", output=tmp_path / "a.h5")
    with h5py.File(summary.output) as f:
        recorded = f.attrs["case"]
    assert recorded.strip() and load_case_text(recorded) == case
    # where the results are, step by step
    assert [step for step, _ in summary.snapshots] == [0, 5, 10, 12]
    assert summary.snapshots == sorted(summary.snapshots)
    for step, time in summary.snapshots:
        snap = pdgeneral.read_snapshot(summary.output, step)
        assert snap["step"] == step and snap["time"] == pytest.approx(time)
    assert pdgeneral.snapshot_steps(summary.output) == [0, 5, 10, 12]


def test_the_sweep_example_of_docs_api_runs(tmp_path, monkeypatch):
    # The documented example, as written, in a scratch directory (with the shipped case).
    text = Path(__file__).parent.parent.joinpath("docs/api.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.DOTALL).group(1)
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "tension_to_failure_2d.yaml").write_text(
        Path(__file__).parent.parent.joinpath("cases/tension_to_failure_2d.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "docs/api.md", "exec"), namespace)  # noqa: S102 - our own documentation
    results = namespace["results"]
    assert sorted(results) == [2.0, 3.8, 8.0]
    # a lower fracture energy breaks more bonds (a check that the sweep changed the physics)
    assert results[2.0] > results[8.0]
    assert (tmp_path / "results" / "sweep" / "g0-3.8.h5").exists()
