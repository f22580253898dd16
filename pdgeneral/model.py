"""Static model (particles, bonds, constants, loads) built from a validated case, and the evolving state.

Data flows one way: ``Case`` -> ``build_model`` -> ``Model`` (frozen, backend-independent numpy
arrays) -> a backend that owns working copies and steps time. Vectors are stored structure-of-arrays,
shape (dim, N); bonds in CSR rows, each bond stored from both ends (owner-writes, no atomics).
Particles keep the lattice's lexicographic order (x fastest), which is also the output order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable

from . import geometry, kernel_cache, materials, stencil
from .case.schema import Case
from .errors import CaseError
from .kernels.pmb import PRESCRIBED_DISPLACEMENT, PRESCRIBED_VELOCITY, weight_of_bond
from .materials import MaterialConstants
from .physics import pmb
from .stencil import Stencil

DEFAULT_SAFETY_FACTOR = 0.8
DEFAULT_TOLERANCE = 1e-4
DEFAULT_MAX_ITERATIONS = 100_000
DEFAULT_LOAD_STEPS = 1


@dataclass(frozen=True)
class LoadGroup:
    """External body-force density (dim, N) in N/m^3 that follows one ramp."""
    ramp_time: float
    body_force: np.ndarray


@dataclass(frozen=True)
class Model:
    """Everything about a case that does not change while it runs."""
    case: Case
    dimension: int
    dtype: np.dtype
    positions: np.ndarray            # (N, dim) float64, reference coordinates (output layout)
    reference: np.ndarray            # (dim, N) float64, the same, structure-of-arrays
    volume: np.ndarray               # (N,) m^3 (m^2 * thickness in 2D)
    offsets: np.ndarray              # (N + 1,) int64, CSR row starts
    neighbors: np.ndarray            # (M,) int32, neighbour j of each bond
    bond_slot: np.ndarray            # (M,) uint16, each bond's lattice vector in ``stencil``
    stencil: Stencil                 # the lattice vectors of the bonds: xi and |xi| of every bond
    correction: np.ndarray           # (dim, N) surface-correction factors g_d (ones without it)
    surface_correction: bool
    initial_intact: np.ndarray       # (M,) bool, False for bonds cut by pre-cracks
    no_fail: np.ndarray              # (N,) uint8, 1 where bonds never break (either end suffices)
    initial_bond_volume: np.ndarray  # (N,) sum_j beta_ij V_j over all bonds, m^3
    particle_stiffness: np.ndarray   # (N,) N/m^4: time step and ADR mass (PMB: sum_j c w_ij / |xi_ij|)
    rows: stencil.Rows               # stencil particles and explicit rows (stencil.classify's)
    explicit_weights: np.ndarray     # bond weights w_ij of the explicit rows, CSR over rows.explicit
    micromodulus: float
    critical_stretch: float
    horizon: float
    spacing: float
    density: float
    stable_time_step: float
    # Constraint table: one row per prescribed (particle, component), later conditions win.
    constraint_particle: np.ndarray  # (C,) int32
    constraint_component: np.ndarray  # (C,) int32
    constraint_kind: np.ndarray      # (C,) int32, PRESCRIBED_VELOCITY or PRESCRIBED_DISPLACEMENT
    constraint_value: np.ndarray     # (C,) m/s or m
    constraint_ramp: np.ndarray      # (C,) s
    constrained: np.ndarray          # (N,) uint8, bit d set when component d is prescribed
    load_groups: tuple[LoadGroup, ...]
    initial_velocity: np.ndarray     # (dim, N) m/s
    #: Particle indices (ascending, int64) of every named region: histories sum over them.
    regions: dict[str, np.ndarray] = field(default_factory=dict)
    #: Bonds not made because they pass through a void (both ends; bonds_through_voids: cut).
    void_bond_count: int = 0
    #: The material's constants (materials/): the model, its moduli, what outputs record.
    material: MaterialConstants | None = None
    #: LPS only (None for PMB): the part of particle_stiffness that couples a particle to its
    #: neighbours' neighbours (the dilatation); 1 / m0, P_i and q of the force state
    #: (materials/lps.py, particle_terms).
    coupling_stiffness: np.ndarray | None = None
    inverse_weighted_volume: float | None = None
    dilatation_factor: np.ndarray | None = None
    deviatoric_factor: float | None = None
    stencil_influence: np.ndarray | None = None   # (S,) omega per stencil slot

    @property
    def region_counts(self) -> dict[str, int]:
        return {name: int(members.size) for name, members in self.regions.items()}

    @property
    def particle_count(self) -> int:
        return self.volume.shape[0]

    @property
    def bond_count(self) -> int:
        return self.neighbors.shape[0]

    @property
    def precracked_bond_count(self) -> int:
        return int(np.count_nonzero(~self.initial_intact))

    @property
    def max_bonds(self) -> int:
        return int(np.diff(self.offsets).max())

    def bond_weights(self) -> np.ndarray:
        """(M,) bond weights w_ij = beta_ij V_j G_ij (m^3) in CSR order, float64: what the force
        kernels multiply each bond's force by (kernels.pmb.bond_weight). One real per bond: the
        backends need only those of the explicit rows (explicit_bonds)."""
        weights = np.empty(self.bond_count)
        _weights_and_stiffness(self.stencil.xi, self.stencil.length, self.volume, self.correction,
                               self.surface_correction, self.offsets, self.neighbors,
                               self.bond_slot, self.horizon, self.spacing, self.micromodulus,
                               weights)
        return weights

    def bond_rows(self, weights: np.ndarray | None = None, use_stencil: bool = True) -> stencil.Rows:
        """Stencil particles and explicit rows: the model's own (found while building it) when
        neither ``weights`` nor ``use_stencil=False`` is given, else stencil.classify's for these
        weights (every particle explicit with ``use_stencil=False``)."""
        if weights is None:
            if use_stencil:
                return self.rows
            weights = np.empty(0)    # classify(enabled=False) reads none
        return stencil.classify(self.offsets, self.neighbors, self.bond_slot, weights, self.stencil,
                                enabled=use_stencil)

    def explicit_bonds(self, use_stencil: bool = True):
        """What a backend stores per bond: (rows, row offsets (E + 1,), neighbours, bond slots,
        weights) of the explicit rows, in CSR order over ``rows.explicit``. With
        ``use_stencil=False`` every particle has an explicit row."""
        if use_stencil:
            row_offsets, neighbors, bond_slot = stencil.explicit_rows(
                self.offsets, self.rows.explicit, self.neighbors, self.bond_slot)
            return self.rows, row_offsets, neighbors, bond_slot, self.explicit_weights
        return (self.bond_rows(use_stencil=False), self.offsets, self.neighbors, self.bond_slot,
                self.bond_weights())


def time_stepping(model: Model, kept_time_step: float | None = None) -> tuple[float, int]:
    """(time step, number of steps) of an explicit case.

    dt = safety_factor * stable time step (default 0.8) or solver.time_step, which must not exceed
    the stable one. With end_time, steps = ceil(end_time / dt) and dt shrinks to end_time / steps so
    the run ends exactly at end_time.

    ``kept_time_step``: the time step of the output being resumed, kept whatever end_time now
    says (a resume that lengthens a run must not change the steps already computed); the run then
    ends at the first step at or after end_time.
    """
    solver = model.case.solver
    if kept_time_step is not None:
        if solver.end_time is not None:
            return kept_time_step, max(1, math.ceil(solver.end_time / kept_time_step * (1 - 1e-12)))
        return kept_time_step, solver.steps
    if solver.time_step is not None:
        if solver.time_step > model.stable_time_step:
            raise CaseError("solver.time_step", f"{solver.time_step:g} s exceeds the stable time step "
                            f"{model.stable_time_step:g} s (Silling and Askari 2005); use a smaller "
                            "value or safety_factor")
        dt = solver.time_step
    else:
        factor = solver.safety_factor if solver.safety_factor is not None else DEFAULT_SAFETY_FACTOR
        dt = factor * model.stable_time_step
    if solver.end_time is not None:
        steps = max(1, math.ceil(solver.end_time / dt * (1 - 1e-12)))
        dt = solver.end_time / steps
    else:
        steps = solver.steps
    return dt, steps


@register_jitable(inline="always")
def _row_moments(i, stencil_xi, stencil_length, moment_weight, offsets, neighbors, bond_slot,
                 horizon, spacing, volume, bond_volume, moments):
    dim = stencil_xi.shape[0]
    for k in range(offsets[i], offsets[i + 1]):
        j = neighbors[k]
        slot = bond_slot[k]
        r = stencil_length[slot]
        partial = pmb.partial_volume_factor(r, horizon, spacing) * volume[j]
        bond_volume[i] += partial
        for d in range(dim):
            nd = stencil_xi[d, slot] / r
            moments[d, i] += nd ** 4 * moment_weight[slot] * partial


@partial(kernel_cache.attach, key=("model",))
@njit(parallel=True)
def _family_moments(stencil_xi, stencil_length, moment_weight, offsets, neighbors, bond_slot,
                    horizon, spacing, volume, shared):
    """Per particle: sum_j beta_ij V_j (the damage denominator) and the directional moments
    sum_j n_d^4 a_s beta_ij V_j that the energy surface correction matches to the continuum, with
    a_s = ``moment_weight`` of the bond's slot (the material's: |xi| for PMB).
    Rows with ``shared`` set (the whole stencil, every volume equal) have the same sums, the same
    operations on the same numbers: they are computed once, for the first, and copied."""
    dim = stencil_xi.shape[0]
    n = offsets.shape[0] - 1
    bond_volume = np.zeros(n)
    moments = np.zeros((dim, n))
    first = -1
    for i in range(n):
        if shared[i]:
            first = i
            _row_moments(i, stencil_xi, stencil_length, moment_weight, offsets, neighbors,
                         bond_slot, horizon, spacing, volume, bond_volume, moments)
            break
    for i in prange(n):
        if not shared[i]:
            _row_moments(i, stencil_xi, stencil_length, moment_weight, offsets, neighbors,
                         bond_slot, horizon, spacing, volume, bond_volume, moments)
        elif i != first:
            bond_volume[i] = bond_volume[first]
            for d in range(dim):
                moments[d, i] = moments[d, first]
    return bond_volume, moments


# Not numba's cache=True: it would not notice an edit of bond_weight or bond_correction, which it
# compiles in; the kernel cache hashes the whole package (pdgeneral/kernel_cache.py).
@partial(kernel_cache.attach, key=("model",))
@njit(parallel=True)
def _weights_and_stiffness(stencil_xi, stencil_length, volume, correction, corrected, offsets,
                           neighbors, bond_slot, horizon, spacing, micromodulus, weights):
    """Per particle sum_j c w_ij / |xi_ij| (N/m^4), with the kernels' own bond weight; also stores
    each w_ij into ``weights`` when it has one entry per bond."""
    n = volume.shape[0]
    stiffness = np.zeros(n)
    store = weights.shape[0] == neighbors.shape[0]
    for i in prange(n):
        total = 0.0
        for k in range(offsets[i], offsets[i + 1]):
            weight, length = weight_of_bond(i, k, stencil_xi, stencil_length, volume, correction,
                                             corrected, neighbors, bond_slot, horizon, spacing)
            if store:
                weights[k] = weight
            total += micromodulus * weight / length
        stiffness[i] = total
    return stiffness


@partial(kernel_cache.attach, key=("model",))
@njit(parallel=True)
def _plain_rows(full, correction, volume, offsets, neighbors, typical_correction, typical_volume,
                plain):
    """plain[i]: i's row is the whole stencil, and i and each of its neighbours have the
    correction factors ``typical_correction`` and the volume ``typical_volume``. A bond weight is a
    function of its slot, V_j and the factors of i and j only, so every plain row has the same
    weights, bit for bit (the same operations on the same numbers)."""
    dim = correction.shape[0]
    for i in prange(full.shape[0]):
        ok = full[i]
        for d in range(dim):
            ok = ok and correction[d, i] == typical_correction[d]
        k = offsets[i]
        while ok and k < offsets[i + 1]:
            j = neighbors[k]
            ok = volume[j] == typical_volume
            for d in range(dim):
                ok = ok and correction[d, j] == typical_correction[d]
            k += 1
        plain[i] = ok


@partial(kernel_cache.attach, key=("model",))
@njit(parallel=True)
def _stencil_rows_and_stiffness(stencil_xi, stencil_length, volume, correction, corrected,
                                offsets, neighbors, bond_slot, horizon, spacing, micromodulus,
                                full, plain, typical, coefficients, is_stencil, stiffness, keys):
    """Per particle: whether its weights are those of row ``typical`` (a plain row) bit for bit,
    its stiffness sum_j c w_ij / |xi_ij| and, for full rows, stencil.classify's key of its weight
    row (NaN for the others). Plain rows take all three from ``typical`` without evaluating a
    weight; the others evaluate theirs, in the same order as _weights_and_stiffness and
    stencil._row_keys."""
    n = volume.shape[0]
    size = stencil_length.shape[0]
    row_weights = np.empty(size)
    row_stiffness = 0.0
    row_key = 0.0
    start = offsets[typical]
    for k in range(start, start + size):
        weight, length = weight_of_bond(typical, k, stencil_xi, stencil_length, volume,
                                         correction, corrected, neighbors, bond_slot, horizon,
                                         spacing)
        row_weights[k - start] = weight
        row_stiffness += micromodulus * weight / length
        row_key += weight * coefficients[k - start]
    for i in prange(n):
        if plain[i]:
            is_stencil[i] = True
            stiffness[i] = row_stiffness
            keys[i] = row_key
            continue
        same = full[i]
        first = offsets[i]
        total = 0.0
        key = 0.0 if full[i] else np.nan
        for k in range(first, offsets[i + 1]):
            weight, length = weight_of_bond(i, k, stencil_xi, stencil_length, volume, correction,
                                             corrected, neighbors, bond_slot, horizon, spacing)
            same = same and weight == row_weights[k - first]
            total += micromodulus * weight / length
            if full[i]:
                key += weight * coefficients[k - first]
        is_stencil[i] = same
        stiffness[i] = total
        keys[i] = key
    return row_weights


@partial(kernel_cache.attach, key=("model",))
@njit(parallel=True)
def _explicit_weights(stencil_xi, stencil_length, volume, correction, corrected, offsets,
                      neighbors, bond_slot, horizon, spacing, explicit, row_offsets, weights):
    """The weights of the explicit rows, CSR over ``explicit`` (row_offsets)."""
    for r in prange(explicit.shape[0]):
        i = explicit[r]
        first = offsets[i]
        for k in range(first, offsets[i + 1]):
            weight, _ = weight_of_bond(i, k, stencil_xi, stencil_length, volume, correction,
                                        corrected, neighbors, bond_slot, horizon, spacing)
            weights[row_offsets[r] + k - first] = weight


def _classify_rows(bonds: Stencil, volume, correction, corrected: bool, offsets, neighbors,
                   bond_slot, horizon: float, spacing: float, micromodulus: float, full):
    """(stiffness (N,), stencil.Rows, weights of the explicit rows): what a backend needs per
    bond, without evaluating a weight for most stencil particles and without a weight array for
    every bond. The same rows as stencil.classify over every bond's weight: the interior weight
    row is the most common one among the full rows, and a particle is a stencil particle when
    its weights equal it bit for bit. Where that row is the plain rows' (_plain_rows), as in the
    interior of a box, plain rows are not evaluated. A model without a plain row (a thin body),
    or whose most common full row is another (holes), takes stencil.classify's way."""
    n = volume.shape[0]
    plain = np.zeros(n, dtype=np.bool_)
    candidates = np.flatnonzero(full)
    if candidates.size:
        first = candidates[0]
        _plain_rows(full, correction, volume, offsets, neighbors,
                    np.ascontiguousarray(correction[:, first]), volume[first], plain)
    stiffness = np.empty(n)
    interior = False
    if plain.any():
        is_stencil = np.empty(n, dtype=np.bool_)
        keys = np.empty(n)
        typical = int(np.argmax(plain))
        row_weights = _stencil_rows_and_stiffness(
            bonds.xi, bonds.length, volume, correction, corrected, offsets, neighbors, bond_slot,
            horizon, spacing, micromodulus, full, plain, typical,
            stencil.key_coefficients(bonds.size), is_stencil, stiffness, keys)
        # classify takes the most common weight row among the full rows. The plain rows' row
        # usually is (a box's interior); with holes, a row at a fixed distance from an edge can
        # be more common (a hole's band has no full rows), and then classify's way is taken.
        full_keys = keys[full]
        if 2 * np.count_nonzero(full_keys == keys[typical]) > full_keys.size:
            interior = True     # more than half of the full rows: the most common one
        else:
            interior = bool(is_stencil[stencil.most_common_row(keys, full)])
    if interior:
        rows = stencil.rows_of(is_stencil, row_weights)
        counts = offsets[rows.explicit + 1] - offsets[rows.explicit]
        row_offsets = np.zeros(rows.explicit.size + 1, dtype=np.int64)
        np.cumsum(counts, out=row_offsets[1:])
        weights = np.empty(int(row_offsets[-1]))
        _explicit_weights(bonds.xi, bonds.length, volume, correction, corrected, offsets,
                          neighbors, bond_slot, horizon, spacing, rows.explicit, row_offsets,
                          weights)
        return stiffness, rows, weights
    every = np.empty(neighbors.shape[0])
    stiffness = _weights_and_stiffness(bonds.xi, bonds.length, volume, correction, corrected,
                                       offsets, neighbors, bond_slot, horizon, spacing,
                                       micromodulus, every)
    rows = stencil.classify(offsets, neighbors, bond_slot, every, bonds)
    return stiffness, rows, stencil.explicit_rows(offsets, rows.explicit, every)[1]


def _region_masks(case: Case, points: np.ndarray) -> dict[str, np.ndarray]:
    masks = {}
    for name, shape in case.regions.items():
        try:
            mask = geometry.inside(shape, points, case.discretization.spacing)
        except geometry.ShapeError as err:   # a point set's point away from every particle
            raise CaseError(f"regions.{name}.{shape.kind}", str(err)) from None
        if not mask.any():
            raise CaseError(f"regions.{name}", "the region selects no particle (check its coordinates "
                                               "against the body and the spacing)")
        masks[name] = mask
    return masks


def build_model(case: Case) -> Model:
    """Particles, bonds, constants and loads of a validated case. Raises CaseError for problems that
    only the particles reveal (empty regions, pre-cracks that cut nothing, an unstable time step)."""
    dim = case.dimension
    spacing = case.discretization.spacing
    horizon = case.horizon
    thickness = case.thickness_value
    plane = case.plane_kind

    # The lattice fills the body's bounding box; cells outside the body or in a hole are removed,
    # and ``kept`` is each particle's lattice cell (x fastest).
    points, kept, counts = geometry.body_particles(case.geometry, spacing)
    n = len(points)
    cell_volume = spacing**dim * (thickness if dim == 2 else 1.0)
    volume = np.full(n, cell_volume)

    # Bonds by walking the lattice stencil from each particle (no neighbour search; the same rows
    # as neighbors.find_neighbors on the positions, which tests/test_stencil.py checks).
    lattice_index = np.stack([(kept // int(np.prod(counts[:d]))) % counts[d] for d in range(dim)],
                             axis=1).astype(np.int64)
    bond_stencil, offsets, neighbors, bond_slot = stencil.lattice_bonds(lattice_index, kept, counts,
                                                                         horizon, spacing)
    void_bonds = 0
    if case.discretization.bonds_through_voids == "cut":
        # No material between the ends of a bond across a notch narrower than the horizon (or a
        # hole, or the outside of a re-entrant corner): no bond (docs/theory.md, section 9).
        through = stencil.bonds_through_voids(bond_stencil, lattice_index, kept, counts, offsets,
                                              neighbors, bond_slot, horizon, spacing)
        void_bonds = int(np.count_nonzero(through))
        if void_bonds:
            # few: counted per row (a cumsum over every bond took seconds at 1M particles in 3D)
            cut = np.flatnonzero(through)
            per_row = np.bincount(np.searchsorted(offsets, cut, side="right") - 1, minlength=n)
            offsets = offsets - np.concatenate(([0], np.cumsum(per_row)))
            neighbors = stencil.without(neighbors, through)
            bond_slot = stencil.without(bond_slot, through)
    empty_rows = offsets[1:] == offsets[:-1]
    if np.any(empty_rows):
        raise CaseError("discretization", f"{int(empty_rows.sum())} particles have no neighbour within "
                                          "the horizon (isolated by holes?)")
    full = stencil.full_rows(offsets, neighbors, bond_slot, bond_stencil)
    shared = full & bool(np.all(volume == volume[0]))
    material_module = materials.module(case.material.model)
    constants = material_module.constants(case.material, horizon, dim, plane, thickness)
    # The energy a bond of slot s holds under a uniaxial strain, up to n_d^4 beta V: what the
    # energy surface correction's moments weigh each bond with (the material's).
    slot_weight = material_module.moment_weight(constants, bond_stencil, horizon, spacing)
    initial_bond_volume, moments = _family_moments(bond_stencil.xi, bond_stencil.length,
                                                   slot_weight, offsets, neighbors, bond_slot,
                                                   horizon, spacing, volume, shared)

    corrected = case.discretization.surface_correction == "energy"
    if corrected:
        # the material's reference moments over the particle's own: the factors g_d
        correction = material_module.reference_moments(constants, bond_stencil, slot_weight, horizon,
                                                       spacing, volume[0], dim, thickness) / moments
    else:
        correction = np.ones((dim, n))
    reference = np.ascontiguousarray(points.T)
    correction = np.ascontiguousarray(correction)
    particle_stiffness, rows, explicit_weights = _classify_rows(
        bond_stencil, volume, correction, corrected, offsets, neighbors, bond_slot, horizon,
        spacing, constants.micromodulus if constants.model == "pmb" else 1.0, full)
    # the material's own per-particle terms (the LPS's stiffness and force-state factors); PMB's
    # stiffness came with the classification above, from the same bond weights
    terms = material_module.particle_terms(constants, bond_stencil, volume, correction, corrected,
                                           offsets, neighbors, bond_slot, horizon, spacing)
    if terms is not None:
        particle_stiffness = terms.stiffness
    stable = pmb.stable_time_step_of(case.material.density, float(particle_stiffness.max()))

    masks = _region_masks(case, points)
    no_fail = np.zeros(n, dtype=np.uint8)
    for name in case.no_fail:
        no_fail[masks[name]] = 1
    intact = np.ones(neighbors.size, dtype=bool)
    _apply_precracks(case, points, offsets, neighbors, horizon, intact)

    constraints = _constraint_table(case, masks, n)
    groups, initial_velocity = _loads(case, masks, points, spacing, volume, n)

    return Model(
        case=case, dimension=dim, dtype=np.dtype(case.precision), positions=points,
        reference=reference, volume=volume, offsets=offsets, neighbors=neighbors,
        bond_slot=bond_slot, stencil=bond_stencil,
        correction=correction, surface_correction=corrected,
        initial_intact=intact, no_fail=no_fail,
        initial_bond_volume=initial_bond_volume, particle_stiffness=particle_stiffness,
        rows=rows, explicit_weights=explicit_weights,
        micromodulus=constants.micromodulus, critical_stretch=constants.critical_stretch,
        horizon=horizon, spacing=spacing, density=case.material.density, stable_time_step=stable, **constraints, load_groups=groups,
        initial_velocity=initial_velocity,
        regions={name: np.flatnonzero(mask) for name, mask in masks.items()},
        void_bond_count=void_bonds, material=constants,
        coupling_stiffness=None if terms is None else terms.coupling_stiffness,
        inverse_weighted_volume=None if terms is None else terms.inverse_weighted_volume,
        dilatation_factor=None if terms is None else terms.dilatation_factor,
        deviatoric_factor=None if terms is None else terms.deviatoric_factor,
        stencil_influence=None if terms is None else terms.stencil_influence)


def _apply_precracks(case, points, offsets, neighbors, horizon, intact) -> None:
    for index, crack in enumerate(case.precracks):
        lo, hi = geometry.precrack_bounds(crack)
        near = geometry.within_box(points, np.asarray(lo) - horizon, np.asarray(hi) + horizon)
        rows = np.nonzero(near)[0]
        cut_any = False
        for start in range(0, len(rows), 65536):
            chunk = rows[start:start + 65536]
            counts = offsets[chunk + 1] - offsets[chunk]
            bond_index = np.repeat(offsets[chunk], counts) + _ranges(counts)
            owner = np.repeat(chunk, counts)
            cut = geometry.bonds_cut_by(crack, points[owner], points[neighbors[bond_index]])
            if cut.any():
                cut_any = True
                intact[bond_index[cut]] = False
        if not cut_any:
            raise CaseError(f"precracks[{index}]", "the pre-crack cuts no bond (is it outside the body?)")


def _ranges(counts: np.ndarray) -> np.ndarray:
    """Concatenated aranges: counts [2, 3] -> [0, 1, 0, 1, 2]."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total) - starts


def _constraint_table(case: Case, masks, n: int) -> dict:
    dim = case.dimension
    keys: list[np.ndarray] = []
    kinds, values, ramps = [], [], []
    for bc in case.boundary_conditions:
        if bc.type not in ("velocity", "displacement"):
            continue
        kind = PRESCRIBED_VELOCITY if bc.type == "velocity" else PRESCRIBED_DISPLACEMENT
        ramp = bc.ramp_time if case.solver.type == "explicit" else 1.0  # quasi-static: time = load factor
        particles = np.nonzero(masks[bc.region])[0]
        for d, value in enumerate(bc.value):
            if value is None:
                continue
            keys.append(particles * dim + d)
            kinds.append(np.full(len(particles), kind))
            values.append(np.full(len(particles), value, dtype=np.float64))
            ramps.append(np.full(len(particles), ramp, dtype=np.float64))
    if keys:
        key = np.concatenate(keys)
        # Later conditions win: keep the last occurrence of each (particle, component).
        reversed_key = key[::-1]
        _, first_in_reversed = np.unique(reversed_key, return_index=True)
        pick = len(key) - 1 - first_in_reversed          # sorted by key, i.e. by particle
        key = key[pick]
        kind = np.concatenate(kinds)[pick]
        value = np.concatenate(values)[pick]
        ramp = np.concatenate(ramps)[pick]
    else:
        key = np.zeros(0, dtype=np.int64)
        kind = np.zeros(0, dtype=np.int64)
        value = np.zeros(0)
        ramp = np.zeros(0)
    particle = (key // dim).astype(np.int32)
    component = (key % dim).astype(np.int32)
    constrained = np.zeros(n, dtype=np.uint8)
    np.bitwise_or.at(constrained, particle, (1 << component).astype(np.uint8))
    return {"constraint_particle": particle, "constraint_component": component,
                "constraint_kind": kind.astype(np.int32), "constraint_value": value, "constraint_ramp": ramp,
                "constrained": constrained}


def traction_layer_depth(points: np.ndarray, spacing: float) -> float:
    """Depth h of the particle layer that carries a traction: the region's thinnest extent, counted
    in whole cells ((max - min) / spacing + 1 layers along the axis where that is smallest)."""
    extent = points.max(axis=0) - points.min(axis=0)
    layers = np.rint(extent / spacing) + 1
    return float(layers.min() * spacing)


def _loads(case: Case, masks, points, spacing, volume, n):
    """External body-force groups (one per ramp time) and the initial velocity field.

    A traction t (Pa) on a region becomes the body force density t / h on its particles, h being the
    layer depth (``traction_layer_depth``), so that the layer carries the total force t * area. A
    force F (N) becomes F / sum_i V_i on the region's particles: they carry F in all (in 2D, for
    the plate's thickness), spread by volume (docs/theory.md sec. 8).
    """
    dim = case.dimension
    groups: dict[float, np.ndarray] = {}
    initial_velocity = np.zeros((dim, n))
    for bc in case.boundary_conditions:
        mask = masks[bc.region]
        vector = np.asarray(bc.value, dtype=np.float64)
        if bc.type == "initial_velocity":
            initial_velocity[:, mask] = vector[:, None]
            continue
        if bc.type == "body_force":
            density = vector
        elif bc.type == "traction":
            density = vector / traction_layer_depth(points[mask], spacing)
        elif bc.type == "force":
            density = vector / volume[mask].sum()
        else:
            continue
        ramp = bc.ramp_time if case.solver.type == "explicit" else 0.0
        target = groups.setdefault(ramp, np.zeros((dim, n)))
        target[:, mask] += density[:, None]
    return tuple(LoadGroup(r, b) for r, b in sorted(groups.items())), initial_velocity
