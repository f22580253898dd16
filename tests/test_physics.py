"""Micromodulus, critical stretch and per-bond laws against independent numbers.

Independent oracles: (1) the classical strain energy density (1/2) C11 eps^2 of an isotropic solid
with the PMB Poisson's ratio, against the PD energy density integrated numerically over the horizon;
(2) the fracture energy G0, against the energy to break every bond crossing a unit crack area,
integrated numerically (Silling and Askari 2005, eq. 23; Ha and Bobaru 2010); (3) the published
glass values quoted in the project's issue (s0 = 2.7146e-4 plane stress, 2.0972e-4 3D).
"""
import math

import numpy as np
import pytest
from scipy import integrate

from pdgeneral.physics import pmb

E = 72.0e9
G0 = 3.8
DELTA = 1.0e-3
T = 1.0e-3


def classical_c11(plane: str) -> float:
    nu = pmb.POISSON_RATIO[plane]
    if plane == "stress":
        return E / (1.0 - nu * nu)
    return E * (1.0 - nu) / ((1.0 + nu) * (1.0 - 2.0 * nu))


@pytest.mark.parametrize("plane", ["3d", "stress", "strain"])
def test_micromodulus_reproduces_classical_energy_density(plane):
    dimension = 3 if plane == "3d" else 2
    c = pmb.micromodulus(E, DELTA, dimension, "stress" if plane == "3d" else plane, T)
    eps = 1e-3
    if dimension == 3:
        # W = 1/2 * integral of (1/2 c s^2 |xi|) dV, s = eps cos^2(phi) (phi from the strain axis)
        w, _ = integrate.dblquad(lambda phi, r: 0.25 * c * (eps * math.cos(phi) ** 2) ** 2 * r
                                 * r * r * math.sin(phi) * 2 * math.pi, 0, DELTA, 0, math.pi)
    else:
        w, _ = integrate.dblquad(lambda th, r: 0.25 * c * (eps * math.cos(th) ** 2) ** 2 * r * T * r,
                                 0, DELTA, 0, 2 * math.pi)
    assert w == pytest.approx(0.5 * classical_c11(plane) * eps**2, rel=1e-9)
    # The closed form used by the surface correction agrees too.
    closed = pmb.uniaxial_strain_energy_density(c, DELTA, dimension, eps, T)
    assert closed == pytest.approx(w, rel=1e-9)


def fracture_energy_integral(c, s0, dimension):
    """Energy per unit crack area to break every bond across a plane (Silling and Askari 2005)."""
    def w0(r):
        return 0.5 * c * s0 * s0 * r
    if dimension == 3:
        value, _ = integrate.tplquad(
            lambda phi, r, z: w0(r) * r * r * math.sin(phi) * 2 * math.pi,
            0, DELTA, lambda z: z, lambda z: DELTA, lambda z, r: 0, lambda z, r: math.acos(z / r))
        return value
    value, _ = integrate.tplquad(
        lambda th, r, z: 2 * w0(r) * T * r,
        0, DELTA, lambda z: z, lambda z: DELTA, lambda z, r: 0, lambda z, r: math.acos(z / r))
    # Per unit crack area (length x thickness): the source side contributes dz per unit area, the
    # neighbour side t dA; c carries the 1/t of the 2D micromodulus.
    return value


@pytest.mark.parametrize("plane", ["3d", "stress", "strain"])
def test_critical_stretch_reproduces_fracture_energy(plane):
    dimension = 3 if plane == "3d" else 2
    p = "stress" if plane == "3d" else plane
    c = pmb.micromodulus(E, DELTA, dimension, p, T)
    s0 = pmb.critical_stretch(E, G0, DELTA, dimension, p)
    assert fracture_energy_integral(c, s0, dimension) == pytest.approx(G0, rel=1e-6)


def test_critical_stretch_published_glass_values():
    assert pmb.critical_stretch(E, G0, DELTA, 2, "stress") == pytest.approx(2.7146e-4, rel=1e-4)
    assert pmb.critical_stretch(E, G0, DELTA, 3) == pytest.approx(2.0972e-4, rel=1e-4)


def test_micromodulus_closed_forms():
    assert pmb.micromodulus(E, DELTA, 3) == pytest.approx(18 * (2 * E / 3) / (math.pi * DELTA**4))
    assert pmb.micromodulus(E, DELTA, 2, "stress", T) == pytest.approx(9 * E / (math.pi * T * DELTA**3))
    assert pmb.micromodulus(E, DELTA, 2, "strain", T) == pytest.approx(
        48 * E / (5 * math.pi * T * DELTA**3))


def test_bond_stretch_matches_direct_formula():
    rng = np.random.default_rng(1)
    for _ in range(100):
        xi = rng.normal(size=3)
        eta = 1e-3 * rng.normal(size=3)
        numerator, denominator, length = pmb.bond_stretch(*xi, *eta, np.linalg.norm(xi))
        direct = (np.linalg.norm(xi + eta) - np.linalg.norm(xi)) / np.linalg.norm(xi)
        assert numerator / denominator == pytest.approx(direct, rel=1e-9)
        assert length == pytest.approx(np.linalg.norm(xi + eta))


def test_bond_stretch_keeps_float32_precision_at_small_strain():
    # The cancellation-free numerator, compiled with float32 inputs: a strain of 1e-6 keeps about
    # five digits, where (|xi + eta| - |xi|) / |xi| in float32 is off by several per cent.
    # compiled as a float32 build compiles it: every operation in float32 (kernels.pmb.REAL)
    from numba import njit

    from pdgeneral.backends import cpu
    bond_stretch = cpu._bodies(False, np.float32)["bond_stretch"]

    @njit
    def stretch(xi_x, xi_y, xi_z, eta_x, eta_y, eta_z, length):
        return bond_stretch(xi_x, xi_y, xi_z, eta_x, eta_y, eta_z, length)

    xi = np.array([1.0, 0.5, 0.0], dtype=np.float32)
    eta = np.float32(1e-6) * xi
    length = np.float32(np.linalg.norm(xi))
    numerator, denominator, _ = stretch(*xi, *eta, length)
    assert str(stretch.nopython_signatures[0].return_type) == "UniTuple(float32 x 3)"
    assert float(numerator) / float(denominator) == pytest.approx(1e-6, rel=1e-4)
    naive = (np.linalg.norm(xi + eta) - length) / length
    assert abs(float(naive) / 1e-6 - 1) > 1e-3   # what the form avoids


def test_bond_stretch_is_symmetric_bitwise():
    # Both copies of a bond must see the same stretch so that they break in the same step.
    rng = np.random.default_rng(2)
    for _ in range(100):
        xi = rng.normal(size=3)
        eta = 1e-4 * rng.normal(size=3)
        length = np.linalg.norm(xi)
        assert pmb.bond_stretch(*xi, *eta, length) == pmb.bond_stretch(*(-xi), *(-eta), length)


def test_bond_stretch_in_2d_is_the_3d_form_with_zero_z_bitwise():
    # Leaving out the z terms in 2D must not change a bit, signed zeros included.
    from numba import njit

    @njit
    def stretch(xi_x, xi_y, eta_x, eta_y, length, dimension):
        return pmb.bond_stretch(xi_x, xi_y, 0.0, eta_x, eta_y, 0.0, length, dimension)

    rng = np.random.default_rng(3)
    cases = [(rng.normal(size=2), 1e-4 * rng.normal(size=2)) for _ in range(200)]
    cases += [(np.array([x, y]), np.array([ex, ey])) for x in (-1.0, 0.0, 1.0) for y in (-2.0, 2.0)
              for ex in (-0.0, 0.0, 1e-3) for ey in (-0.0, 0.0, -1e-3)]
    for xi, eta in cases:
        length = np.linalg.norm(xi)
        two = np.array(stretch(*xi, *eta, length, 2))
        three = np.array(stretch(*xi, *eta, length, 3))
        assert two.tobytes() == three.tobytes(), (xi, eta)


@pytest.mark.parametrize("stretch", [1e-6, 1e-4, 1e-2, 0.5, -1e-3, -0.3])
def test_reciprocal_form_is_the_pmb_force_law(stretch):
    # c (1/|xi| - 1/|y|) y against the law c s y / |y| at a known stretch (y = (1 + s) xi rotated
    # a little): the float64 evaluation loses only log10(1/s) digits to the difference.
    from pdgeneral.kernels.pmb import bond_force
    rng = np.random.default_rng(4)
    no_fail = np.zeros(2, dtype=np.uint8)
    for _ in range(50):
        xi = rng.normal(size=3)
        length = float(np.linalg.norm(xi))
        turn = rng.normal(size=3) * 1e-3
        direction = (xi + np.cross(turn, xi)) / np.linalg.norm(xi + np.cross(turn, xi))
        y = (1 + stretch) * length * direction
        eta = y - xi
        exact = 2.0 * 0.5 * stretch / float(np.linalg.norm(y))   # c w s / |y|, c = 2, w = 0.5
        scale, intact, s = bond_force(0, 1, *xi, length, 1.0 / length,
                                      pmb.break_length_squared(length, 0.9), 0.5, *eta, 1, no_fail,
                                      2.0, 0.9, True, 3)
        assert intact == 1
        assert scale == pytest.approx(exact, rel=1e-14 / abs(stretch) + 1e-15)
        # what it returns for a history row's energy: c w s^2 |xi| (kernels.pmb.recorded_energy)
        energy = 2.0 * 0.5 * stretch**2 * length
        assert s == pytest.approx(energy, rel=1e-14 / abs(stretch) + 1e-15)
        stretch_form, _, s = bond_force(0, 1, *xi, length, 1.0 / length, 0.0, 0.5, *eta, 1,
                                        no_fail, 2.0, 0.9, False, 3)
        assert stretch_form == pytest.approx(exact, rel=1e-14)
        assert s == pytest.approx(energy, rel=1e-13)
        # a broken bond holds none
        _, intact, s = bond_force(0, 1, *xi, length, 1.0 / length,
                                  pmb.break_length_squared(length, 0.9), 0.5, *eta, 0, no_fail,
                                  2.0, 0.9, True, 3)
        assert intact == 0 and s == 0.0


def test_reciprocal_form_breaks_at_the_critical_stretch():
    # |y|^2 > ((1 + s0) |xi|)^2 is s > s0; no bond breaks where either end is no_fail.
    from pdgeneral.kernels.pmb import bond_force
    xi = np.array([3e-3, 4e-3, 0.0])   # |xi| = 5 mm exactly
    length, s0 = 5e-3, 1e-3
    threshold = pmb.break_length_squared(length, s0)
    for stretch, survives in [(0.999e-3, True), (1.001e-3, False), (-0.5, True)]:
        eta = stretch * xi
        for form in (True, False):
            _, intact, _ = bond_force(0, 1, *xi, length, 1 / length, threshold, 1.0, *eta, 1,
                                      np.zeros(2, dtype=np.uint8), 1.0, s0, form, 3)
            assert intact == survives, (stretch, form)
            _, intact, _ = bond_force(0, 1, *xi, length, 1 / length, threshold, 1.0, *eta, 1,
                                      np.array([0, 1], dtype=np.uint8), 1.0, s0, form, 3)
            assert intact == 1


def test_partial_volume_factor_ramp():
    dx, delta = 1.0, 3.015
    assert pmb.partial_volume_factor(1.0, delta, dx) == 1.0
    assert pmb.partial_volume_factor(delta - 0.5 * dx, delta, dx) == 1.0
    assert pmb.partial_volume_factor(delta, delta, dx) == pytest.approx(0.5)
    assert pmb.partial_volume_factor(3.0, delta, dx) == pytest.approx(0.515)


def test_stable_time_step_formula():
    # Silling and Askari 2005, eq. 16, for one particle with a known stiffness sum.
    assert pmb.stable_time_step_of(2.0, 8.0) == pytest.approx(math.sqrt(0.5))
