"""Every use of numba's and numba-cuda's private internals, in one place, for the versions tested.

pdgeneral relies on internals for four things numba offers no public way to do:

- the kernel cache (kernel_cache.py): a dispatcher's cache slot (``_cache``) and the function its
  compiler compiles (``_compiler.py_func``), numba's reduce and rebuild of compiled results
  (``CompileResult._reduce``/``_rebuild``, ``_Kernel._reduce_states``/``_rebuild``) and the
  per-process counter that numba names symbols with (``FunctionIdentity._unique_ids``);
- prepared launches (backends/cuda.py, ``PreparedLaunch``): a compiled kernel's argument
  conversion (``_prepare_args``), its cufunc and cuda.core's ``launch`` as numba-cuda calls it;
- zeroing device memory without a host array (``driver.device_memset``);
- a non-blocking stream of high priority (``side_stream``: the driver's
  ``cuStreamCreateWithPriority`` wrapped in numba-cuda's ``Stream``), for the history rows'
  reductions beside the step's kernels;
- (a benchmark only: benchmarks/sass_counts.py) compiling kernels that call device functions
  where there is no GPU (``assume_compute_capability``: numba-cuda asks the current device for it).

They are used only with the versions in ``TESTED``. With any other numba or numba-cuda,
``supported()`` is False, one warning says what to do, and each feature takes numba's public path:
no kernel cache (every run compiles), launches through the dispatcher (about 12 us of argument
conversion per array per launch), zeros copied from the host, numba's ordinary (blocking) stream. Results are the same either way.
"""
from __future__ import annotations

import ctypes
import itertools
import warnings
from functools import cache

#: package -> (lowest version tested, first version not tested); pyproject.toml pins the same.
TESTED = {"numba": ("0.68.0", "0.69"), "numba-cuda": ("0.30.4", "0.31")}


def _release(version: str) -> tuple[int, ...]:
    """'0.30.4' -> (0, 30, 4); a suffix such as 'rc1' or '+local' ends the number."""
    parts = []
    for piece in version.split("+")[0].split("."):
        digits = "".join(itertools.takewhile(str.isdigit, piece))
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def installed_versions() -> dict[str, str | None]:
    """The installed numba and numba-cuda versions (None: not installed)."""
    import numba
    try:
        import numba_cuda
        cuda_version = numba_cuda.__version__
    except ImportError:
        cuda_version = None
    return {"numba": numba.__version__, "numba-cuda": cuda_version}


def mismatch() -> str | None:
    """What is installed outside the tested versions, as a sentence, or None."""
    found = []
    for name, version in installed_versions().items():
        low, high = TESTED[name]
        if version is not None and not _release(low) <= _release(version) < _release(high):
            found.append(f"{name} {version} (tested: >={low},<{high})")
    if not found:
        return None
    pins = " ".join(f"'{name}>={low},<{high}'" for name, (low, high) in TESTED.items())
    return (f"pdgeneral: {', '.join(found)}: the kernel cache, prepared GPU launches and device-side "
            f"zeroing use numba internals and are off, so every run compiles its kernels and GPU "
            f"launches are slower (results are the same). Install the tested versions with "
            f"pip install {pins}, or a pdgeneral release that supports yours.")


@cache
def supported() -> bool:
    """Whether the internals below may be used; warns once when not."""
    message = mismatch()
    if message is not None:
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        return False
    return True


# The kernel cache ----------------------------------------------------------------------------------

def start_function_counter(value: int) -> None:
    """Start numba's per-process function counter (which names CPU symbols) at ``value``."""
    try:
        from numba.core.bytecode import FunctionIdentity
        FunctionIdentity._unique_ids = itertools.count(value)
    except (ImportError, AttributeError):
        pass


def has_cache_slot(dispatcher) -> bool:
    """Whether a dispatcher has numba's per-dispatcher cache (the CUDA simulator's kernels have not)."""
    return hasattr(dispatcher, "_cache")


def install_cache(dispatcher, function, cache_object) -> None:
    """Make ``dispatcher`` compile ``function`` (a renamed copy of its own) and consult
    ``cache_object`` (load_overload / save_overload) instead of numba's cache."""
    dispatcher.py_func = function
    if hasattr(dispatcher, "_compiler"):
        dispatcher._compiler.py_func = function   # what numba compiles (and names the symbol after)
    dispatcher._cache = cache_object


def target_description(target_context) -> tuple:
    """numba's description of the code generator's target (CPU name and features; CUDA cc)."""
    return target_context.codegen().magic_tuple()


def serializer(kind: str):
    """numba's ``dumps`` for compiled results of ``kind`` ('cpu' or 'cuda')."""
    if kind == "cuda":
        from numba.cuda.serialize import dumps
    else:
        from numba.core.serialize import dumps
    return dumps


# numba's own reduce and rebuild (numba.core.caching.CompileResultCacheImpl and numba-cuda's
# CUDACacheImpl), without their locators, which need a source file.

def cuda_reduce(kernel):
    return kernel._reduce_states()


def cuda_rebuild(target_context, payload):
    from numba.cuda import utils
    from numba.cuda.dispatcher import _Kernel
    with utils.numba_target_override():
        target_context.refresh()
        return _Kernel._rebuild(**payload)


def cpu_reduce(compile_result):
    if compile_result.lifted or compile_result.library.has_dynamic_globals:
        raise ValueError("it uses lifted loops or dynamic globals")
    return compile_result._reduce()


def cpu_rebuild(target_context, payload):
    from numba.core import compiler
    target_context.refresh()
    return compiler.CompileResult._rebuild(target_context, *payload)


# GPU launches and memory ---------------------------------------------------------------------------

def prepared_launch(dispatcher, griddim: int | tuple[int, int], blockdim: int, args: list,
                    stream=0):
    """(launch, scalars) for one kernel, launch configuration and argument list (on ``stream``,
    0 for the default stream), converted for the driver once: ``launch()`` runs the kernel, and ``scalars`` maps the position of each scalar
    argument to the ctypes value the launch reads (set its ``.value`` to change it). None where
    that is not possible (a debug or cooperative kernel, host arrays copied per launch)."""
    from numba.cuda import dispatcher as internals
    kernel = dispatcher.compile(tuple(dispatcher.typeof_pyval(a) for a in args))
    if kernel.debug or kernel.cooperative:
        return None
    kernelargs: list = []
    written_back: list = []
    scalars: dict[int, object] = {}
    for position, (argtype, value) in enumerate(zip(kernel.argument_types, args)):
        start = len(kernelargs)
        kernel._prepare_args(argtype, value, 0, written_back, kernelargs)
        if len(kernelargs) == start + 1 and isinstance(kernelargs[start], ctypes._SimpleCData):
            scalars[position] = kernelargs[start]
    if written_back:   # host arrays copied per launch: not for a step loop
        return None
    cooperative = "is_cooperative" if internals.CUDA_CORE_GE_1_0 else "cooperative_launch"
    config = internals.LaunchConfig(grid=griddim, block=blockdim, shmem_size=0, **{cooperative: False})
    function = kernel._codelibrary.get_cufunc().kernel
    core_stream = internals.driver._to_core_stream(stream)   # 0: the default, as numba-cuda's own
    launch = internals.launch
    return (lambda: launch(core_stream, config, function, *kernelargs)), scalars


def side_stream():
    """A stream for small work beside the step's kernels (the history rows' reductions): it does
    not wait for the legacy default stream (CU_STREAM_NON_BLOCKING; the caller orders it with
    events) and has the device's greatest priority, so that its few blocks are scheduled between
    the force kernel's rather than after them. numba-cuda creates only blocking streams of
    default priority; (stream, True) here, or (numba's ordinary stream, False) where the driver
    calls are not there (the simulator, another numba-cuda): correct, only serialized."""
    from numba import cuda
    if not supported():
        return cuda.stream(), False
    try:
        from numba.cuda.cudadrv import driver as internals
        context = cuda.current_context()
        flags = internals.binding.CUstream_flags.CU_STREAM_NON_BLOCKING.value
        _least, greatest = internals.driver.cuCtxGetStreamPriorityRange()
        handle = internals.driver.cuStreamCreateWithPriority(flags, greatest)
        return internals.Stream(handle, finalizer=internals._stream_finalizer(
            context.deallocations, handle)), True
    except Exception:   # noqa: BLE001 - any change of the internals: an ordinary stream
        return cuda.stream(), False


def device_memset(array) -> None:
    """Set every byte of a device array to zero on the device."""
    from numba.cuda.cudadrv.driver import device_memset as memset
    memset(array, 0, array.nbytes)


def assume_compute_capability(capability: tuple[int, int]) -> None:
    """Let device functions compile for ``capability`` without a GPU: numba-cuda compiles a
    device function called from a kernel for the current device's compute capability
    (``dispatcher.get_current_device``), which needs a driver, even under ``compile_ptx`` with an
    explicit one. For benchmarks/sass_counts.py, which counts the instructions of the step
    kernels on a machine without a GPU; never called by a run."""
    import types

    from numba.cuda import dispatcher
    dispatcher.get_current_device = lambda: types.SimpleNamespace(
        compute_capability=tuple(capability))
