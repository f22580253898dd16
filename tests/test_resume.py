"""Restart: a run stopped at any point and resumed ends with the same bits as one that never stopped.

The SIGKILL test kills a real `pdgeneral run` process at a random moment, resumes it with
`--resume`, and compares the final arrays with an uninterrupted run, bit for bit (CPU backends).
"""
import math
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import yaml
from conftest import case_from, merge
from test_dynamics import FRACTURE_2D
from test_quasi_static import STRIP

from pdgeneral.api import run_case
from pdgeneral.errors import CaseError
from pdgeneral.io import read_snapshot, snapshot_steps

FIELDS = ("displacement", "velocity", "damage")


def final_state(path):
    snap = read_snapshot(path)
    with h5py.File(path) as f:
        bits = f["steps"][f"{snap['step']:08d}"]["bond_state"][...]
    return snap, bits


def assert_same_final_state(a, b):
    (snap_a, bits_a), (snap_b, bits_b) = final_state(a), final_state(b)
    assert snap_a["step"] == snap_b["step"]
    for name in FIELDS:
        assert np.array_equal(snap_a[name], snap_b[name]), name
    assert np.array_equal(bits_a, bits_b)


#: FRACTURE_2D as a linear peridynamic solid (its dilatation is recomputed from the restored state)
LPS = {"material": {"model": "lps", "poissons_ratio": 0.3}}


@pytest.mark.parametrize("backend,material", [("serial", {}), ("parallel", {}), ("parallel", LPS)])
def test_explicit_resume_is_bit_identical(tmp_path, backend, material):
    raw = merge(FRACTURE_2D, {"solver": {"end_time": None, "steps": 120}, "output": {"every": 25},
                              **material})
    full = run_case(case_from(raw), backend=backend, output=tmp_path / "full.h5")
    # Stop at step 60 (a snapshot at 50 and the last one at 60), then resume to the end.
    run_case(case_from(raw), backend=backend, output=tmp_path / "cut.h5", steps=60)
    assert snapshot_steps(tmp_path / "cut.h5")[-1] == 60
    resumed = run_case(case_from(raw), backend=backend, output=tmp_path / "cut.h5", resume=True)
    assert resumed.steps == full.steps - 60
    # the cut run's own last snapshot (60) stays; the rest follows the uninterrupted cadence
    assert snapshot_steps(tmp_path / "cut.h5") == sorted(snapshot_steps(full.output) + [60])
    assert_same_final_state(full.output, tmp_path / "cut.h5")
    # the run broke bonds after the restart point: the bond state was carried over correctly
    at_restart = read_snapshot(tmp_path / "cut.h5", 60)["damage"].sum()
    assert final_state(full.output)[0]["damage"].sum() > at_restart


def test_quasi_static_resume_is_bit_identical(tmp_path):
    raw = merge(STRIP, {"solver": {"load_steps": 3}})
    run_case(case_from(raw), backend="serial", output=tmp_path / "full.h5")
    run_case(case_from(raw), backend="serial", output=tmp_path / "cut.h5", steps=1)
    run_case(case_from(raw), backend="serial", output=tmp_path / "cut.h5", resume=True)
    assert snapshot_steps(tmp_path / "cut.h5") == [0, 1, 2, 3]
    assert_same_final_state(tmp_path / "full.h5", tmp_path / "cut.h5")


def test_resume_discards_a_snapshot_cut_short(tmp_path):
    raw = merge(FRACTURE_2D, {"output": {"every": 25}})
    run_case(case_from(raw), backend="serial", output=tmp_path / "a.h5", steps=50)
    # A crash in the middle of writing step 75: its file, and the index that would list it, exist
    # only as temporaries cut short (every file is written as NAME.tmp, then renamed).
    folder = tmp_path / "a.h5.d"
    whole = (folder / "step-00000050.h5").read_bytes()
    (folder / "step-00000075.h5.tmp").write_bytes(whole[:len(whole) // 2])
    (tmp_path / "a.h5.tmp").write_bytes((tmp_path / "a.h5").read_bytes()[:100])
    assert snapshot_steps(tmp_path / "a.h5") == [0, 25, 50]    # readers ignore it
    run_case(case_from(raw), backend="serial", output=tmp_path / "a.h5", resume=True)
    assert not list(tmp_path.rglob("*.tmp"))                   # resume discarded it
    run_case(case_from(raw), backend="serial", output=tmp_path / "b.h5")
    assert_same_final_state(tmp_path / "a.h5", tmp_path / "b.h5")


def test_resume_refuses_another_case(tmp_path):
    run_case(case_from(FRACTURE_2D), backend="serial", output=tmp_path / "a.h5", steps=5)
    other = merge(FRACTURE_2D, {"material": {"density": 2500.0}})
    with pytest.raises(CaseError, match="written by a different case"):
        run_case(case_from(other), backend="serial", output=tmp_path / "a.h5", resume=True)
    with pytest.raises(CaseError, match="does not exist"):
        run_case(case_from(FRACTURE_2D), backend="serial", output=tmp_path / "none.h5", resume=True)


def start_run(tmp_path, raw, name):
    """Write ``raw`` as a case whose output is tmp_path/name.h5 and start `pdgeneral run` on it in a
    real process. Returns (case dict, command, process)."""
    raw = merge(raw, {"output": {"path": str(tmp_path / f"{name}.h5")}})
    case = tmp_path / "case.yaml"
    case.write_text(yaml.safe_dump(raw))
    command = [sys.executable, "-m", "pdgeneral", "run", str(case), "-b", "serial", "-q"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return raw, command, process


def wait_for(condition, timeout=300.0):
    deadline = time.time() + timeout
    while time.time() < deadline and not condition():
        time.sleep(0.05)


def resume_and_compare(tmp_path, raw, command, name):
    resumed = subprocess.run(command + ["--resume"], capture_output=True, text=True, check=False)
    assert resumed.returncode == 0, resumed.stderr
    reference = merge(raw, {"output": {"path": str(tmp_path / "reference.h5")}})
    run_case(case_from(reference), backend="serial")
    assert_same_final_state(tmp_path / "reference.h5", tmp_path / f"{name}.h5")
    return resumed


def test_sigkill_at_a_random_moment_then_resume(tmp_path):
    raw, command, process = start_run(tmp_path, merge(FRACTURE_2D, {
        "solver": {"end_time": None, "steps": 3000}, "output": {"every": 100}}), "killed")
    xdmf = tmp_path / "killed.xdmf"
    # wait until a few snapshots exist, then kill at a random moment
    wait_for(lambda: xdmf.exists() and xdmf.read_text().count('Name="step ') >= 3)
    time.sleep(random.uniform(0.0, 0.5))
    assert process.poll() is None, "the run finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    # The file opens and keeps every snapshot completed before the kill.
    assert snapshot_steps(tmp_path / "killed.h5")[:3] == [0, 100, 200]
    resume_and_compare(tmp_path, raw, command, "killed")


def test_ctrl_c_writes_a_snapshot_and_says_how_to_resume(tmp_path):
    # The case file names an output of its own, already finished; the run writes elsewhere through
    # --set (into a folder with a space, which the hint must quote). Following the printed hint as
    # a shell command must resume that run, not the case file's own output (issue 18, item 1).
    raw = merge(FRACTURE_2D, {"solver": {"end_time": None, "steps": 20},
                              "output": {"path": str(tmp_path / "own.h5"), "every": 1000}})
    case = tmp_path / "case.yaml"
    case.write_text(yaml.safe_dump(raw))
    run_case(case, backend="serial")
    target = tmp_path / "long run" / "stopped.h5"
    # Long enough (about 4 s on a 2-core machine) that the signal always lands inside the loop.
    command = [sys.executable, "-m", "pdgeneral", "run", str(case), "-b", "serial", "-q",
               "--set", "solver.steps=20000", "--set", f"output.path={target}", "--overwrite"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(target.with_suffix(".xdmf").exists)          # step 0 written: the loop is running
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    stopped_at = snapshot_steps(target)[-1]
    assert 0 < stopped_at < 20000 and f"interrupted at step {stopped_at}" in stderr
    hint = stderr.split("continue with: ", 1)[1].strip()
    assert hint == shlex.join(["pdgeneral", "run", str(case), "--backend", "serial",
                               "--set", "solver.steps=20000", "--set", f"output.path={target}",
                               "--resume"])
    # Run exactly what was printed, through a shell, with a `pdgeneral` on the PATH that is this
    # Python's (an installed console script may not be, e.g. where the package is not installed).
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "pdgeneral").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m pdgeneral "$@"\n')
    (shim / "pdgeneral").chmod(0o755)
    env = dict(os.environ, PATH=f"{shim}{os.pathsep}{os.environ['PATH']}")
    resumed = subprocess.run(["bash", "-c", hint], capture_output=True, text=True, env=env, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert f"-> {target}" in resumed.stdout
    reference = merge(raw, {"solver": {"steps": 20000}, "output": {"path": str(tmp_path / "ref.h5")}})
    run_case(case_from(reference), backend="serial")
    assert_same_final_state(tmp_path / "ref.h5", target)
    assert snapshot_steps(tmp_path / "own.h5") == [0, 20]     # the case's own output: untouched


def test_resuming_a_complete_run_says_so(tmp_path):
    raw = merge(FRACTURE_2D, {"solver": {"end_time": None, "steps": 30}})
    run_case(case_from(raw), backend="serial", output=tmp_path / "done.h5")
    with pytest.raises(CaseError, match=r"done.h5 is complete: it reached step 30 of 30, so there is "
                                        r"nothing to resume; to run on, resume with a larger "
                                        r"solver.end_time or solver.steps"):
        run_case(case_from(raw), backend="serial", output=tmp_path / "done.h5", resume=True)
    with pytest.raises(CaseError, match="already reached step 30, at or past --steps 20"):
        run_case(case_from(raw), backend="serial", output=tmp_path / "done.h5", resume=True, steps=20)
    quasi = merge(STRIP, {"solver": {"load_steps": 2}})
    run_case(case_from(quasi), backend="serial", output=tmp_path / "qs.h5")
    with pytest.raises(CaseError, match="reached load step 2 of 2"):
        run_case(case_from(quasi), backend="serial", output=tmp_path / "qs.h5", resume=True)
    # Through the command line: one line, exit code 2, no "0 steps" success.
    case = tmp_path / "case.yaml"
    case.write_text(yaml.safe_dump(merge(raw, {"output": {"path": str(tmp_path / "done.h5")}})))
    result = subprocess.run([sys.executable, "-m", "pdgeneral", "run", str(case), "-b", "serial",
                             "--resume"], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "is complete" in result.stderr


def test_a_finished_run_extends_with_more_steps_bit_for_bit(tmp_path):
    raw = merge(FRACTURE_2D, {"solver": {"end_time": None, "steps": 60}, "output": {"every": 20}})
    run_case(case_from(raw), backend="serial", output=tmp_path / "a.h5")
    longer = merge(raw, {"solver": {"steps": 120}, "output": {"every": 30}})
    resumed = run_case(case_from(longer), backend="serial", output=tmp_path / "a.h5", resume=True)
    assert resumed.steps == 60
    assert snapshot_steps(tmp_path / "a.h5") == [0, 20, 40, 60, 90, 120]
    run_case(case_from(longer), backend="serial", output=tmp_path / "b.h5")
    assert_same_final_state(tmp_path / "a.h5", tmp_path / "b.h5")
    with h5py.File(tmp_path / "a.h5") as f:      # the file now records the case it continues as
        assert '"steps": 120' in f.attrs["case_normalized"]


def test_a_later_end_time_keeps_the_files_time_step(tmp_path):
    # With end_time, dt = end_time / ceil(end_time / dt_stable); a resume to a later end_time keeps
    # the file's dt (the steps already computed stay valid) and runs ceil(end_time / dt) steps.
    raw = merge(FRACTURE_2D, {"solver": {"end_time": 2.0e-6}, "output": {"every": 1000}})
    first = run_case(case_from(raw), backend="serial", output=tmp_path / "a.h5")
    dt = first.time_step
    later = merge(raw, {"solver": {"end_time": 5.0e-6}})
    resumed = run_case(case_from(later), backend="serial", output=tmp_path / "a.h5", resume=True)
    total = math.ceil(5.0e-6 / dt * (1 - 1e-12))
    assert resumed.time_step == dt and resumed.steps == total - first.steps
    reference = merge(raw, {"solver": {"end_time": None, "steps": total, "time_step": dt}})
    run_case(case_from(reference), backend="serial", output=tmp_path / "ref.h5")
    assert_same_final_state(tmp_path / "ref.h5", tmp_path / "a.h5")


def test_resume_names_the_keys_that_differ(tmp_path):
    run_case(case_from(FRACTURE_2D), backend="serial", output=tmp_path / "a.h5", steps=5)
    other = merge(FRACTURE_2D, {"material": {"density": 2500.0}, "precision": "float32"})
    with pytest.raises(CaseError, match=r"material.density was 2440.0 in the file, 2500.0 now; "
                                        r"precision was float64 in the file, float32 now\. Resume may "
                                        r"change only the keys that lengthen a run \(solver.end_time, "
                                        r"solver.steps\), output and backend"):
        run_case(case_from(other), backend="serial", output=tmp_path / "a.h5", resume=True)


def test_a_blow_up_stops_the_run_keeps_the_last_good_snapshot_and_names_the_cause(tmp_path,
                                                                                 monkeypatch):
    from pdgeneral import api
    from pdgeneral.solvers.interrupt import RunUnstable
    prepared = api.prepare(case_from(merge(FRACTURE_2D, {"solver": {"end_time": None, "steps": 400},
                                                         "output": {"every": 1}})))
    # A time step 16 times the stable one (which the case could not ask for): the explicit scheme
    # must diverge, and the message must blame the time step with its numbers.
    dt = 16 * prepared.model.stable_time_step
    monkeypatch.setattr(api, "time_stepping", lambda model, kept_time_step=None: (dt, 400))
    with pytest.raises(RunUnstable, match=r"not finite .* at step (\d+) .*Likely cause: a time step "
                                          r"above the stable limit \(dt = ([-+.e\d]+) s, stable "
                                          r"([-+.e\d]+) s") as failure:
        run_case(prepared, backend="serial", output=tmp_path / "blow.h5")
    numbers = re.search(r"dt = ([-+.e\d]+) s, stable ([-+.e\d]+) s", str(failure.value))
    assert float(numbers.group(1)) > float(numbers.group(2))
    stopped = int(re.search(r"at step (\d+)", str(failure.value)).group(1))
    steps = snapshot_steps(tmp_path / "blow.h5")
    assert steps[-1] == stopped - 1     # every step before the blow-up was written, not the bad one
    last = read_snapshot(tmp_path / "blow.h5", steps[-1])
    assert all(np.isfinite(last[name]).all() for name in FIELDS)
    assert 0 < steps[-1] < 400


def test_checkpoints_between_sparse_snapshots_allow_resume_after_sigkill(tmp_path):
    raw, command, process = start_run(tmp_path, merge(FRACTURE_2D, {
        "solver": {"end_time": None, "steps": 3000},
        "output": {"every": 3000, "checkpoint_every": 100}}), "killed")

    def checkpoint_step() -> int:
        try:
            with h5py.File(tmp_path / "killed.h5", "r", locking=False) as f:
                return int(f["checkpoint"].attrs["step"]) if "checkpoint" in f else 0
        except (OSError, KeyError):
            return 0

    wait_for(lambda: process.poll() is not None or checkpoint_step() >= 300)
    assert process.poll() is None, "the run finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert snapshot_steps(tmp_path / "killed.h5") == [0]     # sparse output: only step 0 so far
    with h5py.File(tmp_path / "killed.h5", "r") as f:
        kept = [name for name in f if name.startswith("checkpoint")]
        assert kept == ["checkpoint"]          # replaced atomically: one, always complete
        assert int(f["checkpoint"].attrs["step"]) >= 300
    resumed = resume_and_compare(tmp_path, raw, command, "killed")
    ran = int(re.search(r"([\d,]+) steps", resumed.stdout).group(1).replace(",", ""))
    assert ran <= 2700          # it continued from the checkpoint, not from step 0
