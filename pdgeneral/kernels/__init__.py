"""Per-particle loop bodies, shared by every backend (njit loops on the CPU, cuda.jit kernels)."""

import types as _types


def retarget(function, table: dict):
    """A copy of ``function`` whose global names resolve through ``table`` first: how a backend
    compiles a shared body against its own versions of the functions it calls, or with a
    compile-time constant (SPECIALIZED_DIMENSION, SPECIALIZED_FORM) fixed."""
    namespace = dict(function.__globals__)
    namespace.update(table)
    return _types.FunctionType(function.__code__, namespace, function.__name__,
                               function.__defaults__, function.__closure__)


def specialize(bodies, constants: dict, compile_body, replace: dict | None = None) -> dict:
    """name -> compiled body for one build: each of ``bodies`` (callees before callers) retargeted
    to see ``constants`` (REAL, SPECIALIZED_DIMENSION, SPECIALIZED_FORM, ...) and the compiled
    versions of the bodies it calls, then compiled by ``compile_body`` (register_jitable on the
    CPU, cuda.jit(device=True) on the GPU). ``replace`` maps a body to a backend's own version of
    it (the GPU's rsqrt). The table also holds ``constants``, for retargeting the loops."""
    table = dict(constants)
    for function in bodies:
        compiled = (replace or {}).get(function, function)
        table[function.__name__] = compile_body(retarget(compiled, table))
    return table
