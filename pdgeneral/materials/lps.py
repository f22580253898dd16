"""The linear peridynamic solid (LPS, ordinary state-based; Silling et al. 2007, sec. 15; in 2D
Le, Chan and Schwartz 2014): constants from the case's ``material`` section and the per-particle weighted
volume and stiffness. docs/theory.md section 12 derives every formula; kernels/lps.py has the
bodies.

    3D            kappa = K = E / (3 (1 - 2 nu)),   G = E / (2 (1 + nu))
                  theta = (3 / m) sum omega |xi| e V,  t = omega / m [(3K - 5G) theta |xi| + 15 G e]
    plane stress  kappa = E / (2 (1 - nu))
    plane strain  kappa = E / (2 (1 + nu) (1 - 2 nu))
                  theta = (2 / m) sum omega |xi| e V,  t = omega / m [(2 kappa - 4G) theta |xi| + 8 G e]

    m = sum_j omega |xi|^2 V_j (the weighted volume; every particle is normalised by m0, a whole
    family's, with the force state of that energy: particle_terms)
"""
from __future__ import annotations

import math
from functools import partial

import numpy as np
from numba import njit, prange

from .. import kernel_cache
from ..kernels.arguments import Lps
from ..kernels.lps import CONSTANT, GAUSSIAN, INVERSE_LENGTH, influence
from ..kernels.pmb import weight_of_bond
from ..physics.pmb import partial_volume_factor
from . import MaterialConstants, ParticleTerms

#: Two force passes (kernels/lps.py: the dilatation, which breaks bonds, then the force), each with
#: an unrolled stencil loop on the GPU (kernels/unrolled.py); its own energy pass (a history row's
#: energy is not summed in the force pass).
FORCE_PASSES = ("lps_dilatation", "lps_force")
ENERGY_PASS = "lps_energy"
UNROLLED_FORCE = True
RECORDED_ENERGY = None

#: Influence function names (case key material.influence) -> kernels.lps codes.
INFLUENCE = {"constant": CONSTANT, "inverse_length": INVERSE_LENGTH, "gaussian": GAUSSIAN}


def moduli(youngs_modulus: float, poissons_ratio: float, dimension: int, plane: str = "stress"
           ) -> tuple[float, float]:
    """(kappa, G): the bulk modulus of the dimension (K in 3D; E / (2 (1 - nu)) in plane stress,
    E / (2 (1 + nu) (1 - 2 nu)) in plane strain: the in-plane bulk moduli, Le et al. 2014) and the
    shear modulus."""
    e, nu = youngs_modulus, poissons_ratio
    shear = e / (2.0 * (1.0 + nu))
    if dimension == 3:
        return e / (3.0 * (1.0 - 2.0 * nu)), shear
    if plane == "stress":
        return e / (2.0 * (1.0 - nu)), shear
    if plane == "strain":
        return e / (2.0 * (1.0 + nu) * (1.0 - 2.0 * nu)), shear
    raise ValueError(f"unknown plane {plane!r}")


def force_coefficients(bulk_modulus: float, shear_modulus: float, dimension: int
                       ) -> tuple[float, float]:
    """(c_theta, c_e) of the force state t = omega / m (c_theta theta |xi| + c_e e): 3K - 5G and
    15G in 3D, 2 kappa - 4G and 8G in 2D (docs/theory.md section 12). c_theta vanishes where the
    LPS is PMB (nu = 1/4 in 3D and plane strain, 1/3 in plane stress)."""
    if dimension == 3:
        return 3.0 * bulk_modulus - 5.0 * shear_modulus, 15.0 * shear_modulus
    return 2.0 * bulk_modulus - 4.0 * shear_modulus, 8.0 * shear_modulus


def critical_stretch(fracture_energy: float, bulk_modulus: float, shear_modulus: float,
                     horizon: float, dimension: int) -> float:
    """s0 from the fracture energy G0 (Madenci and Oterkus 2014, "Peridynamic Theory and Its
    Applications", the ordinary state-based model's critical stretch; PeriLab uses the same):

        3D  s0 = sqrt(G0 / ((3 G + (3/4)^4 (K - 5 G / 3)) delta))
        2D  s0 = sqrt(G0 / ((6 G / pi + 16 / (9 pi^2) (kappa - 2 G)) delta))

    Where the LPS is PMB these are PMB's own (tests/test_lps.py checks it): sqrt(5 G0 / (9 K
    delta)) in 3D at nu = 1/4, and Ha and Bobaru's plane stress value at nu = 1/3."""
    if dimension == 3:
        scale = 3.0 * shear_modulus + 0.75**4 * (bulk_modulus - 5.0 * shear_modulus / 3.0)
    else:
        scale = (6.0 * shear_modulus / math.pi
                 + 16.0 / (9.0 * math.pi**2) * (bulk_modulus - 2.0 * shear_modulus))
    return math.sqrt(fracture_energy / (scale * horizon))


def check_keys(material) -> None:
    """The case's ``material`` section as the LPS reads it (case/schema.py): Poisson's ratio given."""
    if material.poissons_ratio is None:
        raise ValueError("material model lps needs poissons_ratio")


def constants(material, horizon: float, dimension: int, plane: str, thickness: float
              ) -> MaterialConstants:
    kappa, shear = moduli(material.youngs_modulus, material.poissons_ratio, dimension, plane)
    c_theta, c_e = force_coefficients(kappa, shear, dimension)
    if material.critical_stretch is not None:
        s0 = material.critical_stretch
    else:
        s0 = critical_stretch(material.fracture_energy, kappa, shear, horizon, dimension)
    return MaterialConstants(model="lps", youngs_modulus=material.youngs_modulus,
                             poissons_ratio=material.poissons_ratio, critical_stretch=s0,
                             bulk_modulus=kappa, shear_modulus=shear,
                             dilatation_coefficient=c_theta, deviatoric_coefficient=c_e,
                             influence=material.influence_function)


def slot_partial_volumes(length: np.ndarray, horizon: float, spacing: float) -> np.ndarray:
    """beta of each stencil slot (physics.pmb.partial_volume_factor of its |xi|), float64."""
    return np.array([float(partial_volume_factor(r, horizon, spacing)) for r in length])


def influence_table(kind: str, bonds, horizon: float, spacing: float) -> np.ndarray:
    """omega of each stencil slot (``bonds``: the model's Stencil), float64: the influence
    function of |xi| times ``lattice_isotropy``'s factor (kernels read it per slot)."""
    code = INFLUENCE[kind]
    omega = np.array([influence(code, float(r), horizon) for r in bonds.length])
    return omega * lattice_isotropy(bonds.xi, bonds.length, omega, horizon, spacing)


def lattice_isotropy(xi: np.ndarray, length: np.ndarray, omega: np.ndarray, horizon: float,
                     spacing: float) -> np.ndarray:
    """Per slot, 1 + gamma (sum_d n_d^4 - its mean): the factor that makes a whole family's fourth
    moments sum_j omega |xi|^2 beta n_a n_b n_c n_d isotropic, M_xxxx = 3 M_xxyy, as the
    continuum's are (docs/theory.md section 12). A cubic lattice's are not: at a horizon of 3
    spacings in 3D, M_xxyy is 8.5 % above the isotropic value and M_xxxx 5.6 % below it, which
    the LPS's deviatoric energy would carry into its shear modulus and Poisson's ratio (PMB's
    energy surface correction scales M_xxxx per axis; the LPS divides it out with m). The second
    moments, and so the dilatation, are isotropic on the lattice already and stay so."""
    unit = xi / length
    beta = slot_partial_volumes(length, horizon, spacing)
    weight = omega * beta * length**2
    quartic = np.sum(unit**4, axis=0)
    quartic = quartic - np.sum(weight * quartic) / np.sum(weight)
    axial = unit[0] ** 4
    mixed = unit[0] ** 2 * unit[1] ** 2
    # M(gamma) = sum weight (1 + gamma quartic) moment: M_xxxx(gamma) = 3 M_xxyy(gamma)
    gamma = (np.sum(weight * (3.0 * mixed - axial))
             / np.sum(weight * quartic * (axial - 3.0 * mixed)))
    factor = 1.0 + gamma * quartic
    if not np.all(factor > 0):
        raise ValueError("no positive lattice isotropy factors for this stencil")
    return factor


def whole_family_moments(bonds, moment_weight: np.ndarray, horizon: float, spacing: float,
                         volume: float) -> np.ndarray:
    """(dim,) sum_s n_d^4 a_s beta_s V over the whole stencil: the directional moments of a
    particle with a whole family, with the slot weights ``moment_weight`` (model._family_moments'
    for one interior row)."""
    unit = bonds.xi / bonds.length
    beta = slot_partial_volumes(bonds.length, horizon, spacing)
    return np.sum(unit**4 * moment_weight * beta * volume, axis=1)


@partial(kernel_cache.attach, key=("model",))
@njit(parallel=True)
def _family_sums(stencil_xi, stencil_length, omega, volume, correction, corrected, offsets,
                 neighbors, bond_slot, horizon, spacing):
    """Per particle: its own weighted volume m_i = sum_j omega |xi|^2 w_ij and S_i = sum_j omega
    |xi| w_ij, with the force kernels' bond weights w_ij (partial volume, V_j, surface correction)."""
    n = volume.shape[0]
    weighted_volume = np.empty(n)
    first_moment = np.empty(n)
    for i in prange(n):
        m = 0.0
        s = 0.0
        for k in range(offsets[i], offsets[i + 1]):
            weight, length = weight_of_bond(i, k, stencil_xi, stencil_length, volume, correction,
                                            corrected, neighbors, bond_slot, horizon, spacing)
            w = omega[bond_slot[k]] * weight
            m += w * length * length
            s += w * length
        weighted_volume[i] = m
        first_moment[i] = s
    return weighted_volume, first_moment


@partial(kernel_cache.attach, key=("model",))
@njit(parallel=True)
def _stiffness(stencil_xi, stencil_length, omega, volume, correction, corrected, offsets,
               neighbors, bond_slot, horizon, spacing, inverse_m, first_moment, dilatation_factor,
               deviatoric_factor, dimension):
    """Per particle (N/m^4): the pairwise part sum_j omega w (q_i + q_j) and the dilatation's
    couplings in absolute value, d (|P_i| S_i^2 / m0 + sum_j omega |xi| w |P_j| S_j / m0)
    (docs/theory.md section 12)."""
    n = volume.shape[0]
    pairwise = np.empty(n)
    coupling = np.empty(n)
    for i in prange(n):
        pair = 0.0
        neighbours = 0.0
        for k in range(offsets[i], offsets[i + 1]):
            j = neighbors[k]
            weight, length = weight_of_bond(i, k, stencil_xi, stencil_length, volume, correction,
                                            corrected, neighbors, bond_slot, horizon, spacing)
            w = omega[bond_slot[k]] * weight
            pair += w * (deviatoric_factor + deviatoric_factor)
            neighbours += w * length * abs(dilatation_factor[j]) * first_moment[j] * inverse_m
        own = abs(dilatation_factor[i]) * first_moment[i] * first_moment[i] * inverse_m
        pairwise[i] = pair
        coupling[i] = dimension * (own + neighbours)
    return pairwise, coupling


def moment_weight(constants_: MaterialConstants, bonds, horizon: float, spacing: float) -> np.ndarray:
    """Per stencil slot, what the energy surface correction's moments weigh a bond with: omega
    |xi|^2 (the deviatoric energy omega e^2 of a uniaxial strain; docs/theory.md sec. 12)."""
    return influence_table(constants_.influence, bonds, horizon, spacing) * bonds.length**2


def reference_moments(constants_: MaterialConstants, bonds, slot_weight: np.ndarray, horizon: float,
                      spacing: float, volume: float, dimension: int, thickness: float) -> np.ndarray:
    """(dim, 1): the whole family's lattice sums of the correction's moments. The LPS's bulk is
    exact on the lattice (the isotropy factor), so an interior particle's factors are 1."""
    return whole_family_moments(bonds, slot_weight, horizon, spacing, volume)[:, None]


def particle_terms(constants_: MaterialConstants, bonds, volume, correction, corrected: bool,
                   offsets, neighbors, bond_slot, horizon: float, spacing: float) -> ParticleTerms:
    """The force state's per-particle factors and the stiffness of every particle (``bonds``: the
    model's Stencil).

    Every particle's dilatation and deviatoric term are normalised by m0, the weighted volume of a
    whole family, not by its own m_i: a particle near a surface then has fewer bonds and holds less
    energy (as PMB's does), which the energy surface correction restores bond by bond, where its
    own m_i would stiffen what bonds it has by m0 / m_i (measured: a plate in tension 2-4 % too
    stiff). The force state is the exact gradient of W_i = kappa/2 theta_i^2 + c_e / (2 m0)
    sum omega (e^d)^2 w with theta_i = (d / m0) sum omega |xi| e w: t_ij = omega (P_i theta_i |xi| +
    q_i e) with q = c_e / m0 and P_i = (c_theta - c_e (1 - m_i / m0) / d) / m0 (docs/theory.md
    section 12; the second term vanishes for a whole family)."""
    dimension = bonds.xi.shape[0]
    omega = influence_table(constants_.influence, bonds, horizon, spacing)
    weighted_volume, first_moment = _family_sums(bonds.xi, bonds.length, omega, volume, correction,
                                                 corrected, offsets, neighbors, bond_slot,
                                                 horizon, spacing)
    beta = slot_partial_volumes(bonds.length, horizon, spacing)
    whole = float(np.sum(omega * bonds.length**2 * beta) * np.max(volume))
    inverse_m = 1.0 / whole
    c_theta, c_e = constants_.dilatation_coefficient, constants_.deviatoric_coefficient
    dilatation_factor = (c_theta - c_e * (1.0 - weighted_volume / whole) / dimension) / whole
    deviatoric_factor = c_e / whole
    pairwise, coupling = _stiffness(bonds.xi, bonds.length, omega, volume, correction, corrected,
                                    offsets, neighbors, bond_slot, horizon, spacing, inverse_m,
                                    first_moment, dilatation_factor, deviatoric_factor, dimension)
    return ParticleTerms(stiffness=pairwise + coupling, coupling_stiffness=coupling,
                         inverse_weighted_volume=inverse_m, dilatation_factor=dilatation_factor,
                         deviatoric_factor=deviatoric_factor, stencil_influence=omega)


def kernel_material(model, arrays, reciprocal_form: bool) -> Lps:
    """The kernels' ``material`` bundle (kernels.arguments.Lps): s0, 1 / m0, q and kappa in the run's
    precision, and the backend's arrays (``arrays``: Backend.arrays, from the array table) of P_i
    and the dilatation pass's two outputs. (The form of the extension is fixed at compilation:
    kernels.lps.bond_extension.)"""
    dtype = model.dtype.type
    return Lps(dtype(model.critical_stretch), dtype(model.inverse_weighted_volume),
               dtype(model.deviatoric_factor), dtype(model.material.bulk_modulus),
               arrays.dilatation_factor, arrays.dilatation, arrays.dilatation_term)


def attributes(constants_: MaterialConstants) -> dict:
    """Output attributes (io/hdf5.py); micromodulus NaN (the LPS has none), as before."""
    return {"material_model": "lps", "micromodulus": constants_.micromodulus,
            "critical_stretch": constants_.critical_stretch,
            "poissons_ratio": constants_.poissons_ratio,
            "bulk_modulus": constants_.bulk_modulus, "shear_modulus": constants_.shear_modulus,
            "influence": constants_.influence}


def summary(constants_: MaterialConstants) -> str:
    """One line for ``pdgeneral check``."""
    return (f"model lps (nu = {constants_.poissons_ratio:.4g}), bulk modulus "
            f"{constants_.bulk_modulus:.6g} Pa, shear modulus {constants_.shear_modulus:.6g} Pa, "
            f"influence {constants_.influence}, critical stretch {constants_.critical_stretch:.6g}")
