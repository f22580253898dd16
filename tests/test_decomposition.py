"""The slabs of pdgeneral.decomposition (issue 16's first piece: what `check --ranks N` prints)."""
import itertools

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from conftest import BASE_2D, merge, model_from
from test_memory import LOADED_3D, loaded_3d

from pdgeneral.cli import main
from pdgeneral.decomposition import decompose, layer_index
from pdgeneral.errors import CaseError
from pdgeneral.memory import model_bytes

HOLED_2D = merge(BASE_2D, {
    "geometry": {"box": {"min": [0.0, 0.0], "max": [0.06, 0.02]},
                 "holes": [{"circle": {"center": [0.03, 0.01], "radius": 0.004}}]},
    "regions": {"left": {"box": {"min": [0.0, 0.0], "max": [0.003, 0.02]}}},
    "boundary_conditions": [{"region": "left", "type": "velocity", "value": [-1.0, None]}]})


def bond_reach(model, axis: int) -> int:
    """The farthest any bond of the model reaches along ``axis``, in layers (from its bonds)."""
    layer = layer_index(model, axis)
    owner = np.repeat(np.arange(model.particle_count), np.diff(model.offsets))
    return int(np.abs(layer[model.neighbors] - layer[owner]).max())


@pytest.mark.parametrize("raw, ranks", [(HOLED_2D, 1), (HOLED_2D, 3), (HOLED_2D, 4), ("3d", 2)],
                         ids=["2d-1", "2d-3", "2d-4", "3d-2"])
def test_slabs_partition_the_body_and_hold_every_bond_of_their_particles(raw, ranks):
    model = loaded_3d("float64") if raw == "3d" else model_from(raw)
    rows = model.bond_rows()
    parts = decompose(model, ranks, rows=rows)
    layer = layer_index(model, parts.axis)
    extent = np.ptp(model.positions, axis=0)
    assert np.isclose(extent[parts.axis], extent.max())          # cut across the longest axis
    assert parts.halo_layers == bond_reach(model, parts.axis)     # exactly as far as bonds reach
    bounds = [(s.first_layer, s.last_layer) for s in parts.slabs]
    assert bounds[0][0] == 0 and bounds[-1][1] == parts.layers
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))  # contiguous, no overlap
    assert all(last - first >= parts.halo_layers for first, last in bounds)
    owner = np.repeat(np.arange(model.particle_count), np.diff(model.offsets))
    explicit = np.zeros(model.particle_count, dtype=bool)
    explicit[rows.explicit] = True
    for slab in parts.slabs:
        owned = (layer >= slab.first_layer) & (layer < slab.last_layer)
        halo = ~owned & (layer >= slab.first_layer - parts.halo_layers) & (
            layer < slab.last_layer + parts.halo_layers)
        assert slab.owned == owned.sum() and slab.halo == halo.sum()
        # every particle an owned particle is bonded to is owned or in the halo
        bonded = np.unique(model.neighbors[owned[owner]])
        assert np.all(owned[bonded] | halo[bonded])
        if 0 < slab.first_layer:   # and the halo is needed: some owned particle reaches its far edge
            assert np.any(layer[bonded] == slab.first_layer - parts.halo_layers)
        assert slab.explicit_rows == np.count_nonzero(owned & explicit)
    assert sum(s.owned for s in parts.slabs) == model.particle_count
    assert sum(s.explicit_rows for s in parts.slabs) == rows.explicit.size
    per_layer = np.bincount(layer)
    owned = [s.owned for s in parts.slabs]
    assert max(owned) - min(owned) <= 2 * per_layer.max()       # balanced to a layer or two


def test_one_rank_holds_what_one_process_holds():
    model = model_from(HOLED_2D)
    rows = model.bond_rows()
    for backend in ("cpu", "cuda"):
        parts = decompose(model, 1, backend=backend, rows=rows)
        assert parts.slabs[0].halo == 0
        assert parts.slabs[0].bytes == model_bytes(model, "float64", backend, rows)


def test_ranks_share_the_memory():
    # what issue 16 asks of the real ranks: per rank at most 1/P of one process, plus its halo,
    # plus 10 % (here of the estimate: the table's arrays for owned and halo particles)
    model = model_from(HOLED_2D)
    single = model_bytes(model, "float64", "cpu", model.bond_rows())
    per_particle = single / model.particle_count
    for ranks in (2, 4):
        for slab in decompose(model, ranks).slabs:
            assert slab.bytes <= 1.1 * single / ranks + slab.halo * per_particle


def test_too_many_ranks_for_the_body_is_one_line_naming_the_option(tmp_path):
    model = model_from(HOLED_2D)
    with pytest.raises(CaseError, match=r"--ranks: 100 ranks need 300 lattice layers along x"):
        decompose(model, 100)
    case = tmp_path / "case.yaml"
    case.write_text(yaml.safe_dump(HOLED_2D))
    result = CliRunner().invoke(main, ["check", str(case), "--ranks", "100"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "at most 20 ranks" in result.output


def test_check_prints_the_decomposition(tmp_path):
    case = tmp_path / "case.yaml"
    case.write_text(yaml.safe_dump(HOLED_2D))
    result = CliRunner().invoke(main, ["check", str(case), "--ranks", "3"])
    assert result.exit_code == 0, result.output
    assert "ranks       3: slabs of lattice layers along x (60 layers), halo 3 layers" in result.output
    assert result.output.count("  rank ") == 3


def test_a_3d_body_is_cut_along_its_longest_axis():
    raw = merge(LOADED_3D, {})
    assert raw["geometry"]["box"]["max"][0] == max(raw["geometry"]["box"]["max"])
    assert decompose(loaded_3d("float32"), 2).axis == 0


@pytest.mark.parametrize("variable", ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"])
def test_run_under_several_mpi_processes_is_refused_in_one_line(tmp_path, monkeypatch, variable):
    # each process would run the whole case into the same output: refused before anything is
    # built or written; one process (a size of 1) runs as always
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(merge(BASE_2D, {"output": {"path": str(tmp_path / "o.h5")}})))
    monkeypatch.setenv(variable, "4")
    result = CliRunner().invoke(main, ["run", str(path), "-b", "serial", "--steps", "1"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: started as 4 MPI processes")
    assert not (tmp_path / "o.h5").exists()
    monkeypatch.setenv(variable, "1")
    result = CliRunner().invoke(main, ["run", str(path), "-b", "serial", "--steps", "1", "-q"])
    assert result.exit_code == 0, result.output
