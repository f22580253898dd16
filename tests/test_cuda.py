"""The CUDA backend against the serial one.

Under numba's CUDA simulator (``make test`` sets NUMBA_ENABLE_CUDASIM=1) the kernels run as Python,
one thread at a time, with the same IEEE operations as the serial backend: the results must be
equal bit for bit. On a real GPU the compiler contracts multiply-adds (FMA), so results agree to
rounding before fracture (relative 1e-10 in float64) and crack paths agree to a small fraction of
particles; the ``gpu``-marked tests check that, and are skipped where there is no GPU.
"""
import h5py
import numpy as np
import pytest
from conftest import CUDA_SIMULATOR, case_from, merge, needs_cuda, real_gpu

from pdgeneral import backends, bondstate
from pdgeneral.api import prepare
from pdgeneral.model import time_stepping
from pdgeneral.solvers import run_explicit

SMALL = {
    "name": "small", "dimension": 2, "plane": "stress", "thickness": 1e-3,
    "material": {"model": "pmb", "youngs_modulus": 72.0e9, "density": 2440.0, "critical_stretch": 4e-4},
    "discretization": {"spacing": 2.0e-3, "horizon_factor": 3.015},
    "geometry": {"box": {"min": [0, 0], "max": [0.05, 0.02]}},
    "precracks": [{"segment": {"start": [0.0, 0.0101], "end": [0.015, 0.0101]}}],
    "regions": {"left": {"box": {"min": [0, 0], "max": [0.004, 0.02]}},
                "right": {"box": {"min": [0.046, 0], "max": [0.05, 0.02]}},
                "top": {"box": {"min": [0.02, 0.018], "max": [0.03, 0.02]}}},
    "boundary_conditions": [
        {"region": "left", "type": "velocity", "value": [-20.0, None]},
        {"region": "right", "type": "displacement", "value": [2.0e-5, 0.0], "ramp_time": 2.0e-6},
        {"region": "top", "type": "body_force", "value": [0.0, 1.0e9], "ramp_time": 1.0e-6},
        {"region": "top", "type": "initial_velocity", "value": [0.0, 0.5]}],
    "no_fail": ["right"],
    "solver": {"type": "explicit", "steps": 30},
}


def run(raw, backend, steps):
    prepared = prepare(case_from(raw))
    engine = backends.create(backend, prepared.model)
    dt, _ = time_stepping(prepared.model)
    run_explicit(engine, None, steps, dt, 10**9)
    out = engine.fields()
    out["intact"] = engine.intact_bonds()
    return prepared.model, out


def test_padded_bond_layout_is_bond_major():
    from pdgeneral.backends.cuda import padded_bond_layout
    offsets = np.array([0, 2, 5, 6])
    neighbors = np.array([1, 2, 0, 2, 9, 1], dtype=np.int32)
    first, count, stride, padded = padded_bond_layout(offsets, neighbors, fill=-1)
    assert stride == 3 and list(count) == [2, 3, 1] and list(first) == [0, 1, 2]
    # slot n of particle i at n * N + i
    assert list(padded) == [1, 0, 1, 2, 2, -1, -1, 9, -1]


@needs_cuda
@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_cuda_matches_serial_through_fracture(precision):
    raw = merge(SMALL, {"precision": precision})
    model, serial = run(raw, "serial", 15)   # 1150 bonds broken, 258 by the pre-crack
    _, gpu_run = run(raw, "cuda", 15)
    assert np.count_nonzero(~serial["intact"]) > model.precracked_bond_count  # bonds did break
    if CUDA_SIMULATOR and precision == "float64":
        for name in serial:
            assert np.array_equal(serial[name], gpu_run[name]), name
    else:
        # On a GPU (FMA contraction) and, in float32, in the simulator too (it evaluates mixed
        # float32 / Python-float expressions in float32 by NumPy's rules, numba in float64), the
        # results agree to rounding and the same bonds break, give or take a few.
        scale = np.abs(serial["displacement"]).max()
        assert np.abs(serial["displacement"] - gpu_run["displacement"]).max() < 1e-6 * scale
        assert np.mean(serial["intact"] != gpu_run["intact"]) < 0.01


@needs_cuda
@pytest.mark.parametrize("material", [{"model": "pmb"},
                                      {"model": "lps", "poissons_ratio": 0.3}])
def test_cuda_quasi_static_matches_serial(material):
    """40 relaxation iterations; the LPS's relax launches its dilatation and force kernels with
    every bond held, as PMB's one force kernel (CudaBackend.relax)."""
    raw = {
        "name": "strip", "dimension": 2, "plane": "stress", "thickness": 0.01,
        "material": {"youngs_modulus": 200e9, "density": 7850.0,
                     "critical_stretch": float("inf"), **material},
        "discretization": {"spacing": 0.01, "horizon_factor": 3.015},
        "geometry": {"box": {"min": [0.0, 0.0], "max": [0.08, 0.03]}},
        "regions": {"held": {"box": {"min": [0.0, 0.0], "max": [0.01, 0.03]}},
                    "loaded": {"box": {"min": [0.07, 0.0], "max": [0.08, 0.03]}}},
        "boundary_conditions": [
            {"region": "held", "type": "displacement", "value": [0.0, None]},
            {"region": "loaded", "type": "traction", "value": [1e8, 0.0]}],
        "solver": {"type": "quasi_static", "load_steps": 1},
    }
    prepared = prepare(case_from(raw))
    results = {}
    for name in ("serial", "cuda"):
        engine = backends.create(name, prepared.model)
        engine.set_body_force(0.0)
        iterations, ratio = engine.relax(1.0, 1e-12, 40)   # a fixed number of iterations
        results[name] = (iterations, ratio, engine.fields()["displacement"])
    assert results["serial"][0] == results["cuda"][0] == 40
    u_serial, u_cuda = results["serial"][2], results["cuda"][2]
    # The damping sums are reduced in another order (exactly, by fsum, on the GPU), so the two
    # agree to rounding, not bit for bit.
    assert np.abs(u_serial - u_cuda).max() <= 1e-9 * np.abs(u_serial).max()
    assert results["cuda"][1] == pytest.approx(results["serial"][1], rel=1e-6)


@needs_cuda
def test_cuda_relaxation_holds_every_bond_and_breaks_the_serial_ones_between():
    """Backend.relax breaks no bond (its force launch holds them all, whatever the stretch);
    break_bonds then breaks those past s0, the same ones as the serial backend's."""
    raw = merge(SMALL, {"boundary_conditions": [
        {"region": "left", "type": "displacement", "value": [0.0, None]},
        {"region": "right", "type": "displacement", "value": [5.0e-5, None]}]})
    raw["solver"] = {"type": "quasi_static", "load_steps": 1}
    prepared = prepare(case_from(raw))
    from pdgeneral.kernels.pmb import QUASI_STATIC
    results = {}
    for name in ("serial", "cuda"):
        engine = backends.create(name, prepared.model)
        engine.set_body_force(0.0)
        engine.apply_constraints(1.0, 1.0, QUASI_STATIC)
        before = engine.bond_bits()
        engine.relax(1.0, 1e-12, 1)   # the grips' jump: bonds far past s0 at once
        held = engine.bond_bits()
        broken = engine.break_bonds()
        results[name] = (before, held, broken, engine.bond_bits(), engine.fields()["displacement"])
    for before, held, broken, after, _ in results.values():
        assert np.array_equal(before, held) and broken > 0
        assert (np.bitwise_count(before).sum() - np.bitwise_count(after).sum()) == 2 * broken
    serial, gpu = results["serial"], results["cuda"]
    assert np.abs(serial[4] - gpu[4]).max() <= 1e-9 * np.abs(serial[4]).max()
    assert serial[2] == gpu[2] and np.array_equal(serial[3], gpu[3])


@needs_cuda
def test_cuda_runs_are_deterministic():
    _, first = run(SMALL, "cuda", 12)
    _, second = run(SMALL, "cuda", 12)
    for name in first:
        assert np.array_equal(first[name], second[name]), name


@needs_cuda
def test_auto_never_picks_the_simulator():
    assert backends.resolve("auto") == ("parallel" if CUDA_SIMULATOR else "cuda")
    assert backends.resolve("gpu") == "cuda"


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_SIMULATOR or not real_gpu(), reason="needs a real CUDA GPU")
def test_gpu_agrees_with_serial_to_rounding_before_fracture():
    # Hundreds of steps of wave motion without fracture: float64 relative difference below 1e-10.
    raw = merge(SMALL, {"material": {"critical_stretch": None, "fracture_energy": 1e6},
                        "discretization": {"spacing": 1.0e-3}, "precracks": []})
    _, serial = run(raw, "serial", 400)
    _, gpu_run = run(raw, "cuda", 400)
    for name in ("displacement", "velocity"):
        scale = np.abs(serial[name]).max()
        assert np.abs(serial[name] - gpu_run[name]).max() <= 1e-10 * scale, name
    assert np.array_equal(serial["intact"], gpu_run["intact"])


@needs_cuda
def test_fused_force_and_kick_kernel_matches_two_kernels():
    # forces_kick_kernel, whose two displacement arrays swap every step, over chunks of 7 steps
    # (the last step of each runs unfused), with constraints, a ramped body force and fracture;
    # against the force and kick kernels launched one after the other.
    model = prepare(case_from(SMALL)).model
    dt, _ = time_stepping(model)
    out = {}
    for fuse in (False, True):
        engine = backends.create("cuda", model)
        engine.fuse_kick = fuse
        for first in range(0, 30, 7):
            engine.advance(first, min(7, 30 - first), dt)
        out[fuse] = {**engine.fields(), "bits": engine.bond_bits()}
    assert np.count_nonzero(~bondstate.unpack(model.offsets, out[True]["bits"])) > \
        model.precracked_bond_count
    for name in out[False]:
        if CUDA_SIMULATOR or name == "bits":
            assert np.array_equal(out[False][name], out[True][name]), name
        else:   # two kernels may contract multiply-adds differently: rounding
            scale = np.abs(out[False][name]).max()
            assert np.abs(out[False][name] - out[True][name]).max() <= 1e-12 * scale, name


@needs_cuda
def test_prepared_launches_give_the_dispatcher_results():
    # The step loop's launches convert their arguments once (PreparedLaunch); a scalar changed
    # with set() reaches the kernel. Against the ordinary launch through the dispatcher, in a
    # deformed state where bonds break.
    from pdgeneral.backends.cuda import THREADS_PER_BLOCK
    model = prepare(case_from(SMALL)).model
    dt, _ = time_stepping(model)
    prepared, ordinary = (backends.create("cuda", model) for _ in range(2))
    for engine in (prepared, ordinary):
        engine.advance(0, 25, dt)
    prepared.forces_launch()
    ordinary._force_kernel.passes[-1][ordinary._blocks, THREADS_PER_BLOCK](
        *ordinary._force_args())
    force = prepared.arrays.force.copy_to_host()
    assert np.abs(force).max() > 0
    assert np.array_equal(force, ordinary.arrays.force.copy_to_host())
    assert np.array_equal(prepared.bond_bits(), ordinary.bond_bits())
    assert np.count_nonzero(~prepared.intact_bonds()) > model.precracked_bond_count
    a = prepared.arrays
    prepared.set_body_force(0.5e-6)   # half way up the ramp of SMALL's body force
    half = a.body_force.copy_to_host()
    prepared.set_body_force(2.0e-6)
    full = a.body_force.copy_to_host()
    assert np.abs(full).max() > 0 and np.allclose(half, 0.5 * full, rtol=1e-12, atol=0)
    if not CUDA_SIMULATOR:   # a real GPU takes the fast path of numba-cuda 0.30
        assert prepared.forces_launch.fast and prepared.forces_kick_launch.fast


@needs_cuda
def test_cuda_resume_matches_an_uninterrupted_cuda_run(tmp_path):
    from pdgeneral.api import run_case
    from pdgeneral.io import read_snapshot
    from pdgeneral.io.history import read_history
    # a history row every 3 steps: the GPU records step 6's inside its chunks of steps, which the
    # resumed run cuts differently (chunks 4-5, 5-7, 7-8 against 4-8)
    raw = merge(SMALL, {"solver": {"steps": 8}, "output": {"every": 4, "history_every": 3}})
    run_case(case_from(raw), backend="cuda", output=tmp_path / "full.h5")
    run_case(case_from(raw), backend="cuda", output=tmp_path / "cut.h5", steps=4)
    run_case(case_from(raw), backend="cuda", output=tmp_path / "cut.h5", resume=True)
    full, cut = read_snapshot(tmp_path / "full.h5"), read_snapshot(tmp_path / "cut.h5")
    assert full["step"] == cut["step"] == 8
    for name in ("displacement", "velocity", "damage"):
        assert np.array_equal(full[name], cut[name]), name
    full_history, cut_history = read_history(tmp_path / "full.h5"), read_history(tmp_path / "cut.h5")
    assert list(full_history["step"]) == [0, 3, 6, 8]
    for key in full_history:   # row for row, bit for bit
        assert np.array_equal(full_history[key], cut_history[key]), key
    # The output names the GPU it ran on (its UUID tells the GPUs of one host apart).
    with h5py.File(tmp_path / "full.h5") as f:
        assert "(GPU-" in f.attrs["device"]
