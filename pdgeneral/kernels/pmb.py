"""Loop bodies of one PMB time step, written once for every backend.

Each body updates particle ``i`` (or constraint entry ``m``) and writes only that particle's data, so
the loops around them need no atomics and give the same bits whatever the thread count or order.
Arrays are structure-of-arrays: vectors are (dim, N), per-bond arrays are CSR rows (``offsets``).

Bond state is one bit per bond (intact or not), 32 bonds to a word, owned by the particle; no_fail is
a per-particle flag. A bond is stored from both ends; both compute the identical stretch (xi is the
exact lattice vector of the bond's stencil slot, -xi at the other end, and the formula is
odd-symmetric in xi and eta), so both copies break in the same step.

A particle's bonds come either from the lattice stencil (interior particles: neighbour i + offset[n],
the interior weights) or from its explicit row (pdgeneral.stencil); ``bond_at`` hides which.

Every floating-point literal is written ``REAL(...)``: to numba a bare Python float is float64, and
one float64 operand promotes the whole expression, so that a float32 run would compute in float64.
A backend compiles the bodies with REAL set to the run's type (``specialize``), which makes a float32
build compute in float32 throughout (docs/theory.md, "Precision"). Time and the load ramps stay
float64 (``ramp``, ``constrain``, ``external_force``): t = n dt outgrows float32's resolution.
"""
from __future__ import annotations

import math

import numpy as np
from numba.extending import register_jitable

from ..physics import pmb as physics
from ..physics.pmb import (
    bond_stretch,
    deformed_length_squared,
    partial_volume_factor,
    reciprocal,
    reciprocal_sqrt,
    surface_factor,
)

#: 0: take the dimension from the arrays. A backend may compile the bodies with this global set to 2
#: or 3 (the CUDA backend does), so that the compiler drops the other dimension's code.
SPECIALIZED_DIMENSION = 0
#: 0: the bond force's evaluation from the ``reciprocal_form`` argument; 1 (reciprocal form) or 2
#: (stretch form): fixed at compilation, so that the compiler drops the other (the CUDA backend).
SPECIALIZED_FORM = 0
#: The floating-point type of the arithmetic: np.float64, or np.float32 in a float32 build
#: (``specialize``). Literals are REAL(x) and scalar arguments arrive in it.
REAL = np.float64
#: Whether bond_force computes every bond's factor and then zeroes a broken bond's (a select; the
#: GPU build sets it, measured with it) or computes it for intact bonds only (a branch: the CPU's
#: serial force loop took 47 ms on a 250k plate, against 90 ms with the select).
SELECT_FACTOR = False
#: Whether the force loop also sums, per particle, what a history row needs of its intact bonds
#: (``bond_force``'s third value, |xi| w and their number) and returns the sums: the GPU compiles
#: a second force kernel with it set, launched on the steps that end with a history row
#: (backends/cuda.py); every other build leaves it False and ignores the zeros returned.
RECORD_ENERGY = False

# Constraint kinds (the ``kind`` column of the constraint table).
PRESCRIBED_VELOCITY = 0
PRESCRIBED_DISPLACEMENT = 1

# Phases of constraint application.
AFTER_DRIFT = 0      # explicit: after u_{n+1} = u_n + dt v_{n+1/2}
AFTER_KICK = 1       # explicit: after v_{n+1} = v_{n+1/2} + dt/2 a_{n+1}
QUASI_STATIC = 2     # relaxation: u = value * load factor, v = 0
INITIAL = 3          # t = 0: prescribed u and v before the first step


@register_jitable(inline="always")
def bond_correction(i, j, reference_length, xi_x, xi_y, xi_z, correction, corrected):
    """Surface-correction factor G_ij of the bond i -> j from the per-particle factors g_d in
    ``correction`` (dim, N); 1 without the correction."""
    if not corrected:
        return 1.0
    dim = correction.shape[0] if SPECIALIZED_DIMENSION == 0 else SPECIALIZED_DIMENSION
    gz_i = correction[2, i] if dim == 3 else 1.0
    gz_j = correction[2, j] if dim == 3 else 1.0
    return surface_factor(xi_x / reference_length, xi_y / reference_length, xi_z / reference_length,
                          correction[0, i], correction[1, i], gz_i,
                          correction[0, j], correction[1, j], gz_j)


@register_jitable(inline="always")
def bond_weight(j, reference_length, volume, factor, horizon, spacing):
    """(beta_ij V_j G_ij, beta_ij V_j): the bond's share of the force sum and of the damage volume,
    G_ij = ``factor`` from ``bond_correction``."""
    partial = partial_volume_factor(reference_length, horizon, spacing) * volume[j]
    return partial * factor, partial


@register_jitable(inline="always")
def bond_range(i, bonds, stencil):
    """(row, first, count) of particle i's bonds for ``bond_at``: its explicit row (-1 for a
    stencil particle), where that row starts and how many bonds it has (the stencil's size for a
    stencil particle)."""
    row = bonds.row[i]
    if row < 0:
        return row, 0, stencil.offset.shape[0]
    return row, bonds.first[row], bonds.count[row]


@register_jitable(inline="always")
def bond_at(i, n, row, first, bonds, stencil):
    """(j, slot, w_ij) of bond n of particle i. A stencil particle (``row`` < 0) reads them from the
    stencil (j = i + offset[n], slot n, the interior weight); the others from their explicit row,
    where bond n is at ``first + n * bond_stride`` (CSR rows on the CPU, bond-major padded columns
    on the GPU). Either way the same numbers (pdgeneral.stencil). ``bonds``, ``stencil``: the
    bundles of kernels/arguments.py."""
    if row < 0:
        return i + stencil.offset[n], n, stencil.weight[n]
    k = first + n * bonds.stride
    return bonds.neighbors[k], bonds.slot[k], bonds.weight[k]


@register_jitable(inline="always")
def bond_force(i, j, xi_x, xi_y, xi_z, reference_length, inverse_length, break_squared, weight,
               eta_x, eta_y, eta_z, bond_intact, no_fail, micromodulus, critical_stretch,
               reciprocal_form, dimension):
    """(force factor, intact, stretch) of the bond i -> j: its force on i is factor * (xi + eta).

    factor = c * w_ij * s / |xi + eta| (PMB, Silling and Askari 2005, eq. 10 with the bond weight
    w_ij), 0 for a broken bond; an intact bond (``bond_intact`` 1) breaks when s > s0, never when
    either end has ``no_fail`` set. Two evaluations of this law (physics/pmb.py):

    - ``reciprocal_form`` (explicit float64 runs): factor = c w (1 / |xi| - 1 / |xi + eta|), with
      1 / |xi| = ``inverse_length`` from the stencil table, and s > s0 tested as |xi + eta|^2 >
      ``break_squared`` = ((1 + s0) |xi|)^2: one reciprocal square root and no division per bond;
    - otherwise (float32 and quasi-static runs): factor = c w numerator / (denominator |xi + eta|)
      and numerator > s0 * denominator from ``bond_stretch``, without the cancellation of the
      difference above.

    Either way both ends of a bond compute the same bits, so both copies break in the same step.
    Every force loop (the general one below and the unrolled stencil of kernels/unrolled.py) calls
    this, so the law is written once.

    The third value, for a history row (RECORD_ENERGY): c w s^2 |xi|, four times the bond's share
    of particle i's strain energy density (``recorded_energy``), 0 for a broken bond, from the
    force's own intermediate values: the factor times |y|^2 - |y| |xi| (reciprocal form, with
    |y| = |y|^2 times the force's reciprocal square root and ``reference_length`` = |xi|: three
    operations a bond, where forming s first took about four times as many on an H200; in
    float64 the difference costs about 1e-16 / s of it, 1e-13 at the strains of fracture), or times
    |y| s |xi| (stretch form, s = numerator / denominator without cancellation). A loop that does
    not use it leaves it to the compiler to drop."""
    # Every name is set on both paths (numba's inliner needs it); each form uses its own.
    if reciprocal_form:
        squared = deformed_length_squared(xi_x, xi_y, xi_z, eta_x, eta_y, eta_z, dimension)
        numerator = denominator = deformed_length = squared
        breaks = squared > break_squared
        root = reciprocal_sqrt(squared)
    else:
        numerator, denominator, deformed_length = bond_stretch(
            xi_x, xi_y, xi_z, eta_x, eta_y, eta_z, reference_length, dimension)
        squared = root = numerator
        breaks = numerator > critical_stretch * denominator
    if bond_intact and breaks and no_fail[i] == 0 and no_fail[j] == 0:
        bond_intact = 0
    scale = REAL(0.0)
    if bond_intact or SELECT_FACTOR:
        if reciprocal_form:
            scale = micromodulus * weight * (inverse_length - root)
        else:
            scale = micromodulus * weight * numerator * reciprocal(denominator * deformed_length)
        if not bond_intact:
            scale = REAL(0.0)
    if reciprocal_form:   # scale = c w s / |y|, so c w s^2 |xi| = scale |y| (|y| - |xi|)
        energy = scale * (squared - squared * root * reference_length)
    else:
        energy = scale * deformed_length * (numerator * reciprocal(denominator)) * reference_length
    return scale, bond_intact, energy


@register_jitable(inline="always")
def bond_energy(stretch, reference_length):
    """(s^2 |xi|, |xi|) of an intact bond of stretch s (``bond_force``'s) and length |xi| (the
    stencil table's), its share of the strain energy density up to the factor c w / 4
    (``particle_energy``)."""
    return stretch * stretch * reference_length, reference_length


@register_jitable(inline="always")
def population_count(word):
    """The number of bits set in a bond-state word (uint32): the parallel bit count (Warren,
    Hacker's Delight, 2nd ed., sec. 5-1), in uint64 so that numba keeps every operation unsigned.
    The GPU build replaces it with the hardware's (cuda.popc)."""
    x = np.uint64(word)
    x = x - ((x >> np.uint64(1)) & np.uint64(0x55555555))
    x = (x & np.uint64(0x33333333)) + ((x >> np.uint64(2)) & np.uint64(0x33333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F)
    return np.int64(((x * np.uint64(0x01010101)) & np.uint64(0xFFFFFFFF)) >> np.uint64(24))


@register_jitable(inline="always")
def particle_force(i, displacement, no_fail, bonds, stencil, material, force):
    """Internal force density (N/m^3) on particle i, and breaking of its bonds.

    f_i = sum_j c * w_ij * s_ij * (xi + eta) / |xi + eta| over intact bonds, with the bond weight
    w_ij = beta_ij V_j G_ij (partial volume, neighbour volume, surface correction) computed once per
    run (Model.bond_weights), and xi, |xi| the exact lattice vector of the bond's stencil slot. A
    stencil particle reads no per-bond data; an explicit row costs 4 + 2 + one real bytes per bond.

    Bond n's state is bit n % 32 of ``bonds.intact[n // 32, i]`` (1 = intact). Each bond's force
    and breaking is ``bond_force``, in the form ``material.reciprocal_form`` picks, with the
    per-slot tables 1 / |xi| and ((1 + s0) |xi|)^2 (``stencil.inverse_length``,
    ``stencil.break_squared``). ``material``: kernels.arguments.Pmb.
    """
    dim = displacement.shape[0] if SPECIALIZED_DIMENSION == 0 else SPECIALIZED_DIMENSION
    form = material.reciprocal_form if SPECIALIZED_FORM == 0 else SPECIALIZED_FORM == 1
    intact = bonds.intact
    ux_i = displacement[0, i]
    uy_i = displacement[1, i]
    uz_i = displacement[2, i] if dim == 3 else REAL(0.0)
    fx = REAL(0.0)
    fy = REAL(0.0)
    fz = REAL(0.0)
    row, first, count = bond_range(i, bonds, stencil)
    word = 0
    changed = False
    stretched = REAL(0.0)   # RECORD_ENERGY only: sum c w s^2 |xi|, sum |xi| w, intact bonds
    held = REAL(0.0)
    intact_bonds = 0
    for n in range(count):
        bit = n & 31
        if bit == 0:
            word = intact[n >> 5, i]
            changed = False
        # Every bond's loads are issued whether or not it is intact (a broken bond's force is
        # dropped in bond_force): the GPU then overlaps the gathers of successive bonds (1.22x
        # faster on an H200, same bits; benchmarks/gpu_force_variants.py).
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
        bond_intact = (word >> bit) & 1
        scale, still_intact, energy = bond_force(i, j, xi_x, xi_y, xi_z, stencil.length[slot],
                                         stencil.inverse_length[slot], stencil.break_squared[slot],
                                         weight, eta_x, eta_y, eta_z, bond_intact, no_fail,
                                         material.micromodulus, material.critical_stretch, form, dim)
        if still_intact != bond_intact:
            word = word ^ (1 << bit)  # clear the (set) bit; no negative mask for uint32
            changed = True
        if RECORD_ENERGY and still_intact:
            stretched += energy
            held += stencil.length[slot] * weight
            intact_bonds += 1
        fx += scale * (xi_x + eta_x)
        fy += scale * (xi_y + eta_y)
        fz += scale * (xi_z + eta_z)
        if changed and (bit == 31 or n == count - 1):
            intact[n >> 5, i] = word
    force[0, i] = fx
    force[1, i] = fy
    if dim == 3:
        force[2, i] = fz
    # RECORD_ENERGY's sums (``recorded_energy``), returned rather than stored: the history row's
    # kernel takes them from registers (storing them cost 96 MB of writes at 4M particles). A
    # loop without RECORD_ENERGY ignores these zeros and the compiler drops them.
    return stretched, held, REAL(intact_bonds)


@register_jitable(inline="always")
def particle_damage(i, volume, horizon, spacing, bonds, stencil, initial_bond_volume, damage):
    """Damage of particle i: 1 - sum_intact beta_ij V_j / sum_all beta_ij V_j (Silling and Askari
    2005, eq. 21, with partial volumes). Only snapshots need it, so the step does not compute it."""
    intact = bonds.intact
    intact_volume = REAL(0.0)
    row, first, count = bond_range(i, bonds, stencil)
    word = 0
    for n in range(count):
        bit = n & 31
        if bit == 0:
            word = intact[n >> 5, i]
        if (word >> bit) & 1:
            j, slot, _ = bond_at(i, n, row, first, bonds, stencil)
            intact_volume += partial_volume_factor(stencil.length[slot], horizon, spacing) * volume[j]
    damage[i] = REAL(1.0) - intact_volume / initial_bond_volume[i]


@register_jitable(inline="always")
def particle_energy(i, displacement, velocity, volume, density, constrained, bonds, stencil,
                    material, load_forces, energy_density, sums):
    """Particle i's share of a history row (io/history.py; docs/theory.md, "Histories"): the sums
    of its intact bonds (``bond_energy``, the stretch form), then ``energy_sums``. The GPU gets the
    same sums from its force loop instead, on the steps that end with a history row
    (RECORD_ENERGY)."""
    dim = displacement.shape[0] if SPECIALIZED_DIMENSION == 0 else SPECIALIZED_DIMENSION
    ux_i = displacement[0, i]
    uy_i = displacement[1, i]
    uz_i = displacement[2, i] if dim == 3 else REAL(0.0)
    stretched = REAL(0.0)   # sum s^2 |xi| w
    held = REAL(0.0)        # sum |xi| w
    intact_bonds = 0
    intact = bonds.intact
    row, first, count = bond_range(i, bonds, stencil)
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
            xi_x = stencil.xi[0, slot]
            xi_y = stencil.xi[1, slot]
            # the stretch form: no cancellation, in float32 too
            numerator, denominator, _ = bond_stretch(xi_x, xi_y, xi_z, eta_x, eta_y, eta_z,
                                                     stencil.length[slot], dim)
            squared_length, length = bond_energy(numerator * reciprocal(denominator),
                                                 stencil.length[slot])
            stretched += squared_length * weight
            held += length * weight
            intact_bonds += 1
    energy_sums(i, REAL(0.25) * material.micromodulus * stretched,
                critical_energy_density(material.micromodulus, material.critical_stretch, held),
                REAL(intact_bonds),
                displacement, velocity, volume, density, constrained, load_forces, energy_density,
                sums)


@register_jitable(inline="always")
def recorded_energy(sums, material):
    """(W_i, the energy density its intact bonds would hold at the critical stretch, its intact
    bonds) from what a RECORD_ENERGY force pass returns of particle i's bonds (``particle_force``:
    the sum of c w s^2 |xi|, of |xi| w and the number of intact bonds): what ``particle_energy``
    passes to ``energy_sums``, from the force loop instead of a second pass over the bonds (the
    GPU's history steps; materials/: RECORDED_ENERGY)."""
    stretched, held, intact_bonds = sums
    return (REAL(0.25) * stretched,
            critical_energy_density(material.micromodulus, material.critical_stretch, held),
            intact_bonds)


@register_jitable(inline="always")
def critical_energy_density(micromodulus, critical_stretch, held):
    """The energy (J/m^3, float64) particle i's intact bonds would hold at the critical stretch,
    1/4 c s0^2 sum_j |xi| w_ij from ``held`` = sum_j |xi| w_ij (``energy_term`` 2)."""
    critical = np.float64(critical_stretch)
    return 0.25 * np.float64(micromodulus) * critical * critical * np.float64(held)


@register_jitable(inline="always")
def energy_sums(i, strain_energy_density, critical_energy_density, intact_bonds, displacement,
                velocity, volume, density, constrained, load_forces, energy_density, sums):
    """From particle i's strain energy density W_i (J/m^3, the material's: PMB's is 1/4 c sum_j
    s_ij^2 |xi_ij| w_ij, half of each bond's micropotential c s^2 |xi| / 2, Silling and Askari 2005,
    eq. 13, the other half belonging to j; so that sum_i V_i W_i is the strain energy whose gradient
    is the force), the energy its intact bonds would hold at the critical stretch and its number of
    intact bonds: energy_density[i] = W_i and sums[k, i] = ``energy_term`` k."""
    energy_density[i] = strain_energy_density
    for k in range(sums.shape[0]):
        sums[k, i] = energy_term(k, i, strain_energy_density, critical_energy_density,
                                 intact_bonds, displacement, velocity, volume, density,
                                 constrained, load_forces)


@register_jitable(inline="always")
def energy_term(k, i, strain_energy_density, critical_energy_density, intact_bonds, displacement,
                velocity, volume, density, constrained, load_forces):
    """Particle i's share of a history row's sum k, in float64 (sums over millions of particles):
    0: 1/2 rho V_i |v_i|^2 over the free components (a prescribed component's kinetic energy is its
    constraint entry's, ``entry_terms``, taken after the step's last constraint; io/history.py adds
    the two); 1: V_i W_i (``energy_sums``); 2: V_i times the energy the intact bonds
    would hold at the critical stretch (``critical_energy_density``; the material's); 3: the number
    of intact bonds; 4 + g: V_i sum_d B_gd u_d over the free components, with B_g load group g's
    body-force density (the work of a load is the integral of its ramp over this sum)."""
    dim = displacement.shape[0] if SPECIALIZED_DIMENSION == 0 else SPECIALIZED_DIMENSION
    vol = np.float64(volume[i])
    if k == 0:
        speed_squared = 0.0
        for d in range(dim):
            if not (constrained[i] >> d) & 1:
                v = np.float64(velocity[d, i])
                speed_squared += v * v
        return 0.5 * np.float64(density) * vol * speed_squared
    if k == 1:
        return vol * np.float64(strain_energy_density)
    if k == 2:
        return critical_energy_density * vol
    if k == 3:
        return np.float64(intact_bonds)
    work = 0.0
    for d in range(dim):
        if not (constrained[i] >> d) & 1:
            work += np.float64(load_forces[k - 4, d, i]) * np.float64(displacement[d, i])
    return vol * work


@register_jitable(inline="always")
def entry_terms(m, particle, component, row, column, rate, volume, density, force, displacement,
                velocity, work, terms):
    """History entry m (a particle and a component) writes its terms into column ``column[m]`` of
    two rows of ``terms`` (float64), which are then summed on the device (io/history.py):

    - a region's entry (``rate[m]`` NaN): the reaction -V_i f_d,i (a grip's load cell reads the
      sum over the grip) into row ``row[m]``, the displacement u_d,i into the next row;
    - a constraint entry: the power of the prescribed motion, -V_i f_d,i times ``rate[m]`` (its
      prescribed displacement per unit load factor) or, where ``rate[m]`` is infinite (explicit
      runs), times v_d,i, into row ``row[m]``; its kinetic energy 1/2 rho V_i v_d,i^2 into the next;
      its work sum ``work[column[m]]`` (``constrain``) into the one after.
    """
    i = particle[m]
    d = component[m]
    vol = np.float64(volume[i])
    reaction = -vol * np.float64(force[d, i])
    r = row[m]
    c = column[m]
    if math.isnan(rate[m]):
        terms[r, c] = reaction
        terms[r + 1, c] = np.float64(displacement[d, i])
    else:
        v = np.float64(velocity[d, i])
        terms[r, c] = reaction * (v if math.isinf(rate[m]) else rate[m])
        terms[r + 1, c] = 0.5 * np.float64(density) * vol * v * v
        terms[r + 2, c] = work[c]


@register_jitable(inline="always")
def unphysical(i, speed_limit, displacement, velocity):
    """True when particle i's displacement or velocity is not finite, or its speed exceeds
    ``speed_limit`` (m/s): the run's instability check (solvers/explicit.py says why)."""
    dim = displacement.shape[0] if SPECIALIZED_DIMENSION == 0 else SPECIALIZED_DIMENSION
    speed_squared = REAL(0.0)
    for d in range(dim):
        if not (math.isfinite(displacement[d, i]) and math.isfinite(velocity[d, i])):
            return True
        speed_squared += velocity[d, i] * velocity[d, i]
    return speed_squared > speed_limit * speed_limit


@register_jitable(inline="always")
def ramp(time, ramp_time):
    """Load factor of a linear ramp from 0 at t = 0 to 1 at t = ramp_time (1 throughout if 0)."""
    if ramp_time <= 0.0 or time >= ramp_time:
        return 1.0
    return time / ramp_time


@register_jitable(inline="always")
def ramp_rate(time, ramp_time):
    """Time derivative of ``ramp``."""
    if ramp_time <= 0.0 or time >= ramp_time:
        return 0.0
    return 1.0 / ramp_time


@register_jitable(inline="always")
def external_force(i, time, load_ramps, load_forces, body_force):
    """Body-force density of particle i at ``time``: sum over load groups of ramp * group force.
    The ramp is evaluated in float64 (time) and rounded once to the run's type."""
    for d in range(body_force.shape[0]):
        b = REAL(0.0)
        for g in range(load_ramps.shape[0]):
            b += REAL(ramp(time, load_ramps[g])) * load_forces[g, d, i]
        body_force[d, i] = b


@register_jitable(inline="always")
def kick_drift(i, dt, density, constrained, displacement, velocity, force, body_force):
    """Velocity Verlet, first half: v += dt/2 a_n; u += dt v (free components only)."""
    dim = displacement.shape[0] if SPECIALIZED_DIMENSION == 0 else SPECIALIZED_DIMENSION
    for d in range(dim):
        if (constrained[i] >> d) & 1:
            continue
        v = velocity[d, i] + REAL(0.5) * dt * (force[d, i] + body_force[d, i]) / density
        velocity[d, i] = v
        displacement[d, i] += dt * v


@register_jitable(inline="always")
def kick(i, dt, density, constrained, velocity, force, body_force):
    """Velocity Verlet, second half: v += dt/2 a_{n+1} (free components only)."""
    dim = velocity.shape[0] if SPECIALIZED_DIMENSION == 0 else SPECIALIZED_DIMENSION
    for d in range(dim):
        if (constrained[i] >> d) & 1:
            continue
        velocity[d, i] += REAL(0.5) * dt * (force[d, i] + body_force[d, i]) / density


@register_jitable(inline="always")
def kick_kick_drift_to(i, dt, density, constrained, displacement, velocity, force, body_force,
                       next_displacement):
    """``kick`` of one step then ``kick_drift`` of the next, fused: both use the same force, and the
    constraints applied between them (AFTER_KICK) touch only constrained components, which these skip
    and the next AFTER_DRIFT overwrites. The same operations in the same order as the two loops (the
    same bits), in one pass over the arrays instead of two.

    The new displacement goes to ``next_displacement``, which may be ``displacement`` itself; a
    constrained component is copied there unchanged (the next AFTER_DRIFT starts from it). A
    separate array lets the GPU fuse this pass into the force kernel (backends/cuda.py): the other
    threads still read the old displacement."""
    dim = displacement.shape[0] if SPECIALIZED_DIMENSION == 0 else SPECIALIZED_DIMENSION
    for d in range(dim):
        u = displacement[d, i]
        if (constrained[i] >> d) & 1:
            next_displacement[d, i] = u
            continue
        # Through the array, as the two loops do: in float32 the kicked velocity is rounded there.
        velocity[d, i] += REAL(0.5) * dt * (force[d, i] + body_force[d, i]) / density
        v = velocity[d, i] + REAL(0.5) * dt * (force[d, i] + body_force[d, i]) / density
        velocity[d, i] = v
        next_displacement[d, i] = u + dt * v


@register_jitable(inline="always")
def kick_drift_to(i, dt, density, constrained, displacement, velocity, force, body_force,
                  next_displacement):
    """``kick_drift`` with the new displacement written to ``next_displacement`` (a constrained
    component copied there unchanged): the second half of ``kick_kick_drift_to``, the same
    operations, for a kernel that reads the velocity between the two kicks (the GPU's step before
    a history row, backends/cuda.py)."""
    dim = displacement.shape[0] if SPECIALIZED_DIMENSION == 0 else SPECIALIZED_DIMENSION
    for d in range(dim):
        u = displacement[d, i]
        if (constrained[i] >> d) & 1:
            next_displacement[d, i] = u
            continue
        v = velocity[d, i] + REAL(0.5) * dt * (force[d, i] + body_force[d, i]) / density
        velocity[d, i] = v
        next_displacement[d, i] = u + dt * v


@register_jitable(inline="always")
def kick_kick_drift(i, dt, density, constrained, displacement, velocity, force, body_force):
    """``kick_kick_drift_to`` in place."""
    kick_kick_drift_to(i, dt, density, constrained, displacement, velocity, force, body_force,
                       displacement)


@register_jitable(inline="always")
def constrain(m, time, dt, phase, particle, component, kind, value, ramp_time, displacement, velocity,
              volume, force, work):
    """Apply constraint entry m at ``time`` (t_{n+1} in explicit phases, the load factor in
    quasi-static ones). Prescribed velocity: v(t_{n+1/2}) drives the drift, v(t_{n+1}) ends the step.
    Prescribed displacement: u = value * ramp(t), v = value * ramp'(t). Time, dt and the ramps are
    float64 here (in a float32 run too: t = n dt outgrows float32's resolution), for a few entries
    per step; the results are rounded to the run's type where they are stored.

    The step's AFTER_DRIFT also adds dt R_n v_n to ``work[m]`` (float64): the entry's reaction
    R_n = -V f_n (``force`` still holds step n's) times its prescribed velocity at t_n, the
    rectangle sum that io/history.py turns into the trapezoid rule of the work the prescribed
    motion has done (docs/theory.md, "Histories")."""
    i = particle[m]
    d = component[m]
    if phase == AFTER_DRIFT:
        before = time - dt
        if kind[m] == PRESCRIBED_VELOCITY:
            rate = value[m] * ramp(before, ramp_time[m])
        else:
            rate = value[m] * ramp_rate(before, ramp_time[m])
        work[m] += dt * (-np.float64(volume[i]) * np.float64(force[d, i])) * rate
    if phase == QUASI_STATIC:
        displacement[d, i] = value[m] * ramp(time, ramp_time[m])
        velocity[d, i] = 0.0
    elif kind[m] == PRESCRIBED_VELOCITY:
        if phase == AFTER_DRIFT:
            v = value[m] * ramp(time - 0.5 * dt, ramp_time[m])
            velocity[d, i] = v
            displacement[d, i] += dt * v
        else:
            velocity[d, i] = value[m] * ramp(time, ramp_time[m])
    else:
        if phase != AFTER_KICK:
            displacement[d, i] = value[m] * ramp(time, ramp_time[m])
        velocity[d, i] = value[m] * ramp_rate(time, ramp_time[m])


@register_jitable(inline="always")
def relaxation_residual(i, load_factor, dt, constrained, volume, force, body_force,
                        fictitious_density, velocity, displacement, old_residual, residual, sums):
    """Adaptive dynamic relaxation (Kilic and Madenci 2010): residual force density of particle i and
    its share of the damping estimate.

    r = f_int + load_factor * b on free components. The damping comes from the Rayleigh quotient
    of the last increment dt v_{n-1/2} (docs/theory.md, section 7): K dt v = -(r_n - r_{n-1}), so
    sums[0, i] = -v . (r_n - r_{n-1}) = dt v^T K v and sums[1, i] = dt v^T Lambda v, both over
    the free components; sums[2, i] = |r V_i|^2 (free); sums[3, i] = |load_factor b V_i|^2 (free)
    + |f_int V_i|^2 (constrained: the reactions), the scale of the residual.
    """
    dim = displacement.shape[0] if SPECIALIZED_DIMENSION == 0 else SPECIALIZED_DIMENSION
    stiffness = REAL(0.0)
    mass = REAL(0.0)
    residual_sq = REAL(0.0)
    reference_sq = REAL(0.0)
    vol = volume[i]
    for d in range(dim):
        if (constrained[i] >> d) & 1:
            reaction = force[d, i] * vol
            reference_sq += reaction * reaction
            residual[d, i] = 0.0
            continue
        external = load_factor * body_force[d, i]
        r = force[d, i] + external
        residual[d, i] = r
        v = velocity[d, i]
        stiffness -= v * (r - old_residual[d, i])
        mass += v * v
        residual_sq += (r * vol) * (r * vol)
        reference_sq += (external * vol) * (external * vol)
    sums[0, i] = stiffness
    sums[1, i] = dt * fictitious_density[i] * mass
    sums[2, i] = residual_sq
    sums[3, i] = reference_sq


@register_jitable(inline="always")
def relaxation_control(stiffness, mass, residual_sq, reference_sq, dt):
    """From the reduced sums of ``relaxation_residual``: (relative residual, damping coefficient).

    Relative residual |r V| / (load scale), 0 when both vanish, inf for a residual without load.
    Damping c = 2 omega with omega^2 = dt v^T K v / (dt v^T Lambda v), the Rayleigh quotient of
    the last increment (docs/theory.md, section 7), 0 unless both sums are positive, capped at
    1.9 / dt so that the update's (2 - c dt) stays positive.
    """
    if reference_sq > 0.0:
        ratio = math.sqrt(residual_sq / reference_sq)
    elif residual_sq == 0.0:
        ratio = 0.0
    else:
        ratio = math.inf
    damping = 0.0
    if mass > 0.0 and stiffness > 0.0:
        damping = 2.0 * math.sqrt(stiffness / mass)
    return ratio, min(damping, 1.9 / dt)


@register_jitable(inline="always")
def relaxation_update(i, first, damping, dt, constrained, fictitious_density, residual, velocity,
                      displacement, old_residual):
    """ADR update (Kilic and Madenci 2010, eqs. 9-11): v_{n+1/2} = ((2 - c dt) v_{n-1/2}
    + 2 dt r / lambda) / (2 + c dt), with v_{1/2} = dt r_0 / (2 lambda); u += dt v."""
    dim = displacement.shape[0] if SPECIALIZED_DIMENSION == 0 else SPECIALIZED_DIMENSION
    lam = fictitious_density[i]
    for d in range(dim):
        if (constrained[i] >> d) & 1:
            continue
        r = residual[d, i]
        if first:
            v = REAL(0.5) * dt * r / lam
        else:
            v = ((REAL(2.0) - damping * dt) * velocity[d, i] + REAL(2.0) * dt * r / lam) / (
                REAL(2.0) + damping * dt)
        velocity[d, i] = v
        displacement[d, i] += dt * v
        old_residual[d, i] = r


@register_jitable
def weight_of_bond(i, k, stencil_xi, stencil_length, volume, correction, corrected, neighbors,
                    bond_slot, horizon, spacing):
    """(w_ij, |xi_ij|) of bond k of particle i (CSR), float64: the one evaluation of a weight
    when a model is built (model.py, materials/)."""
    j = neighbors[k]
    slot = bond_slot[k]
    xi_z = stencil_xi[2, slot] if stencil_xi.shape[0] == 3 else 0.0
    length = stencil_length[slot]
    factor = bond_correction(i, j, length, stencil_xi[0, slot], stencil_xi[1, slot], xi_z,
                             correction, corrected)
    weight, _ = bond_weight(j, length, volume, factor, horizon, spacing)
    return weight, length



#: The shared bodies a backend compiles, callees before callers (``specialize``).
BODIES = (physics.square_root, physics.reciprocal, physics.bond_stretch,
          physics.deformed_length_squared, physics.reciprocal_sqrt,
          physics.partial_volume_factor, physics.surface_factor, ramp, ramp_rate, bond_range, bond_at,
          bond_force, population_count,
          bond_energy, particle_force, particle_damage, critical_energy_density, recorded_energy,
          energy_term,
          energy_sums, particle_energy,
          entry_terms, external_force, kick_drift, kick, kick_kick_drift_to, kick_drift_to, kick_kick_drift,
          constrain, unphysical, relaxation_residual, relaxation_update)
