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
