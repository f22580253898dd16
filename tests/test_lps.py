"""The linear peridynamic solid (materials/lps.py, kernels/lps.py) against independent numbers:
classical elasticity (moduli, energy of homogeneous strains), PMB where the two models coincide,
the stability of the time step, and the backends against each other."""
import math

import numpy as np
import pytest
from conftest import BASE_2D, CUDA_SIMULATOR, case_from, merge, model_from, needs_cuda

from pdgeneral import backends
from pdgeneral.api import prepare
from pdgeneral.materials import lps
from pdgeneral.model import time_stepping
from pdgeneral.physics import pmb
from pdgeneral.solvers import run_explicit

E, NU = 200.0e9, 0.3

LPS_2D = merge(BASE_2D, {"material": {"model": "lps", "youngs_modulus": E, "poissons_ratio": NU,
                                      "density": 7850.0, "fracture_energy": None,
                                      "critical_stretch": 1.0e-3}})
# 14 spacings a side: the centre particle's neighbours all have whole families
LPS_3D = merge({k: v for k, v in LPS_2D.items() if k not in ("plane", "thickness")},
               {"dimension": 3, "geometry": {"box": {"min": [0, 0, 0], "max": [0.014] * 3}}})


def lame(e, nu):
    return e * nu / ((1 + nu) * (1 - 2 * nu)), e / (2 * (1 + nu))


@pytest.mark.parametrize("dimension,plane", [(3, "stress"), (2, "stress"), (2, "strain")])
def test_moduli_are_the_classical_ones(dimension, plane):
    """kappa from the Lame constants: K = lambda + 2 mu / 3 (3D), lambda + mu (plane strain) and
    lambda* + mu with lambda* = 2 lambda mu / (lambda + 2 mu) (plane stress)."""
    lam, mu = lame(E, NU)
    kappa, shear = lps.moduli(E, NU, dimension, plane)
    expected = {3: lam + 2 * mu / 3}.get(dimension)
    if dimension == 2:
        expected = lam + mu if plane == "strain" else 2 * lam * mu / (lam + 2 * mu) + mu
    assert shear == pytest.approx(mu, rel=1e-14)
    assert kappa == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("dimension,plane,nu", [(3, "stress", 0.25), (2, "stress", 1 / 3),
                                                (2, "strain", 0.25)])
def test_lps_is_pmb_at_pmbs_poissons_ratio(dimension, plane, nu):
    """Where bond-based PD's Poisson's ratio holds, the dilatation term vanishes and Madenci and
    Oterkus's critical stretch is PMB's (Silling and Askari 2005; Ha and Bobaru 2010)."""
    kappa, shear = lps.moduli(E, nu, dimension, plane)
    c_theta, c_e = lps.force_coefficients(kappa, shear, dimension)
    assert abs(c_theta) < 1e-12 * c_e
    s0 = lps.critical_stretch(3.8, kappa, shear, 1.5e-3, dimension)
    assert s0 == pytest.approx(pmb.critical_stretch(E, 3.8, 1.5e-3, dimension, plane), rel=1e-12)
    # and the LPS's pairwise stiffness with the influence delta / |xi| is PMB's micromodulus: the
    # force of a bond, omega (q_i + q_j) e = 2 c_e delta / (|xi| m) e, with the continuum m
    horizon = 1.5e-3
    m = math.pi * horizon**5 if dimension == 3 else 2 * math.pi * horizon**4 / 3  # per thickness
    c = pmb.micromodulus(E, horizon, dimension, plane)
    assert 2 * c_e * horizon / m == pytest.approx(c, rel=1e-12)


def interior_energy(raw, strain):
    """The energy density and dilatation of the particle nearest the centre under u = strain x
    (no surface correction: its factors differ near the surface, which the 3D box's centre
    particle reaches through its neighbours' families)."""
    model = model_from(merge(raw, {"discretization": {"surface_correction": "none"}}))
    engine = backends.create("serial", model)
    u = model.positions @ np.asarray(strain).T
    engine.load_state(u, np.zeros_like(u), engine.bond_bits())
    engine.compute_forces()
    engine.compute_energy()
    centre = np.argmin(np.linalg.norm(model.positions - model.positions.mean(axis=0), axis=1))
    return (engine.arrays.energy_density[centre], engine.material.dilatation[centre],
            engine.arrays.force[:, centre], model)


@pytest.mark.parametrize("raw,plane", [(LPS_2D, "stress"), (merge(LPS_2D, {"plane": "strain"}), "strain"),
                                       (LPS_3D, None)])
def test_homogeneous_strains_give_the_classical_energy(raw, plane):
    """An interior particle under a homogeneous strain: theta = tr(eps) and, for a pure
    dilatation, W = kappa/2 (tr eps)^2 (the lattice's second moments are isotropic); for a pure
    shear W = G eps:eps (the fourth moments are made isotropic: materials.lps.lattice_isotropy;
    without it 8.5 % high in 3D); no net force."""
    dim = raw["dimension"]
    a = 1.0e-5
    kappa, shear = lps.moduli(E, NU, dim, plane or "stress")
    energy, theta, force, model = interior_energy(raw, a * np.eye(dim))
    assert theta == pytest.approx(dim * a, rel=1e-4)
    assert energy == pytest.approx(kappa / 2 * (dim * a) ** 2, rel=1e-4)
    shear_strain = np.zeros((dim, dim))
    shear_strain[0, 1] = shear_strain[1, 0] = a
    energy, theta, force, _ = interior_energy(raw, shear_strain)
    assert abs(theta) < 1e-4 * a
    assert energy == pytest.approx(shear * 2 * a * a, rel=1e-4)
    stress_scale = shear * a / model.spacing
    assert np.abs(force).max() < 1e-6 * stress_scale


@pytest.mark.parametrize("raw", [LPS_2D, LPS_3D])
def test_stable_time_step_bounds_the_largest_frequency(raw):
    """Velocity Verlet is stable for dt < 2 / omega_max; the model's stable step (the pairwise
    bound with the dilatation's couplings, docs/theory.md section 10) must not exceed it.
    omega_max^2 = the largest eigenvalue of the linearised force / density, by power iteration on
    the force pass itself (small displacements: linear)."""
    raw = merge(raw, {"material": {"critical_stretch": math.inf}})
    model = model_from(raw)
    engine = backends.create("serial", model)
    rng = np.random.default_rng(1)
    u = rng.standard_normal(model.positions.shape)
    eigenvalue = 0.0
    for _ in range(200):
        u *= 1e-9 / np.abs(u).max()
        engine.load_state(u, np.zeros_like(u), engine.bond_bits())
        engine.compute_forces()
        ku = -engine.arrays.force.T.copy() / model.density
        eigenvalue = float(np.sum(u * ku) / np.sum(u * u))
        u = ku
    assert eigenvalue > 0
    critical = 2.0 / math.sqrt(eigenvalue)
    assert model.stable_time_step <= critical
    assert model.stable_time_step > 0.2 * critical   # and is not far too cautious


BREAKING = merge(LPS_2D, {
    "discretization": {"spacing": 2.0e-3},
    "geometry": {"box": {"min": [0, 0], "max": [0.05, 0.02]}},
    "precracks": [{"segment": {"start": [0.0, 0.0101], "end": [0.015, 0.0101]}}],
    "material": {"critical_stretch": 4e-4},
    "regions": {"left": {"box": {"min": [0, 0], "max": [0.004, 0.02]}},
                "right": {"box": {"min": [0.046, 0], "max": [0.05, 0.02]}}},
    "boundary_conditions": [{"region": "left", "type": "velocity", "value": [-20.0, None]},
                            {"region": "right", "type": "velocity", "value": [20.0, None]}],
    "no_fail": ["left", "right"],
    "solver": {"type": "explicit", "steps": 25},
})


def run(raw, backend, steps):
    prepared = prepare(case_from(raw))
    engine = backends.create(backend, prepared.model)
    dt, _ = time_stepping(prepared.model)
    run_explicit(engine, None, steps, dt, 10**9)
    out = engine.fields()
    out["intact"] = engine.intact_bonds()
    out["dilatation"] = engine.download(engine.material.dilatation)
    return prepared.model, out


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_serial_and_parallel_lps_are_bit_identical_through_fracture(precision):
    raw = merge(BREAKING, {"precision": precision})
    model, serial = run(raw, "serial", 25)
    _, parallel = run(raw, "parallel", 25)
    assert np.count_nonzero(~serial["intact"]) > model.precracked_bond_count   # bonds broke
    for name in serial:
        assert np.array_equal(serial[name], parallel[name]), name


@needs_cuda
def test_cuda_lps_matches_serial_through_fracture():
    model, serial = run(BREAKING, "serial", 25)
    _, gpu_run = run(BREAKING, "cuda", 25)
    assert np.count_nonzero(~serial["intact"]) > model.precracked_bond_count
    if CUDA_SIMULATOR:
        for name in serial:
            assert np.array_equal(serial[name], gpu_run[name]), name
    else:
        scale = np.abs(serial["displacement"]).max()
        assert np.abs(serial["displacement"] - gpu_run["displacement"]).max() < 1e-6 * scale
        assert np.mean(serial["intact"] != gpu_run["intact"]) < 0.01


def test_bonds_broken_in_the_dilatation_pass_break_at_both_ends():
    model, out = run(BREAKING, "serial", 25)
    intact = out["intact"]
    owner = np.repeat(np.arange(model.particle_count), np.diff(model.offsets))
    # bond (i, j) and its twin (j, i): the same state
    pairs = {(int(i), int(j)): bool(s) for i, j, s in zip(owner, model.neighbors, intact)}
    assert all(pairs[(j, i)] == s for (i, j), s in pairs.items())


@pytest.mark.parametrize("dimension,horizon_factor", [(2, 3.015), (3, 3.015), (2, 4.015)])
def test_lattice_isotropy_makes_whole_families_isotropic(dimension, horizon_factor):
    """Fourth moments of a whole family with the factor: M_xxxx = 3 M_xxyy (numpy, from the
    lattice offsets, not the model's stencil)."""
    reach = math.ceil(horizon_factor)
    grid = np.meshgrid(*([np.arange(-reach, reach + 1.0)] * dimension), indexing="ij")
    xi = np.stack([g.ravel() for g in grid])
    length = np.linalg.norm(xi, axis=0)
    keep = (length > 0) & (length <= horizon_factor)
    xi, length = xi[:, keep], length[keep]
    omega = np.ones_like(length)
    factor = lps.lattice_isotropy(xi, length, omega, horizon_factor, 1.0)
    beta = np.where(length <= horizon_factor - 0.5, 1.0, horizon_factor + 0.5 - length)
    n = xi / length
    w = factor * beta * length**2
    assert np.sum(w * n[0] ** 4) == pytest.approx(3 * np.sum(w * n[0] ** 2 * n[1] ** 2), rel=1e-12)
    assert factor.min() > 0.5 and factor.max() < 2.0


def test_free_vibration_conserves_the_lps_energy():
    """The force state is the exact gradient of the LPS's W (with every particle normalised by m0,
    materials.lps.particle_terms): a free plate vibrating in its first longitudinal mode keeps
    kinetic + strain energy to velocity Verlet's shadow-energy error, second order in dt (as PMB's
    in tests/test_history.py; the lateral mode is fast, so 3e-4 at 0.3 of the stable step), while
    most of it moves between the two. A force that was not the gradient (own m_i at the surface particles, P_i without its
    correction) would drift with the amplitude."""
    from test_history import recorded

    def mode(x):
        v = np.zeros_like(x)
        v[:, 0] = 0.01 * np.cos(np.pi * x[:, 0] / 0.06)
        v[:, 1] = 0.004 * np.sin(np.pi * x[:, 1] / 0.01)   # a lateral part: the dilatation works
        return v

    errors = {}
    for safety, steps in ((0.3, 1000), (0.15, 2000)):
        raw = merge(LPS_2D, {"geometry": {"box": {"min": [0, 0], "max": [0.06, 0.01]}},
                             "material": {"critical_stretch": math.inf},
                             "solver": {"steps": steps, "safety_factor": safety}})
        h = recorded(raw, velocity=mode, every=20)
        total = h["kinetic_energy"] + h["strain_energy"]
        assert h["strain_energy"].max() > 0.5 * total[0]
        errors[safety] = np.abs(total / total[0] - 1).max()
    # second order in dt, as velocity Verlet's shadow energy: no drift from a non-gradient force
    assert errors[0.3] < 5e-4
    assert 3.0 < errors[0.3] / errors[0.15] < 5.0


def test_grip_pull_balances_the_lps_energy_with_breaking():
    """Grips pulled through fracture (LPS, nu = 0.3): kinetic + strain + dissipated energy against
    the grips' work. The dissipated energy counts a broken bond's pairwise part only
    (docs/theory.md sec. 12), so the balance is looser than PMB's 2 %."""
    from test_history import GRIP_PULL, recorded
    raw = merge(LPS_2D, {**GRIP_PULL, "material": {"critical_stretch": 1.0e-3},
                         "solver": {"steps": 1200}})
    h = recorded(raw)
    balance = h["kinetic_energy"] + h["strain_energy"] + h["dissipated_energy"]
    assert h["broken_bonds"][-1] > 200
    assert np.abs(balance - h["external_work"]).max() < 0.05 * h["external_work"][-1]
