"""The command line, through click's runner and through a real subprocess; the output layout."""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import h5py
import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from conftest import BASE_2D, merge, real_gpu

from pdgeneral.cli import main


def write_case(tmp_path, changes=None, name="case.yaml"):
    raw = merge(BASE_2D, changes or {})
    raw["output"] = {"every": 10, "path": str(tmp_path / "out.h5")}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


def test_run_writes_the_documented_layout(tmp_path):
    case = write_case(tmp_path)
    result = CliRunner().invoke(main, ["run", str(case), "--backend", "serial", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "particle-steps/s" in result.output and "out.h5" in result.output
    with h5py.File(tmp_path / "out.h5") as f:
        assert f.attrs["backend"] == "serial" and f.attrs["precision"] == "float64"
        assert f.attrs["dimension"] == 2 and f.attrs["pdgeneral_version"]
        assert yaml.safe_load(f.attrs["case"])["name"] == "test-2d"
        n = f["particles/position"].shape[0]
        assert f["particles/position"].shape == (n, 2) and f["particles/volume"].shape == (n,)
        assert sorted(f["steps"]) == ["00000000", "00000010", "00000020"]
        last = f["steps/00000020"]
        assert last.attrs["step"] == 20 and last.attrs["time"] > 0
        assert last["displacement"].shape == (n, 2) and last["velocity"].shape == (n, 2)
        assert last["damage"].shape == (n,)
    # The XDMF index lists every step and points at datasets that exist.
    tree = ET.parse(tmp_path / "out.xdmf")
    grids = tree.findall(".//Grid[@GridType='Uniform']")
    assert len(grids) == 3
    for item in tree.iter("DataItem"):
        file_name, dataset = item.text.split(":")
        assert file_name.startswith("out.h5.d/")
        with h5py.File(tmp_path / file_name) as f:
            assert dataset in f


def test_run_refuses_to_overwrite(tmp_path):
    case = write_case(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["run", str(case), "-b", "serial", "-q", "--steps", "2"]).exit_code == 0
    result = runner.invoke(main, ["run", str(case), "-b", "serial", "-q", "--steps", "2"])
    assert result.exit_code == 2 and "--overwrite" in result.output
    result = runner.invoke(main, ["run", str(case), "-b", "serial", "-q", "--steps", "2", "--overwrite"])
    assert result.exit_code == 0


def test_steps_and_set_override(tmp_path):
    case = write_case(tmp_path)
    out = tmp_path / "other.h5"
    result = CliRunner().invoke(main, ["run", str(case), "-b", "parallel", "-q", "--steps", "3",
                                       "--set", f"output.path={out}"])
    assert result.exit_code == 0, result.output
    with h5py.File(out) as f:
        assert sorted(f["steps"]) == ["00000000", "00000003"]
        assert list(f.attrs["overrides"]) == [f"output.path={out}"]


def test_check_prints_the_plan(tmp_path):
    result = CliRunner().invoke(main, ["check", str(write_case(tmp_path))])
    assert result.exit_code == 0, result.output
    for word in ("particles   800", "bonds", "stable dt", "memory", "explicit"):
        assert word in result.output


def test_info_lists_backends_and_the_kernel_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("PDGENERAL_CACHE_DIR", str(tmp_path / "kernels"))
    result = CliRunner().invoke(main, ["info"])
    assert result.exit_code == 0 and "serial, parallel" in result.output
    assert f"cached in {tmp_path / 'kernels'}" in result.output


def test_bad_input_in_a_real_process_is_one_line_and_exit_2(tmp_path):
    case = write_case(tmp_path, {"discretization": {"spacing": -1.0}})
    proc = subprocess.run([sys.executable, "-m", "pdgeneral", "run", str(case)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (f"error: {case}: discretization.spacing: Input should be greater "
                                   "than 0 (got -1.0)")


def test_unknown_backend_on_the_command_line(tmp_path):
    result = CliRunner().invoke(main, ["run", str(write_case(tmp_path)), "--backend", "tpu"])
    assert result.exit_code == 2 and "unknown backend 'tpu'" in result.output


@pytest.mark.skipif(real_gpu(), reason="this machine has a GPU")
def test_cuda_without_gpu_is_a_clear_error(tmp_path):
    # A real process without the simulator: what a user on a machine without a GPU sees.
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run([sys.executable, "-m", "pdgeneral", "run", str(write_case(tmp_path)),
                           "--backend", "cuda"], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().endswith("backend: cuda was asked for but no CUDA GPU is available on "
                                        "this machine")


def test_quasi_static_run_from_the_cli(tmp_path):
    changes = {"solver": {"type": "quasi_static", "steps": None, "load_steps": 2},
               "regions": {"r": {"box": {"min": [0.039, 0], "max": [0.04, 0.02]}},
                           "l": {"box": {"min": [0, 0], "max": [0.001, 0.02]}}},
               "boundary_conditions": [{"region": "r", "type": "traction", "value": [1e6, 0]},
                                       {"region": "l", "type": "displacement", "value": [0, 0]}]}
    result = CliRunner().invoke(main, ["run", str(write_case(tmp_path, changes)), "-b", "serial", "-q"])
    assert result.exit_code == 0, result.output
    with h5py.File(tmp_path / "out.h5") as f:
        assert sorted(f["steps"]) == ["00000000", "00000001", "00000002"]
        assert f["steps/00000002"].attrs["converged"]
        u = f["steps/00000002/displacement"][...]
        assert np.all(u[:, 0] >= -1e-15)


def test_compare_serial_parallel_agree_bit_for_bit(tmp_path):
    import json
    case = write_case(tmp_path, {"material": {"fracture_energy": None, "critical_stretch": 2e-4},
                                 "regions": {"l": {"box": {"min": [0, 0], "max": [0.002, 0.02]}}},
                                 "boundary_conditions": [{"region": "l", "type": "velocity",
                                                          "value": [-5.0, None]}]})
    out = tmp_path / "cmp.json"
    result = CliRunner().invoke(main, ["compare", str(case), "serial/parallel", "--steps", "30",
                                       "--json", str(out)])
    assert result.exit_code == 0, result.output
    runs = json.loads(out.read_text())["runs"]
    assert [r["backend"] for r in runs] == ["serial", "parallel"]
    assert runs[1]["agrees"] and all(v == 0.0 for v in runs[1]["differences"].values())
    assert runs[0]["broken_bonds"] > 0   # the comparison went through fracture


def test_compare_needs_two_backends(tmp_path):
    result = CliRunner().invoke(main, ["compare", str(write_case(tmp_path)), "serial"])
    assert result.exit_code == 2 and "at least two backends" in result.output


def test_check_prints_the_json_schema():
    import json
    result = CliRunner().invoke(main, ["check", "--schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["title"] == "Case"
    assert {"name", "dimension", "material", "discretization", "geometry", "solver"} <= set(
        schema["required"])
    material = schema["$defs"]["Material"]
    assert material["additionalProperties"] is False   # unknown keys are errors, editors say so
    assert "youngs_modulus" in material["properties"]


def test_info_and_plot_of_an_output_file(tmp_path):
    case = write_case(tmp_path, {"precracks": [{"segment": {"start": [0.0, 0.0101],
                                                            "end": [0.01, 0.0101]}}]})
    runner = CliRunner()
    assert runner.invoke(main, ["run", str(case), "-b", "serial", "-q"]).exit_code == 0
    out = tmp_path / "out.h5"
    result = runner.invoke(main, ["info", str(out)])
    assert result.exit_code == 0, result.output
    assert "particles   800" in result.output and "snapshots   3: steps 0 .. 20" in result.output
    assert "bond_state, damage, displacement, velocity" in result.output
    device_line = next(line for line in result.output.splitlines() if line.startswith("device"))
    assert device_line.endswith(f", {os.cpu_count()} CPU threads")   # the hardware is recorded
    result = runner.invoke(main, ["plot", str(out), "--field", "displacement", "--step", "10",
                                  "-o", str(tmp_path / "u.png")])
    assert result.exit_code == 0, result.output
    png = (tmp_path / "u.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    result = runner.invoke(main, ["plot", str(out)])
    assert result.exit_code == 0 and (tmp_path / "out-damage-00000020.png").exists()
    result = runner.invoke(main, ["plot", str(out), "--step", "7"])
    assert result.exit_code == 2 and "no complete snapshot at step 7" in result.output
    result = runner.invoke(main, ["info", str(tmp_path / "case.yaml")])
    assert result.exit_code == 2 and "not a pdgeneral output file" in result.output


def test_batch_runs_every_case_carries_on_past_a_failure_and_exits_1(tmp_path):
    good = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        good.append(str(write_case(folder)))
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: broken\ndimension: 4\n")
    result = CliRunner().invoke(main, ["batch", good[0], str(bad), good[1], "--jobs", "2",
                                       "--backend", "serial", "--set", "solver.steps=4"])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].split()[:2] == ["case", "status"]
    rows = lines[1:]
    assert [row.split()[1] for row in rows] == ["ok", "failed", "ok"]
    assert rows[0].split()[2] == "4" and rows[0].rstrip().endswith("out.h5")
    assert "dimension: Input should be 2 or 3" in rows[1]
    for case in good:
        with h5py.File(os.path.join(os.path.dirname(case), "out.h5")) as f:
            assert max(f["steps"]) == "00000004"
