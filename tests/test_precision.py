"""float32 runs compute in float32 (issue 12, item 1): the CPU loops' LLVM IR has no double
arithmetic, and float32 results agree with float64 ones to float32's resolution (docs/theory.md,
"Precision")."""
import re

import numpy as np
import pytest
from conftest import case_from, merge, model_from
from numba import njit
from test_dynamics import FRACTURE_2D
from test_quasi_static import STRIP

from pdgeneral import backends
from pdgeneral.api import run_case
from pdgeneral.backends import cpu
from pdgeneral.backends.base import uses_reciprocal_form
from pdgeneral.io import read_snapshot
from pdgeneral.kernels import retarget

# Double arithmetic, comparisons, conversions to or from double, and double intrinsics (sqrt, fma).
DOUBLE = re.compile(r"\b(?:fadd|fsub|fmul|fdiv|frem|fneg|fcmp \w+)\b[^\n]*\bdouble\b|\bfpext\b|\bfptrunc\b"
                    r"|\b[su]itofp\b[^\n]* to double|@llvm\.\w+\.f64\b")
#: The step loops that must compute in the run's type. The time-dependent ones (constrain,
#: body_force) evaluate t = n dt and the ramps in float64 by design (docs/theory.md, "Precision").
STEP_LOOPS = ("forces", "kick_drift", "kick", "kick_kick_drift", "damage", "residual",
              "relaxation_update")


def compiled_functions(ir: str) -> dict[str, str]:
    """name -> body of each function the module defines, without numba's CPython wrappers (they
    unbox the scalar arguments, which Python hands over as double)."""
    bodies = {}
    for match in re.finditer(r"^define [^\n]*?@\"?([^\s(\"]+)\"?\(.*?^}", ir, re.DOTALL | re.MULTILINE):
        name = match.group(1)
        if not name.startswith(("cpython.", "cfunc.", "_ZN7cpython")):
            bodies[name] = match.group(0)
    return bodies


def double_operations(loop: str, model, real) -> list[str]:
    """The double operations in the LLVM IR of one CPU step loop, compiled as the serial backend
    compiles it (the same source and bodies; without the kernel cache, which keeps no IR) and
    called on that backend's arrays."""
    engine = backends.create("serial", model)
    table = cpu._bodies(uses_reciprocal_form(model), real)
    if loop == "forces":   # the material's force pass, as cpu._compile_loops builds it
        table["FORCE_PASS"] = table[engine.material_module.FORCE_PASSES[0]]
    source = cpu._force_pass_source if loop == "forces" else cpu._LOOP_SOURCES[loop]
    function = njit(**cpu._OPTIONS)(retarget(source, table))
    a, step = engine.arrays, engine.real(1e-9)
    args = {"forces": engine._force_args(),
            "damage": engine._damage_args(),
            "kick_drift": (step, engine.density, a.constrained, a.displacement, a.velocity, a.force,
                           a.body_force),
            "kick": (step, engine.density, a.constrained, a.velocity, a.force, a.body_force),
            "kick_kick_drift": (step, engine.density, a.constrained, a.displacement, a.velocity,
                                a.force, a.body_force),
            "residual": (engine.real(1.0), engine.real(1.0), a.constrained, a.volume, a.force,
                         a.body_force, a.fictitious_density, a.velocity, a.displacement,
                         a.old_residual, a.residual, a.sums),
            "relaxation_update": (True, engine.real(0.5), engine.real(1.0), a.constrained,
                                  a.fictitious_density, a.residual, a.velocity, a.displacement,
                                  a.old_residual)}[loop]
    function(*args)
    ir = function.inspect_llvm(function.signatures[0])
    functions = compiled_functions(ir)
    assert functions, "no function found in the IR"
    return [line.strip() for body in functions.values() for line in body.splitlines()
            if DOUBLE.search(line)]


EXPLICIT_32 = merge(FRACTURE_2D, {"precision": "float32"})
QUASI_STATIC_32 = merge(STRIP, {"precision": "float32"})


@pytest.mark.parametrize("loop", STEP_LOOPS)
def test_float32_step_loops_have_no_double_arithmetic(loop):
    raw = QUASI_STATIC_32 if loop in ("residual", "relaxation_update") else EXPLICIT_32
    found = double_operations(loop, model_from(raw), np.float32)
    assert found == [], "\n".join(found[:10])


def test_the_check_finds_float64_arithmetic_where_there_is_some():
    # The oracle: the float64 build, and float32 arrays compiled with float64 literals (what every
    # float32 run did before REAL), are full of it.
    assert double_operations("forces", model_from(FRACTURE_2D), np.float64)
    assert double_operations("forces", model_from(EXPLICIT_32), np.float64)
    assert double_operations("kick_kick_drift", model_from(EXPLICIT_32), np.float64)


def test_a_float32_run_follows_the_float64_run_to_float32_resolution(tmp_path):
    # Fracture included: the pre-cracked, notched plate with every kind of load, 160 steps.
    raw = merge(FRACTURE_2D, {"solver": {"end_time": None, "steps": 160}, "output": {"every": 160}})
    results = {}
    for precision in ("float64", "float32"):
        summary = run_case(case_from(merge(raw, {"precision": precision})), backend="serial",
                           output=tmp_path / f"{precision}.h5")
        results[precision] = read_snapshot(summary.output)
    u64, u32 = results["float64"]["displacement"], results["float32"]["displacement"]
    assert u32.dtype == np.float32
    scale = np.abs(u64).max()
    difference = np.abs(u32.astype(np.float64) - u64).max() / scale
    # float32 resolves 6e-8 of a value; 160 steps of rounding, and a few bonds that break a step
    # apart where their stretch is within rounding of s0, stay far below 1e-3 of the largest
    # displacement.
    assert difference < 1e-3, difference
    d64, d32 = results["float64"]["damage"], results["float32"]["damage"]
    assert d64.max() > 0.2                                  # the plate did crack
    assert np.abs(d32 - d64).mean() < 1e-3                  # the same crack
    assert np.count_nonzero(np.abs(d32 - d64) > 0.05) <= 0.01 * d64.size


def test_a_float32_quasi_static_strip_stretches_by_sigma_l_over_e(tmp_path):
    # The analytical answer, measured as tests/test_quasi_static.py measures it in float64, at a
    # residual tolerance float32 reaches (its force sums resolve about 1e-6 of a bond force).
    from test_quasi_static import SIGMA, E
    stretches = {}
    for precision in ("float64", "float32"):
        raw = merge(STRIP, {"precision": precision, "solver": {"tolerance": 1e-5}})
        snap = read_snapshot(run_case(case_from(raw), backend="serial",
                                      output=tmp_path / f"{precision}.h5").output)
        x, u = snap["position"], snap["displacement"].astype(np.float64)
        mid = np.abs(x[:, 1]) < 0.006
        a = mid & (np.abs(x[:, 0] - 0.0725) < 1e-9)
        b = mid & (np.abs(x[:, 0] - 0.2275) < 1e-9)
        stretches[precision] = u[b, 0].mean() - u[a, 0].mean()
    assert stretches["float32"] == pytest.approx(SIGMA * (0.2275 - 0.0725) / E, rel=0.03)
    # Each run stops once its residual is below 1e-5 of the load, which leaves either about 1e-4 of
    # the displacement from converged (measured: the two differ by 1.0e-4).
    assert stretches["float32"] == pytest.approx(stretches["float64"], rel=1e-3)
