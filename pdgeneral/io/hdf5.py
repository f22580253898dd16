"""Output of a run (scripts, the validation suite and ParaView via XDMF read it), written so that a
crash at any moment leaves every snapshot completed before it intact and readable.

An output ``OUT.h5`` is a small HDF5 file plus a folder ``OUT.h5.d/`` beside it:

    OUT.h5                   what users open: attributes and external links, no arrays
      /                      attrs: pdgeneral_version, case (YAML text as read), overrides (the
                                    --set KEY=VALUE strings applied to it), case_normalized (JSON,
                                    overrides and defaults applied), name, backend, device (the
                                    CPU or GPU the run started on), precision, dimension, and the
                                    derived constants (micromodulus,
                                    critical_stretch, horizon, spacing, stable_time_step)
      /particles          -> OUT.h5.d/particles.h5:/
      /steps/<step:08d>   -> OUT.h5.d/step-<step:08d>.h5:/
      /checkpoint         -> OUT.h5.d/checkpoint.h5:/   (once a checkpoint was written)
    OUT.h5.d/particles.h5    position (N, dim) float64 reference coordinates, m; volume (N,) m^3
    OUT.h5.d/step-<step:08d>.h5
                             attrs: step (int), time (s), complete (True); explicit runs add
                             time_step, quasi-static runs load_factor, iterations, residual, converged
        displacement (N, dim) m, velocity (N, dim) m/s, damage (N,)
        bond_state (words, N) uint32: bit n % 32 of word n // 32 = bond n of the particle's row
                   (its n-th neighbour in ascending order) intact; with displacement and
                   velocity, what a run needs to continue from this snapshot (``--resume``)
    OUT.h5.d/checkpoint.h5   the newest restart point apart from the snapshots
                             (output.checkpoint_every, output.checkpoint_minutes): displacement,
                             velocity, bond_state; attrs step, time, time_step, complete
    OUT.xdmf                 the ParaView index (xdmf.py); it names the files of OUT.h5.d directly

HDF5 follows external links on access, so ``f["steps/00000100/displacement"]`` and
``f["particles/position"]`` read as if everything were in OUT.h5. The links hold paths relative to
OUT.h5's folder, where HDF5 looks first (after the HDF5_EXT_PREFIX variable, when set): the output
opens from any working directory, and moves or copies as long as OUT.h5 and OUT.h5.d/ go together.
Rows keep one particle order in every file.

Crash safety by construction: a file is never modified once it has its final name. Each is written
as NAME.tmp, closed, fsync'ed, renamed to NAME by os.replace (atomic), and its folder fsync'ed. A
snapshot writes its step file, then rebuilds OUT.h5 with one more link, then the XDMF index; a
checkpoint replaces checkpoint.h5 the same way. So at every instant each name holds a complete
file, and OUT.h5 links only to files already in place: the snapshots OUT.h5 lists are exactly those
completed. A ``*.tmp`` is a write cut short: nothing links to it, and ``--resume`` deletes it.
``--resume`` also adopts a step file that OUT.h5 does not list yet (a crash between the two renames;
the file is complete, as every final name is). The writer holds an exclusive lock (flock) on the
folder for the whole run, so that two runs never write one output.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from .. import __version__
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
TMP = ".tmp"
_STEP_FILE = re.compile(r"^step-(\d+)\.h5$")
FIELDS = ("displacement", "velocity", "damage")
RESTART = ("displacement", "velocity", "bond_state")


def data_folder(path: str | Path) -> Path:
    """The folder of an output's arrays: OUT.h5 -> OUT.h5.d (the full name, so that OUT.h5 and
    OUT.hdf5 in one directory never share a folder)."""
    path = Path(path)
    return path.with_name(path.name + ".d")


def step_file(step: int) -> str:
    """Name of a snapshot's file in the data folder."""
    return f"step-{step:08d}.h5"


# Every file operation of the writer goes through these five functions (and nothing else touches
# the disk), so that tests/test_crash_safety.py can stop the writer after each one of them.

def _write_h5(path: Path, fill: Callable[[h5py.File], None]) -> None:
    with h5py.File(path, "w") as f:      # "w" truncates whatever a crash left under this name
        fill(f)


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


class SnapshotWriter:
    """Writes one run's snapshots. Use as a context manager.

    ``resume=True`` reopens an existing output of the same case instead of creating one: writes cut
    short by a crash (``*.tmp``) are deleted, and ``last_snapshot`` holds the newest complete
    snapshot or checkpoint to continue from (arrays displacement, velocity, bond_state and the
    snapshot's attributes). ``steps`` lists (step, time) of the snapshots written so far.
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
        self.steps: list[tuple[int, float]] = []
        self.last_snapshot: dict | None = None
        self._has_checkpoint = False
        self._lock: int | None = None
        try:
            if resume:
                self._reopen(case_text, attributes or {})
            else:
                self._create(case_text, backend, overwrite, attributes or {})
        except BaseException:
            self.close()
            raise

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
            "dimension": model.dimension,
            "micromodulus": model.micromodulus,
            "critical_stretch": model.critical_stretch,
            "horizon": model.horizon,
            "spacing": model.spacing,
            "stable_time_step": model.stable_time_step,
            **attributes,
        }

        def particles(f: h5py.File) -> None:
            f.create_dataset("position", data=model.positions.astype(np.float64))
            f.create_dataset("volume", data=model.volume)

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
        # The file now continues as the current case says (a longer end_time, another output.every):
        # it records that case, which reproduces every step already written.
        self.attrs.update(case=case_text, case_normalized=json.dumps(current), **attributes)
        self._lock = self._locked(self.folder)
        for leftover in [*self.folder.glob("*" + TMP), self.path.with_name(self.path.name + TMP),
                         xdmf_path(self.path).with_name(xdmf_path(self.path).name + TMP)]:
            _remove(leftover)            # writes cut short by the crash: never linked, discarded
        # Every step file under its final name is complete, including one the crash kept out of
        # OUT.h5 (killed between its rename and OUT.h5's): the folder is the record.
        complete = sorted(int(m.group(1)) for m in map(_STEP_FILE.match, os.listdir(self.folder)) if m)
        if not complete:
            raise CaseError("output.path", f"{self.path} holds no complete snapshot to resume from")
        for step in complete:
            with h5py.File(self.folder / step_file(step), "r") as f:
                self.steps.append((step, float(f.attrs["time"])))
        self._has_checkpoint = (self.folder / CHECKPOINT).exists()
        candidates = [self.folder / step_file(complete[-1])]
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

        _publish(self.path, lambda tmp: _write_h5(tmp, index))
        if self.steps:
            text = xdmf_document(f"{folder}/{PARTICLES}",
                                 [(step, time, f"{folder}/{step_file(step)}") for step, time in self.steps],
                                 self.model.particle_count, self.model.dimension, self.attrs["precision"])
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

    def checkpoint(self, step: int, time: float, displacement: np.ndarray, velocity: np.ndarray,
                   bond_state: np.ndarray, **attrs) -> None:
        """Write a restart point apart from the snapshots, replacing the previous one atomically: a
        crash at any moment leaves the old checkpoint or the new one, each complete."""
        self._submit(lambda: self._checkpoint_now(step, time, displacement, velocity, bond_state,
                                                  attrs))

    def _checkpoint_now(self, step, time, displacement, velocity, bond_state, attrs) -> None:
        def fill(f: h5py.File) -> None:
            _fill_state(f, step, time, attrs, {"displacement": displacement, "velocity": velocity},
                        bond_state)

        _publish(self.folder / CHECKPOINT, lambda tmp: _write_h5(tmp, fill))
        if not self._has_checkpoint:     # the link names the file, which keeps its name from now on
            self._has_checkpoint = True
            self._publish_index()

    def write(self, step: int, time: float, fields: dict[str, np.ndarray], bond_state=None,
              **attrs) -> None:
        """Write one snapshot: ``fields`` holds displacement, velocity (N, dim) and damage (N,)
        (arrays the writer may keep until the write is done: a background write reads them later)."""
        self._submit(lambda: self._write_now(step, time, fields, bond_state, attrs))

    def _write_now(self, step, time, fields, bond_state, attrs) -> None:
        def fill(f: h5py.File) -> None:
            _fill_state(f, step, time, attrs, {name: fields[name] for name in FIELDS}, bond_state)

        _publish(self.folder / step_file(step), lambda tmp: _write_h5(tmp, fill))
        # a snapshot written again (a resume from step 0 rewrites it, same bits) is listed once
        self.steps = [entry for entry in self.steps if entry[0] != step] + [(step, float(time))]
        self.steps.sort()
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


def _fill_state(f: h5py.File, step: int, time: float, attrs: dict, arrays: dict[str, np.ndarray],
                bond_state) -> None:
    f.attrs["step"] = int(step)
    f.attrs["time"] = float(time)
    for key, value in attrs.items():
        f.attrs[key] = value
    for name, values in arrays.items():
        f.create_dataset(name, data=values)
    if bond_state is not None:
        f.create_dataset("bond_state", data=bond_state, compression="gzip", compression_opts=1)
    # Kept for readers of the single-file layout of earlier versions, where it marked a group
    # whose write had finished; a file under its final name is always complete.
    f.attrs["complete"] = True


#: Case keys a resume may change besides output and backend: they lengthen (or shorten) an explicit
#: run without changing any step already computed (the time step is kept from the file).
RESUMABLE_KEYS = ("solver.end_time", "solver.steps")


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
    """Fields of one complete snapshot (the last one by default), plus ``position``, ``step``, ``time``."""
    with h5py.File(path, "r") as f:
        steps = _listed_steps(f)
        if not steps:
            raise ValueError(f"{path}: no complete snapshot")
        step = steps[-1] if step is None else step
        try:
            group = f["steps"][f"{step:08d}"]
            out = {name: group[name][...] for name in FIELDS}
            out["position"] = f["particles/position"][...]
        except KeyError as err:
            raise missing_files(path, err) from None
        out["step"] = int(group.attrs["step"])
        out["time"] = float(group.attrs["time"])
    return out


def missing_files(path: str | Path, err: Exception) -> PdgeneralError:
    """The error for a snapshot OUT.h5 lists but cannot open: usually OUT.h5 copied without its
    folder, whose files hold the arrays."""
    folder = data_folder(path)
    if not folder.is_dir():
        return PdgeneralError(f"{path}: its snapshots are in {folder}, which is missing (keep OUT.h5 "
                              "and OUT.h5.d together when copying or moving an output)")
    return PdgeneralError(f"{path}: cannot read a snapshot listed in it ({err})")
