"""Snapshots are written in a background thread while the run steps on (issue 12, item 5), with the
same files and the same crash safety as before (tests/test_crash_safety.py runs through it too)."""
import threading

import h5py
import numpy as np
import pytest
from conftest import case_from, merge
from test_dynamics import FRACTURE_2D
from test_resume import assert_same_final_state

from pdgeneral.api import run_case
from pdgeneral.backends.cpu import CpuBackend
from pdgeneral.io import SnapshotWriter, hdf5, snapshot_steps

RAW = merge(FRACTURE_2D, {"solver": {"end_time": None, "steps": 40}, "output": {"every": 10}})


def test_the_run_steps_on_while_a_snapshot_is_written(tmp_path, monkeypatch):
    # The write of step 10's file waits until the run has stepped past step 10: with writes in the
    # caller's thread that never happens (the wait times out and the test fails).
    stepped_on = threading.Event()
    advance = CpuBackend.advance

    def recording_advance(self, first_step, n_steps, dt, energy=False, history=None):
        advance(self, first_step, n_steps, dt, energy, history)
        if first_step >= 10:
            stepped_on.set()

    write_h5 = hdf5._write_h5
    overlapped = []

    def slow_write(path, fill):
        if path.name.startswith("step-00000010"):
            overlapped.append(stepped_on.wait(timeout=60))
        write_h5(path, fill)

    monkeypatch.setattr(CpuBackend, "advance", recording_advance)
    monkeypatch.setattr(hdf5, "_write_h5", slow_write)
    run_case(case_from(RAW), backend="serial", output=tmp_path / "a.h5")
    assert overlapped == [True]
    assert snapshot_steps(tmp_path / "a.h5") == [0, 10, 20, 30, 40]
    monkeypatch.undo()
    run_case(case_from(RAW), backend="serial", output=tmp_path / "b.h5")
    assert_same_final_state(tmp_path / "a.h5", tmp_path / "b.h5")


def test_background_and_direct_writes_give_the_same_files(tmp_path):
    from pdgeneral.model import build_model
    model = build_model(case_from(RAW))
    rng = np.random.default_rng(5)
    shape = (model.particle_count, 2)
    for name, background in (("direct", False), ("background", True)):
        rng = np.random.default_rng(5)
        with SnapshotWriter(tmp_path / f"{name}.h5", model, "text", "serial",
                            background=background) as writer:
            for step in (0, 10, 20):
                fields = {"displacement": rng.normal(size=shape), "velocity": rng.normal(size=shape),
                          "damage": rng.random(model.particle_count)}
                writer.write(step, step * 1e-9, fields, bond_state=rng.integers(0, 2**32, (1, 4),
                                                                                 dtype=np.uint32))
            writer.checkpoint(25, 2.5e-8, fields["displacement"], fields["velocity"],
                              np.zeros((1, 4), np.uint32))
    with h5py.File(tmp_path / "direct.h5") as a, h5py.File(tmp_path / "background.h5") as b:
        assert sorted(a["steps"]) == sorted(b["steps"]) == ["00000000", "00000010", "00000020"]
        for step in a["steps"]:
            for name in ("displacement", "velocity", "damage", "bond_state"):
                assert np.array_equal(a["steps"][step][name][...], b["steps"][step][name][...])
        assert np.array_equal(a["checkpoint/velocity"][...], b["checkpoint/velocity"][...])


def test_a_failed_background_write_stops_the_run_with_its_error(tmp_path, monkeypatch):
    write_h5 = hdf5._write_h5

    def failing_write(path, fill):
        if path.name.startswith("step-00000020"):
            raise OSError(28, "No space left on device")
        write_h5(path, fill)

    monkeypatch.setattr(hdf5, "_write_h5", failing_write)
    with pytest.raises(OSError, match="No space left on device"):
        run_case(case_from(RAW), backend="serial", output=tmp_path / "a.h5")
    assert snapshot_steps(tmp_path / "a.h5") == [0, 10]     # what was finished stays
