"""Output that survives a crash at any moment (pdgeneral/io/hdf5.py).

Oracles: the uninterrupted run (same bits, CPU backends) and the writer's own record of what it
was asked to write (a view-only snapshot holds it converted to its precision, as numpy converts;
a restart point holds it exactly). The writer touches the disk only through five functions of
hdf5.py; the tests stop it after each call of them, in every snapshot (with its checkpoint.h5 when
the snapshot is view-only, and history.h5), checkpoint and resume, and kill a real process at random
moments.
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import yaml
from conftest import BASE_2D, case_from, merge
from test_dynamics import FRACTURE_2D
from test_resume import FIELDS, assert_same_final_state

from pdgeneral.api import prepare, run_case
from pdgeneral.errors import CaseError, PdgeneralError
from pdgeneral.io import SnapshotWriter, hdf5, read_snapshot, snapshot_steps
from pdgeneral.io.summary import describe
from pdgeneral.materials import MaterialConstants

OPERATIONS = ("_write_h5", "_write_text", "_fsync", "_replace", "_remove")
WRITES = ("_write_h5", "_write_text")
# Snapshots at 0, 20, 40, 60 and checkpoints at 25 and 50. A float64 run with the default
# output.precision (float32): step 0 is a restart point (an output's first snapshot always is), the
# others are view-only, each followed by checkpoint.h5 with its full state (at 20: OUT.h5 gains the
# link).
CASE = merge(FRACTURE_2D, {"solver": {"end_time": None, "steps": 60},
                           "output": {"every": 20, "checkpoint_every": 25}})


class Crash(BaseException):
    """The process dies here: a BaseException, so that no ``except Exception`` can handle it, and
    nothing the writer does afterwards (it does nothing) can repair the files."""


class FileOperations:
    """Records every file operation of the writer as (name, file names...); with ``crash_at`` = k
    the k-th operation completes and then the process "dies"; with ``tear`` the k-th operation (a
    write) leaves its file cut to half its bytes first, as a crash in the middle of writing does."""

    def __init__(self, monkeypatch, crash_at=None, tear=False):
        self.log = []
        self.crash_at = crash_at
        self.tear = tear
        for name in OPERATIONS:
            monkeypatch.setattr(hdf5, name, self._wrap(name, getattr(hdf5, name)))

    def _wrap(self, name, operation):
        def wrapped(*args):
            operation(*args)
            self.log.append((name,) + tuple(Path(a).name for a in args if isinstance(a, Path)))
            if len(self.log) == self.crash_at:
                if self.tear:
                    size = os.path.getsize(args[0])
                    os.truncate(args[0], size // 2)
                raise Crash(self.log[-1])
        return wrapped


def record_writes(monkeypatch):
    """What the writer is asked to write: {("step" | "checkpoint", step): {array name: copy}}."""
    written = {}
    write, checkpoint = SnapshotWriter.write, SnapshotWriter.checkpoint

    def recording_write(self, step, time, fields, bond_state=None, **attrs):
        written["step", step] = {**{k: np.copy(fields[k]) for k in FIELDS},
                                 "bond_state": np.copy(bond_state)}
        write(self, step, time, fields, bond_state, **attrs)

    def recording_checkpoint(self, step, time, displacement, velocity, bond_state, **attrs):
        written["checkpoint", step] = {"displacement": np.copy(displacement),
                                       "velocity": np.copy(velocity),
                                       "bond_state": np.copy(bond_state)}
        checkpoint(self, step, time, displacement, velocity, bond_state, **attrs)

    monkeypatch.setattr(SnapshotWriter, "write", recording_write)
    monkeypatch.setattr(SnapshotWriter, "checkpoint", recording_checkpoint)
    return written


def listed_by_index(log):
    """Steps OUT.h5 lists after the operations in ``log``: those whose step file was in place
    when OUT.h5 was last replaced. None when OUT.h5 was never put in place."""
    listed, in_place = None, []
    for entry in log:
        if entry[0] == "_replace" and entry[2].startswith("step-"):
            in_place.append(int(entry[2][5:13]))
        elif entry[0] == "_replace" and entry[2] == "out.h5":
            listed = sorted(set(in_place))
    return listed


def stored(values, dataset):
    """What a file holds of ``values``: converted to the dataset's precision (exactly, for a restart
    point's arrays)."""
    return np.asarray(values).astype(dataset.dtype)


def restart_points_on_disk(folder):
    """Steps of the restart points in ``folder`` (step files marked so, and checkpoint.h5)."""
    steps = []
    for path in folder.glob("step-*.h5"):
        with h5py.File(path, "r") as f:
            if f.attrs["restart"]:
                steps.append(int(f.attrs["step"]))
    if (folder / "checkpoint.h5").exists():
        with h5py.File(folder / "checkpoint.h5", "r") as f:
            steps.append(int(f.attrs["step"]))
    return sorted(steps)


def assert_intact(out, expected_steps, written):
    """OUT.h5 opens and lists exactly ``expected_steps``, each with the arrays that were written (a
    view-only one in float32, a restart point in float64: the run's precision); the checkpoint, if
    linked, holds the full state of its step; the history, if linked, opens; the XDMF index names
    only files that exist."""
    assert snapshot_steps(out) == expected_steps
    with h5py.File(out, "r") as f:
        for step in expected_steps:
            group = f["steps"][f"{step:08d}"]
            assert group.attrs["step"] == step
            precision = np.float64 if group.attrs["restart"] else np.float32
            assert group.attrs["restart"] == (step == 0)      # see CASE
            for name, values in written["step", step].items():
                if name != "bond_state":
                    assert group[name].dtype == precision, (step, name)
                assert np.array_equal(group[name][...], stored(values, group[name])), (step, name)
        if "checkpoint" in f:
            step = int(f["checkpoint"].attrs["step"])
            state = written.get(("checkpoint", step), written.get(("step", step)))
            for name in ("displacement", "velocity", "bond_state"):
                assert f["checkpoint"][name].dtype == state[name].dtype
                assert np.array_equal(f["checkpoint"][name][...], state[name]), ("checkpoint", name)
        if "history" in f:
            assert len(f["history"]) > 0
        assert f["particles/position"].shape[0] == written["step", 0]["damage"].shape[0]
    index = out.with_suffix(".xdmf")
    if index.exists():
        items = [item.text.split(":")[0] for item in ET.parse(index).iter("DataItem")]
        assert all((out.parent / name).is_file() for name in items)
        grids = ET.parse(index).findall(".//Grid[@GridType='Uniform']")
        assert {int(g.get("Name").split()[1]) for g in grids} <= set(expected_steps)


def leftovers(directory):
    return sorted(p.name for p in Path(directory).rglob("*.tmp"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, its log of file operations and what it was asked to write."""
    directory = tmp_path_factory.mktemp("reference")
    prepared = prepare(case_from(CASE))
    with pytest.MonkeyPatch.context() as monkeypatch:
        written = record_writes(monkeypatch)
        operations = FileOperations(monkeypatch)
        run_case(prepared, backend="serial", output=directory / "run" / "out.h5")
    return prepared, directory / "run" / "out.h5", operations.log, written


def test_the_uninterrupted_run_writes_each_file_once_through_a_temporary_name(reference):
    _, out, log, written = reference
    assert snapshot_steps(out) == [0, 20, 40, 60]
    assert sorted(written) == [("checkpoint", 25), ("checkpoint", 50)] + [("step", s) for s in
                                                                       (0, 20, 40, 60)]
    # Every final name is reached only by a rename of its fsync'ed temporary, followed by an fsync of
    # its folder: the sequence that makes the rename atomic and durable.
    renames = [i for i, entry in enumerate(log) if entry[0] == "_replace"]
    targets = [log[i][2] for i in renames]
    history = targets.count("history.h5")
    assert history in (0, 4 + 2)      # with every snapshot and checkpoint, when the run keeps one
    # particles, index, 4 x (step, index, xdmf), 3 view-only snapshots' checkpoints, 2 checkpoints
    assert len(renames) == 1 + 1 + 4 * 3 + 3 + 2 + history
    assert targets.count("checkpoint.h5") == 3 + 2
    for i in renames:
        source, target = log[i][1:]
        assert source == target + ".tmp"
        assert log[i - 2][0] in WRITES and log[i - 2][1] == source
        assert log[i - 1] == ("_fsync", source)
        folder = "run" if target in ("out.h5", "out.xdmf") else "out.h5.d"
        assert log[i + 1] == ("_fsync", folder)
    # A view-only snapshot's job: history.h5 (it covers the restart point the job leaves behind,
    # whatever the moment of a crash), its step file, then checkpoint.h5 (never a restart point
    # whose snapshot could be lost), then OUT.h5 and the index.
    for step in (20, 40):
        first = targets.index(f"step-{step:08d}.h5") - bool(history)
        job = targets[first:first + 4 + bool(history)]
        assert job == ["history.h5"] * bool(history) + [f"step-{step:08d}.h5", "checkpoint.h5",
                                                         "out.h5", "out.xdmf"]
    assert leftovers(out.parent) == []


def crash_points(log):
    """(k, tear) for a crash after every operation, and in the middle of every write."""
    return ([(k, False) for k in range(1, len(log) + 1)]
            + [(k, True) for k, entry in enumerate(log, 1) if entry[0] in WRITES])


def test_a_crash_after_any_file_operation_leaves_the_completed_snapshots_and_resumes_bit_for_bit(
        reference, tmp_path, monkeypatch):
    prepared, full, log, written = reference
    checked = 0
    for k, tear in crash_points(log):
        out = tmp_path / f"{k}{'-torn' if tear else ''}" / "run" / "out.h5"
        with monkeypatch.context() as patch:
            operations = FileOperations(patch, crash_at=k, tear=tear)
            with pytest.raises(Crash):
                run_case(prepared, backend="serial", output=out)
        assert operations.log == log[:k]       # the same run up to the crash
        listed = listed_by_index(operations.log)
        if listed is None:                     # killed before OUT.h5 first existed
            assert not out.exists()
            with pytest.raises(CaseError, match="does not exist"):
                run_case(prepared, backend="serial", output=out, resume=True)
            continue
        assert_intact(out, listed, written)
        folder = out.parent / "out.h5.d"
        if not list(folder.glob("step-*.h5")):
            with pytest.raises(CaseError, match="no complete snapshot"):
                run_case(prepared, backend="serial", output=out, resume=True)
            continue
        # the first snapshot is a restart point: from its step file on, there is always one
        assert restart_points_on_disk(folder)
        if 60 in restart_points_on_disk(folder):
            # The last step's restart point was in place: the run had finished. The resume completes
            # the index (OUT.h5, XDMF) and says there is nothing to run (issue 18, item 1).
            with pytest.raises(CaseError, match="is complete: it reached step 60 of 60"):
                run_case(prepared, backend="serial", output=out, resume=True)
        else:
            run_case(prepared, backend="serial", output=out, resume=True)
        assert snapshot_steps(out) == [0, 20, 40, 60]
        assert_same_final_state(full, out)
        assert_intact(out, [0, 20, 40, 60], written)
        assert leftovers(out.parent) == []
        checked += 1
    # every crash after the first snapshot's step file was in place resumed
    first = next(i for i, entry in enumerate(log, 1) if entry[0] == "_replace"
                 and entry[2].startswith("step-"))
    assert checked == len([1 for k, _ in crash_points(log) if k >= first])
    print(f"{len(crash_points(log))} crashes ({len(log)} file operations), {checked} resumed")


def test_a_crash_while_resuming_leaves_a_resumable_output(reference, tmp_path, monkeypatch):
    prepared, full, log, written = reference
    # A crash between the rename of step 40's file and OUT.h5's: the folder holds one snapshot more
    # than OUT.h5 lists; resume adopts it.
    k = next(i for i, entry in enumerate(log, 1) if entry[:3] == ("_replace", "step-00000040.h5.tmp",
                                                                 "step-00000040.h5"))
    crashed = tmp_path / "crashed" / "run" / "out.h5"
    with monkeypatch.context() as patch:
        FileOperations(patch, crash_at=k)
        with pytest.raises(Crash):
            run_case(prepared, backend="serial", output=crashed)
    assert snapshot_steps(crashed) == [0, 20]
    # and a write the crash cut short
    (crashed.parent / "out.h5.d" / "step-00000060.h5.tmp").write_bytes(b"\x89HDF\r\n cut short")
    # The operations of a resume up to its first new step file: cleaning, OUT.h5 and XDMF rebuilt.
    probe = tmp_path / "probe"
    shutil.copytree(crashed.parent, probe)
    with monkeypatch.context() as patch:
        resume_log = FileOperations(patch).log
        run_case(prepared, backend="serial", output=probe / "out.h5", resume=True)
    reopen = next(i for i, entry in enumerate(resume_log) if entry[0] == "_replace"
                  and entry[2].startswith("step-"))
    assert reopen >= 8        # OUT.h5 and the index, 4 operations each
    points = [(j, False) for j in range(1, reopen + 1)] + [
        (j, True) for j, entry in enumerate(resume_log[:reopen], 1) if entry[0] in WRITES]
    print(f"{len(points)} crashes while resuming")
    for j, tear in points:
        out = tmp_path / f"resume-{j}{'-torn' if tear else ''}" / "run" / "out.h5"
        shutil.copytree(crashed.parent, out.parent)
        with monkeypatch.context() as patch:
            FileOperations(patch, crash_at=j, tear=tear)
            with pytest.raises(Crash):
                run_case(prepared, backend="serial", output=out, resume=True)
        listed = snapshot_steps(out)
        assert listed in ([0, 20], [0, 20, 40])   # before or after OUT.h5 adopted step 40
        assert_intact(out, listed, written)
        run_case(prepared, backend="serial", output=out, resume=True)
        assert_same_final_state(full, out)
        assert leftovers(out.parent) == []


WORKER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from types import SimpleNamespace
    import numpy as np
    from pdgeneral.case import load_case
    from pdgeneral.io import SnapshotWriter
    from pdgeneral.materials import MaterialConstants

    case, out, limit = load_case(sys.argv[1])[0], Path(sys.argv[2]), int(sys.argv[3])
    N = 40_000      # displacement, velocity, damage and bond words: 2.2 MB a snapshot

    def arrays(step):
        rng = np.random.default_rng(step)
        return (rng.random((N, 2)), rng.random((N, 2)), rng.random(N),
                rng.integers(0, 2**32, (2, N), dtype=np.uint32))

    # What the writer reads of a model, without building one (numba): only the I/O is under test.
    model = SimpleNamespace(case=case, positions=np.random.default_rng(0).random((N, 2)),
                            volume=np.full(N, 1e-9), particle_count=N, dimension=2,
                            dtype=np.dtype(np.float64), micromodulus=1.0, critical_stretch=1.0,
                            material=MaterialConstants("pmb", 1.0, 0.25, 1.0, micromodulus=1.0),
                            horizon=1.0, spacing=1.0, stable_time_step=1.0, regions={})
    with SnapshotWriter(out, model, "", "serial", resume=out.exists()) as writer:
        start = writer.last_snapshot["step"] + 1 if writer.last_snapshot else 0
        print("ready", flush=True)
        for step in range(start, start + limit):
            u, v, d, bits = arrays(step)
            writer.write(step, 0.5 * step, {"displacement": u, "velocity": v, "damage": d},
                         bond_state=bits)
            if step % 3 == 0:
                writer.checkpoint(step, 0.5 * step, u, v, bits)
""")


def worker_arrays(step, n=40_000):
    rng = np.random.default_rng(step)
    return {"displacement": rng.random((n, 2)), "velocity": rng.random((n, 2)), "damage": rng.random(n),
            "bond_state": rng.integers(0, 2**32, (2, n), dtype=np.uint32)}


def test_sigkill_at_random_moments_never_loses_a_completed_snapshot(tmp_path):
    case = tmp_path / "case.yaml"
    case.write_text(yaml.safe_dump(BASE_2D))
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    out = tmp_path / "out.h5"
    chance = random.Random(20240605)
    checked = 0
    torn = 0
    for _ in range(20):
        process = subprocess.Popen([sys.executable, str(worker), str(case), str(out), "1000000"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert process.stdout.readline() == "ready\n", process.stderr.read()
        time.sleep(chance.uniform(0.0, 0.4))
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL
        torn += bool(leftovers(tmp_path))
        steps = snapshot_steps(out)                  # it opens
        assert steps == list(range(len(steps)))      # no completed snapshot is missing
        with h5py.File(out, "r") as f:
            for step in steps:
                group = f["steps"][f"{step:08d}"]
                assert group.attrs["time"] == 0.5 * step
                for name, values in worker_arrays(step).items():
                    assert np.array_equal(group[name][...], stored(values, group[name])), (step, name)
            if "checkpoint" in f:
                # written with its view-only snapshot, or by checkpoint() after it: after its step file
                step = int(f["checkpoint"].attrs["step"])
                assert (tmp_path / "out.h5.d" / f"step-{step:08d}.h5").exists()
                assert np.array_equal(f["checkpoint/velocity"][...], worker_arrays(step)["velocity"])
        checked = len(steps)
    # A last round that ends normally: resume cleared what the kills cut short.
    finished = subprocess.run([sys.executable, str(worker), str(case), str(out), "2"],
                              capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stderr
    assert leftovers(tmp_path) == []
    steps = snapshot_steps(out)
    assert steps == list(range(len(steps))) and len(steps) > checked
    print(f"{len(steps)} snapshots over 20 kills; {torn} kills left a write cut short")
    shutil.rmtree(tmp_path / "out.h5.d")      # a few hundred MB: not kept for pytest's history


def test_links_resolve_from_another_directory_and_after_the_output_moves(tmp_path, monkeypatch):
    raw = merge(FRACTURE_2D, {"solver": {"end_time": None, "steps": 80}, "output": {"every": 20}})
    run_case(case_from(raw), backend="serial", output=tmp_path / "full.h5")
    first = tmp_path / "a" / "run" / "out.h5"
    run_case(case_from(raw), backend="serial", output=first, steps=40)
    before = read_snapshot(first)
    # A decoy: another output's folder under the same name in the working directory. HDF5 must
    # take the folder next to the file it opened, not this one.
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(first.parent / "out.h5.d", elsewhere / "out.h5.d")
    with h5py.File(elsewhere / "out.h5.d" / "step-00000040.h5", "r+") as f:
        f["displacement"][...] = 0.0
    monkeypatch.chdir(elsewhere)
    for path in (first, Path(os.path.relpath(first))):
        again = read_snapshot(path)
        for name in FIELDS + ("position",):
            assert np.array_equal(again[name], before[name]), name
    assert np.abs(before["displacement"]).max() > 0       # the decoy's zeros would differ
    # The run's folder moved as a whole: the file, its folder and the XDMF index still agree.
    moved = tmp_path / "b" / "moved"
    moved.parent.mkdir()
    shutil.move(first.parent, moved)
    again = read_snapshot(moved / "out.h5")
    for name in FIELDS:
        assert np.array_equal(again[name], before[name]), name
    from test_xdmf import read_all_steps  # here, so that only this test needs vtk
    times, fields = read_all_steps(moved / "out.xdmf")
    assert len(times) == 3 and np.array_equal(fields[-1]["damage"], before["damage"])
    # ... and resumes there to the same bits as the uninterrupted run.
    run_case(case_from(raw), backend="serial", output=moved / "out.h5", resume=True)
    assert_same_final_state(tmp_path / "full.h5", moved / "out.h5")
    # Copied without its folder, the file says where its arrays are.
    shutil.move(moved / "out.h5.d", tmp_path / "away")
    with pytest.raises(PdgeneralError, match="out.h5.d, which is missing"):
        describe(moved / "out.h5")


def test_overwrite_removes_the_old_folder_and_a_stray_folder_is_refused(tmp_path):
    raw = merge(FRACTURE_2D, {"solver": {"end_time": None, "steps": 40},
                              "output": {"every": 10, "checkpoint_every": 15}})
    out = tmp_path / "out.h5"
    run_case(case_from(raw), backend="serial", output=out)
    assert "checkpoint.h5" in os.listdir(tmp_path / "out.h5.d")
    run_case(case_from(raw), backend="serial", output=out, steps=10, overwrite=True)
    # nothing of the longer run is left for a later --resume to pick up: the checkpoint is the new
    # run's (its view-only step 10's full state)
    files = sorted(os.listdir(tmp_path / "out.h5.d"))
    assert [f for f in files if f != "history.h5"] == ["checkpoint.h5", "particles.h5",
                                                       "step-00000000.h5", "step-00000010.h5"]
    with h5py.File(tmp_path / "out.h5.d" / "checkpoint.h5", "r") as f:
        assert f.attrs["step"] == 10
    assert snapshot_steps(out) == [0, 10]
    assert describe(out)[-1].startswith(f"storage     {tmp_path / 'out.h5.d'}: {len(files)} files, ")
    out.unlink()
    with pytest.raises(CaseError, match="out.h5.d exists; pass --overwrite"):
        run_case(case_from(raw), backend="serial", output=out)


def test_one_output_has_one_writer_at_a_time(tmp_path):
    prepared = prepare(case_from(BASE_2D))
    model = prepared.model
    fields = {"displacement": np.zeros((model.particle_count, 2)),
              "velocity": np.zeros((model.particle_count, 2)), "damage": np.zeros(model.particle_count)}
    out = tmp_path / "out.h5"
    with SnapshotWriter(out, model, "", "serial") as writer:
        writer.write(0, 0.0, fields, bond_state=np.zeros((1, model.particle_count), np.uint32))
        for overwrite, resume in ((False, True), (True, False)):
            with pytest.raises(CaseError, match="being written by another run"):
                SnapshotWriter(out, model, "", "serial", overwrite=overwrite, resume=resume)
        assert snapshot_steps(out) == [0]
    with SnapshotWriter(out, model, "", "serial", resume=True) as again:   # the lock went with it
        assert again.last_snapshot["step"] == 0


def test_a_single_file_output_of_earlier_versions_still_reads(tmp_path):
    # The layout before OUT.h5.d: snapshots as groups of OUT.h5, complete once marked so.
    out = tmp_path / "old.h5"
    position = np.arange(6.0).reshape(3, 2)
    with h5py.File(out, "w") as f:
        f["particles/position"] = position
        for step, complete in ((0, True), (10, True), (20, False)):   # 20: cut short by a crash
            group = f.create_group(f"steps/{step:08d}")
            group.attrs.update({"step": step, "time": 0.1 * step, "complete": complete})
            for name in FIELDS:
                group[name] = np.full((3, 2) if name != "damage" else 3, float(step))
    assert snapshot_steps(out) == [0, 10]
    last = read_snapshot(out)
    assert last["step"] == 10 and np.array_equal(last["position"], position)
    assert np.array_equal(last["damage"], np.full(3, 10.0))
    with pytest.raises(CaseError, match="old.h5.d is missing"):
        run_case(case_from(BASE_2D), backend="serial", output=out, resume=True)


def test_overwrite_never_deletes_a_directory_given_as_the_output(tmp_path):
    keep = tmp_path / "results"
    (keep / "other.txt").parent.mkdir()
    (keep / "other.txt").write_text("not ours")
    with pytest.raises(CaseError, match="is a directory"):
        run_case(case_from(BASE_2D), backend="serial", output=keep, overwrite=True)
    assert (keep / "other.txt").read_text() == "not ours"


class RowsHistory:
    """A stand-in for io/history.py's History: one row per recorded step. It notes the thread of
    every call (freeze must run in the caller's, write in the writer's)."""

    def __init__(self):
        self.rows = []
        self.threads = {"freeze": set(), "write": set()}

    def freeze(self, step):
        self.threads["freeze"].add(threading.current_thread().name)
        return np.array([row for row in self.rows if row <= step], dtype=np.int64)

    def write(self, f, frozen):
        self.threads["write"].add(threading.current_thread().name)
        f["step"] = frozen


def synthetic_model(output: dict, n: int = 300):
    """What the writer reads of a model, without building one (numba): only the I/O is under test."""
    case = case_from(merge(BASE_2D, {"output": output}))
    return SimpleNamespace(case=case, positions=np.random.default_rng(0).random((n, 2)),
                           volume=np.full(n, 1e-9), particle_count=n, dimension=2,
                           dtype=np.dtype(np.float64), micromodulus=1.0, critical_stretch=1.0,
                           material=MaterialConstants("pmb", 1.0, 0.25, 1.0, micromodulus=1.0),
                           horizon=1.0, spacing=1.0, stable_time_step=1.0, regions={})


def synthetic_state(step, n=300):
    """A float64 run's state at ``step`` as a backend hands it over: (N, 2) views of (2, N) arrays."""
    rng = np.random.default_rng(step)
    return ({"displacement": rng.normal(size=(2, n)).T, "velocity": rng.normal(size=(2, n)).T,
             "damage": rng.random(n)}, rng.integers(0, 2**32, (1, n), dtype=np.uint32))


# Snapshots at 0, 10, 20 and a checkpoint at 15; history rows every 5 steps.
SYNTHETIC_JOBS = [("write", 0), ("write", 10), ("checkpoint", 15), ("write", 20)]


def synthetic_run(out, model, history=None):
    with SnapshotWriter(out, model, "", "serial", background=True) as writer:
        writer.history = history
        for kind, step in SYNTHETIC_JOBS:
            if history is not None:
                history.rows += [row for row in range(0, step + 1, 5) if row not in history.rows]
            fields, bits = synthetic_state(step)
            if kind == "write":
                writer.write(step, 1e-6 * step, fields, bond_state=bits, time_step=1e-9)
            else:
                writer.checkpoint(step, 1e-6 * step, fields["displacement"], fields["velocity"], bits,
                                  time_step=1e-9)


@pytest.mark.parametrize("output", [{"precision": "float32", "compression": "gzip"},
                                    {"precision": "float64", "compression": "none"}],
                         ids=["view-only-gzip", "restart-snapshots"])
def test_a_crash_after_any_file_operation_leaves_the_newest_restart_point_and_history(
        output, tmp_path, monkeypatch):
    model = synthetic_model(output)
    # A simulated crash loses nothing the page cache holds: fsync is recorded, not made (the
    # run-based test above makes them), which keeps the ~150 crashes here to a few seconds.
    monkeypatch.setattr(hdf5, "_fsync", lambda path: None)
    with monkeypatch.context() as patch:
        log = FileOperations(patch).log
        history = RowsHistory()
        synthetic_run(tmp_path / "full" / "out.h5", model, history)
    assert history.threads == {"freeze": {"MainThread"}, "write": {"snapshot_0"}}
    view_only = output["precision"] == "float32"
    targets = [entry[2] for entry in log if entry[0] == "_replace"]
    # every job publishes history.h5; a view-only snapshot (all but the first) its checkpoint.h5
    assert targets.count("history.h5") == len(SYNTHETIC_JOBS)
    assert targets.count("checkpoint.h5") == 1 + 2 * view_only
    older_view_only_skipped = 0
    # every operation; writes cut short in the view-only variant (the other's are the same files)
    for k, tear in [(k, tear) for k, tear in crash_points(log) if view_only or not tear]:
        out = tmp_path / f"{k}{'-torn' if tear else ''}" / "out.h5"
        with monkeypatch.context() as patch:
            FileOperations(patch, crash_at=k, tear=tear)
            with pytest.raises(Crash):
                synthetic_run(out, model, RowsHistory())
        if not out.exists():
            continue
        folder = out.parent / "out.h5.d"
        with h5py.File(out, "r") as f:
            for step in snapshot_steps(out):
                group = f["steps"][f"{step:08d}"]
                fields, bits = synthetic_state(step)
                restart = bool(group.attrs["restart"])
                assert restart == (step == 0 or not view_only)
                for name, values in [*fields.items(), ("bond_state", bits)]:
                    assert group[name].compression == (None if output["compression"] == "none"
                                                       else output["compression"])
                    assert np.array_equal(group[name][...], stored(values, group[name]))
                    if restart:
                        assert group[name].dtype == values.dtype
            if "history" in f:
                # rows frozen at a job's step, never behind the newest restart point (a resume from
                # it finds its rows; rows past it are the history code's to drop)
                rows = f["history/step"][...]
                assert list(rows) == list(range(0, rows.max() + 1, 5))
                assert rows.max() in [step for _, step in SYNTHETIC_JOBS]
                assert rows.max() >= max(restart_points_on_disk(folder), default=0)
        if not list(folder.glob("step-*.h5")):
            with pytest.raises(CaseError, match="no complete snapshot"):
                SnapshotWriter(out, model, "", "serial", resume=True)
            continue
        restart_steps = restart_points_on_disk(folder)
        with SnapshotWriter(out, model, "", "serial", resume=True) as again:
            last = again.last_snapshot
            assert last["step"] == max(restart_steps)
            fields, bits = synthetic_state(last["step"])
            for name in ("displacement", "velocity"):      # the full state, never a float32 view
                assert last[name].dtype == np.float64 and np.array_equal(last[name], fields[name])
            assert np.array_equal(last["bond_state"], bits)
            assert (again.resumed_history_path is not None) == (folder / "history.h5").exists()
        newest_snapshot = max(int(p.name[5:13]) for p in folder.glob("step-*.h5"))
        older_view_only_skipped += newest_snapshot > last["step"]
        with h5py.File(out, "r") as f:      # the reopened index links what is there
            assert ("history" in f) == (folder / "history.h5").exists()
            assert ("checkpoint" in f) == (folder / "checkpoint.h5").exists()
    # crashes between a view-only snapshot's step file and its checkpoint resume from the one before
    assert (older_view_only_skipped > 0) == view_only
