"""Model building: time step, pre-cracks, no_fail, surface correction, loads, regions."""
import math

import numpy as np
import pytest
from conftest import merge, model_from

from pdgeneral.errors import CaseError
from pdgeneral.model import time_stepping, traction_layer_depth
from pdgeneral.physics import pmb


def test_stable_time_step_against_bond_by_bond_sum(base_2d):
    model = model_from(base_2d)
    x = model.positions
    weights = model.bond_weights()
    worst = 0.0
    for i in range(model.particle_count):
        total = 0.0
        for k in range(model.offsets[i], model.offsets[i + 1]):
            j = model.neighbors[k]
            total += model.micromodulus * weights[k] / np.linalg.norm(x[j] - x[i])
        worst = max(worst, total)
    assert model.stable_time_step == pytest.approx(math.sqrt(2 * 2440.0 / worst), rel=1e-12)


def test_stable_time_step_uncorrected_interior_particle(base_2d):
    # Without surface correction, an interior particle's sum is a pure lattice sum of 28 bonds.
    model = model_from(merge(base_2d, {"discretization": {"surface_correction": "none"}}))
    dx = 1e-3
    c = model.micromodulus
    volume = dx * dx * 1e-3
    total = 0.0
    for a in range(-3, 4):
        for b in range(-3, 4):
            r = math.hypot(a, b) * dx
            if 0 < r <= 3.015 * dx:
                total += c * pmb.partial_volume_factor(r, 3.015 * dx, dx) * volume / r
    assert model.stable_time_step == pytest.approx(math.sqrt(2 * 2440.0 / total), rel=1e-12)


def test_end_time_sets_steps_and_shrinks_dt(base_2d):
    model = model_from(merge(base_2d, {"solver": {"end_time": 1.0e-6, "steps": None}}))
    dt, steps = time_stepping(model)
    assert dt <= 0.8 * model.stable_time_step
    assert dt * steps == pytest.approx(1.0e-6, rel=1e-12)


def test_time_step_above_stable_is_refused(base_2d):
    model = model_from(merge(base_2d, {"solver": {"type": "explicit", "steps": 5, "time_step": 1.0}}))
    with pytest.raises(CaseError, match="stable time step"):
        time_stepping(model)


def segment_crosses(p, q, a, b):
    """Independent crossing test: solve p + s (q - p) = a + t (b - a)."""
    m = np.array([[q[0] - p[0], a[0] - b[0]], [q[1] - p[1], a[1] - b[1]]])
    if abs(np.linalg.det(m)) < 1e-30:
        return False
    s, t = np.linalg.solve(m, np.asarray(a) - np.asarray(p))
    return 0 < s < 1 and 0 <= t <= 1


def test_precrack_breaks_exactly_the_crossing_bonds(base_2d):
    crack = {"start": [0.0, 0.0101], "end": [0.01537, 0.0101]}
    model = model_from(merge(base_2d, {"precracks": [{"segment": crack}]}))
    x = model.positions
    broken = 0
    for i in range(model.particle_count):
        for k in range(model.offsets[i], model.offsets[i + 1]):
            j = model.neighbors[k]
            cut = segment_crosses(x[i], x[j], crack["start"], crack["end"])
            assert (not model.initial_intact[k]) == cut
            broken += cut
    assert broken > 0 and broken == model.precracked_bond_count


def test_precrack_ending_on_a_lattice_corner_cuts_both_sides_alike(base_2d):
    # The crack-branching plate at its CI spacing, written as a case file writes it: the tip
    # (0.05, 0.02) lies on cell corners, so bonds pass exactly through it. With the sign of a rounding
    # error deciding those, 4 bonds were cut on one side only; mirror symmetry about the crack line
    # must hold bond by bond.
    spacing = 6.666666666666667e-4
    raw = merge(base_2d, {"geometry": {"box": {"min": [0.0, 0.0], "max": [0.1, 0.04]}},
                          "discretization": {"spacing": spacing},
                          "precracks": [{"segment": {"start": [0.0, 0.02], "end": [0.05, 0.02]}}]})
    model = model_from(raw)
    cells = np.rint(model.positions / spacing - 0.5).astype(int)        # integer lattice indices
    rows = cells[:, 1].max()
    index = {tuple(c): i for i, c in enumerate(cells)}
    mirror = np.array([index[(cx, rows - cy)] for cx, cy in cells])     # y -> 0.04 - y
    cut = set()
    for i in range(model.particle_count):
        for k in range(model.offsets[i], model.offsets[i + 1]):
            if not model.initial_intact[k]:
                cut.add((i, int(model.neighbors[k])))
    assert cut and cut == {(int(mirror[i]), int(mirror[j])) for i, j in cut}
    # ... and the bonds through the tip itself count as cut (the documented rule)
    tip = np.array([0.05, 0.02])
    assert any(np.allclose((model.positions[i] + model.positions[j]) / 2, tip, atol=1e-12)
               for i, j in cut)


def test_precrack_outside_the_body_is_an_error(base_2d):
    raw = merge(base_2d, {"precracks": [{"segment": {"start": [1.0, 1.0], "end": [2.0, 1.0]}}]})
    with pytest.raises(CaseError, match=r"precracks\[0\].*cuts no bond"):
        model_from(raw)


def test_precrack_rectangle_in_3d():
    raw = {
        "name": "r", "dimension": 3,
        "material": {"model": "pmb", "youngs_modulus": 1e9, "density": 1000.0, "critical_stretch": 0.01},
        "discretization": {"spacing": 1.0, "horizon_factor": 2.015},
        "geometry": {"box": {"min": [0, 0, 0], "max": [8, 6, 6]}},
        "precracks": [{"rectangle": {"corner": [4.0, -1.0, -1.0], "edge1": [0, 4.0, 0],
                                     "edge2": [0, 0, 10.0]}}],
        "solver": {"type": "explicit", "steps": 1},
    }
    model = model_from(raw)
    x = model.positions
    for i in range(model.particle_count):
        for k in range(model.offsets[i], model.offsets[i + 1]):
            j = model.neighbors[k]
            crosses = (x[i, 0] - 4.0) * (x[j, 0] - 4.0) < 0
            inside = True
            # the bond meets x = 4 at a point whose y must lie within [-1, 3]
            if crosses:
                t = (4.0 - x[i, 0]) / (x[j, 0] - x[i, 0])
                y = x[i, 1] + t * (x[j, 1] - x[i, 1])
                inside = -1.0 <= y <= 3.0
            assert (not model.initial_intact[k]) == (crosses and inside)


def test_no_fail_marks_the_region_particles(base_2d):
    raw = merge(base_2d, {"regions": {"left": {"box": {"min": [0, 0], "max": [0.003, 0.02]}}},
                          "no_fail": ["left"]})
    model = model_from(raw)
    assert np.array_equal(model.no_fail == 1, model.positions[:, 0] <= 0.003)


def uniaxial_energy(model, axis):
    """PD strain energy density of every particle under a unit uniaxial strain along ``axis``."""
    x = model.positions
    weights = model.bond_weights()
    w = np.zeros(model.particle_count)
    for i in range(model.particle_count):
        rows = slice(model.offsets[i], model.offsets[i + 1])
        xi = x[model.neighbors[rows]] - x[i]
        r = np.linalg.norm(xi, axis=1)
        s = (xi[:, axis] / r) ** 2
        w[i] = 0.25 * model.micromodulus * np.sum(s * s * r * weights[rows])
    return w


def test_energy_surface_correction_restores_bulk_energy(base_2d):
    corrected = model_from(base_2d)
    plain = model_from(merge(base_2d, {"discretization": {"surface_correction": "none"}}))
    bulk = pmb.uniaxial_strain_energy_density(corrected.micromodulus, corrected.horizon, 2, 1.0, 1e-3)
    x = corrected.positions
    # two horizons from every edge: the particle and all its neighbours have full families
    interior = (x[:, 0] > 0.007) & (x[:, 0] < 0.033) & (x[:, 1] > 0.007) & (x[:, 1] < 0.013)
    edge = (x[:, 0] < 0.001) & (x[:, 1] > 0.005) & (x[:, 1] < 0.015)   # left free edge
    w_corrected = uniaxial_energy(corrected, 0)
    w_plain = uniaxial_energy(plain, 0)
    # Interior: exact by construction of the correction (the lattice sum is matched to the integral).
    np.testing.assert_allclose(w_corrected[interior], bulk, rtol=1e-10)
    # At a free edge the uncorrected particle lacks about half its bonds (0.43 of the bulk energy
    # here); the correction brings it to about 0.75: better by more than half, not exact, since each
    # bond's factor averages its two end particles (Madenci and Oterkus 2014, eq. 4.13).
    assert np.all(w_plain[edge] < 0.6 * bulk)
    assert np.all(np.abs(w_corrected[edge] / bulk - 1) < 0.5 * np.abs(w_plain[edge] / bulk - 1))


def test_traction_layer_depth_counts_layers():
    layer = np.array([[0.0005, y] for y in np.arange(10) * 1e-3])
    assert traction_layer_depth(layer, 1e-3) == pytest.approx(1e-3)
    thick = np.concatenate([layer, layer + [1e-3, 0]])
    assert traction_layer_depth(thick, 1e-3) == pytest.approx(2e-3)


def test_traction_total_force_is_stress_times_area(base_2d):
    sigma = 5.0e6
    raw = merge(base_2d, {
        "regions": {"right": {"box": {"min": [0.038, 0.0], "max": [0.04, 0.02]}}},
        "boundary_conditions": [{"region": "right", "type": "traction", "value": [sigma, 0.0]}]})
    model = model_from(raw)
    force = model.load_groups[0].body_force[0] * model.volume
    assert force.sum() == pytest.approx(sigma * 0.02 * 1e-3, rel=1e-12)  # height x thickness


def test_later_constraint_wins_and_table_has_no_duplicates(base_2d):
    raw = merge(base_2d, {
        "regions": {"a": {"box": {"min": [0, 0], "max": [0.004, 0.02]}},
                    "b": {"box": {"min": [0, 0], "max": [0.002, 0.02]}}},
        "boundary_conditions": [
            {"region": "a", "type": "velocity", "value": [1.0, 2.0]},
            {"region": "b", "type": "displacement", "value": [3.0, None]}]})
    model = model_from(raw)
    key = model.constraint_particle.astype(np.int64) * 2 + model.constraint_component
    assert len(np.unique(key)) == len(key)
    x = model.positions
    for p, d, kind, value in zip(model.constraint_particle, model.constraint_component,
                                 model.constraint_kind, model.constraint_value):
        if x[p, 0] <= 0.002 and d == 0:
            assert value == 3.0 and kind == 1
        else:
            assert value == (1.0 if d == 0 else 2.0) and kind == 0


def test_region_that_selects_nothing_is_an_error(base_2d):
    raw = merge(base_2d, {"regions": {"far": {"box": {"min": [1.0, 1.0], "max": [2.0, 2.0]}}}})
    with pytest.raises(CaseError, match="regions.far: the region selects no particle"):
        model_from(raw)


def test_holes_remove_particles(base_2d):
    raw = merge(base_2d, {"geometry": {"box": base_2d["geometry"]["box"],
                                       "holes": [{"circle": {"center": [0.02, 0.01], "radius": 0.005}}]}})
    model = model_from(raw)
    assert model.particle_count < 800
    assert np.all(np.linalg.norm(model.positions - [0.02, 0.01], axis=1) > 0.005)
