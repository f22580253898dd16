"""Output of a run (scripts, the validation suite and ParaView via XDMF read it), written so that a
crash at any moment leaves every snapshot completed before it intact and readable, and a resume
from the newest restart point continues with the same bits as a run that never stopped.

An output ``OUT.h5`` is a small HDF5 file plus a folder ``OUT.h5.d/`` beside it:

    OUT.h5                   what users open: attributes and external links, no arrays
      /                      attrs: pdgeneral_version, case (YAML text as read), overrides (the
                                    --set KEY=VALUE strings applied to it), case_normalized (JSON,
                                    overrides and defaults applied), name, backend, device (the
                                    CPU or GPU the run started on), precision (the run's),
                                    snapshot_precision, compression, dimension, and the derived
                                    constants (micromodulus, critical_stretch, horizon, spacing,
                                    stable_time_step)
      /particles          -> OUT.h5.d/particles.h5:/
      /steps/<step:08d>   -> OUT.h5.d/step-<step:08d>.h5:/
      /checkpoint         -> OUT.h5.d/checkpoint.h5:/   (once a restart point apart from the
                                                          snapshots was written)
      /history            -> OUT.h5.d/history.h5:/      (once a history was written)
    OUT.h5.d/particles.h5    position (N, dim) float64 reference coordinates, m; volume (N,) m^3
    OUT.h5.d/step-<step:08d>.h5   one snapshot
                             attrs: step (int), time (s), complete (True), restart (bool: whether
                             the file is a restart point), precision (of its fields); explicit
                             runs add time_step, quasi-static runs load_factor, iterations,
                             residual, converged
        the fields output.fields names that the run supplies, in output.precision (never above the
        run's precision: a float32 run's fields stay float32): displacement (N, dim) m, velocity
        (N, dim) m/s, damage (N,), strain_energy_density (N,) J/m^3
        bond_state (words, N) uint32: bit n % 32 of word n // 32 = bond n of the particle's row
                   (its n-th neighbour in ascending order) intact (io/../analysis counts broken
                   bonds from it)
    OUT.h5.d/checkpoint.h5   the newest restart point apart from the snapshots: displacement,
                             velocity (N, dim) and bond_state in the run's precision; attrs step,
                             time, restart (True), precision, complete, and the snapshot's attrs
                             (time_step, or the quasi-static ones)
    OUT.h5.d/history.h5      the history rows (io/history.py writes its content), when the run
                             keeps one
    OUT.xdmf                 the ParaView index (xdmf.py); it names the files of OUT.h5.d directly

Snapshots for looking at, restart points for continuing. A snapshot whose fields are stored in the
run's precision is a restart point as it always was: it holds displacement and velocity (written
whatever output.fields says) and the bond state, and ``--resume`` can continue from it. A snapshot
stored in a lower precision (output.precision float32, the default, of a float64 run) is for
viewing only (attr restart False): the same background job that writes it then replaces
checkpoint.h5 with the full state of the same step, so the newest snapshot can always be resumed
with the same bits while the older ones cost half the bytes. checkpoint.h5 is also written at
output.checkpoint_every and output.checkpoint_minutes; only the newest is kept. ``--resume``
continues from the newest of checkpoint.h5 and the snapshots that are restart points, and never
reads a view-only field as state. ``pdgeneral info OUT.h5`` says which files are which.

output.compression (lzf, gzip) stores every array of the snapshot files (bond_state included)
through HDF5's byte shuffle and that filter, in chunks of about CHUNK_BYTES; readers (h5py, XDMF
through the HDF5 library) decompress on their own. checkpoint.h5 and particles.h5 are never
compressed (a restart point is written, and read, at the disk's speed). Uncompressed arrays are
contiguous datasets whose space HDF5 allocates when it creates them: the file's structure is
written through h5py, and then the arrays' bytes go to their places in the file with pwrite, from
WRITE_THREADS threads that each convert (precision, and the backends' (dim, N) layout to (N, dim))
one block of BLOCK_BYTES at a time; one write per block, no copy of a whole array, and one fsync
per file.

HDF5 follows external links on access, so ``f["steps/00000100/displacement"]`` and
``f["particles/position"]`` read as if everything were in OUT.h5. The links hold paths relative to
OUT.h5's folder, where HDF5 looks first (after the HDF5_EXT_PREFIX variable, when set): the output
opens from any working directory, and moves or copies as long as OUT.h5 and OUT.h5.d/ go together.
Rows keep one particle order in every file.

Crash safety by construction: a file is never modified once it has its final name. Each is written
as NAME.tmp, closed, fsync'ed, renamed to NAME by os.replace (atomic), and its folder fsync'ed. A
snapshot writes history.h5 (when the run keeps a history), then its step file, then (a view-only
one) checkpoint.h5, then rebuilds OUT.h5 with one more link, then the XDMF index; a checkpoint
replaces history.h5 and checkpoint.h5 the same way (and rebuilds OUT.h5 when it gains a link). So
at every instant each name holds a complete file, and OUT.h5 links only to files already in place:
the snapshots OUT.h5 lists are exactly those completed. The step file goes before its checkpoint:
a crash between the two leaves the previous restart point, from which the resumed run writes the
same snapshot again (the same bits), never a restart point whose snapshot is lost. From an
output's first snapshot on there is always a restart point: that snapshot, and a rewrite of the
only restart point (a resume from step 0), are written in the run's precision. A ``*.tmp`` is a
write cut short: nothing links to it, and ``--resume`` deletes it. ``--resume`` also adopts a step
file that OUT.h5 does not list yet (a crash between the two renames; the file is complete, as
every final name is). history.h5 (rows up to the job's step, frozen when the job is submitted) goes
before the job's restart state, so that it always covers the newest restart point: a crash between
the two leaves a history whose rows run past the step a resume continues from, and the history
code keeps only the rows up to that step (``resumed_history_path`` names the file). The writer
holds an exclusive lock (flock) on the folder for the whole run, so that two runs never write one
output.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import h5py
import numpy as np

from .. import __version__
from ..arrays import RESTART_DATASETS
from ..errors import CaseError, PdgeneralError
from .xdmf import xdmf_document, xdmf_path

try:
    import fcntl
except ImportError:       # Windows: no advisory locks; one writer per output is then up to the user
    fcntl = None

if TYPE_CHECKING:
    from ..model import Model

PARTICLES = "particles.h5"
CHECKPOINT = "checkpoint.h5"
HISTORY = "history.h5"
TMP = ".tmp"
_STEP_FILE = re.compile(r"^step-(\d+)\.h5$")
#: The snapshot fields a case may name (output.fields), in the order files and indexes list them.
FIELDS = ("displacement", "velocity", "damage", "strain_energy_density")
#: What a run needs to continue, in the run's precision: the restart arrays of the array table
#: (arrays.py) that a snapshot holds, by their dataset names.
RESTART = RESTART_DATASETS
#: Bytes of one block of an uncompressed array's write: large enough that a write call costs
#: nothing beside its copy, small enough that the converted block is still in cache when written.
BLOCK_BYTES = 4 << 20
#: Threads converting and writing the blocks of one file. One core converts float64 (dim, N) to
#: float32 (N, dim) at about 4 GB/s of output (per-column copies; measured on the dev VM), below a
#: fast NVMe disk; a few cores keep up with it, and the copies into the page cache overlap.
WRITE_THREADS = max(1, min(8, os.cpu_count() or 1))
#: Chunk size of a compressed array: each chunk is compressed on its own (about HDF5's default chunk
#: cache, so that a reader of a slice decompresses little more than it asked for).
CHUNK_BYTES = 1 << 20
#: gzip level: 1 compresses these arrays almost as well as higher levels at several times the speed.
GZIP_LEVEL = 1


class HistorySource(Protocol):
    """What ``SnapshotWriter.history`` is (io/history.py's History): rows frozen in the caller's
    thread, written into an open file in the writer's."""

    def freeze(self, step: int) -> object: ...

    def write(self, f: h5py.File, frozen: object) -> None: ...


def data_folder(path: str | Path) -> Path:
    """The folder of an output's arrays: OUT.h5 -> OUT.h5.d (the full name, so that OUT.h5 and
    OUT.hdf5 in one directory never share a folder)."""
    path = Path(path)
    return path.with_name(path.name + ".d")


def step_file(step: int) -> str:
    """Name of a snapshot's file in the data folder."""
    return f"step-{step:08d}.h5"


def snapshot_dtype(run_dtype: np.dtype, precision: str) -> np.dtype:
    """The precision snapshot fields are stored in: output.precision, never above the run's (a
    float32 run's fields gain nothing from being written as float64)."""
    wanted = np.dtype(precision)
    return wanted if wanted.itemsize < np.dtype(run_dtype).itemsize else np.dtype(run_dtype)


# Every file operation of the writer goes through these five functions (and nothing else touches
# the disk), so that tests/test_crash_safety.py can stop the writer after each one of them.

def _write_h5(path: Path, fill: Callable[[h5py.File], list | None]) -> None:
    """Create the HDF5 file ``path``: ``fill`` builds it through h5py and returns the raw writes
    (``_Raw``) of its uncompressed arrays, which go to their places once h5py has closed the file."""
    with h5py.File(path, "w") as f:      # "w" truncates whatever a crash left under this name
        raw = fill(f)
    if raw:
        _write_raw(path, raw)


def _write_text(path: Path, text: str) -> None:
    path.write_text(text)


def _fsync(path: Path) -> None:
    """Force a file's data, or a folder's entries, to the disk (what survives a power loss)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace(source: Path, target: Path) -> None:
    os.replace(source, target)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _publish(target: Path, write: Callable[[Path], None]) -> None:
    """Give ``target`` new content atomically: ``write`` fills TARGET.tmp, which is made durable,
    then renamed over ``target``; the rename is made durable by the fsync of the folder. A crash
    at any point leaves either the old file or the new one under ``target``, never a mix."""
    tmp = target.with_name(target.name + TMP)
    write(tmp)
    _fsync(tmp)
    _replace(tmp, target)
    _fsync(target.parent)


# Arrays into files ------------------------------------------------------------------------------

class _Raw:
    """One uncompressed array's bytes, due at ``offset`` of its file: ``values`` converted to
    ``dtype`` (little-endian) in C order."""

    def __init__(self, offset: int, values: np.ndarray, dtype: np.dtype):
        self.offset, self.values, self.dtype = offset, values, dtype


def _blocks(values: np.ndarray, dtype: np.dtype, block_bytes: int) -> Iterator[tuple[int, Callable]]:
    """(byte offset in the array's C-order bytes, function(buffer) -> the block's bytes as an array)
    for every block of ``values`` as stored with ``dtype``. A block needs no copy when ``values`` is
    already C-ordered in ``dtype``; an (N, dim) view of a (dim, N) array (what the backends give)
    is copied column by column, which reads each source row in order (about three times the speed
    of numpy's copy of the transposed view)."""
    itemsize = dtype.itemsize
    if values.flags.c_contiguous:
        flat = values.reshape(-1)
        count = max(1, block_bytes // itemsize)
        for start in range(0, flat.size, count):
            def block(buffer, part=flat[start:start + count]):
                if part.dtype == dtype:
                    return part
                out = buffer[:part.size]
                out[...] = part
                return out
            yield start * itemsize, block
        return
    if values.ndim == 2 and values.T.flags.c_contiguous:
        columns = values.shape[1]
        count = max(1, block_bytes // (itemsize * columns))
        for start in range(0, values.shape[0], count):
            def block(buffer, part=values[start:start + count]):
                out = buffer[:part.size].reshape(part.shape)
                for column in range(part.shape[1]):
                    out[:, column] = part[:, column]
                return out
            yield start * columns * itemsize, block
        return
    # anything else (never given by the backends): one contiguous copy first
    yield from _blocks(np.ascontiguousarray(values, dtype=dtype), dtype, block_bytes)


def _pwrite(fd: int, data: np.ndarray, offset: int) -> None:
    view = memoryview(data).cast("B")
    while view:     # a write may take fewer bytes than asked (Linux: at most about 2 GiB)
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _write_raw(path: Path, raws: list[_Raw]) -> None:
    """Put each array's bytes at its offset in ``path``: blocks converted and written by
    WRITE_THREADS threads (numpy's copies and os.pwrite run without the GIL), each with one buffer."""
    local = threading.local()

    def buffer() -> np.ndarray:
        if not hasattr(local, "buffer"):
            local.buffer = np.empty(BLOCK_BYTES, dtype=np.uint8)
        return local.buffer

    fd = os.open(path, os.O_WRONLY)
    try:
        jobs = [(raw, offset, block) for raw in raws
                for offset, block in _blocks(raw.values, raw.dtype, BLOCK_BYTES)]

        def run(job) -> None:
            raw, offset, block = job
            _pwrite(fd, block(buffer().view(raw.dtype)), raw.offset + offset)

        if WRITE_THREADS == 1 or len(jobs) == 1:
            for job in jobs:
                run(job)
        else:
            with ThreadPoolExecutor(min(WRITE_THREADS, len(jobs)), thread_name_prefix="pwrite") as pool:
                for done in [pool.submit(run, job) for job in jobs]:
                    done.result()
    finally:
        os.close(fd)


def _chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """About CHUNK_BYTES along the longest axis (particles), whole along the others."""
    axis = int(np.argmax(shape))
    other = int(np.prod([n for k, n in enumerate(shape) if k != axis])) * itemsize
    chunk = list(shape)
    chunk[axis] = max(1, min(shape[axis], CHUNK_BYTES // max(other, 1)))
    return tuple(chunk)


def _add_array(f: h5py.File, name: str, values: np.ndarray, dtype: np.dtype, compression: str,
               raws: list[_Raw]) -> None:
    """Create dataset ``name`` of ``values`` stored as ``dtype``. Uncompressed: a contiguous dataset
    with its space allocated now and never filled (its bytes come from ``raws`` after the file is
    closed). Compressed: chunks through the byte shuffle and the filter, written in blocks of whole
    chunks (each block converted on its own: no copy of the whole array)."""
    dtype = np.dtype(dtype).newbyteorder("<")
    if compression == "none" or not values.size:     # an empty array has no chunks to compress
        plist = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        plist.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        dataset = f.create_dataset(name, shape=values.shape, dtype=dtype, dcpl=plist, fill_time="never")
        offset = dataset.id.get_offset()
        if offset is not None:        # None: no bytes (an empty array)
            raws.append(_Raw(offset, values, dtype))
        return
    chunks = _chunks(values.shape, dtype.itemsize)
    options = {"compression": "gzip", "compression_opts": GZIP_LEVEL} if compression == "gzip" else {
        "compression": compression}
    dataset = f.create_dataset(name, shape=values.shape, dtype=dtype, chunks=chunks, shuffle=True,
                               **options)
    if compression == "gzip":
        _deflate_chunks(dataset, values, dtype, chunks)
        return
    # lzf: h5py's own filter, in this thread (HDF5 holds the GIL while it compresses)
    axis = int(np.argmax(values.shape))
    step = chunks[axis] * max(1, (16 * CHUNK_BYTES) // max(1, chunks[axis] * dtype.itemsize
                                                         * (values.size // values.shape[axis])))
    for start in range(0, values.shape[axis], step):
        where = tuple(slice(start, start + step) if k == axis else slice(None)
                      for k in range(values.ndim))
        dataset[where] = np.asarray(values[where], dtype=dtype)


def _deflate_chunks(dataset: h5py.Dataset, values: np.ndarray, dtype: np.dtype,
                    chunks: tuple[int, ...]) -> None:
    """Write ``values`` into a chunked dataset whose filters are HDF5's shuffle then deflate, doing
    both here, WRITE_THREADS chunks at a time (numpy's copies and zlib run without the GIL, HDF5's
    own filters with it): each chunk is zero-padded to its full shape (as HDF5 stores edge chunks),
    byte-shuffled (byte j of element i to j * n + i), compressed by zlib (the format of HDF5's
    deflate) and handed to HDF5 as a finished chunk."""
    axis = int(np.argmax(values.shape))
    count = chunks[axis]

    def compress(start: int) -> bytes:
        where = tuple(slice(start, start + count) if k == axis else slice(None)
                      for k in range(values.ndim))
        part = values[where]
        block = np.zeros(chunks, dtype=dtype)
        block[tuple(slice(0, size) for size in part.shape)] = part
        shuffled = block.reshape(-1).view(np.uint8).reshape(-1, dtype.itemsize).T.copy()
        return zlib.compress(shuffled, GZIP_LEVEL)

    starts = range(0, values.shape[axis], count)
    with ThreadPoolExecutor(WRITE_THREADS, thread_name_prefix="deflate") as pool:
        # in flight at most a few chunks per thread: memory stays a few chunks, whatever N
        pending: list[tuple[int, Future]] = []
        for start in starts:
            pending.append((start, pool.submit(compress, start)))
            if len(pending) >= 4 * WRITE_THREADS:
                _put_chunk(dataset, axis, *pending.pop(0))
        for item in pending:
            _put_chunk(dataset, axis, *item)


def _put_chunk(dataset: h5py.Dataset, axis: int, start: int, compressed: Future) -> None:
    offset = tuple(start if k == axis else 0 for k in range(dataset.ndim))
    dataset.id.write_direct_chunk(offset, compressed.result())


def region_digests(model) -> dict[str, str]:
    """name -> SHA-256 of each region's particle indices: what a resume compares, so that an
    edited file a region reads (a point set, an STL) is not continued with other grips."""
    return {name: hashlib.sha256(np.ascontiguousarray(members, dtype=np.int64).tobytes()).hexdigest()
            for name, members in model.regions.items()}


def _fill_arrays(f: h5py.File, attrs: dict, arrays: list[tuple[str, np.ndarray, np.dtype]],
                 compression: str) -> list[_Raw]:
    for key, value in attrs.items():
        f.attrs[key] = value
    raws: list[_Raw] = []
    for name, values, dtype in arrays:
        _add_array(f, name, values, dtype, compression, raws)
    # Kept for readers of the single-file layout of earlier versions, where it marked a group
    # whose write had finished; a file under its final name is always complete.
    f.attrs["complete"] = True
    return raws


def _is_restart(f: h5py.File | h5py.Group) -> bool:
    """Whether a snapshot or checkpoint holds a run's full state. Files written before view-only
    snapshots existed have no ``restart`` attribute and were restart points when they held the
    arrays (always in the run's precision)."""
    if "restart" in f.attrs:
        return bool(f.attrs["restart"])
    return all(name in f for name in RESTART)


def _layout(f: h5py.File | h5py.Group) -> tuple[tuple[str, str, int], ...]:
    """(name, dtype, number of dimensions) of each snapshot field a file holds, in FIELDS order
    then by name (what the XDMF index lists)."""
    names = [n for n in FIELDS if n in f] + sorted(n for n in f if n not in FIELDS and n != "bond_state"
                                                   and isinstance(f[n], h5py.Dataset))
    return tuple((name, np.dtype(f[name].dtype).name, f[name].ndim) for name in names)


class SnapshotWriter:
    """Writes one run's snapshots and restart points. Use as a context manager.

    ``resume=True`` reopens an existing output of the same case instead of creating one: writes cut
    short by a crash (``*.tmp``) are deleted, and ``last_snapshot`` holds the newest restart point
    to continue from (arrays displacement, velocity, bond_state in the run's precision and the
    file's attributes; ``restart_file`` is its path) and ``resumed_history_path`` the output's
    history.h5 (None without one). ``steps`` lists (step, time) of the snapshots written so far.

    ``history`` (None, or an object with ``freeze(step)`` and ``write(f, frozen)``; see
    ``HistorySource``) is published as history.h5 with every snapshot and checkpoint.
    """

    def __init__(self, path: str | Path, model: Model, case_text: str, backend: str,
                 overwrite: bool = False, attributes: dict | None = None, resume: bool = False,
                 background: bool = False):
        self.path = Path(path)
        # One write in flight at a time, in this thread (background=True) while the run steps on.
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="snapshot") if background else None
        self._pending: Future | None = None
        self.folder = data_folder(self.path)
        self.model = model
        output = model.case.output
        self.fields = tuple(output.fields)
        self.snapshot_dtype = snapshot_dtype(model.dtype, output.precision)
        self.compression = output.compression
        self.history: HistorySource | None = None
        self.resumed_history_path: Path | None = None
        self.restart_file: Path | None = None
        self.steps: list[tuple[int, float]] = []
        self.last_snapshot: dict | None = None
        self._layouts: dict[int, tuple[tuple[str, str, int], ...]] = {}
        self._restart_steps: set[int] = set()        # step files that are restart points
        self._checkpoint_step: int | None = None      # checkpoint.h5's step, once it exists
        self._has_history = False
        self._lock: int | None = None
        try:
            if resume:
                self._reopen(case_text, attributes or {})
            else:
                self._create(case_text, backend, overwrite, attributes or {})
        except BaseException:
            self.close()
            raise

    @property
    def _has_checkpoint(self) -> bool:
        return self._checkpoint_step is not None

    @property
    def snapshots_are_restart_points(self) -> bool:
        """Whether the snapshots hold the run's full state (their precision is the run's)."""
        return self.snapshot_dtype == np.dtype(self.model.dtype)

    def _output_attrs(self) -> dict:
        return {"snapshot_precision": self.snapshot_dtype.name, "compression": self.compression}

    def _create(self, case_text: str, backend: str, overwrite: bool, attributes: dict) -> None:
        model = self.model
        if self.path.is_dir():      # --overwrite deletes a file there, never a directory
            raise CaseError("output.path", f"{self.path} is a directory; give a file name (OUT.h5)")
        for existing in (self.path, self.folder):
            if existing.exists() and not overwrite:
                raise CaseError("output.path", f"{existing} exists; pass --overwrite to replace it, "
                                               "or --resume to continue it")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.folder.is_dir():
                # a run still writing the old output keeps it: never delete under a live writer
                os.close(self._locked(self.folder))
            # OUT.h5 goes first: from then on nothing links into the folder being deleted
            for old in (self.path, xdmf_path(self.path), self.folder):
                _remove(old)
            self.folder.mkdir()
            _fsync(self.folder.parent)
            self._lock = self._locked(self.folder)
        except OSError as err:
            raise CaseError("output.path", f"cannot write {self.path} ({err.strerror or err})") from None
        self.attrs = {
            "pdgeneral_version": __version__,
            "case": case_text,
            "case_normalized": json.dumps(model.case.model_dump(mode="json")),
            "name": model.case.name,
            "backend": backend,
            "precision": str(model.dtype),
            **self._output_attrs(),
            "dimension": model.dimension,
            **model.material.attributes(),   # the model, micromodulus or moduli, s0
            "horizon": model.horizon,
            "spacing": model.spacing,
            "stable_time_step": model.stable_time_step,
            "region_digests": json.dumps(region_digests(model)),
            **attributes,
        }

        def particles(f: h5py.File) -> list[_Raw]:
            return _fill_arrays(f, {}, [("position", model.positions, np.float64),
                                        ("volume", model.volume, np.float64)], "none")

        _publish(self.folder / PARTICLES, lambda tmp: _write_h5(tmp, particles))
        self._publish_index()

    def _locked(self, folder: Path) -> int:
        """An open descriptor of ``folder`` holding its exclusive lock; released when closed, or by
        the kernel when the process dies (a killed run leaves no stale lock)."""
        fd = os.open(folder, os.O_RDONLY)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise CaseError("output.path", f"{self.path} is being written by another run "
                                               f"(it holds the lock on {folder})") from None
        return fd

    def _reopen(self, case_text: str, attributes: dict) -> None:
        if not self.path.exists():
            raise CaseError("output.path", f"{self.path} does not exist: nothing to resume")
        if not self.folder.is_dir():
            raise CaseError("output.path", f"{self.folder} is missing: it holds the snapshots of "
                                           f"{self.path} (or the file was written by an earlier "
                                           "pdgeneral in one file, which cannot be resumed)")
        try:
            with h5py.File(self.path, "r") as f:
                self.attrs = dict(f.attrs)
                stored = f["particles/position"]
                same_particles = (stored.shape == self.model.positions.shape
                                  and np.array_equal(stored[...], self.model.positions))
                stored_count = stored.shape[0]
        except OSError as err:
            raise CaseError("output.path", f"cannot reopen {self.path} to resume it "
                                           f"({err.strerror or err})") from None
        stored = self.attrs.get("case_normalized")
        if stored is None:
            raise CaseError("output.path", f"{self.path} records no case to compare with; it cannot "
                                           "be resumed")
        current = json.loads(json.dumps(self.model.case.model_dump(mode="json")))
        differences = case_differences(json.loads(stored), current)
        if differences:
            shown = "; ".join(f"{key} was {old} in the file, {new} now" for key, old, new in differences)
            raise CaseError("output.path", f"{self.path} was written by a different case: {shown}. "
                                           "Resume may change only the keys that lengthen a run "
                                           f"({', '.join(RESUMABLE_KEYS)}), output and backend")
        if not same_particles:
            # the same case text, another solid: a file it reads (an STL) changed
            geometry = self.model.case.geometry
            files = [shape.spec.file for _, shape in [*geometry.parts, *(("", h) for h in geometry.holes)]
                     if shape.kind == "stl"]
            hint = f" (did {', '.join(map(str, files))} change?)" if files else ""
            raise CaseError("output.path", f"{self.path} was written with other particles "
                                           f"({stored_count:,} in the file, "
                                           f"{self.model.particle_count:,} now, or moved){hint}: it "
                                           "cannot be resumed; run anew")
        # the same case text, the same particles, a region file (a point set, an STL) that changed
        # (outputs written before the digests were recorded are not checked)
        stored_digests = json.loads(self.attrs.get("region_digests", "null") or "null")
        if stored_digests is not None:
            now = region_digests(self.model)
            changed = [name for name in now if stored_digests.get(name) != now[name]]
            if changed:
                name = changed[0]
                shape = self.model.case.regions[name]
                read = f" (did {shape.spec.file} change?)" if hasattr(shape.spec, "file") else ""
                raise CaseError("output.path", f"{self.path} was written with other particles in "
                                               f"region {name}{read}: it cannot be resumed; run anew")
        # The file now continues as the current case says (a longer end_time, another output.every,
        # another output.precision): it records that case, which reproduces every step already
        # written. Each file keeps its own precision and restart attributes.
        self.attrs.update(case=case_text, case_normalized=json.dumps(current), **self._output_attrs(),
                          **attributes)
        self._lock = self._locked(self.folder)
        for leftover in [*self.folder.glob("*" + TMP), self.path.with_name(self.path.name + TMP),
                         xdmf_path(self.path).with_name(xdmf_path(self.path).name + TMP)]:
            _remove(leftover)            # writes cut short by the crash: never linked, discarded
        # Every step file under its final name is complete, including one the crash kept out of
        # OUT.h5 (killed between its rename and OUT.h5's): the folder is the record.
        complete = sorted(int(m.group(1)) for m in map(_STEP_FILE.match, os.listdir(self.folder)) if m)
        if not complete:
            raise CaseError("output.path", f"{self.path} holds no complete snapshot to resume from")
        restart_steps = []
        for step in complete:
            with h5py.File(self.folder / step_file(step), "r") as f:
                self.steps.append((step, float(f.attrs["time"])))
                self._layouts[step] = _layout(f)
                if _is_restart(f):
                    restart_steps.append(step)
        self._restart_steps = set(restart_steps)
        if (self.folder / CHECKPOINT).exists():
            with h5py.File(self.folder / CHECKPOINT, "r") as f:
                self._checkpoint_step = int(f.attrs["step"])
        self._has_history = (self.folder / HISTORY).exists()
        self.resumed_history_path = self.folder / HISTORY if self._has_history else None
        # A view-only snapshot (fields below the run's precision) is never read as state.
        candidates = [self.folder / step_file(step) for step in restart_steps[-1:]]
        if self._has_checkpoint:
            candidates.append(self.folder / CHECKPOINT)
        last = None
        for candidate in candidates:
            with h5py.File(candidate, "r") as f:
                if last is None or int(f.attrs["step"]) > last["step"]:
                    if not all(name in f for name in RESTART):
                        raise CaseError("output.path", f"{candidate} has no bond state to resume from")
                    last = {name: f[name][...] for name in RESTART}
                    last.update(f.attrs.items())
                    self.restart_file = candidate
        if last is None:
            raise CaseError("output.path", f"{self.path} holds no restart point to resume from: its "
                                           "snapshots are view-only (output.precision below the "
                                           "run's) and the run stopped before its first "
                                           f"{CHECKPOINT} was in place; start it again with "
                                           "--overwrite")
        self.last_snapshot = last
        self._publish_index()

    def _publish_index(self) -> None:
        """Rebuild OUT.h5 (attributes and one link per file; its size grows with the number of
        snapshots, never with the particles) and the XDMF index, each replaced atomically."""
        folder = self.folder.name

        def index(f: h5py.File) -> None:
            for key, value in self.attrs.items():
                f.attrs[key] = value
            f["particles"] = h5py.ExternalLink(f"{folder}/{PARTICLES}", "/")
            steps = f.create_group("steps")
            for step, _ in self.steps:
                steps[f"{step:08d}"] = h5py.ExternalLink(f"{folder}/{step_file(step)}", "/")
            if self._has_checkpoint:
                f["checkpoint"] = h5py.ExternalLink(f"{folder}/{CHECKPOINT}", "/")
            if self._has_history:
                f["history"] = h5py.ExternalLink(f"{folder}/{HISTORY}", "/")

        _publish(self.path, lambda tmp: _write_h5(tmp, index))
        if self.steps:
            text = xdmf_document(f"{folder}/{PARTICLES}",
                                 [(step, time, f"{folder}/{step_file(step)}", self._layouts[step])
                                  for step, time in self.steps],
                                 self.model.particle_count, self.model.dimension)
            _publish(xdmf_path(self.path), lambda tmp: _write_text(tmp, text))

    def _submit(self, job: Callable[[], None]) -> None:
        """Run a write: at once, or in the background thread once the previous write is done (its
        error, if any, is raised here). The arrays a job writes are the caller's copies."""
        self.wait()
        if self._worker is None:
            job()
        else:
            self._pending = self._worker.submit(job)

    def wait(self) -> None:
        """Wait for the write in flight, if any; raises its error. After it, ``steps`` lists every
        snapshot written."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _frozen_history(self, step: int) -> tuple[HistorySource, object] | None:
        """The history's rows up to ``step``, taken in the caller's thread (the run adds rows on)."""
        history = self.history
        return None if history is None else (history, history.freeze(step))

    def checkpoint(self, step: int, time: float, displacement: np.ndarray, velocity: np.ndarray,
                   bond_state: np.ndarray, **attrs) -> None:
        """Write a restart point apart from the snapshots, replacing the previous one atomically: a
        crash at any moment leaves the old checkpoint or the new one, each complete."""
        history = self._frozen_history(step)
        self._submit(lambda: self._checkpoint_now(step, time, displacement, velocity, bond_state,
                                                  attrs, history))

    def _publish_checkpoint(self, step, time, displacement, velocity, bond_state, attrs) -> None:
        run_dtype = np.dtype(self.model.dtype)
        state = [("displacement", displacement, run_dtype), ("velocity", velocity, run_dtype),
                 ("bond_state", bond_state, np.uint32)]
        attrs = {"step": int(step), "time": float(time), **attrs, "restart": True,
                 "precision": run_dtype.name}
        _publish(self.folder / CHECKPOINT,
                 lambda tmp: _write_h5(tmp, lambda f: _fill_arrays(f, attrs, state, "none")))
        self._checkpoint_step = int(step)

    def _publish_history(self, history: tuple[HistorySource, object] | None) -> bool:
        """Publish history.h5 (when the run keeps one); True when OUT.h5 must gain its link. It goes
        before the job's restart state: a crash between the two leaves the previous restart point,
        whose rows (and whatever the history keeps for a resume from it) are in the file too."""
        if history is None:
            return False
        source, frozen = history
        _publish(self.folder / HISTORY, lambda tmp: _write_h5(tmp, lambda f: source.write(f, frozen)))
        new, self._has_history = not self._has_history, True
        return new

    def _checkpoint_now(self, step, time, displacement, velocity, bond_state, attrs, history) -> None:
        linked = self._publish_history(history)
        new = not self._has_checkpoint     # OUT.h5 gains its link (the file keeps its name)
        self._publish_checkpoint(step, time, displacement, velocity, bond_state, attrs)
        if linked or new:
            self._publish_index()

    def write(self, step: int, time: float, fields: dict[str, np.ndarray], bond_state=None,
              **attrs) -> None:
        """Write one snapshot: of ``fields`` ({name: array}: displacement, velocity (N, dim),
        damage, strain_energy_density (N,) in the run's precision) those output.fields names,
        in the snapshot precision. The writer may keep the arrays until the write is done (a
        background write reads them later). With ``bond_state`` it is a restart point: the file
        itself when its precision is the run's (or when it is the output's first snapshot), else
        checkpoint.h5, written in the same job after it."""
        history = self._frozen_history(step)
        self._submit(lambda: self._write_now(step, time, fields, bond_state, attrs, history))

    def _write_now(self, step, time, fields, bond_state, attrs, history) -> None:
        names = [name for name in self.fields if name in fields]
        restart = bond_state is not None and all(name in fields for name in RESTART[:2])
        # Full when snapshots are restart points, and when the output has no restart point besides
        # the file this one replaces (its first snapshot; step 0 again after a resume from it):
        # then no crash, even between the step file and a checkpoint, leaves none.
        others = self._checkpoint_step is not None or bool(self._restart_steps - {step})
        full = restart and (self.snapshots_are_restart_points or not others)
        dtype = np.dtype(self.model.dtype) if full else self.snapshot_dtype
        if full:      # the state a resume reads, whatever output.fields says
            names = [name for name in FIELDS if name in names or name in RESTART[:2]]
        arrays = [(name, fields[name], dtype if np.issubdtype(fields[name].dtype, np.floating)
                   else fields[name].dtype) for name in names]
        if bond_state is not None:
            arrays.append(("bond_state", bond_state, np.uint32))
        file_attrs = {"step": int(step), "time": float(time), **attrs, "restart": full,
                      "precision": dtype.name}
        self._publish_history(history)
        _publish(self.folder / step_file(step),
                 lambda tmp: _write_h5(tmp, lambda f: _fill_arrays(f, file_attrs, arrays,
                                                                   self.compression)))
        if full:
            self._restart_steps.add(step)
        else:
            self._restart_steps.discard(step)
        if restart and not full:
            # the newest snapshot stays a restart point with the same bits: its full state
            self._publish_checkpoint(step, time, fields["displacement"], fields["velocity"],
                                     bond_state, attrs)
        # a snapshot written again (a resume from step 0 rewrites it, same bits) is listed once
        self.steps = [entry for entry in self.steps if entry[0] != step] + [(step, float(time))]
        self.steps.sort()
        self._layouts[step] = tuple((name, np.dtype(dtype).name, fields[name].ndim)
                                    for name, _, dtype in arrays if name != "bond_state")
        self._publish_index()

    def close(self) -> None:
        """Finish the write in flight (raising its error), then release the output's lock."""
        try:
            self.wait()
        finally:
            if self._worker is not None:
                self._worker.shutdown(wait=True)
                self._worker = None
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None

    def __enter__(self) -> SnapshotWriter:  # noqa: PYI034 (typing.Self needs Python 3.11)
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: Case keys a resume may change besides output and backend: they lengthen (or shorten) an explicit
#: run without changing any step already computed (the time step is kept from the file).
RESUMABLE_KEYS = ("solver.end_time", "solver.steps")

#: Case keys added after outputs were written without them: the value that reproduces what the
#: version that wrote such a file did. Resume compares an absent key as this value, so a run
#: written before the key existed resumes when the case sets it so (and only then).
KEYS_ADDED_LATER = {"discretization.bonds_through_voids": "keep"}


def _flatten(value, prefix: str = "") -> dict:
    """A normalised case as {dotted key: value} (lists indexed as key[i])."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        out = {}
        for index, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def case_differences(stored: dict, current: dict) -> list[tuple[str, object, object]]:
    """(key, value in the file, value now) of every case key that decides the physics and differs:
    all but output, backend and RESUMABLE_KEYS (of an explicit run on both sides)."""
    old, new = _flatten(stored), _flatten(current)
    for key, value in KEYS_ADDED_LATER.items():
        if key in new and key not in old:
            old[key] = f"{value} (the file predates the key)"
            if new[key] == value:
                old[key] = value
    explicit = old.get("solver.type") == new.get("solver.type") == "explicit"

    def free(key: str) -> bool:
        return (key.startswith("output.") or key == "output" or key == "backend"
                or (explicit and key in RESUMABLE_KEYS))

    missing = "(absent)"
    keys = list(old) + [key for key in new if key not in old]
    return [(key, old.get(key, missing), new.get(key, missing)) for key in keys
            if not free(key) and old.get(key, missing) != new.get(key, missing)]


def _listed_steps(f: h5py.File) -> list[int]:
    steps = f["steps"]
    # An external link is written only once its file is complete; a group is the single-file
    # layout of earlier versions, complete once marked so.
    return sorted(int(name) for name in steps
                  if isinstance(steps.get(name, getlink=True), h5py.ExternalLink)
                  or steps[name].attrs.get("complete"))


def snapshot_steps(path: str | Path) -> list[int]:
    """Steps of the complete snapshots in an output file, ascending."""
    with h5py.File(path, "r") as f:
        return _listed_steps(f)


def read_snapshot(path: str | Path, step: int | None = None) -> dict[str, np.ndarray]:
    """The fields one complete snapshot holds (the last one by default; output.fields says which,
    in the snapshot precision), plus ``position``, ``step``, ``time``."""
    with h5py.File(path, "r") as f:
        steps = _listed_steps(f)
        if not steps:
            raise ValueError(f"{path}: no complete snapshot")
        step = steps[-1] if step is None else step
        try:
            group = f["steps"][f"{step:08d}"]
            out = {name: group[name][...] for name, _, _ in _layout(group)}
            out["position"] = f["particles/position"][...]
        except KeyError as err:
            raise missing_files(path, err) from None
        out["step"] = int(group.attrs["step"])
        out["time"] = float(group.attrs["time"])
    return out


def restart_points(path: str | Path) -> dict:
    """Which files of an output are restart points: ``snapshots`` [(step, restart, precision of its
    fields)] of the listed snapshots, ``checkpoint`` (step, precision) or None, and ``resume_step``,
    the step ``--resume`` continues from (None: no restart point)."""
    snapshots = []
    with h5py.File(path, "r") as f:
        try:
            for step in _listed_steps(f):
                group = f["steps"][f"{step:08d}"]
                fields = [name for name in FIELDS if name in group]
                precision = (np.dtype(group[fields[0]].dtype).name if fields
                             else str(group.attrs.get("precision", "")))
                snapshots.append((step, _is_restart(group), str(group.attrs.get("precision", precision))))
            checkpoint = None
            if "checkpoint" in f:
                group = f["checkpoint"]
                checkpoint = (int(group.attrs["step"]),
                              str(group.attrs.get("precision", np.dtype(group["displacement"].dtype).name)))
        except KeyError as err:
            raise missing_files(path, err) from None
    restart = [step for step, is_restart, _ in snapshots if is_restart]
    if checkpoint is not None:
        restart.append(checkpoint[0])
    return {"snapshots": snapshots, "checkpoint": checkpoint,
            "resume_step": max(restart) if restart else None}


def missing_files(path: str | Path, err: Exception) -> PdgeneralError:
    """The error for a snapshot OUT.h5 lists but cannot open: usually OUT.h5 copied without its
    folder, whose files hold the arrays."""
    folder = data_folder(path)
    if not folder.is_dir():
        return PdgeneralError(f"{path}: its snapshots are in {folder}, which is missing (keep OUT.h5 "
                              "and OUT.h5.d together when copying or moving an output)")
    return PdgeneralError(f"{path}: cannot read a snapshot listed in it ({err})")
