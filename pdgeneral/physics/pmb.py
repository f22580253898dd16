"""Prototype microelastic brittle (PMB) material of bond-based peridynamics.

Pairwise force density between particles i and j (Silling 2000, eq. 34; Silling and Askari 2005):

    f_ij = c * s_ij * mu_ij * (xi + eta) / |xi + eta|,    s_ij = (|xi + eta| - |xi|) / |xi|

with micromodulus ``c``, bond stretch ``s`` and ``mu`` = 1 while the bond is intact, 0 once ``s`` has
exceeded the critical stretch ``s0`` (irreversible). The constants ``c`` and ``s0`` follow from the
Young's modulus E and the fracture energy G0 by matching the strain energy density and the energy to
break all bonds across a unit crack area; docs/theory.md derives them and lists the sources:

    3D            c = 18 K / (pi delta^4) = 12 E / (pi delta^4)     s0 = sqrt(5 G0 / (9 K delta)), K = 2E/3
                  (Silling and Askari 2005, eqs. 15 and 24)
    plane stress  c = 9 E / (pi t delta^3)                          s0 = sqrt(4 pi G0 / (9 E delta))
                  (Ha and Bobaru 2010, eqs. 5 and 7)
    plane strain  c = 48 E / (5 pi t delta^3)                       s0 = sqrt(5 pi G0 / (12 E delta))
                  (as quoted in the plane-strain PMB literature, e.g. Bobaru et al. 2016, Handbook
                  of Peridynamic Modeling; re-derived in docs/theory.md, checked by
                  tests/test_physics.py)

Two evaluations of the same law (docs/theory.md, "Evaluating the bond force"): with
c * s / |xi + eta| = c * (1 / |xi| - 1 / |xi + eta|), explicit float64 runs take one reciprocal
square root per bond and test s > s0 as |xi + eta|^2 > ((1 + s0) |xi|)^2 (the *reciprocal form*);
float32 and quasi-static runs keep the stretch from ``bond_stretch``, whose numerator has no
cancellation, because the difference 1 / |xi| - 1 / |xi + eta| loses log10(1 / s) digits, which
float32 cannot spare and a relaxation to a tight tolerance at small strain cannot either.

Functions decorated with ``register_jitable`` are plain Python functions of scalars (``math`` only, no
allocation) that numba compiles inline into the CPU kernels and the CUDA kernels alike.
"""
from __future__ import annotations

import math

import numpy as np
from numba.extending import register_jitable

#: The floating-point type of the jitted bodies' literals: a backend's float32 build sets np.float32
#: (kernels.specialize, docs/theory.md "Precision"); a bare Python float would be float64 to numba.
REAL = np.float64

#: Poisson's ratio that bond-based peridynamics imposes (Silling 2000): 1/4 in 3D and plane strain,
#: 1/3 in plane stress.
POISSON_RATIO = {"3d": 0.25, "stress": 1.0 / 3.0, "strain": 0.25}


def micromodulus(youngs_modulus: float, horizon: float, dimension: int, plane: str = "stress",
                 thickness: float = 1.0) -> float:
    """Micromodulus c of the PMB bond (N/m^6 in 3D; N/m^6 per unit thickness in 2D).

    3D: c = 12 E / (pi delta^4) (Silling and Askari 2005, with K = E / (3 (1 - 2 nu)), nu = 1/4).
    2D plane stress: c = 9 E / (pi t delta^3) (Ha and Bobaru 2010, eq. 5).
    2D plane strain: c = 48 E / (5 pi t delta^3) (re-derived in docs/theory.md).
    """
    if dimension == 3:
        return 12.0 * youngs_modulus / (math.pi * horizon**4)
    if plane == "stress":
        return 9.0 * youngs_modulus / (math.pi * thickness * horizon**3)
    if plane == "strain":
        return 48.0 * youngs_modulus / (5.0 * math.pi * thickness * horizon**3)
    raise ValueError(f"unknown plane {plane!r}")


def critical_stretch(youngs_modulus: float, fracture_energy: float, horizon: float, dimension: int,
                     plane: str = "stress") -> float:
    """Critical stretch s0 from the fracture energy G0 (J/m^2).

    3D: s0 = sqrt(5 G0 / (9 K delta)), K = 2E/3 (Silling and Askari 2005, eq. 24).
    2D plane stress: s0 = sqrt(4 pi G0 / (9 E delta)) (Ha and Bobaru 2010, eq. 7).
    2D plane strain: s0 = sqrt(5 pi G0 / (12 E delta)) (re-derived in docs/theory.md).
    """
    if dimension == 3:
        bulk_modulus = 2.0 * youngs_modulus / 3.0
        return math.sqrt(5.0 * fracture_energy / (9.0 * bulk_modulus * horizon))
    if plane == "stress":
        return math.sqrt(4.0 * math.pi * fracture_energy / (9.0 * youngs_modulus * horizon))
    if plane == "strain":
        return math.sqrt(5.0 * math.pi * fracture_energy / (12.0 * youngs_modulus * horizon))
    raise ValueError(f"unknown plane {plane!r}")


def uniaxial_strain_energy_density(micromodulus_: float, horizon: float, dimension: int,
                                   strain: float, thickness: float = 1.0) -> float:
    """Continuum PMB strain energy density (J/m^3) of a uniaxial strain, a full horizon assumed.

    Every bond stretches by s = strain * cos^2(theta), so W = 1/4 * c * strain^2 * I with
    I = integral of |xi| cos^4(theta) over the horizon: pi delta^4 / 5 in 3D, t pi delta^3 / 4 in 2D.
    Equals (1/2) C11 strain^2 of the classical solid with the PMB Poisson's ratio; the energy surface
    correction (Madenci and Oterkus 2014, sec. 4.2) scales each particle's bonds to reach it.
    """
    if dimension == 3:
        integral = math.pi * horizon**4 / 5.0
    else:
        integral = thickness * math.pi * horizon**3 / 4.0
    return 0.25 * micromodulus_ * strain * strain * integral


def stable_time_step_of(density: float, stiffness_sum: float) -> float:
    """Silling and Askari (2005), eq. 16: dt < sqrt(2 rho / sum_j V_j c / |xi_ij|) for one particle."""
    return math.sqrt(2.0 * density / stiffness_sum)


@register_jitable(inline="always")
def partial_volume_factor(bond_length: float, horizon: float, spacing: float) -> float:
    """Fraction of neighbour j's cell inside the horizon of i (Madenci and Oterkus 2014, sec. 2.4.1).

    A linear ramp: 1 for |xi| <= delta - dx/2, then (delta + dx/2 - |xi|) / dx up to |xi| = delta.
    """
    half = REAL(0.5) * spacing
    if bond_length <= horizon - half:
        return REAL(1.0)
    return (horizon + half - bond_length) / spacing


@register_jitable(inline="always")
def square_root(x: float) -> float:
    """sqrt(x), correctly rounded. A float32 GPU build replaces it with x * rsqrt(x) from the
    hardware estimate (at most 2 ulp off; docs/theory.md, "Precision"): the correctly rounded float32
    square root is a multi-instruction sequence with a slow path, per bond."""
    return math.sqrt(x)


@register_jitable(inline="always")
def reciprocal(x: float) -> float:
    """1 / x, correctly rounded; a float32 GPU build takes the hardware's approximate reciprocal
    division (at most 2 ulp off), as for ``square_root``."""
    return REAL(1.0) / x


@register_jitable(inline="always")
def bond_stretch(xi_x: float, xi_y: float, xi_z: float, eta_x: float, eta_y: float, eta_z: float,
                 reference_length: float, dimension: int = 3):
    """The stretch s = (|xi + eta| - |xi|) / |xi| of one bond as a fraction, and its deformed length:
    (numerator, denominator, |xi + eta|) with s = numerator / denominator.

    numerator = 2 xi.eta + eta.eta and denominator = |xi| (|xi + eta| + |xi|): the same quantity
    without the cancellation of |xi + eta| - |xi| (which matters in float32, where |eta| << |xi|).
    This is the *stretch form* of the bond force (kernels.pmb.bond_force; float32 and quasi-static
    runs): the kernels never divide by the denominator: the break test s > s0 is numerator > s0 *
    denominator, and the force factor c w s / |xi + eta| takes one reciprocal,
    numerator * (1 / (denominator * |xi + eta|)). A GPU's float64 division is also slow when the
    numerator is zero, as it is for every bond at rest.
    ``reference_length`` is |xi|, which the kernels read from the stencil table (pdgeneral.stencil).
    With ``dimension`` 2 the z components are left out rather than added as zeros: the same bits
    (a sum of squares plus +0 is itself, and numerator's 2 xi.eta only differs in the sign of a zero
    that eta.eta = +0 then removes), and a GPU is spared the additions (which a compiler may not drop,
    since -0 + 0 is +0).
    """
    yx = xi_x + eta_x
    yy = xi_y + eta_y
    squared = yx * yx + yy * yy
    along = xi_x * eta_x + xi_y * eta_y
    eta_squared = eta_x * eta_x + eta_y * eta_y
    if dimension == 3:
        yz = xi_z + eta_z
        squared += yz * yz
        along += xi_z * eta_z
        eta_squared += eta_z * eta_z
    deformed_length = square_root(squared)
    numerator = REAL(2.0) * along + eta_squared
    return numerator, reference_length * (deformed_length + reference_length), deformed_length


@register_jitable(inline="always")
def deformed_length_squared(xi_x: float, xi_y: float, xi_z: float, eta_x: float, eta_y: float,
                            eta_z: float, dimension: int = 3) -> float:
    """|xi + eta|^2, the z term only in 3D (the same bits as the 3D sum with zeros, as in
    ``bond_stretch``)."""
    yx = xi_x + eta_x
    yy = xi_y + eta_y
    squared = yx * yx + yy * yy
    if dimension == 3:
        yz = xi_z + eta_z
        squared += yz * yz
    return squared


@register_jitable(inline="always")
def reciprocal_sqrt(x: float) -> float:
    """1 / sqrt(x). The CUDA build replaces it with the GPU's rsqrt (libdevice, at most 1 ulp off:
    a hardware estimate and Newton steps instead of a square root and a division)."""
    return REAL(1.0) / math.sqrt(x)


def break_length_squared(reference_length, critical_stretch):
    """((1 + s0) |xi|)^2: a bond breaks when |xi + eta|^2 exceeds it, which is s > s0 for
    s = (|xi + eta| - |xi|) / |xi| without a square root (the reciprocal form of the force)."""
    return ((1.0 + critical_stretch) * reference_length) ** 2


@register_jitable(inline="always")
def surface_factor(n_x: float, n_y: float, n_z: float, gx_i: float, gy_i: float, gz_i: float,
                   gx_j: float, gy_j: float, gz_j: float) -> float:
    """Energy surface correction of one bond (Madenci and Oterkus 2014, sec. 4.2, eq. 4.13):
    G_ij = [sum_d (n_d / Gbar_d)^2]^(-1/2), Gbar_d = (g_d(i) + g_d(j)) / 2, n the bond's unit
    vector and g_d the per-particle, per-axis factors (1 for the absent axis in 2D)."""
    ax = n_x / (REAL(0.5) * (gx_i + gx_j))
    ay = n_y / (REAL(0.5) * (gy_i + gy_j))
    az = n_z / (REAL(0.5) * (gz_i + gz_j))
    return REAL(1.0) / math.sqrt(ax * ax + ay * ay + az * az)
