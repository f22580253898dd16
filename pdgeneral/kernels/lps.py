"""Loop bodies of the linear peridynamic solid (LPS; materials/lps.py, docs/theory.md section 12),
written once for every backend as kernels/pmb.py's are (same conventions: owner-writes, REAL
literals, bond state one bit per bond, ``bond_at`` for stencil and explicit rows).

A step takes two passes over the bonds instead of PMB's one:

1. ``lps_dilatation``: breaks the bonds stretched past s0 (both ends compute the same
   stretch, so both copies break in the same pass) and sums the dilatation of particle i over its
   intact bonds, theta_i = (dim / m0) sum_j omega_ij |xi| e_ij w_ij (m0: a whole family's
   weighted volume);
2. ``lps_force``: f_i = sum_j (t_ij + t_ji) w_ij (xi + eta) / |xi + eta| over the intact
   bonds, with t_ij = omega_ij (P_i theta_i |xi| + q_i e_ij) (the force state with the deviatoric
   extension e - theta |xi| / dim written out; materials.lps.particle_terms gives every
   particle's P and q: c_theta / m0 and c_e / m0 for a whole family).

The second pass reads the neighbours' dilatations, so it starts when the first has finished on
every particle (the step driver launches them in order). Bonds broken in pass 1 leave the
dilatation of the same step. The extension e = |xi + eta| - |xi| is formed without cancellation as
(2 xi.eta + eta.eta) / (|xi + eta| + |xi|) (``bond_extension``).
"""
from __future__ import annotations

import math

import numpy as np
from numba.extending import register_jitable

from ..physics.pmb import bond_stretch, deformed_length_squared, reciprocal, reciprocal_sqrt
from .pmb import bond_at, bond_range, energy_sums

#: As in kernels/pmb.py: fixed by a backend's build (specialize). SPECIALIZED_FORM 1: the
#: reciprocal form of the extension (explicit float64 runs), 2: the stretch form (float32 and
#: quasi-static runs); here always fixed at compilation (``bond_extension``).
SPECIALIZED_DIMENSION = 0
SPECIALIZED_FORM = 2
REAL = np.float64

#: Influence functions (materials/lps.py INFLUENCE): the code of each.
CONSTANT = 0
INVERSE_LENGTH = 1
GAUSSIAN = 2


def influence(kind: int, length: float, horizon: float) -> float:
    """omega(|xi|) of the influence function ``kind``: 1, delta / |xi| or exp(-|xi|^2 / delta^2)
    (Silling et al. 2007; Seleson and Parks 2011 for the Gaussian). Tabulated per stencil slot by
    the host (float64): the kernels read it from ``stencil.influence``."""
    if kind == CONSTANT:
        return 1.0
    if kind == INVERSE_LENGTH:
        return horizon / length
    return math.exp(-(length / horizon) ** 2)


@register_jitable(inline="always")
def bond_extension(xi_x, xi_y, xi_z, eta_x, eta_y, eta_z, reference_length, break_squared,
                   critical_stretch, dimension):
    """(e, 1 / |xi + eta|, breaks) of one bond: its extension e = |xi + eta| - |xi|, the reciprocal
    of its deformed length and whether its stretch exceeds s0. e is formed without cancellation as
    (2 xi.eta + eta.eta) / (|xi + eta| + |xi|) in both forms (the difference |xi + eta| - |xi| loses
    log10(1 / s) digits, and the dilatation sums it over a family: on the GPU, whose FMA rounds
    differently, the difference form put the velocities 1.7e-10 apart from the CPU's where the
    tolerance is 1e-10: docs/performance.md). The forms differ in the rest (physics/pmb.py):

    - reciprocal (SPECIALIZED_FORM 1, explicit float64 runs): r from one reciprocal square root of
      |xi + eta|^2, |xi + eta| = |xi + eta|^2 r, and the test |xi + eta|^2 > ((1 + s0) |xi|)^2
      (``break_squared``);
    - stretch (float32 and quasi-static runs): physics.pmb.bond_stretch's square root and the
      test numerator > s0 * denominator, as PMB's.
    Either way both ends of a bond compute the same bits."""
    if SPECIALIZED_FORM == 1:
        squared = deformed_length_squared(xi_x, xi_y, xi_z, eta_x, eta_y, eta_z, dimension)
        inverse = reciprocal_sqrt(squared)
        along = xi_x * eta_x + xi_y * eta_y
        eta_squared = eta_x * eta_x + eta_y * eta_y
        if dimension == 3:
            along += xi_z * eta_z
            eta_squared += eta_z * eta_z
        numerator = REAL(2.0) * along + eta_squared
        extension = numerator * reciprocal(squared * inverse + reference_length)
        return extension, inverse, squared > break_squared
    numerator, denominator, deformed_length = bond_stretch(xi_x, xi_y, xi_z, eta_x, eta_y, eta_z,
                                                           reference_length, dimension)
    extension = numerator * reciprocal(deformed_length + reference_length)
    return (extension, reciprocal(deformed_length),
            numerator > critical_stretch * denominator)


@register_jitable(inline="always")
def lps_dilatation(i, displacement, no_fail, bonds, stencil, material, force):
    """Pass 1 of the LPS step: break particle i's bonds past the critical stretch (never where
    either end has no_fail), then dilatation[i] = theta_i = (dim / m0) sum_j omega |xi| e w_ij
    over the bonds still intact (Silling et al. 2007, eq. 89; Le et al. 2014 in 2D), and
    dilatation_term[i] = P_i theta_i, what the force pass reads of it (``material``:
    kernels.arguments.Lps; its ``inverse_weighted_volume`` is 1 / m0, one number:
    materials.lps.particle_terms). The arguments are every force pass's; ``force`` is not read."""
    dim = displacement.shape[0] if SPECIALIZED_DIMENSION == 0 else SPECIALIZED_DIMENSION
    ux_i = displacement[0, i]
    uy_i = displacement[1, i]
    uz_i = displacement[2, i] if dim == 3 else REAL(0.0)
    intact = bonds.intact
    row, first, count = bond_range(i, bonds, stencil)
    total = REAL(0.0)
    word = 0
    changed = False
    for n in range(count):
        bit = n & 31
        if bit == 0:
            word = intact[n >> 5, i]
            changed = False
        if (word >> bit) & 1:
            j, slot, weight = bond_at(i, n, row, first, bonds, stencil)
            eta_x = displacement[0, j] - ux_i
            eta_y = displacement[1, j] - uy_i
            if dim == 3:
                xi_z = stencil.xi[2, slot]
                eta_z = displacement[2, j] - uz_i
            else:
                xi_z = REAL(0.0)
                eta_z = REAL(0.0)
            length = stencil.length[slot]
            extension, _, breaks = bond_extension(
                stencil.xi[0, slot], stencil.xi[1, slot], xi_z, eta_x, eta_y, eta_z, length,
                stencil.break_squared[slot], material.critical_stretch, dim)
            if breaks and no_fail[i] == 0 and no_fail[j] == 0:
                word = word ^ (1 << bit)   # clear the (set) bit
                changed = True
            else:
                # omega |xi| w first: a stencil particle's is one constant per slot, which the
                # unrolled loop's compiler folds (one multiply-add a bond)
                total += stencil.influence[slot] * length * weight * extension
        if changed and (bit == 31 or n == count - 1):
            intact[n >> 5, i] = word
    theta = REAL(dim) * material.inverse_weighted_volume * total
    material.dilatation[i] = theta
    material.dilatation_term[i] = material.dilatation_factor[i] * theta


@register_jitable(inline="always")
def lps_force(i, displacement, no_fail, bonds, stencil, material, force):
    """Pass 2 of the LPS step: the internal force density (N/m^3) on particle i,

        f_i = sum_j (t_ij + t_ji) w_ij (xi + eta) / |xi + eta|,
        t_ij + t_ji = omega_ij [ |xi| (P_i theta_i + P_j theta_j) + e_ij (q_i + q_j) ],

    with P theta from the dilatation pass (``dilatation_term``) and q = c_e / m0 one number
    (``deviatoric_factor``; materials.lps.particle_terms: for a whole family P = c_theta / m0,
    c_theta = 3K - 5G, c_e = 15G in 3D, 2 kappa - 4G and 8G in 2D). Breaks no bond (pass 1 did)."""
    dim = displacement.shape[0] if SPECIALIZED_DIMENSION == 0 else SPECIALIZED_DIMENSION
    ux_i = displacement[0, i]
    uy_i = displacement[1, i]
    uz_i = displacement[2, i] if dim == 3 else REAL(0.0)
    dilatation_term = material.dilatation_term
    p_i = dilatation_term[i]
    q = material.deviatoric_factor + material.deviatoric_factor   # q_i + q_j
    fx = REAL(0.0)
    fy = REAL(0.0)
    fz = REAL(0.0)
    intact = bonds.intact
    row, first, count = bond_range(i, bonds, stencil)
    word = 0
    for n in range(count):
        bit = n & 31
        if bit == 0:
            word = intact[n >> 5, i]
        if (word >> bit) & 1:
            j, slot, weight = bond_at(i, n, row, first, bonds, stencil)
            xi_x = stencil.xi[0, slot]
            xi_y = stencil.xi[1, slot]
            eta_x = displacement[0, j] - ux_i
            eta_y = displacement[1, j] - uy_i
            if dim == 3:
                xi_z = stencil.xi[2, slot]
                eta_z = displacement[2, j] - uz_i
            else:
                xi_z = REAL(0.0)
                eta_z = REAL(0.0)
            length = stencil.length[slot]
            extension, inverse_length, _ = bond_extension(xi_x, xi_y, xi_z, eta_x, eta_y, eta_z,
                                                          length, REAL(0.0), REAL(0.0), dim)
            p = p_i + dilatation_term[j]
            scale = stencil.influence[slot] * weight * (length * p + extension * q) * inverse_length
            fx += scale * (xi_x + eta_x)
            fy += scale * (xi_y + eta_y)
            fz += scale * (xi_z + eta_z)
    force[0, i] = fx
    force[1, i] = fy
    if dim == 3:
        force[2, i] = fz


@register_jitable(inline="always")
def lps_energy(i, displacement, velocity, volume, density, constrained, bonds, stencil, material,
               load_forces, energy_density, sums):
    """Particle i's share of a history row (kernels.pmb.energy_sums) for the LPS:

        W_i = kappa / 2 theta_i^2 + q_i / 2 sum_j omega (e_ij - theta_i |xi| / dim)^2 w_ij

    (Silling et al. 2007, eq. 90, normalised by the whole family's m0: materials.lps.particle_terms;
    kappa the bulk modulus of the dimension, K in 3D), its dilatation computed here from the intact
    bonds (the same sum as ``lps_dilatation``), and the energy the intact bonds would hold at the
    critical stretch, q_i / 2 s0^2 sum_j omega |xi|^2 w_ij: the deviatoric (pairwise) part of W
    with every bond at e = s0 |xi|, which is PMB's 1/4 c s0^2 sum_j |xi| w_ij where the LPS is PMB
    (docs/theory.md section 12)."""
    dim = displacement.shape[0] if SPECIALIZED_DIMENSION == 0 else SPECIALIZED_DIMENSION
    ux_i = displacement[0, i]
    uy_i = displacement[1, i]
    uz_i = displacement[2, i] if dim == 3 else REAL(0.0)
    intact = bonds.intact
    row, first, count = bond_range(i, bonds, stencil)
    inverse_m = material.inverse_weighted_volume
    # two sweeps over the bonds: the dilatation, then the deviatoric sum that needs it
    theta = REAL(0.0)
    deviatoric = REAL(0.0)
    held = REAL(0.0)
    intact_bonds = 0
    for sweep in range(2):
        word = 0
        for n in range(count):
            bit = n & 31
            if bit == 0:
                word = intact[n >> 5, i]
            if (word >> bit) & 1:
                j, slot, weight = bond_at(i, n, row, first, bonds, stencil)
                eta_x = displacement[0, j] - ux_i
                eta_y = displacement[1, j] - uy_i
                if dim == 3:
                    xi_z = stencil.xi[2, slot]
                    eta_z = displacement[2, j] - uz_i
                else:
                    xi_z = REAL(0.0)
                    eta_z = REAL(0.0)
                length = stencil.length[slot]
                numerator, _, deformed_length = bond_stretch(
                    stencil.xi[0, slot], stencil.xi[1, slot], xi_z, eta_x, eta_y, eta_z, length,
                    dim)   # the stretch form in every build: an energy is a sum of squares
                extension = numerator * reciprocal(deformed_length + length)
                omega_w = stencil.influence[slot] * weight
                if sweep == 0:
                    theta += omega_w * length * extension
                else:
                    deviation = extension - theta * length / REAL(dim)
                    deviatoric += omega_w * deviation * deviation
                    held += omega_w * length * length
                    intact_bonds += 1
        if sweep == 0:
            theta = REAL(dim) * inverse_m * theta
    half_deviatoric = REAL(0.5) * material.deviatoric_factor
    energy = REAL(0.5) * material.bulk_modulus * theta * theta + half_deviatoric * deviatoric
    critical = np.float64(material.critical_stretch)
    critical_energy = np.float64(half_deviatoric) * critical * critical * np.float64(held)
    energy_sums(i, energy, critical_energy, REAL(intact_bonds), displacement, velocity, volume,
                density, constrained, load_forces, energy_density, sums)


#: The LPS bodies a backend compiles after kernels.pmb.BODIES (which they call).
BODIES = (bond_extension, lps_dilatation, lps_force, lps_energy)
