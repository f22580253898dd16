"""The unrolled stencil loop (kernels/unrolled.py) computes the same forces and breaks the same bonds
as the general loop (kernels.pmb.particle_force), bit for bit, compiled on the CPU with signed and
unsigned indices and in the CUDA backend."""
import math
import re

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


def bodies(model, engine):
    """The shared bodies as the CPU backend compiles them for this model (form and precision)."""
    return cpu._bodies(engine.reciprocal_form, model.dtype.type)


def pass_loop_source(particles, displacement, no_fail, bonds, stencil, material, force):
    for i in particles:
        FORCE_PASS(i, displacement, no_fail, bonds, stencil, material, force)  # noqa: F821


def general_loop(model, engine, body="particle_force"):
    """The general loop of one force pass over the given particles, as the CPU compiles it."""
    table = bodies(model, engine)
    return njit(retarget(pass_loop_source, dict(table, FORCE_PASS=table[body])))


def unrolled_loop(model, engine, as_index):
    """The unrolled loop and its stencil table, compiled on the CPU as the GPU build compiles it."""
    loop = njit(unrolled.stencil_particle_force(
        model.stencil.vectors, engine.reciprocal_form,
        njit(retarget(kernels.bond_force, bodies(model, engine))), as_index, model.dtype.type))
    table = unrolled.stencil_table(model.stencil, slot_tables(model, engine.rows),
                                   engine.reciprocal_form, unsigned=as_index is not unrolled.same_index)

    @njit
    def drive(particles, displacement, no_fail, intact, material, table, force):
        for i in particles:
            loop(i, displacement, no_fail, intact, material, table, force)
    return lambda particles, displacement, no_fail, intact, material, force: drive(
        particles, displacement, no_fail, intact, material, table, force)


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
    intact_before = a.intact.copy()

    general_force = np.full_like(a.force, np.nan)
    general_intact = intact_before.copy()
    general_loop(model, engine)(particles, a.displacement, a.no_fail,
                                engine.bonds._replace(intact=general_intact), engine.stencil,
                                engine.material, general_force)

    force = np.full_like(a.force, np.nan)
    intact = intact_before.copy()
    unrolled_loop(model, engine, as_index)(particles, a.displacement, a.no_fail, intact,
                                           engine.material, force)

    # Bonds of stencil particles broke in this evaluation, so the breaking path ran.
    assert np.count_nonzero(general_intact[:, particles] != intact_before[:, particles]) > 0
    assert np.array_equal(intact, general_intact)
    assert np.array_equal(force[:, particles], general_force[:, particles])
    assert force[:, particles].tobytes() == general_force[:, particles].tobytes()


@pytest.mark.parametrize("raw", [PLATE, merge(PLATE, {"precision": "float32"})],
                         ids=["2d", "2d-float32"])
def test_unrolled_history_sums_are_the_general_loops_bit_for_bit(raw):
    # The loops that also sum a history row's bond terms (kernels.pmb.RECORD_ENERGY: the GPU's
    # row kernel) return c w s^2 |xi| (bond_force's third value), |xi| w and the intact bonds,
    # the same bits both ways: the unrolled loop takes |xi| w of a particle whose bonds are all
    # intact from its table (held_total, summed in slot order), a damaged particle's slot by
    # slot, and counts the intact bonds from the bit words.
    from numba.extending import register_jitable

    from pdgeneral.kernels import specialize
    model, engine = strained_state(raw)
    a = engine.arrays
    table = specialize(kernels.BODIES, {"SPECIALIZED_FORM": 1 if engine.reciprocal_form else 2,
                                        "REAL": model.dtype.type, "RECORD_ENERGY": True},
                       register_jitable(inline="always"))
    particles = np.flatnonzero(engine.rows.bond_row < 0)
    general_body = table["particle_force"]
    loop = njit(unrolled.stencil_pass("particle_force", model.stencil.vectors,
                                      engine.reciprocal_form, table, unrolled.same_index,
                                      model.dtype.type, record_energy=True))
    numbers = unrolled.stencil_table(model.stencil, slot_tables(model, engine.rows),
                                     engine.reciprocal_form, unsigned=False, energy=True)

    @njit
    def drive(particles, displacement, no_fail, bonds, stencil, material, numbers, force, sums,
              written_out):
        for i in particles:
            if written_out:
                sums[:, i] = loop(i, displacement, no_fail, bonds.intact, material, numbers, force)
            else:
                sums[:, i] = general_body(i, displacement, no_fail, bonds, stencil, material,
                                          force)

    results = []
    for written_out in (False, True):
        force = np.full(a.force.shape, np.nan, model.dtype)
        sums = np.full((3, model.particle_count), np.nan, model.dtype)
        drive(particles, a.displacement, a.no_fail, engine.bonds._replace(intact=a.intact.copy()),
              engine.stencil, engine.material, numbers, force, sums, written_out)
        results.append(np.concatenate([force, sums])[:, particles])
    general, written_out = results
    assert np.all(written_out[-3] > 0) and np.all(written_out[-1] > 0)   # strained, intact bonds
    whole = written_out[-1] == model.stencil.size
    assert whole.any() and not whole.all()     # both ways of summing |xi| w
    assert written_out.tobytes() == general.tobytes()


LPS = {"material": {"model": "lps", "poissons_ratio": 0.3}}


@pytest.mark.parametrize("raw, as_index", [
    (merge(PLATE, LPS), unrolled.same_index),
    (merge(PLATE, {**LPS, "precision": "float32"}), numba.uint64)],   # each form, each index
    ids=["2d-signed", "2d-float32-unsigned"])
def test_unrolled_lps_passes_are_the_general_passes_bit_for_bit(raw, as_index):
    # Both LPS passes (the dilatation, which breaks bonds, and the force) written out over the
    # stencil give the general loop's bits at the stencil particles.
    model, engine = strained_state(raw)
    a = engine.arrays
    table = bodies(model, engine)
    particles = np.flatnonzero(engine.rows.bond_row < 0)
    numbers = unrolled.stencil_table(model.stencil, slot_tables(model, engine.rows),
                                     engine.reciprocal_form,
                                     unsigned=as_index is not unrolled.same_index, material="lps")

    def general(body, which, material, intact, force):
        general_loop(model, engine, body)(which, a.displacement, a.no_fail,
                                          engine.bonds._replace(intact=intact), engine.stencil,
                                          material, force)

    def written_out(body, material, intact, force):
        loop = njit(unrolled.stencil_pass(body, model.stencil.vectors, engine.reciprocal_form,
                                          table, as_index, model.dtype.type))

        @njit
        def drive(particles, displacement, no_fail, intact, material, numbers, force):
            for i in particles:
                loop(i, displacement, no_fail, intact, material, numbers, force)
        drive(particles, a.displacement, a.no_fail, intact, material, numbers, force)

    def fresh():
        n = model.particle_count
        return engine.material._replace(dilatation=np.full(n, np.nan, model.dtype),
                                        dilatation_term=np.full(n, np.nan, model.dtype))

    intact_before = a.intact.copy()
    # the dilatation pass
    reference, reference_intact = fresh(), intact_before.copy()
    general("lps_dilatation", particles, reference, reference_intact, a.force)
    candidate, candidate_intact = fresh(), intact_before.copy()
    written_out("lps_dilatation", candidate, candidate_intact, a.force)
    assert np.count_nonzero(reference_intact[:, particles] != intact_before[:, particles]) > 0
    assert np.array_equal(candidate_intact, reference_intact)
    for name in ("dilatation", "dilatation_term"):
        assert getattr(candidate, name)[particles].tobytes() == \
            getattr(reference, name)[particles].tobytes(), name
    # the force pass, after a dilatation pass over every particle
    complete, complete_intact = fresh(), intact_before.copy()
    general("lps_dilatation", np.arange(model.particle_count), complete, complete_intact, a.force)
    reference_force = np.full_like(a.force, np.nan)
    general("lps_force", particles, complete, complete_intact, reference_force)
    force = np.full_like(a.force, np.nan)
    written_out("lps_force", complete, complete_intact, force)
    assert force[:, particles].tobytes() == reference_force[:, particles].tobytes()
    assert np.all(np.isfinite(force[:, particles]))


def test_unrolled_source_reads_the_stencil_from_its_table_argument():
    source = unrolled.stencil_force_source(40, 3, reciprocal_form=False)
    assert "stride, xi_x, xi_y, xi_z, length, weight = table" in source
    assert "j = i + (K_Y_39 * stride[0] + K_Z_39 * stride[1]) + K_X_39" in source
    assert "weight[39]" in source and "xi_z[0]" in source
    assert "intact[1, i] = new_1" in source   # bonds 32..39 live in the second word
    assert "break_squared" not in source      # the stretch form's table only
    reciprocal = unrolled.stencil_force_source(28, 2, reciprocal_form=True)
    assert "stride, xi_x, xi_y, inverse_length, break_squared, weight = table" in reciprocal
    # no number of a model is written into the source: only slot indices, bit positions, dimension
    assert not re.search(r"\d\.\d|e-\d", source.replace("REAL(0.0)", ""))
    with pytest.raises(ValueError):
        unrolled.stencil_force_source(0, 2, False)
    with pytest.raises(ValueError):
        unrolled.stencil_force_source(28, 1, False)


def cuda_engine(model, **switches):
    """A CUDA backend for ``model`` built with CudaBackend's class switches set as given
    (unroll_stencil, specialize_stencil)."""
    from pdgeneral.backends.cuda import CudaBackend
    previous = {name: getattr(CudaBackend, name) for name in switches}
    for name, value in switches.items():
        setattr(CudaBackend, name, value)
    try:
        return backends.create("cuda", model)
    finally:
        for name, value in previous.items():
            setattr(CudaBackend, name, value)


def run_cuda(model, unroll, steps):
    engine = cuda_engine(model, unroll_stencil=unroll)
    assert engine.unrolled == unroll
    dt, _ = time_stepping(model)
    run_explicit(engine, None, steps, dt, 10**9)
    out = engine.fields()
    out["intact"] = engine.intact_bonds()
    return out


@needs_cuda
@pytest.mark.parametrize("raw", [SMALL_PLATE, merge(SMALL_PLATE, LPS)], ids=["pmb", "lps"])
def test_cuda_unrolled_kernel_matches_the_general_kernel(raw):
    model = model_from(raw)
    general = run_cuda(model, False, steps=10)   # some 2000 bonds broken by then, both materials
    fast = run_cuda(model, True, steps=10)
    assert np.count_nonzero(~general["intact"]) > model.precracked_bond_count
    if CUDA_SIMULATOR:
        for name in general:
            assert np.array_equal(general[name], fast[name]), name
    else:   # the same operations; a GPU may contract them into FMAs differently: rounding
        scale = np.abs(general["displacement"]).max()
        assert np.abs(general["displacement"] - fast["displacement"]).max() < 1e-12 * scale
        assert np.mean(general["intact"] != fast["intact"]) < 0.001


@needs_cuda
def test_a_sweep_compiles_the_kernels_once():
    # Models that differ in the material, the spacing (at the same horizon factor), the body's size,
    # the loads and the pre-crack share the unrolled kernels (issue 12, item 4): their stencil's
    # numbers are arguments. The CPU loops never depended on them.
    from pdgeneral.backends import cuda as cuda_backend
    from pdgeneral.backends.base import uses_reciprocal_form
    variants = [
        SMALL_PLATE,
        merge(SMALL_PLATE, {"material": {"youngs_modulus": 200e9, "density": 7850.0,
                                         "critical_stretch": None, "fracture_energy": 8000.0}}),
        merge(SMALL_PLATE, {"discretization": {"spacing": 0.8e-3},
                            "geometry": {"box": {"min": [0, 0], "max": [0.04, 0.025]}, "holes": []},
                            "regions": {"right": {"box": {"min": [0.037, 0], "max": [0.04, 0.025]}}}}),
        merge(SMALL_PLATE, {"boundary_conditions": [
            {"region": "left", "type": "velocity", "value": [-3.0, None]},
            {"region": "right", "type": "traction", "value": [1.0e7, 0.0]}]}),
    ]
    models = [model_from(raw) for raw in variants]
    assert len({m.case.model_dump_json() for m in models}) == len(models)
    assert len({(m.spacing, m.micromodulus, m.critical_stretch, m.density, m.particle_count)
                for m in models}) == 3     # the loads' variant has the first one's constants
    kernels = []
    for model in models:
        assert cuda_backend.unrolls(model) and model.rows.stencil_particles > 0
        kernels.append(cuda_backend._force_kernels(model, model.rows, uses_reciprocal_form(model),
                                                   unroll=True))
    assert all(k["passes"] == kernels[0]["passes"] for k in kernels)
    assert all(k["forces_kick_kernel"] is kernels[0]["forces_kick_kernel"] for k in kernels)
    cpu_loops = {id(backends.create("serial", model).kernels) for model in models}
    assert len(cpu_loops) == 1
    # and each model still gets its own numbers: the tables differ where the stencil's numbers do
    # (the material's critical stretch, the spacing and the lattice's rows; not the loads)
    tables = {unrolled.stencil_table(m.stencil, slot_tables(m, m.rows), uses_reciprocal_form(m),
                                     unsigned=False) for m in models}
    assert len(tables) == 3


@needs_cuda
def test_the_specialized_build_gives_the_shared_builds_bits():
    # The unrolled loop with the model's numbers compiled in (a long run's build) and with them as
    # an argument (a sweep's build) compute the same bits; a long enough run picks the first.
    from pdgeneral.backends.cuda import SPECIALIZE_PARTICLE_STEPS
    model = model_from(SMALL_PLATE)
    runs = {}
    for specialize in (False, True):
        engine = cuda_engine(model, specialize_stencil=specialize)
        assert engine.unrolled and engine.specialized == specialize
        dt, _ = time_stepping(model)
        run_explicit(engine, None, 10, dt, 10**9)   # some 2000 bonds broken by then
        runs[specialize] = (engine.fields(), engine.intact_bonds())
    for name in runs[False][0]:
        assert np.array_equal(runs[False][0][name], runs[True][0][name]), name
    assert np.array_equal(runs[False][1], runs[True][1])
    long_run = math.ceil(SPECIALIZE_PARTICLE_STEPS / model.particle_count)
    assert backends.create("cuda", model, steps=long_run).specialized
    assert not backends.create("cuda", model, steps=long_run - 1).specialized
    assert not backends.create("cuda", model).specialized


def test_population_count_counts_the_set_bits():
    """kernels.pmb.population_count (the CPU's and the simulator's; the GPU takes cuda.popc)."""
    words = np.random.default_rng(7).integers(0, 2**32, 200, dtype=np.uint64).astype(np.uint32)
    words[:3] = (0, 0xFFFFFFFF, 0x0FFFFFFF)
    count = njit(kernels.population_count)
    for word in words:
        assert count(word) == int(word).bit_count()
