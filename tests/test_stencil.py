"""The lattice stencil (pdgeneral.stencil): exact bond vectors, and stencil particles that read their
bonds from the table give the same forces, damage and broken bonds as explicit rows."""
import numpy as np
import pytest
from conftest import CUDA_SIMULATOR, merge, model_from, needs_cuda

from pdgeneral import backends, stencil
from pdgeneral.model import time_stepping
from pdgeneral.solvers import run_explicit

# A plate with a hole, a pre-crack, the surface correction, a no-fail strip and loads: every reason
# for a row to differ from the interior's.
PLATE = {
    "name": "stencil", "dimension": 2, "plane": "stress", "thickness": 1e-3,
    "material": {"model": "pmb", "youngs_modulus": 72.0e9, "density": 2440.0, "critical_stretch": 5e-4},
    "discretization": {"spacing": 1.0e-3, "horizon_factor": 3.015, "surface_correction": "energy"},
    "geometry": {"box": {"min": [0, 0], "max": [0.06, 0.03]},
                 "holes": [{"circle": {"center": [0.042, 0.015], "radius": 0.004}}]},
    "precracks": [{"segment": {"start": [0.0, 0.0151], "end": [0.02, 0.0151]}}],
    "regions": {"left": {"box": {"min": [0, 0], "max": [0.003, 0.03]}},
                "right": {"box": {"min": [0.057, 0], "max": [0.06, 0.03]}}},
    "boundary_conditions": [
        {"region": "left", "type": "velocity", "value": [-10.0, None]},
        {"region": "right", "type": "velocity", "value": [10.0, None]}],
    "no_fail": ["right"],
    "solver": {"type": "explicit", "steps": 60},
}


# The plate without its hole, smaller, with a shorter pre-crack: the simulator's cases.
SMALL_PLATE = merge(PLATE, {"geometry": {"box": {"min": [0, 0], "max": [0.03, 0.02]}, "holes": []},
                            "precracks": [{"segment": {"start": [0.0, 0.0101],
                                                       "end": [0.01, 0.0101]}}],
                            "regions": {"right": {"box": {"min": [0.027, 0], "max": [0.03, 0.02]}}}})


@pytest.fixture(scope="module")
def plate():
    return model_from(PLATE)


def test_bond_vectors_are_exact_lattice_vectors(plate):
    table = plate.stencil
    i = np.repeat(np.arange(plate.particle_count), np.diff(plate.offsets))
    j = plate.neighbors
    from_positions = plate.reference[:, j] - plate.reference[:, i]
    xi = table.xi[:, plate.bond_slot]
    assert np.abs(xi - from_positions).max() < 1e-9 * plate.spacing
    assert np.array_equal(table.length, np.sqrt(np.sum(table.xi**2, axis=0)))
    # j -> i is exactly -xi of i -> j, with the same length: both ends see the same stretch.
    opposite = {tuple(v): s for s, v in enumerate(table.vectors)}
    for s, v in enumerate(table.vectors):
        t = opposite[tuple(-v)]
        assert np.array_equal(table.xi[:, t], -table.xi[:, s])
        assert table.length[t] == table.length[s]
    assert table.size == 28 and np.all(np.diff(table.offsets) > 0)


def test_stencil_particles_have_the_interior_row(plate):
    rows = plate.bond_rows()
    weights = plate.bond_weights()
    stencil_particles = np.flatnonzero(rows.bond_row < 0)
    assert 0 < stencil_particles.size < plate.particle_count
    for i in stencil_particles:
        first, last = plate.offsets[i], plate.offsets[i + 1]
        assert np.array_equal(plate.neighbors[first:last] - i, plate.stencil.offsets)
        assert np.array_equal(plate.bond_slot[first:last], np.arange(plate.stencil.size))
        assert np.array_equal(weights[first:last], rows.stencil_weight)
    # The explicit rows are numbered in particle order; particles next to the hole, the edges and
    # the surface correction's reach are among them.
    assert np.array_equal(rows.bond_row[rows.explicit], np.arange(rows.explicit.size))
    near_hole = np.linalg.norm(plate.positions - [0.042, 0.015], axis=1) < 0.006
    assert np.all(rows.bond_row[near_hole] >= 0)
    assert np.all(rows.bond_row[plate.positions[:, 0] < 0.006] >= 0)


# A pre-cracked block pulled apart: the 3D case of the stencil and unrolled-loop tests.
BLOCK = {
    "name": "stencil-3d", "dimension": 3,
    "material": {"model": "pmb", "youngs_modulus": 72.0e9, "density": 2440.0,
                 "critical_stretch": 4e-4},
    "discretization": {"spacing": 1.0e-3, "horizon_factor": 3.015, "surface_correction": "energy"},
    "geometry": {"box": {"min": [0, 0, 0], "max": [0.016, 0.014, 0.014]}},
    "precracks": [{"rectangle": {"corner": [0.0, 0.0071, 0.0], "edge1": [0.006, 0.0, 0.0],
                                 "edge2": [0.0, 0.0, 0.014]}}],
    "regions": {"left": {"box": {"min": [0, 0, 0], "max": [0.002, 0.014, 0.014]}},
                "right": {"box": {"min": [0.014, 0, 0], "max": [0.016, 0.014, 0.014]}}},
    "boundary_conditions": [
        {"region": "left", "type": "velocity", "value": [-5.0, None, None]},
        {"region": "right", "type": "velocity", "value": [5.0, None, None]}],
    "solver": {"type": "explicit", "steps": 25},
}


STRIP = {"geometry": {"box": {"min": [0, 0], "max": [0.06, 0.009]}, "holes": []}, "precracks": [],
         "regions": {"left": {"box": {"min": [0, 0], "max": [0.003, 0.009]}},
                     "right": {"box": {"min": [0.057, 0], "max": [0.06, 0.009]}}}}
# A strip 13 lines high (one line of plain rows) with a one-particle hole: the hole's band has no
# full rows, so a row at a fixed distance from a long edge is more common than the interior's.
# The same in 3D: a slab 13 planes thick with a one-particle hole.
HOLED_STRIP = merge(STRIP, {"geometry": {"box": {"max": [0.06, 0.013]},
                                         "holes": [{"circle": {"center": [0.0305, 0.0115],
                                                               "radius": 0.0004}}]},
                            "regions": {"left": {"box": {"max": [0.003, 0.013]}},
                                        "right": {"box": {"max": [0.06, 0.013]}}}})
HOLED_SLAB = merge(BLOCK, {"geometry": {"box": {"min": [0, 0, 0], "max": [0.018, 0.018, 0.013]},
                                        "holes": [{"sphere": {"center": [0.0095, 0.0095, 0.0115],
                                                              "radius": 0.0004}}]},
                           "precracks": [],
                           "regions": {"left": {"box": {"max": [0.002, 0.018, 0.013]}},
                                       "right": {"box": {"min": [0.016, 0, 0],
                                                         "max": [0.018, 0.018, 0.013]}}}})


@pytest.mark.parametrize("raw, way", [
    (PLATE, "plain"),                                                # hole, pre-crack, correction
    (merge(PLATE, {"discretization": {"surface_correction": "none"}}), "plain"),
    (merge(PLATE, STRIP), "classify"),                               # no plain row
    (merge(PLATE, HOLED_STRIP), "classify"),                         # an edge row wins
    (BLOCK, "plain"),
    (HOLED_SLAB, "classify"),
], ids=["plate", "no-correction", "thin-strip", "holed-strip", "3d", "holed-3d-slab"])
def test_the_build_classifies_rows_as_classify_does_over_every_weight(raw, way, monkeypatch):
    # The build evaluates weights only for rows that are not plain (model._classify_rows); the
    # oracle here evaluates every bond's weight and classifies them (stencil.classify).
    from pdgeneral.model import _family_moments, _weights_and_stiffness
    from pdgeneral.physics import pmb
    classify, calls = stencil.classify, []
    monkeypatch.setattr(stencil, "classify", lambda *a, **k: calls.append(1) or classify(*a, **k))
    model = model_from(raw)
    assert ("classify" if calls else "plain") == way
    weights = model.bond_weights()
    oracle = classify(model.offsets, model.neighbors, model.bond_slot, weights, model.stencil)
    rows = model.rows
    assert 0 < rows.stencil_particles < model.particle_count
    assert np.array_equal(rows.bond_row, oracle.bond_row)
    assert np.array_equal(rows.explicit, oracle.explicit)
    assert np.array_equal(rows.stencil_weight, oracle.stencil_weight)
    gathered = stencil.explicit_rows(model.offsets, rows.explicit, weights)[1]
    assert np.array_equal(model.explicit_weights, gathered)
    for i in np.flatnonzero(rows.bond_row < 0):
        assert np.array_equal(weights[model.offsets[i]:model.offsets[i + 1]], rows.stencil_weight)
    table = model.stencil
    stiffness = _weights_and_stiffness(table.xi, table.length, model.volume, model.correction,
                                       model.surface_correction, model.offsets, model.neighbors,
                                       model.bond_slot, model.horizon, model.spacing,
                                       model.micromodulus, np.empty(0))
    assert np.array_equal(model.particle_stiffness, stiffness)
    # Family sums and the correction factors from them: each row's own sums, none shared.
    bond_volume, moments = _family_moments(table.xi, table.length, table.length, model.offsets,
                                           model.neighbors, model.bond_slot, model.horizon,
                                           model.spacing,
                                           model.volume,
                                           np.zeros(model.particle_count, dtype=np.bool_))
    assert np.array_equal(model.initial_bond_volume, bond_volume)
    if model.surface_correction:
        continuum = 4.0 * pmb.uniaxial_strain_energy_density(
            1.0, model.horizon, model.dimension, 1.0, model.case.thickness_value)
        assert np.array_equal(model.correction, continuum / moments)


def test_without_the_stencil_every_row_is_explicit(plate):
    rows = plate.bond_rows(use_stencil=False)
    assert np.array_equal(rows.explicit, np.arange(plate.particle_count))


def test_explicit_rows_gather_the_csr_rows():
    offsets = np.array([0, 2, 5, 6])
    values = np.array([10, 11, 20, 21, 22, 30])
    row_offsets, out = stencil.explicit_rows(offsets, np.array([0, 2]), values)
    assert list(row_offsets) == [0, 2, 3] and list(out) == [10, 11, 30]


def run(model, backend, use_stencil, steps=60):
    previous = backends.base.Backend.use_stencil
    backends.base.Backend.use_stencil = use_stencil
    try:
        engine = backends.create(backend, model)
    finally:
        backends.base.Backend.use_stencil = previous
    assert (engine.rows.stencil_particles > 0) == use_stencil
    dt, _ = time_stepping(model)
    run_explicit(engine, None, steps, dt, 10**9)
    out = engine.fields()
    out["intact"] = engine.intact_bonds()
    return out


@pytest.mark.parametrize("backend, precision", [("serial", "float64"), ("parallel", "float64"),
                                                ("parallel", "float32")])
def test_stencil_particles_give_the_same_run_bit_for_bit(plate, backend, precision):
    model = plate if precision == "float64" else model_from(merge(PLATE, {"precision": precision}))
    explicit = run(model, "serial", use_stencil=False)
    assert np.count_nonzero(~explicit["intact"]) > model.precracked_bond_count  # bonds did break
    with_stencil = run(model, backend, use_stencil=True)
    for name in explicit:
        assert np.array_equal(explicit[name], with_stencil[name]), name


@needs_cuda
def test_cuda_stencil_particles_match_serial_explicit_rows():
    # The simulator evaluates the CUDA kernels with the serial backend's operations: equal bits.
    model = model_from(SMALL_PLATE)
    explicit = run(model, "serial", use_stencil=False, steps=12)   # some 1900 bonds broken
    gpu = run(model, "cuda", use_stencil=True, steps=12)
    assert np.count_nonzero(~explicit["intact"]) > model.precracked_bond_count
    if CUDA_SIMULATOR:
        for name in explicit:
            assert np.array_equal(explicit[name], gpu[name]), name
    else:   # a real GPU contracts multiply-adds (FMA): rounding, and the same bonds break
        scale = np.abs(explicit["displacement"]).max()
        assert np.abs(explicit["displacement"] - gpu["displacement"]).max() < 1e-9 * scale
        assert np.mean(explicit["intact"] != gpu["intact"]) < 0.01


def reverse_bonds(offsets, neighbors):
    """Index of bond j -> i for every bond i -> j (rows ascending, so the keys are sorted)."""
    n = offsets.shape[0] - 1
    i = np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets))
    key = i * n + neighbors
    reverse = np.searchsorted(key, neighbors.astype(np.int64) * n + i)
    assert np.array_equal(key[reverse], neighbors.astype(np.int64) * n + i)
    return reverse, i


@pytest.mark.parametrize("backend", ["serial", pytest.param("cuda", marks=needs_cuda)])
def test_both_copies_of_a_bond_break_together(backend):
    # Each bond is stored at both ends and each end decides alone; they must agree, also where a
    # stencil particle's copy (the unrolled loop on the GPU) meets an explicit row's (the general
    # loop): on a real GPU the two loops are different code.
    # (pulled at 25 m/s for 16 steps: as many such bonds break as at 10 m/s in 40 steps, 324)
    model = model_from(merge(PLATE, {"geometry": {"box": {"min": [0, 0], "max": [0.04, 0.03]},
                                                  "holes": []},
                                     "regions": {"right": {"box": {"min": [0.037, 0],
                                                                   "max": [0.04, 0.03]}}},
                                     "boundary_conditions": [
                                         {"region": "left", "type": "velocity", "value": [-25.0, None]},
                                         {"region": "right", "type": "velocity", "value": [25.0, None]}]}))
    out = run(model, backend, use_stencil=True, steps=16)
    reverse, owner = reverse_bonds(model.offsets, model.neighbors)
    intact = out["intact"]
    assert np.array_equal(intact, intact[reverse])
    rows = model.bond_rows()
    stencil_end = rows.bond_row[owner] < 0
    mixed = stencil_end & (rows.bond_row[model.neighbors] >= 0)
    # The run breaks such bonds (not only the pre-crack's, which start broken).
    assert np.count_nonzero(~intact & model.initial_intact & mixed) > 0


def test_3d_stencil_particles_give_the_same_run_bit_for_bit():
    model = model_from(BLOCK)
    assert model.stencil.size == 122
    assert 0 < model.bond_rows().stencil_particles < model.particle_count
    explicit = run(model, "serial", use_stencil=False, steps=25)
    assert np.count_nonzero(~explicit["intact"]) > model.precracked_bond_count > 0
    with_stencil = run(model, "parallel", use_stencil=True, steps=25)
    for name in explicit:
        assert np.array_equal(explicit[name], with_stencil[name]), name


@pytest.mark.parametrize("changes", [
    {},                                                                  # hole, pre-crack
    {"discretization": {"horizon_factor": 3.0}},                         # bonds of exactly 3 dx
    {"discretization": {"horizon_factor": 4.0, "spacing": 1.5e-3}},      # extent not whole cells
    "3d",                                                                # a block with a hole
])
def test_lattice_bonds_are_the_neighbour_search_rows(changes):
    from pdgeneral.neighbors import find_neighbors
    if changes == "3d":
        raw = {key: PLATE[key] for key in ("name", "material", "discretization", "solver")}
        raw.update({"dimension": 3, "geometry": {
            "box": {"min": [0, 0, 0], "max": [0.012, 0.01, 0.009]},
            "holes": [{"sphere": {"center": [0.006, 0.005, 0.0045], "radius": 0.002}}]}})
    else:
        raw = merge(PLATE, changes)
    # every pair within the horizon, as the search finds them (tests/test_voids.py: the cut ones)
    raw = merge(raw, {"discretization": {"bonds_through_voids": "keep"}})
    model = model_from(raw)
    offsets, neighbors = find_neighbors(model.positions, model.horizon)
    assert np.array_equal(model.offsets, offsets)
    assert np.array_equal(model.neighbors, neighbors)
    i = np.repeat(np.arange(model.particle_count), np.diff(offsets))
    xi = model.stencil.xi[:, model.bond_slot]
    assert np.abs(xi - (model.reference[:, neighbors] - model.reference[:, i])).max() < 1e-9 * model.spacing
