"""The XDMF index opens in the reader ParaView uses (VTK's vtkXdmfReader), every step and field."""
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np
import pytest
import vtk  # a test dependency (pyproject's test extra): a missing vtk fails here, it does not skip
import yaml
from click.testing import CliRunner
from conftest import BASE_2D, merge
from test_dynamics import THREE_D
from vtk.util.numpy_support import vtk_to_numpy

from pdgeneral.cli import main


def read_all_steps(xdmf_path):
    reader = vtk.vtkXdmfReader()
    reader.SetFileName(str(xdmf_path))
    reader.UpdateInformation()
    info = reader.GetOutputInformation(0)
    key = vtk.vtkStreamingDemandDrivenPipeline.TIME_STEPS()
    times = [info.Get(key, i) for i in range(info.Length(key))]
    steps = []
    for time in times:
        reader.UpdateTimeStep(time)
        points = reader.GetOutputDataObject(0).GetPointData()
        steps.append({points.GetArray(k).GetName(): vtk_to_numpy(points.GetArray(k)).copy()
                      for k in range(points.GetNumberOfArrays())})
    return times, steps


@pytest.mark.parametrize("raw", [BASE_2D, THREE_D], ids=["2d", "3d"])
def test_vtk_xdmf_reader_sees_every_step_and_field(tmp_path, raw):
    raw = merge(raw, {"solver": {"type": "explicit", "steps": 6}, "output": {"every": 3,
                      "path": str(tmp_path / "out.h5")},
                      "regions": {"a": {"box": {"min": [0.0] * raw["dimension"],
                                                "max": [0.002] * raw["dimension"]}}},
                      "boundary_conditions": [{"region": "a", "type": "initial_velocity",
                                               "value": [1.0] * raw["dimension"]}]})
    case = tmp_path / "case.yaml"
    case.write_text(yaml.safe_dump(raw))
    assert CliRunner().invoke(main, ["run", str(case), "-b", "serial", "-q"]).exit_code == 0
    times, steps = read_all_steps(tmp_path / "out.xdmf")
    with h5py.File(tmp_path / "out.h5") as f:
        names = sorted(f["steps"])
        assert times == pytest.approx([f["steps"][n].attrs["time"] for n in names])
        dim = raw["dimension"]
        for name, fields in zip(names, steps):
            group = f["steps"][name]
            assert np.array_equal(fields["damage"], group["damage"][...])
            for vector in ("displacement", "velocity"):
                # 2D vectors come back padded to three components, the third zero.
                assert np.array_equal(fields[vector][:, :dim], group[vector][...])
                assert np.all(fields[vector][:, dim:] == 0.0)
    assert np.abs(steps[-1]["displacement"]).max() > 0
    # The index names the snapshot files themselves (files that never change once written), by
    # paths relative to its folder, and every dataset it names exists there.
    for item in ET.parse(tmp_path / "out.xdmf").iter("DataItem"):
        file_name, dataset = item.text.split(":")
        assert file_name.startswith("out.h5.d/") and not Path(file_name).is_absolute()
        with h5py.File(tmp_path / file_name, "r") as f:
            assert dataset in f


# Not lzf: h5py's own filter, which VTK's HDF5 (and ParaView's) reads only with the LZF plugin on
# HDF5_PLUGIN_PATH (docs/case-reference.md says so); h5py reads it (tests/test_output_scale.py).
@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_vtk_reads_compressed_float32_snapshots_and_every_field_they_hold(tmp_path, compression):
    # A float64 run's output with the default float32 snapshots: the first snapshot in float64 (a
    # restart point), the others float32, one without the strain energy density: each grid lists
    # what its file holds, in the type it holds it.
    from test_crash_safety import synthetic_model, synthetic_state

    from pdgeneral.io import SnapshotWriter
    model = synthetic_model({"compression": compression,
                             "fields": ["displacement", "velocity", "damage", "strain_energy_density"]})
    out = tmp_path / "out.h5"
    energies = {}
    with SnapshotWriter(out, model, "", "serial") as writer:
        for step in (0, 10, 20):
            fields, bits = synthetic_state(step)
            if step < 20:
                energies[step] = fields["strain_energy_density"] = np.random.default_rng(step).random(
                    model.particle_count)
            writer.write(step, 1e-6 * step, fields, bond_state=bits)
    times, steps = read_all_steps(tmp_path / "out.xdmf")
    assert times == pytest.approx([0.0, 1e-5, 2e-5])
    for step, fields in zip((0, 10, 20), steps):
        expected, _ = synthetic_state(step)
        precision = np.float64 if step == 0 else np.float32
        assert sorted(fields) == sorted(["displacement", "velocity", "damage"]
                                        + ["strain_energy_density"] * (step in energies))
        assert fields["damage"].dtype == precision
        assert np.array_equal(fields["damage"], expected["damage"].astype(precision))
        assert np.array_equal(fields["velocity"][:, :2], expected["velocity"].astype(precision))
        if step in energies:
            assert np.array_equal(fields["strain_energy_density"], energies[step].astype(precision))
    with h5py.File(tmp_path / "out.h5.d" / "step-00000010.h5", "r") as f:
        assert f["damage"].compression == (None if compression == "none" else compression)
