"""The unrolled stencil loop (kernels/unrolled.py) computes the same forces and breaks the same bonds
as the general loop (kernels.pmb.particle_force), bit for bit, compiled on the CPU with signed and
unsigned indices and in the CUDA backend."""
import numba
import numpy as np
import pytest
from conftest import CUDA_SIMULATOR, merge, model_from, needs_cuda
from numba import njit
from test_stencil import BLOCK as STENCIL_BLOCK
from test_stencil import PLATE, SMALL_PLATE

from pdgeneral import backends
from pdgeneral.backends import cpu
from pdgeneral.backends.base import slot_tables
from pdgeneral.kernels import pmb as kernels
from pdgeneral.kernels import retarget, unrolled
from pdgeneral.model import time_stepping
from pdgeneral.solvers import run_explicit

BLOCK = merge(STENCIL_BLOCK, {"name": "unrolled-3d", "no_fail": ["right"],
                              "solver": {"steps": 20}})


def general_loop_source(particles, displacement, no_fail, bond_row, row_first, row_count, bond_stride,
                        neighbors, bond_slot, bond_weights, stencil_offset, stencil_xi, stencil_length,
                        stencil_inverse_length, stencil_break_squared, stencil_weight, intact,
                        micromodulus, critical_stretch, reciprocal_form, force):
    for i in particles:
        particle_force(i, displacement, no_fail, bond_row, row_first, row_count,  # noqa: F821
                       bond_stride, neighbors, bond_slot, bond_weights, stencil_offset,
                       stencil_xi, stencil_length, stencil_inverse_length,
                       stencil_break_squared, stencil_weight, intact, micromodulus,
                       critical_stretch, reciprocal_form, force)


def bodies(model, engine):
    """The shared bodies as the CPU backend compiles them for this model (form and precision)."""
    return cpu._bodies(engine.reciprocal_form, model.dtype.type)


def general_loop(model, engine):
    return njit(retarget(general_loop_source, bodies(model, engine)))


def unrolled_loop(model, engine, as_index):
    loop = njit(unrolled.stencil_particle_force(
        model.stencil.offsets, slot_tables(model, engine.rows), engine.reciprocal_form,
        njit(retarget(kernels.bond_force, bodies(model, engine))), as_index, model.dtype.type))

    @njit
    def drive(particles, displacement, no_fail, intact, micromodulus, critical_stretch, force):
        for i in particles:
            loop(i, displacement, no_fail, intact, micromodulus, critical_stretch, force)
    return drive


def strained_state(raw):
    """A serial backend after some explicit steps (bonds at the pre-crack's tip broke), then a
    stretch u_x = 2 s0 x y / H on top, so that the next force evaluation breaks bonds of stencil
    particles in the upper part and not in the lower."""
    model = model_from(raw)
    engine = backends.create("serial", model)
    dt, steps = time_stepping(model)
    run_explicit(engine, None, steps, dt, 10**9)
    x, y = model.positions[:, 0], model.positions[:, 1]
    engine.arrays.displacement[0] += 2 * model.critical_stretch * x * y / y.max()
    return model, engine


@pytest.mark.parametrize("raw", [PLATE, merge(PLATE, {"precision": "float32"}), BLOCK],
                         ids=["2d", "2d-float32", "3d"])
@pytest.mark.parametrize("as_index", [unrolled.same_index, numba.uint64], ids=["signed", "unsigned"])
def test_unrolled_loop_is_the_general_loop_bit_for_bit(raw, as_index):
    model, engine = strained_state(raw)
    assert engine.reciprocal_form == (model.dtype == np.float64)   # both forms are tested
    a = engine.arrays
    particles = np.flatnonzero(engine.rows.bond_row < 0)
    assert particles.size > 0
    args = list(engine._force_args())
    intact_before = a.intact.copy()

    general_force = np.full_like(a.force, np.nan)
    general_intact = intact_before.copy()
    args[15], args[19] = general_intact, general_force
    general_loop(model, engine)(particles, *args)

    force = np.full_like(a.force, np.nan)
    intact = intact_before.copy()
    unrolled_loop(model, engine, as_index)(particles, a.displacement, a.no_fail, intact,
                                           engine.micromodulus, engine.critical_stretch, force)

    # Bonds of stencil particles broke in this evaluation, so the breaking path ran.
    assert np.count_nonzero(general_intact[:, particles] != intact_before[:, particles]) > 0
    assert np.array_equal(intact, general_intact)
    assert np.array_equal(force[:, particles], general_force[:, particles])
    assert force[:, particles].tobytes() == general_force[:, particles].tobytes()


def test_unrolled_source_names_constants_instead_of_values():
    source = unrolled.stencil_force_source(40, 3)
    assert "OFFSET_39" in source and "WEIGHT[39]" in source and "XI_Z[0]" in source
    assert "intact[1, i] = new_1" in source   # bonds 32..39 live in the second word
    with pytest.raises(ValueError):
        unrolled.stencil_force_source(0, 2)
    with pytest.raises(ValueError):
        unrolled.stencil_force_source(28, 1)


def run_cuda(model, unroll, steps):
    from pdgeneral.backends.cuda import CudaBackend
    previous = CudaBackend.unroll_stencil
    CudaBackend.unroll_stencil = unroll
    try:
        engine = backends.create("cuda", model)
    finally:
        CudaBackend.unroll_stencil = previous
    assert engine.unrolled == unroll
    dt, _ = time_stepping(model)
    run_explicit(engine, None, steps, dt, 10**9)
    out = engine.fields()
    out["intact"] = engine.intact_bonds()
    return out


@needs_cuda
def test_cuda_unrolled_kernel_matches_the_general_kernel():
    model = model_from(SMALL_PLATE)
    general = run_cuda(model, False, steps=20)
    fast = run_cuda(model, True, steps=20)
    assert np.count_nonzero(~general["intact"]) > model.precracked_bond_count
    if CUDA_SIMULATOR:
        for name in general:
            assert np.array_equal(general[name], fast[name]), name
    else:   # the same operations; a GPU may contract them into FMAs differently: rounding
        scale = np.abs(general["displacement"]).max()
        assert np.abs(general["displacement"] - fast["displacement"]).max() < 1e-12 * scale
        assert np.mean(general["intact"] != fast["intact"]) < 0.001
