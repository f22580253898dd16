"""Explicit dynamics: invariants, conservation, backend equality, fracture rules."""
import numpy as np
import pytest
from conftest import case_from, merge, model_from

from pdgeneral import backends
from pdgeneral.api import prepare, run_case
from pdgeneral.io import read_snapshot
from pdgeneral.kernels.pmb import INITIAL
from pdgeneral.model import time_stepping

THREE_D = {
    "name": "block", "dimension": 3,
    "material": {"model": "pmb", "youngs_modulus": 72.0e9, "density": 2440.0, "fracture_energy": 3.8},
    "discretization": {"spacing": 1.0e-3, "horizon_factor": 3.015},
    "geometry": {"box": {"min": [0, 0, 0], "max": [0.008, 0.006, 0.005]}},
    "solver": {"type": "explicit", "steps": 10},
}


def forces_at(model, displacement):
    engine = backends.create("serial", model)
    engine.arrays.displacement[...] = displacement
    engine.compute_forces()
    return engine.arrays.force.copy()


@pytest.mark.parametrize("raw", ["2d", "3d"])
def test_zero_force_in_reference_and_rigid_translation(base_2d, raw):
    model = model_from(base_2d if raw == "2d" else THREE_D)
    dim = model.dimension
    assert np.all(forces_at(model, np.zeros((dim, model.particle_count))) == 0.0)
    shift = np.full((dim, model.particle_count), 1.234e-4)
    assert np.abs(forces_at(model, shift)).max() < 1e-6 * model.micromodulus * model.spacing ** 4


def test_small_rigid_rotation_gives_second_order_force(base_2d):
    model = model_from(base_2d)
    x = model.reference
    centre = x.mean(axis=1, keepdims=True)

    def rotation(theta):
        c, s = np.cos(theta), np.sin(theta)
        rel = x - centre
        return np.array([c * rel[0] - s * rel[1], s * rel[0] + c * rel[1]]) - rel

    # A rigid rotation stretches no bond: the force is round-off, far below that of a strain of
    # the same size (theta = 1e-4 -> compare with a uniform strain of 1e-4).
    rotated = np.abs(forces_at(model, rotation(1e-4))).max()
    strained = np.abs(forces_at(model, 1e-4 * (x - centre))).max()
    assert rotated < 1e-6 * strained


def test_net_internal_force_is_zero(base_2d):
    model = model_from(base_2d)
    rng = np.random.default_rng(0)
    u = 1e-7 * rng.normal(size=(2, model.particle_count))
    f = forces_at(model, u)
    total = (f * model.volume).sum(axis=1)
    scale = np.abs(f * model.volume).sum()
    assert np.all(np.abs(total) < 1e-12 * scale)


@pytest.mark.parametrize("backend", ["serial", "parallel"])
def test_linear_momentum_is_conserved_without_external_load(base_2d, backend):
    # Free plate with a random initial velocity field: sum_i rho V_i v_i stays constant.
    rng = np.random.default_rng(3)
    model = model_from(base_2d)
    engine = backends.create(backend, model)
    engine.arrays.velocity[...] = rng.normal(size=engine.arrays.velocity.shape)
    dt, _ = time_stepping(model)
    before = (engine.arrays.velocity * model.volume).sum(axis=1) * model.density
    engine.apply_constraints(0.0, dt, INITIAL)
    engine.compute_forces()
    engine.advance(0, 300, dt)
    after = (engine.arrays.velocity * model.volume).sum(axis=1) * model.density
    scale = np.abs(engine.arrays.velocity * model.volume).sum() * model.density
    assert np.all(np.abs(after - before) < 1e-12 * scale)
    assert np.abs(engine.arrays.displacement).max() > 0  # it did move


FRACTURE_2D = {
    "name": "fracture", "dimension": 2, "plane": "stress", "thickness": 1e-3,
    "material": {"model": "pmb", "youngs_modulus": 72.0e9, "density": 2440.0, "fracture_energy": 3.8},
    "discretization": {"spacing": 1.0e-3, "horizon_factor": 3.015},
    "geometry": {"box": {"min": [0, 0], "max": [0.05, 0.02]},
                 "holes": [{"circle": {"center": [0.035, 0.01], "radius": 0.002}}]},
    "precracks": [{"segment": {"start": [0.0, 0.0101], "end": [0.015, 0.0101]}}],
    "regions": {"left": {"box": {"min": [0, 0], "max": [0.003, 0.02]}},
                "right": {"box": {"min": [0.047, 0], "max": [0.05, 0.02]}},
                "top": {"box": {"min": [0.02, 0.019], "max": [0.03, 0.02]}}},
    "boundary_conditions": [
        {"region": "left", "type": "velocity", "value": [-2.0, None]},
        {"region": "right", "type": "displacement", "value": [2.0e-5, 0.0], "ramp_time": 2.0e-6},
        {"region": "top", "type": "body_force", "value": [0.0, 1.0e9], "ramp_time": 1.0e-6},
        {"region": "top", "type": "initial_velocity", "value": [0.0, 0.5]}],
    "no_fail": ["left", "right"],
    "solver": {"type": "explicit", "end_time": 8.0e-6},
    "output": {"every": 40},
}


def run_arrays(raw, backend, steps=None):
    prepared = prepare(case_from(raw))
    engine = backends.create(backend, prepared.model)
    dt, total = time_stepping(prepared.model)
    from pdgeneral.solvers import run_explicit
    run_explicit(engine, None, steps or total, dt, 10**9)
    engine.compute_damage()          # damage is computed for snapshots only
    a = engine.arrays
    return prepared.model, {"displacement": a.displacement.copy(), "velocity": a.velocity.copy(),
                            "damage": a.damage.copy(), "intact": engine.intact_bonds()}


def test_serial_and_parallel_agree_bit_for_bit_through_fracture():
    model, serial = run_arrays(FRACTURE_2D, "serial")
    _, parallel = run_arrays(FRACTURE_2D, "parallel")
    broken_now = np.count_nonzero(~serial["intact"])
    assert broken_now > model.precracked_bond_count  # the run did break bonds
    assert serial["damage"].max() > 0.3              # ... and the damage compared below shows it
    for name in serial:
        assert np.array_equal(serial[name], parallel[name]), name


def test_serial_and_parallel_agree_bit_for_bit_in_3d_float32():
    raw = merge(THREE_D, {"precision": "float32",
                          "boundary_conditions": [{"region": "all", "type": "initial_velocity",
                                                   "value": [1.0, -2.0, 0.5]}],
                          "regions": {"all": {"box": {"min": [0, 0, 0], "max": [0.004, 0.006, 0.005]}}}})
    _, serial = run_arrays(raw, "serial")
    _, parallel = run_arrays(raw, "parallel")
    assert serial["displacement"].dtype == np.float32
    for name in serial:
        assert np.array_equal(serial[name], parallel[name]), name


def test_no_fail_bonds_never_break_and_prescribed_motion_holds():
    model, out = run_arrays(FRACTURE_2D, "serial")
    # The pre-crack reaches into the left no_fail layer: the crack is geometry and wins there; every
    # other protected bond must be intact at the end.
    owner = np.repeat(np.arange(model.particle_count), np.diff(model.offsets))
    protected = (model.no_fail[owner] | model.no_fail[model.neighbors]).astype(bool)
    protected &= model.initial_intact
    assert np.count_nonzero(protected) > 1000
    assert np.all(out["intact"][protected])
    assert not np.all(out["intact"][~protected])   # bonds elsewhere did break
    dt, steps = time_stepping(model)
    x = model.positions
    left = x[:, 0] <= 0.003
    right = x[:, 0] >= 0.047
    # velocity condition: u_x = v t exactly (constant velocity), v_x = v
    np.testing.assert_allclose(out["velocity"][0, left], -2.0)
    np.testing.assert_allclose(out["displacement"][0, left], -2.0 * dt * steps, rtol=1e-12)
    # displacement condition after its ramp: u = value, v = 0
    np.testing.assert_allclose(out["displacement"][0, right], 2.0e-5, rtol=1e-12)
    assert np.all(out["displacement"][1, right] == 0.0)
    assert np.all(out["velocity"][:, right] == 0.0)


def test_precrack_damage_at_start_and_crack_grows(tmp_path):
    raw = merge(FRACTURE_2D, {"output": {"every": 40, "path": str(tmp_path / "f.h5")}})
    summary = run_case(case_from(raw), backend="serial")
    first = read_snapshot(summary.output, 0)
    last = read_snapshot(summary.output)
    x = first["position"]
    along_crack = (np.abs(x[:, 1] - 0.01) < 0.001) & (x[:, 0] < 0.014)
    assert np.all(first["damage"][along_crack] > 0.2)       # pre-crack counts in the damage
    assert last["damage"].max() >= first["damage"].max()
    assert np.count_nonzero(last["damage"] > 0.3) > np.count_nonzero(first["damage"] > 0.3)
