"""Shared helpers: small cases built from dictionaries, so that each test states what it varies."""
from __future__ import annotations

import copy
import os

import pytest
import yaml

from pdgeneral.case import load_case_text
from pdgeneral.model import build_model

BASE_2D = {
    "name": "test-2d",
    "dimension": 2,
    "plane": "stress",
    "thickness": 1.0e-3,
    "material": {"model": "pmb", "youngs_modulus": 72.0e9, "density": 2440.0, "fracture_energy": 3.8},
    "discretization": {"spacing": 1.0e-3, "horizon_factor": 3.015, "surface_correction": "energy"},
    "geometry": {"box": {"min": [0.0, 0.0], "max": [0.04, 0.02]}},
    "solver": {"type": "explicit", "steps": 20},
    "output": {"every": 10},
}


def merge(base: dict, changes: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def case_from(raw: dict):
    return load_case_text(yaml.safe_dump(raw), source="test.yaml")


def model_from(raw: dict):
    return build_model(case_from(raw))


@pytest.fixture(scope="session", autouse=True)
def kernel_cache_for_the_session(tmp_path_factory):
    """One kernel cache (pdgeneral/kernel_cache.py) for the session, under pytest's
    temporary directory: the tests' subprocesses load the loops that an earlier test compiled, and
    nothing is written under the user's home. A PDGENERAL_CACHE_DIR set outside is kept.

    Under pytest-xdist every worker has its own temporary directory; the workers share one cache
    beside them (the cache is safe across processes), so each kind of kernel compiles once."""
    if "PDGENERAL_CACHE_DIR" not in os.environ:
        if os.environ.get("PYTEST_XDIST_WORKER"):
            shared = tmp_path_factory.getbasetemp().parent / "kernel-cache"
            shared.mkdir(exist_ok=True)
            os.environ["PDGENERAL_CACHE_DIR"] = str(shared)
        else:
            os.environ["PDGENERAL_CACHE_DIR"] = str(tmp_path_factory.mktemp("kernel-cache"))
    yield


@pytest.fixture
def base_2d() -> dict:
    return copy.deepcopy(BASE_2D)


CUDA_SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def real_gpu() -> bool:
    from pdgeneral.backends import cuda_available
    return cuda_available()


#: The CUDA backend can run: on numba's simulator (make test sets NUMBA_ENABLE_CUDASIM=1) or a GPU.
needs_cuda = pytest.mark.skipif(not (CUDA_SIMULATOR or real_gpu()),
                                reason="needs numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1) or a GPU")
