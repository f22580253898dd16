"""The memory estimate against the arrays a backend really allocates."""
import numpy as np
import pytest
from conftest import BASE_2D, merge, model_from, needs_cuda

from pdgeneral import backends
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
    # The working arrays, the second displacement array of the fused force-and-kick kernel, and
    # the force rows (the force array is a view of their first rows).
    allocated = {id(a): a for a in (*vars(engine.arrays).values(), *engine._displacements)
                 if a is not engine.arrays.force}
    assert len(allocated) == len(vars(engine.arrays))
    actual = sum(value.nbytes for value in allocated.values()) + engine._force_rows.nbytes
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
