"""The memory estimate against the arrays a backend really allocates."""
import numpy as np
import pytest
from conftest import BASE_2D, CUDA_SIMULATOR, merge, model_from, needs_cuda, real_gpu

from pdgeneral import arrays, backends
from pdgeneral.memory import model_bytes


def allocated_bytes(engine) -> int:
    return sum(np.asarray(value).nbytes for value in vars(engine.arrays).values())


def with_histories(engine):
    """The backend as a run that writes output uses it: with the energy pass's arrays."""
    from pdgeneral.io.history import History
    History(engine.model, engine)
    return engine


LOADED_3D = {
    "dimension": 3, "plane": None, "thickness": None,
    "geometry": {"box": {"min": [0, 0, 0], "max": [0.02, 0.012, 0.01]},
                 "holes": [{"sphere": {"center": [0.01, 0.006, 0.005], "radius": 0.002}}]},
    "regions": {"end": {"box": {"min": [0.018, 0, 0], "max": [0.02, 0.012, 0.01]}},
                "top": {"box": {"min": [0, 0.01, 0], "max": [0.02, 0.012, 0.01]}}},
    "boundary_conditions": [
        {"region": "end", "type": "traction", "value": [1.0e6, 0.0, 0.0], "ramp_time": 1e-6},
        {"region": "top", "type": "body_force", "value": [0.0, 1.0e9, 0.0]}],
}


def loaded_3d(precision):
    raw = merge(BASE_2D, LOADED_3D)
    for key in ("plane", "thickness"):
        raw.pop(key)
    return model_from(merge(raw, {"precision": precision}))


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_estimate_covers_a_3d_case_with_loads_and_a_hole(precision):
    model = loaded_3d(precision)
    assert len(model.load_groups) >= 1
    engine = with_histories(backends.create("serial", model))
    actual = allocated_bytes(engine)
    assert actual <= model_bytes(model, precision, "cpu", engine.rows) <= 1.15 * actual


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_estimate_covers_the_cpu_backend_arrays(precision):
    model = model_from(merge(BASE_2D, {"precision": precision}))
    engine = with_histories(backends.create("serial", model))
    estimate = model_bytes(model, precision, "cpu", engine.rows)
    actual = allocated_bytes(engine)
    # The estimate is what `check` prints and the GPU backend tests against: never below the
    # truth, and not wasteful (within 15 %).
    assert actual <= estimate <= 1.15 * actual


@needs_cuda
@pytest.mark.parametrize("loaded", [False, True])
def test_estimate_covers_the_cuda_backend_arrays(loaded):
    model = loaded_3d("float64") if loaded else model_from(BASE_2D)
    engine = with_histories(backends.create("cuda", model))
    # The working arrays and the second displacement array of the fused force-and-kick kernel.
    allocated = {id(a): a for a in (*vars(engine.arrays).values(), *engine._displacements)}
    assert len(allocated) == len(vars(engine.arrays)) + 1
    actual = sum(value.nbytes for value in allocated.values())
    estimate = model_bytes(model, "float64", "cuda", engine.rows)
    assert actual <= estimate <= 1.15 * actual


@needs_cuda
def test_cuda_refuses_a_case_that_does_not_fit_before_allocating(monkeypatch):
    from pdgeneral.backends import cuda as cuda_backend
    from pdgeneral.errors import CaseError

    class SmallGpu:
        def get_memory_info(self):
            return 100_000, 200_000   # free, total bytes

    monkeypatch.setattr(cuda_backend.cuda, "current_context", lambda: SmallGpu())
    allocations = []
    monkeypatch.setattr(cuda_backend.cuda, "to_device", lambda *a, **k: allocations.append(a))
    with pytest.raises(CaseError, match=r"backend: the case needs about .* GiB of GPU memory"):
        backends.create("cuda", model_from(BASE_2D))
    assert allocations == []


def table_arrays(engine) -> dict:
    """name -> (shape, dtype) of the array table's arrays (pdgeneral/arrays.py) that this backend
    holds, as the table declares them for its sizes."""
    real = engine.model.dtype
    return {spec.name: (arrays.shape(spec, engine.sizes), arrays.dtype_of(spec, real))
            for spec in arrays.ARRAYS
            if engine.sizes.present(spec) and spec.when != "cuda"}


LPS_2D = merge(BASE_2D, {"material": {"model": "lps", "poissons_ratio": 0.3}})


@pytest.mark.parametrize("backend, raw", [
    ("serial", BASE_2D), ("serial", merge(BASE_2D, {"precision": "float32"})), ("serial", LPS_2D),
    ("cuda", LPS_2D)],   # (the simulator is slow: the GPU's own arrays are every material's)
    ids=["serial-pmb", "serial-pmb-float32", "serial-lps", "cuda-lps"])
def test_a_backend_holds_exactly_the_array_table(backend, raw):
    # The table drives the allocation and the memory estimate: an array a backend holds that the
    # table does not declare (or declares with another shape or type) fails here.
    if backend == "cuda" and not (CUDA_SIMULATOR or real_gpu()):
        pytest.skip("no GPU and no simulator")
    model = model_from(raw)
    engine = with_histories(backends.create(backend, model))
    declared = table_arrays(engine)
    held = {name: (tuple(value.shape), np.dtype(value.dtype))
            for name, value in vars(engine.arrays).items()}
    assert set(held) == set(declared)
    for name, (shape, dtype) in declared.items():
        if name == "history_terms":   # (rows, width): the table counts two padded terms per entry
            assert held[name][1] == dtype
            assert np.prod(held[name][0]) <= np.prod(shape)
            continue
        assert held[name] == (shape, dtype), name


def test_the_restart_arrays_are_what_a_resume_restores():
    # arrays.RESTART: a backend loaded with another's restart arrays holds the same bits in each.
    from pdgeneral.model import time_stepping
    from pdgeneral.solvers import run_explicit
    raw = merge(BASE_2D, {
        "regions": {"right": {"box": {"min": [0.038, 0.0], "max": [0.04, 0.02]}}},
        "boundary_conditions": [{"region": "right", "type": "velocity", "value": [2.0, None]}]})
    model = model_from(raw)
    first = backends.create("serial", model)
    dt, _ = time_stepping(model)
    run_explicit(first, None, 30, dt, 10**9)
    fields, bits = first.snapshot_state()
    second = backends.create("serial", model)
    second.load_state(fields["displacement"], fields["velocity"], bits)
    second.load_constraint_work(first.constraint_work())
    for name in arrays.RESTART:
        assert np.asarray(getattr(first.arrays, name)).tobytes() == \
            np.asarray(getattr(second.arrays, name)).tobytes(), name
    assert set(arrays.RESTART) == {"displacement", "velocity", "intact", "constraint_work"}
    # and what the output stores of them (io/hdf5.py writes and reads these datasets)
    from pdgeneral.io import hdf5
    assert hdf5.RESTART == ("displacement", "velocity", "bond_state")
