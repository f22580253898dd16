"""Output at scale (issue 19): snapshots in output.precision for looking at, restart points in the
run's precision for continuing, optional compression, the fields output.fields names, and a writer
that converts and writes in blocks (pdgeneral/io/hdf5.py).

Oracles: numpy's conversion of the arrays handed to the writer (what every file must hold, bit for
bit), the uninterrupted run (same bits after a resume), tracemalloc (no copy of a whole array).
Crashes at every file operation are in tests/test_crash_safety.py.
"""
import threading
import tracemalloc

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import case_from, merge
from test_crash_safety import RowsHistory, synthetic_model, synthetic_state
from test_dynamics import FRACTURE_2D
from test_resume import assert_same_final_state

from pdgeneral.api import run_case
from pdgeneral.cli import main
from pdgeneral.io import SnapshotWriter, hdf5, read_snapshot
from pdgeneral.io.summary import describe

LAYOUTS = {
    # what the backends hand over: (N, dim) views of (dim, N) arrays; damage; bond words (W, N)
    "vector view": lambda rng, n: rng.normal(size=(2, n)).T,
    "3d vector view": lambda rng, n: rng.normal(size=(3, n)).T,
    "scalar": lambda rng, n: rng.random(n),
    "bond words": lambda rng, n: rng.integers(0, 2**32, (3, n), dtype=np.uint32),
    # and what they do not, which must still be written right
    "C-ordered vector": lambda rng, n: rng.normal(size=(n, 2)),
    "strided": lambda rng, n: rng.normal(size=(n, 4))[:, ::2],
    "empty": lambda rng, n: np.zeros((2, 0)).T,
}


@pytest.mark.parametrize("compression", ["none", "lzf", "gzip"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_array_is_written_as_numpy_converts_it(layout, compression, tmp_path, monkeypatch):
    # Blocks and chunks far smaller than the array, and more threads than blocks in flight: the
    # array's edges (a last block or chunk cut short) and the block order are exercised.
    monkeypatch.setattr(hdf5, "BLOCK_BYTES", 4096)
    monkeypatch.setattr(hdf5, "CHUNK_BYTES", 3000)
    monkeypatch.setattr(hdf5, "WRITE_THREADS", 3)
    values = LAYOUTS[layout](np.random.default_rng(7), 10_007)
    for dtype in ([np.uint32] if values.dtype == np.uint32 else [np.float32, np.float64]):
        path = tmp_path / f"{np.dtype(dtype).name}.h5"
        hdf5._write_h5(path, lambda f, dtype=dtype: hdf5._fill_arrays(f, {}, [("a", values, dtype)],
                                                                      compression))
        with h5py.File(path, "r") as f:
            back = f["a"]
            assert back.dtype == dtype and back.shape == values.shape
            assert np.array_equal(back[...], values.astype(dtype))
            if values.size:
                assert back.compression == (None if compression == "none" else compression)
                # uncompressed: one contiguous block, read as is by any HDF5 reader
                assert back.chunks is None if compression == "none" else back.shuffle


def test_a_snapshot_converts_block_by_block_without_a_copy_of_a_whole_array(tmp_path, monkeypatch):
    monkeypatch.setattr(hdf5, "BLOCK_BYTES", 1 << 20)
    # two writer threads, as on a 2-core machine: with 8 (a 16-core one) their eight 1 MiB block
    # buffers alone make the bound below of a whole float32 array
    monkeypatch.setattr(hdf5, "WRITE_THREADS", 2)
    n = 1_000_000          # float64 displacement and velocity: 16 MB each, 8 MB as float32
    model = synthetic_model({"precision": "float32"}, n)
    fields, bits = synthetic_state(0, n)
    with SnapshotWriter(tmp_path / "out.h5", model, "", "serial") as writer:
        writer.write(0, 0.0, fields, bond_state=bits)       # the first snapshot: full precision
        tracemalloc.start()
        writer.write(10, 1e-6, fields, bond_state=bits)     # float32 view and float64 checkpoint
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    # numpy reports its buffers to tracemalloc: one block buffer per thread, not an array's copy
    assert peak < (hdf5.WRITE_THREADS + 1) * hdf5.BLOCK_BYTES, peak
    assert peak < 8 * n
    with h5py.File(tmp_path / "out.h5", "r") as f:
        assert np.array_equal(f["steps/00000010/velocity"][...], fields["velocity"].astype(np.float32))
        assert np.array_equal(f["checkpoint/velocity"][...], fields["velocity"])


def test_view_only_snapshots_hold_the_fields_named_and_restart_points_hold_the_state(tmp_path):
    model = synthetic_model({"precision": "float32", "fields": ["damage", "strain_energy_density"]})
    fields, bits = synthetic_state(0)
    energy = np.random.default_rng(3).random(bits.shape[1])
    out = tmp_path / "out.h5"
    with SnapshotWriter(out, model, "", "serial") as writer:
        assert not writer.snapshots_are_restart_points
        for step in (0, 10):
            writer.write(step, 1e-6 * step, {**fields, "strain_energy_density": energy}, bond_state=bits)
        writer.write(20, 2e-5, fields, bond_state=bits)     # a backend that gave no energy
    with h5py.File(out, "r") as f:
        first, view, last = (f["steps"][name] for name in ("00000000", "00000010", "00000020"))
        # the first snapshot is a restart point: the state, whatever output.fields says
        assert first.attrs["restart"] and first.attrs["precision"] == "float64"
        assert sorted(first) == ["bond_state", "damage", "displacement", "strain_energy_density",
                                 "velocity"]
        assert np.array_equal(first["displacement"][...], fields["displacement"])
        assert not view.attrs["restart"] and view.attrs["precision"] == "float32"
        assert sorted(view) == ["bond_state", "damage", "strain_energy_density"]
        assert view["strain_energy_density"].dtype == np.float32
        assert sorted(last) == ["bond_state", "damage"]
        assert f["checkpoint"].attrs["step"] == 20 and f["checkpoint/velocity"].dtype == np.float64
    snap = read_snapshot(out, 10)
    assert sorted(k for k in snap if k not in ("position", "step", "time")) == [
        "damage", "strain_energy_density"]
    assert np.array_equal(snap["strain_energy_density"], energy.astype(np.float32))
    with SnapshotWriter(out, model, "", "serial", resume=True) as again:
        assert again.last_snapshot["step"] == 20 and again.restart_file.name == "checkpoint.h5"
        assert again.resumed_history_path is None
    text = (tmp_path / "out.xdmf").read_text()
    assert text.count('Name="strain_energy_density" AttributeType="Scalar"') == 2
    assert text.count('Name="displacement"') == 1


def test_snapshots_in_the_runs_precision_are_restart_points_and_never_above_it(tmp_path):
    for run, output, stored in (("float64", "float64", np.float64), ("float32", "float64", np.float32),
                                ("float32", "float32", np.float32)):
        model = synthetic_model({"precision": output, "fields": ["damage"]})
        model.dtype = np.dtype(run)
        fields, bits = synthetic_state(0)
        fields = {name: values.astype(run) for name, values in fields.items()}
        out = tmp_path / f"{run}-{output}.h5"
        with SnapshotWriter(out, model, "", "serial") as writer:
            assert writer.snapshots_are_restart_points
            for step in (0, 10):
                writer.write(step, 0.0, fields, bond_state=bits)
        assert not (tmp_path / f"{out.name}.d" / "checkpoint.h5").exists()   # no extra write
        with h5py.File(out, "r") as f:
            group = f["steps/00000010"]
            assert group.attrs["restart"]
            assert sorted(group) == ["bond_state", "damage", "displacement", "velocity"]
            assert all(group[name].dtype == stored for name in ("damage", "displacement", "velocity"))


def test_the_history_is_published_with_every_job_and_linked_once_it_exists(tmp_path):
    out = tmp_path / "out.h5"
    model = synthetic_model({})
    fields, bits = synthetic_state(0)
    with SnapshotWriter(out, model, "", "serial", background=True) as writer:
        writer.write(0, 0.0, fields, bond_state=bits)
        writer.wait()
        with h5py.File(out, "r") as f:
            assert "history" not in f                    # none kept: no file, no link
        history = RowsHistory()
        history.rows = [0, 5, 10, 15]
        writer.history = history
        writer.checkpoint(10, 1e-5, fields["displacement"], fields["velocity"], bits)
        history.rows.append(20)                         # after freeze(10): not in that file
        writer.wait()
        with h5py.File(out, "r") as f:
            assert np.array_equal(f["history/step"][...], [0, 5, 10])
    assert history.threads == {"freeze": {threading.current_thread().name}, "write": {"snapshot_0"}}
    with SnapshotWriter(out, model, "", "serial", resume=True) as again:
        assert again.resumed_history_path == tmp_path / "out.h5.d" / "history.h5"


def test_a_run_with_full_compressed_snapshots_resumes_bit_for_bit(tmp_path):
    raw = merge(FRACTURE_2D, {"solver": {"end_time": None, "steps": 20},
                              "output": {"every": 10, "precision": "float64", "compression": "lzf"}})
    run_case(case_from(raw), backend="serial", output=tmp_path / "full.h5")
    run_case(case_from(raw), backend="serial", output=tmp_path / "cut.h5", steps=10)
    assert not (tmp_path / "cut.h5.d" / "checkpoint.h5").exists()   # the snapshots are the restart points
    run_case(case_from(raw), backend="serial", output=tmp_path / "cut.h5", resume=True)
    assert_same_final_state(tmp_path / "full.h5", tmp_path / "cut.h5")
    with h5py.File(tmp_path / "cut.h5", "r") as f:
        last = f["steps/00000020"]
        assert last.attrs["restart"] and last["displacement"].dtype == np.float64
        assert last["damage"].compression == "lzf"
    lines = describe(tmp_path / "cut.h5")
    assert "restart     steps 0, 10, 20 (3 snapshots: float64 fields, each holds the full state)" in lines
    assert "resume      --resume continues from step 20" in lines


def test_info_says_which_snapshots_are_view_only_and_where_a_resume_starts(tmp_path):
    raw = merge(FRACTURE_2D, {"solver": {"end_time": None, "steps": 40}, "output": {"every": 20}})
    run_case(case_from(raw), backend="serial", output=tmp_path / "out.h5")
    result = CliRunner().invoke(main, ["info", str(tmp_path / "out.h5")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert ("view-only   steps 20, 40 (2 snapshots: float32 fields, for plots and ParaView; "
            "--resume never reads them)") in lines
    assert "restart     steps 0 (1 snapshot: float64 fields, each holds the full state)" in lines
    assert ("restart     out.h5.d/checkpoint.h5 at step 40 (float64 displacement, velocity, "
            "bond_state)") in lines
    assert "resume      --resume continues from step 40" in lines
    assert "fields      bond_state, damage, displacement, velocity (float32, compression none)" in lines


@pytest.mark.parametrize("key, value, allowed", [("output.precision", "float16", "'float32' or 'float64'"),
                                                 ("output.compression", "zstd", "'none', 'lzf' or 'gzip'")])
def test_a_wrong_output_key_is_one_line_naming_file_and_key(tmp_path, key, value, allowed):
    case = tmp_path / "case.yaml"
    case.write_text(__import__("yaml").safe_dump(FRACTURE_2D))
    result = CliRunner().invoke(main, ["check", str(case), "--set", f"{key}={value}"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert f"case.yaml: {key}" in result.output and allowed in result.output
