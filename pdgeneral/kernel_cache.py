"""Compiled kernels kept on disk between runs, so that a run does not compile them again.

Compiling the CUDA kernels of a model takes 5-8 s on the GPU machine and the CPU backends' loops
10-13 s, several times the stepping of a 4000-step run of 4M particles on the GPU
(docs/performance.md). numba's own cache (``cache=True``) cannot be used for them: it keys a function
by its source file and bytecode only, while the backends compile one source several times against
different global tables (kernels.retarget: the dimension, the bond-force form, the unrolled
stencil's constants), and it does not notice a change in a called function. So numba would load
one specialization's code for another.

``attach(dispatcher, key)`` replaces a dispatcher's cache by a ``KernelCache``. A compiled signature's
file is named by a hash of everything that goes into its code:
- the caller's specialization key (kernel, dimension, form, precision, stencil tables) and the
  dispatcher's compile options (parallel, error_model, max_registers, debug, opt, lto, ...);
- the argument types;
- the source of the whole package, hashed when this module is imported; a run whose sources
  change on disk after that stores nothing, so old code is never filed under new source;
- the versions of Python, numpy, numba, numba-cuda and llvmlite, numba's settings that change code
  (NUMBA_OPT, NUMBA_BOUNDSCHECK, debug info, SVML, vectorization) and numba's description of the
  target (CPU name and features; CUDA version and compute capability).
The payload is what numba's own cache stores (PTX and cubin, or object code), written and read with
numba's reduce and rebuild, with a checksum. A missing, damaged or foreign file is a miss: the
kernel compiles as usual and the file is written again (to a temporary name, then renamed, so a
reader never sees half a file). Any failure of the cache itself (an unreadable package file, no
home directory) turns it off for the run with one warning; it never stops a run.

One more hazard, inside a process: numba names a CPU function's symbol after its module, qualified
name and a per-process counter, and a cached function carries weak copies of the functions it calls
(the CPU drivers call the loops). Two specializations of one source compiled in the same order in
two processes get the same symbol, and loading both into one process would bind a caller to the
other's code. ``attach`` therefore gives each cached function a qualified name that contains its
key's hash, and the counter starts at a random value in each process.

The cache lives in ``$PDGENERAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/pdgeneral`` (by default
``~/.cache/pdgeneral``); ``PDGENERAL_CACHE_DIR=`` (empty) turns it off.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import secrets
import sys
import tempfile
import types
import warnings
from pathlib import Path

from . import numba_internals

#: Bumped when the layout of a cache file changes.
FORMAT = 2
#: The most bytes of entries one cache folder (cpu or cuda) keeps: past it, a save removes the
#: least recently used entries (a hit marks an entry used) down to three quarters of it. Entries
#: of earlier package sources are never loaded again and go first.
LIMIT_BYTES = 2 * 2**30
_PACKAGE = Path(__file__).resolve().parent


def cache_directory() -> Path | None:
    """Where compiled kernels are kept, or None when caching is off."""
    chosen = os.environ.get("PDGENERAL_CACHE_DIR")
    if chosen is not None:
        return Path(chosen).expanduser() if chosen.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pdgeneral"


def _package_files() -> list[Path]:
    """The package's Python sources (regular files only: an editor's lock file is no source)."""
    return sorted(p for p in _PACKAGE.rglob("*.py")
                  if not p.name.startswith(".") and p.is_file() and not p.is_symlink())


def _stamps(files: list[Path]) -> tuple:
    """(path, modification time, size) of each file: what sources_unchanged compares."""
    return tuple((str(p), info.st_mtime_ns, info.st_size) for p in files for info in [p.stat()])


def _numba_settings() -> tuple:
    """numba's settings that change the generated code, and the versions of what generates it."""
    import llvmlite
    import numba
    import numpy
    from numba.core import config
    try:
        import numba_cuda
        cuda_version = numba_cuda.__version__
    except ImportError:
        cuda_version = "-"
    names = ("OPT", "BOUNDSCHECK", "DEBUGINFO_DEFAULT", "CUDA_DEBUGINFO_DEFAULT", "USING_SVML",
             "LOOP_VECTORIZE", "SLP_VECTORIZE", "ENABLE_AVX", "CPU_NAME", "CPU_FEATURES",
             "FASTMATH", "CUDA_DEFAULT_PTX_CC")
    return (sys.version, numpy.__version__, numba.__version__, cuda_version, llvmlite.__version__,
            tuple((name, str(getattr(config, name, None))) for name in names))


def _fingerprint() -> tuple[str, tuple]:
    """(hash of every package source and the numba settings, the sources' stamps)."""
    files = _package_files()
    stamps = _stamps(files)
    digest = hashlib.sha256(repr((FORMAT, _numba_settings())).encode())
    for path in files:
        digest.update(str(path.relative_to(_PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest(), stamps


# Taken when the package is imported (kernels are compiled later: an edit in between must not file
# the old code, which this process runs, under the new source's hash).
try:
    _SOURCE, _SOURCE_STAMPS = _fingerprint()
except Exception as error:   # noqa: BLE001 - no fingerprint, no cache (warned at first use)
    _SOURCE, _SOURCE_STAMPS = None, repr(error)


def source_fingerprint() -> str | None:
    """The hash of the package's sources and numba's settings, taken at import (None: unusable)."""
    return _SOURCE


def sources_unchanged() -> bool:
    """Whether the package's files on disk are still those this process imported."""
    try:
        return _stamps(_package_files()) == _SOURCE_STAMPS
    except OSError:
        return False


# numba's per-process function counter starts at a random value, so that two processes do not give
# two different functions the same symbol (see the module text).
numba_internals.start_function_counter(secrets.randbits(48))


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
        self._reduce = reduce
        self._rebuild = rebuild
        self._dumps = dumps
        self.hits = 0
        self.misses = 0

    def _directory(self) -> Path | None:
        if source_fingerprint() is None:
            _warn_once(f"pdgeneral: kernels are not cached (the package's sources could not be "
                       f"read: {_SOURCE_STAMPS})")
            return None
        try:
            base = cache_directory()
        except RuntimeError as error:   # Path.home() without a home directory
            _warn_once(f"pdgeneral: kernels are not cached ({error}; set PDGENERAL_CACHE_DIR)")
            return None
        return None if base is None else base / self._kind

    @property
    def cache_path(self) -> str | None:
        directory = self._directory()
        return None if directory is None else str(directory)

    def _prefix(self, target: tuple) -> str:
        """This dispatcher's files start with it: the kernel's name and a hash of the rest."""
        text = repr((FORMAT, source_fingerprint(), target, self._key))
        return f"{self._name}-{hashlib.sha256(text.encode()).hexdigest()[:24]}"

    def _entry(self, directory: Path, sig) -> tuple[Path, str]:
        # numba's target description is looked up each time: the CUDA one names the current GPU's
        # compute capability.
        target = numba_internals.target_description(self._target_context)
        text = repr((FORMAT, source_fingerprint(), target, self._name, self._key, str(sig)))
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        return directory / f"{self._prefix(target)}-{digest}.nbk", text

    def load_overload(self, sig, target_context):
        directory = self._directory()
        if directory is None:
            return None
        try:
            path, text = self._entry(directory, sig)
            data = path.read_bytes()
        except Exception:   # noqa: BLE001 - no entry (or no way to name it): compile
            self.misses += 1
            return None
        try:
            stored, checksum, payload = pickle.loads(data)
            if stored != text:     # a hash collision, or a file that is not ours
                raise ValueError("another kernel's entry")
            if hashlib.sha256(payload).hexdigest() != checksum:
                raise ValueError("damaged entry")
            compiled = self._rebuild(target_context, pickle.loads(payload))
            if getattr(compiled, "launch_config_sensitive", False):
                raise ValueError("depends on the launch configuration")
        except Exception:   # noqa: BLE001 - damaged, truncated or from other internals: compile
            self.misses += 1
            return None
        self.hits += 1
        try:
            os.utime(path)      # recently used: the last to be evicted
        except OSError:
            pass
        return compiled

    def save_overload(self, sig, compiled) -> None:
        directory = self._directory()
        if directory is None or getattr(compiled, "launch_config_sensitive", False):
            return   # (numba-cuda keys such kernels by their launch configuration too: not here)
        if not sources_unchanged():
            _warn_once("pdgeneral: the package's sources changed while this process ran; its "
                       "kernels are not cached")
            return
        try:
            path, text = self._entry(directory, sig)
            payload = self._dumps(self._reduce(compiled))
            data = pickle.dumps((text, hashlib.sha256(payload).hexdigest(), payload), protocol=4)
        except Exception as error:   # noqa: BLE001 - a kernel that cannot be stored still runs
            _warn_once(f"pdgeneral: kernel {self._name} is not cached ({error})")
            return
        try:
            directory.mkdir(parents=True, exist_ok=True)
            _remove_stale_temporaries(directory)
            handle, temporary = tempfile.mkstemp(dir=directory, prefix=path.name, suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(temporary, path)
            except BaseException:
                os.unlink(temporary)
                raise
            _evict(directory)
        except OSError as error:
            _warn_once(f"pdgeneral: cannot write the kernel cache in {directory} "
                       f"({error.strerror or error}); kernels compile on every run "
                       f"(PDGENERAL_CACHE_DIR sets another place)")

    def flush(self) -> None:
        """numba calls this to empty the dispatcher's cache (before it recompiles); other
        compilations of the same source keep theirs."""
        directory = self._directory()
        if directory is not None:
            target = numba_internals.target_description(self._target_context)
            for path in directory.glob(f"{self._prefix(target)}-*.nbk"):
                path.unlink(missing_ok=True)


def _remove_stale_temporaries(directory: Path, age: float = 3600.0) -> None:
    """Delete temporary files that a killed writer left behind (older than ``age`` seconds)."""
    import time
    for path in directory.glob("*.tmp"):
        try:
            if time.time() - path.stat().st_mtime > age:
                path.unlink()
        except OSError:
            pass   # another process took it


def _evict(directory: Path, limit: int | None = None) -> None:
    """Remove the least recently used entries while the folder holds more than ``limit`` bytes
    (LIMIT_BYTES), down to three quarters of it."""
    limit = LIMIT_BYTES if limit is None else limit
    entries = []
    for path in directory.glob("*.nbk"):
        try:
            info = path.stat()
        except OSError:
            continue
        entries.append((info.st_mtime, info.st_size, path))
    total = sum(size for _, size, _ in entries)
    if total <= limit:
        return
    for _, size, path in sorted(entries):
        path.unlink(missing_ok=True)
        total -= size
        if total <= 0.75 * limit:
            break


def usage() -> tuple[Path | None, int, int]:
    """(the cache's directory or None when off, its entries, their bytes)."""
    directory = cache_directory()
    if directory is None or not directory.is_dir():
        return directory, 0, 0
    entries = [p for p in directory.rglob("*.nbk") if p.is_file()]
    return directory, len(entries), sum(p.stat().st_size for p in entries)


_WARNED: set = set()


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def attach(dispatcher, key: tuple):
    """Give a numba dispatcher (``njit`` or ``cuda.jit``), before its first compilation, a
    ``KernelCache`` under ``key``, which must name what makes its code differ from another
    compilation of the same source (the dispatcher's options are added here). The dispatcher's
    function is replaced by a copy whose qualified name carries the key's hash (see the module
    text). Returns the dispatcher. The CUDA simulator's kernels have no cache and are returned as
    they are, and so is every dispatcher with numba versions the cache was not tested with
    (numba_internals.supported)."""
    if not numba_internals.has_cache_slot(dispatcher) or not numba_internals.supported():
        return dispatcher
    if dispatcher.overloads:
        raise RuntimeError(f"{dispatcher.py_func.__name__} was compiled before its cache was attached")
    key = (key, tuple(sorted((name, repr(value))
                             for name, value in dispatcher.targetoptions.items())))
    if "cuda" in type(dispatcher).__module__:
        reduce, rebuild, kind = numba_internals.cuda_reduce, numba_internals.cuda_rebuild, "cuda"
    else:
        reduce, rebuild, kind = numba_internals.cpu_reduce, numba_internals.cpu_rebuild, "cpu"
    function = dispatcher.py_func
    renamed = types.FunctionType(function.__code__, function.__globals__, function.__name__,
                                 function.__defaults__, function.__closure__)
    renamed.__qualname__ = (f"{function.__qualname__}__k"
                            f"{hashlib.sha256(repr(key).encode()).hexdigest()[:12]}")
    renamed.__kwdefaults__ = function.__kwdefaults__
    renamed.__doc__ = function.__doc__
    renamed.__module__ = function.__module__
    numba_internals.install_cache(dispatcher, renamed, KernelCache(
        kind, function.__name__, key, dispatcher.targetctx, reduce, rebuild,
        numba_internals.serializer(kind)))
    return dispatcher
