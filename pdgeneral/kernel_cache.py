"""Compiled kernels kept on disk between runs, so that a run does not compile them again.

Compiling the CUDA kernels of a model takes 5-12 s on the GPU machine, several times the stepping
of a 4000-step run of 4M particles (docs/performance.md). numba's own cache (``cache=True``) cannot
be used for them: it keys a function by its source file and bytecode only, while the backends compile
one source several times against different global tables (kernels.retarget: the dimension, the
bond-force form, the unrolled stencil's constants), and it does not notice a change in a called
function. So numba would load one specialization's code for another.

``attach(dispatcher, key)`` replaces a dispatcher's cache by a ``KernelCache``: the file of a
compiled signature is named by a hash of everything that goes into its code:
- the backend's specialization key (kernel, dimension, form, precision, stencil tables, options);
- the argument types;
- the source of the whole package (any edit of pdgeneral starts afresh);
- Python, numba, numba-cuda and llvmlite versions, and numba's description of the target (for CUDA
  the toolkit version and the GPU's compute capability).
The payload is what numba's own cache stores (the kernel's PTX and cubin, its signature), written and
read with numba's reduce/rebuild. A missing, damaged or foreign file is a miss: the kernel compiles as
usual and the file is written again (to a temporary name, then renamed, so a reader never sees half a
file). The cache lives in ``$PDGENERAL_CACHE_DIR`` or else ``$XDG_CACHE_HOME/pdgeneral`` (default
``~/.cache/pdgeneral``); ``PDGENERAL_CACHE_DIR=`` (empty) turns it off.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path

#: Bumped when the layout of a cache file changes.
FORMAT = 1
_PACKAGE = Path(__file__).resolve().parent


def cache_directory() -> Path | None:
    """Where compiled kernels are kept, or None when caching is off."""
    chosen = os.environ.get("PDGENERAL_CACHE_DIR")
    if chosen is not None:
        return Path(chosen).expanduser() if chosen.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pdgeneral"


@lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """A hash of every Python file of the package and of the compiler versions."""
    import llvmlite
    import numba
    try:
        import numba_cuda
        cuda_version = numba_cuda.__version__
    except ImportError:
        cuda_version = "-"
    digest = hashlib.sha256(repr((FORMAT, sys.version, numba.__version__, cuda_version,
                                  llvmlite.__version__)).encode())
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(_PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class KernelCache:
    """Stands in for numba's per-dispatcher cache: numba's ``compile`` calls ``load_overload``
    before compiling a signature and ``save_overload`` after. ``reduce`` turns a compiled result
    into picklable data and ``rebuild(target_context, data)`` turns it back (numba's own). The
    directory is looked up at each use, so PDGENERAL_CACHE_DIR may change after ``attach``."""

    def __init__(self, kind: str, name: str, key: tuple, target_context, reduce, rebuild, dumps):
        self._kind = kind
        self._name = name
        self._key = key
        self._target_context = target_context
        self._target = None
        self._reduce = reduce
        self._rebuild = rebuild
        self._dumps = dumps
        self.hits = 0
        self.misses = 0

    @property
    def _directory(self) -> Path | None:
        base = cache_directory()
        return None if base is None else base / self._kind

    @property
    def cache_path(self) -> str:
        return str(self._directory)

    def _target_description(self) -> tuple:
        """numba's description of what the code runs on (CPU features; CUDA version and compute
        capability), found at first use: the CUDA one needs the GPU."""
        if self._target is None:
            self._target = self._target_context.codegen().magic_tuple()
        return self._target

    def _prefix(self) -> str:
        """This dispatcher's files start with it: the kernel's name and a hash of the rest."""
        text = repr((FORMAT, source_fingerprint(), self._target_description(), self._key))
        return f"{self._name}-{hashlib.sha256(text.encode()).hexdigest()[:24]}"

    def _entry(self, sig) -> tuple[Path, str]:
        text = repr((FORMAT, source_fingerprint(), self._target_description(), self._name,
                     self._key, str(sig)))
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        return self._directory / f"{self._prefix()}-{digest}.nbk", text

    def load_overload(self, sig, target_context):
        if self._directory is None:
            return None
        path, text = self._entry(sig)
        try:
            data = path.read_bytes()
        except OSError:
            self.misses += 1
            return None
        try:
            stored, payload = pickle.loads(data)
            if stored != text:     # a hash collision, or a file that is not ours
                raise ValueError("another kernel's entry")
            target_context.refresh()
            compiled = self._rebuild(target_context, payload)
        except Exception:   # noqa: BLE001 - damaged, truncated or from other internals: compile
            self.misses += 1
            return None
        self.hits += 1
        return compiled

    def save_overload(self, sig, compiled) -> None:
        if self._directory is None:
            return
        path, text = self._entry(sig)
        try:
            data = self._dumps((text, self._reduce(compiled)))
        except Exception as error:   # noqa: BLE001 - a kernel that cannot be stored still runs
            _warn_once(f"pdgeneral: kernel {self._name} is not cached ({error})")
            return
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self._directory, prefix=path.name,
                                                 suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as f:
                    f.write(data)
                os.replace(temporary, path)
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError as error:
            _warn_once(f"pdgeneral: cannot write the kernel cache in {self._directory} "
                       f"({error.strerror or error}); kernels compile on every run "
                       f"(PDGENERAL_CACHE_DIR sets another place)")

    def flush(self) -> None:
        """numba calls this to empty the dispatcher's cache (before it recompiles); other
        compilations of the same source keep theirs."""
        if self._directory is not None:
            for path in self._directory.glob(f"{self._prefix()}-*.nbk"):
                path.unlink(missing_ok=True)


_WARNED: set = set()


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def attach(dispatcher, key: tuple):
    """Give a numba dispatcher (``njit`` or ``cuda.jit``) a ``KernelCache`` under ``key``, which
    must name everything that makes its code differ from another compilation of the same source.
    Returns the dispatcher. The CUDA simulator's kernels have no cache and are returned as they
    are."""
    if not hasattr(dispatcher, "_cache"):
        return dispatcher
    if "cuda" in type(dispatcher).__module__:
        from numba.cuda.serialize import dumps
        reduce, rebuild, kind = _cuda_reduce, _cuda_rebuild, "cuda"
    else:
        from numba.core.serialize import dumps
        reduce, rebuild, kind = _cpu_reduce, _cpu_rebuild, "cpu"
    dispatcher._cache = KernelCache(kind, dispatcher.py_func.__name__, key, dispatcher.targetctx,
                                    reduce, rebuild, dumps)
    return dispatcher


# numba's own reduce and rebuild (numba.core.caching.CompileResultCacheImpl and numba-cuda's
# CUDACacheImpl), without their locators, which need a source file.

def _cuda_reduce(kernel):
    return kernel._reduce_states()


def _cuda_rebuild(target_context, payload):
    from numba.cuda import utils
    from numba.cuda.dispatcher import _Kernel
    with utils.numba_target_override():
        return _Kernel._rebuild(**payload)


def _cpu_reduce(compile_result):
    if compile_result.lifted or compile_result.library.has_dynamic_globals:
        raise ValueError("it uses lifted loops or dynamic globals")
    return compile_result._reduce()


def _cpu_rebuild(target_context, payload):
    from numba.core import compiler
    return compiler.CompileResult._rebuild(target_context, *payload)
