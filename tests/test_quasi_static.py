"""Quasi-static loading by adaptive dynamic relaxation, against sigma x / E."""
import numpy as np
import pytest
from conftest import case_from, merge

from pdgeneral import backends
from pdgeneral.api import prepare, run_case
from pdgeneral.io import read_snapshot
from pdgeneral.kernels.pmb import QUASI_STATIC
from pdgeneral.solvers.relaxation import relax_load_step

SIGMA = 200.0e6
E = 200.0e9


@pytest.fixture(scope="module")
def plate(tmp_path_factory):
    """The shipped uniaxial-tension case (Madenci and Oterkus 2014), run once for the module."""
    out = tmp_path_factory.mktemp("qs") / "plate.h5"
    summary = run_case("cases/uniaxial_tension_2d.yaml", backend="parallel", output=out)
    return read_snapshot(summary.output)


def test_plate_interior_displacement_matches_sigma_x_over_e(plate):
    x, u = plate["position"], plate["displacement"]
    interior = (np.abs(x[:, 0]) > 0.1) & (np.abs(x[:, 0]) < 0.4) & (np.abs(x[:, 1]) < 0.15)
    expected = SIGMA * x[interior, 0] / E
    # The acceptance bound: within 3 % of sigma x / E.
    assert np.all(np.abs(u[interior, 0] - expected) <= 0.03 * np.abs(expected))


def test_plate_contracts_with_the_pmb_poisson_ratio(plate):
    x, u = plate["position"], plate["displacement"]
    interior = (np.abs(x[:, 0]) < 0.3) & (np.abs(x[:, 1]) < 0.15)
    slope = np.polyfit(x[interior, 1], u[interior, 1], 1)[0]
    # Plane-stress bond-based PD has nu = 1/3 (Silling 2000); Madenci and Oterkus's 5 % bound.
    assert slope == pytest.approx(-SIGMA / (3 * E), rel=0.05)


STRIP = {
    "name": "strip", "dimension": 2, "plane": "stress", "thickness": 0.01,
    "material": {"model": "pmb", "youngs_modulus": E, "density": 7850.0, "critical_stretch": float("inf")},
    "discretization": {"spacing": 0.005, "horizon_factor": 3.015},
    "geometry": {"box": {"min": [0.0, -0.025], "max": [0.3, 0.025]}},
    "regions": {"held": {"box": {"min": [0.0, -0.025], "max": [0.005, 0.025]}},
                "loaded": {"box": {"min": [0.295, -0.025], "max": [0.3, 0.025]}}},
    "boundary_conditions": [
        {"region": "held", "type": "displacement", "value": [0.0, None]},
        {"region": "loaded", "type": "traction", "value": [SIGMA, 0.0]}],
    "solver": {"type": "quasi_static", "load_steps": 2, "tolerance": 1e-7},
}


def test_strip_under_traction_stretches_by_sigma_l_over_e(tmp_path):
    summary = run_case(case_from(STRIP), backend="serial", output=tmp_path / "s.h5")
    snap = read_snapshot(summary.output)
    x, u = snap["position"], snap["displacement"]
    mid = np.abs(x[:, 1]) < 0.006
    a = mid & (np.abs(x[:, 0] - 0.0725) < 1e-9)
    b = mid & (np.abs(x[:, 0] - 0.2275) < 1e-9)
    stretch = u[b, 0].mean() - u[a, 0].mean()
    assert stretch == pytest.approx(SIGMA * (0.2275 - 0.0725) / E, rel=0.03)
    half = read_snapshot(summary.output, 1)
    assert half["displacement"][:, 0].max() == pytest.approx(0.5 * u[:, 0].max(), rel=1e-3)


def test_relaxation_is_bit_identical_on_serial_and_parallel():
    prepared = prepare(case_from(STRIP))
    results = []
    for name in ("serial", "parallel"):
        engine = backends.create(name, prepared.model)
        engine.set_body_force(0.0)
        iterations, ratio = engine.relax(1.0, 1e-5, 10_000)
        results.append((iterations, ratio, engine.arrays.displacement.copy()))
    assert results[0][0] == results[1][0] and results[0][1] == results[1][1]
    assert np.array_equal(results[0][2], results[1][2])


def test_relaxation_reaches_a_tight_tolerance_at_a_small_load():
    # Quasi-static float64 runs use the stretch form of the bond force (backends.base.
    # uses_reciprocal_form): at 1 kPa (strains of 5e-9) the reciprocal form's cancellation would
    # leave a residual floor near 1e-7 of the load; the stretch form's is about 1e-15.
    small = merge(STRIP, {"boundary_conditions": [
        {"region": "held", "type": "displacement", "value": [0.0, None]},
        {"region": "loaded", "type": "traction", "value": [1.0e3, 0.0]}]})
    model = prepare(case_from(small)).model
    engine = backends.create("serial", model)
    assert not engine.reciprocal_form
    engine.set_body_force(1.0)   # the whole traction (no ramp)
    iterations, ratio = engine.relax(1.0, 1e-11, 20_000)
    assert ratio <= 1e-11, (iterations, ratio)
    u = engine.fields()["displacement"][:, 0]
    assert 0 < u.max() < 1e-8   # the small load did move the strip


CRITICAL_STRETCH = 1.0e-3
GRIPS = 0.2975 - 0.0025   # between the centres of the two gripped columns


def pulled_strip(stretch: float, load_steps: int = 1) -> dict:
    """STRIP with breakable bonds, its grips pulled apart by ``stretch`` times GRIPS."""
    return merge(STRIP, {
        "material": {"model": "pmb", "youngs_modulus": E, "density": 7850.0,
                     "critical_stretch": CRITICAL_STRETCH},
        "boundary_conditions": [
            {"region": "held", "type": "displacement", "value": [0.0, None]},
            {"region": "loaded", "type": "displacement", "value": [stretch * GRIPS, None]}],
        "solver": {"type": "quasi_static", "load_steps": load_steps, "tolerance": 1e-6}})


def bond_stretches(engine) -> np.ndarray:
    """The stretch of every intact bond (both ends) in the backend's current state."""
    model = engine.model
    u = engine.fields()["displacement"]
    x = model.positions
    bits = engine.bond_bits()
    stretches = []
    for i, (start, stop) in enumerate(zip(model.offsets[:-1], model.offsets[1:], strict=True)):
        for n, j in enumerate(model.neighbors[start:stop]):
            if (bits[n >> 5, i] >> (n & 31)) & 1:
                xi = x[j] - x[i]
                stretches.append(np.linalg.norm(xi + u[j] - u[i]) / np.linalg.norm(xi) - 1.0)
    return np.array(stretches)


def test_a_load_step_below_the_critical_stretch_breaks_no_bond():
    """Pulled at once to 0.6 s0, the strip's equilibrium stretches every bond by less than s0
    (the most, 1.38 times the strain, beside the grips, where bonds are missing within a horizon):
    nothing breaks. The grips' jump to the full displacement stretches the bonds beside them
    35 times past s0 in the first iterations, so a relaxation that broke bonds as it iterated
    cut the strip at its grips."""
    prepared = prepare(case_from(pulled_strip(0.6 * CRITICAL_STRETCH)))
    engine = backends.create("serial", prepared.model)
    engine.set_body_force(0.0)
    engine.apply_constraints(1.0, 1.0, QUASI_STATIC)
    relaxed = relax_load_step(engine, 1.0, 1e-6, 20_000)
    assert relaxed.residual <= 1e-6 and relaxed.broken == 0
    assert 0.7 * CRITICAL_STRETCH < bond_stretches(engine).max() < CRITICAL_STRETCH
    x, u = prepared.model.positions, engine.fields()["displacement"]
    interior = (x[:, 0] > 0.05) & (x[:, 0] < 0.25)
    strain = np.polyfit(x[interior, 0], u[interior, 0], 1)[0]
    assert strain == pytest.approx(0.6 * CRITICAL_STRETCH, rel=0.02)


def test_a_load_step_past_the_critical_stretch_ends_in_a_state_that_breaks_no_more_bonds():
    """Pulled to 1.2 s0 the strip breaks; the load step ends relaxed (residual below the
    tolerance) with every intact bond at most at s0, the same on serial and parallel, bit for
    bit."""
    prepared = prepare(case_from(pulled_strip(1.2 * CRITICAL_STRETCH)))
    states = []
    for name in ("serial", "parallel"):
        engine = backends.create(name, prepared.model)
        engine.set_body_force(0.0)
        engine.apply_constraints(1.0, 1.0, QUASI_STATIC)
        relaxed = relax_load_step(engine, 1.0, 1e-6, 50_000)
        assert relaxed.broken > 0 and relaxed.relaxations > 2
        assert relaxed.residual <= 1e-6
        assert engine.break_bonds() == 0
        assert bond_stretches(engine).max() <= CRITICAL_STRETCH
        states.append((relaxed, engine.fields()["displacement"], engine.bond_bits()))
    (first, u_first, bits_first), (second, u_second, bits_second) = states
    assert first == second
    assert np.array_equal(u_first, u_second) and np.array_equal(bits_first, bits_second)
