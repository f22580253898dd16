"""HDF5 output layout (scripts, the validation suite and ParaView via XDMF read it):

    /                        attrs: pdgeneral_version, case (YAML text as read), overrides (the
                                    --set KEY=VALUE strings applied to it), case_normalized (JSON,
                                    overrides and defaults applied), name, backend, precision,
                                    dimension, and the derived constants (micromodulus,
                                    critical_stretch, horizon, spacing, stable_time_step)
    /particles/position      (N, dim) float64 reference coordinates, m
    /particles/volume        (N,) m^3
    /steps/<step:08d>/       attrs: step (int), time (s), complete (True once every field is written);
                             quasi-static runs add load_factor, iterations, residual, converged
        displacement (N, dim) m, velocity (N, dim) m/s, damage (N,)
        bond_state (words, N) uint32: bit n % 32 of word n // 32 = bond n of the particle's row
                   (its n-th neighbour in ascending order) intact; with displacement and
                   velocity, what a run needs to continue from this snapshot (``--resume``)
    /checkpoint/             the newest restart point apart from the snapshots (output.checkpoint_every,
                             output.checkpoint_minutes): displacement, velocity, bond_state; attrs
                             step, time, time_step, complete

Rows keep one particle order for the whole file. Every snapshot is flushed to disk before the run
goes on, and the XDMF index next to the file is rewritten atomically after it.
"""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from .. import __version__
from ..errors import CaseError
from ..model import Model
from .xdmf import write_xdmf


#: Groups that may hold a restart point apart from the snapshots (see SnapshotWriter.checkpoint).
CHECKPOINTS = ("checkpoint", "checkpoint_new")


class SnapshotWriter:
    """Writes one run's snapshots. Use as a context manager.

    ``resume=True`` reopens an existing output of the same case instead of creating one: groups
    without the ``complete`` mark (a snapshot cut short by a crash) are deleted, and
    ``last_snapshot`` holds the newest complete one to continue from.
    """

    def __init__(self, path: str | Path, model: Model, case_text: str, backend: str,
                 overwrite: bool = False, attributes: dict | None = None, resume: bool = False):
        self.path = Path(path)
        self.model = model
        self.steps: list[tuple[int, float]] = []
        self.last_snapshot: dict | None = None
        if resume:
            self._reopen()
            return
        if self.path.exists() and not overwrite:
            raise CaseError("output.path", f"{self.path} exists; pass --overwrite to replace it, "
                                           "or --resume to continue it")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = h5py.File(self.path, "w")
        except OSError as err:
            raise CaseError("output.path", f"cannot write {self.path} ({err.strerror or err})") from None
        attrs = self.file.attrs
        attrs["pdgeneral_version"] = __version__
        attrs["case"] = case_text
        attrs["case_normalized"] = json.dumps(model.case.model_dump(mode="json"))
        attrs["name"] = model.case.name
        attrs["backend"] = backend
        attrs["precision"] = str(model.dtype)
        attrs["dimension"] = model.dimension
        attrs["micromodulus"] = model.micromodulus
        attrs["critical_stretch"] = model.critical_stretch
        attrs["horizon"] = model.horizon
        attrs["spacing"] = model.spacing
        attrs["stable_time_step"] = model.stable_time_step
        for key, value in (attributes or {}).items():
            attrs[key] = value
        particles = self.file.create_group("particles")
        particles.create_dataset("position", data=model.positions.astype(np.float64))
        particles.create_dataset("volume", data=model.volume)
        self.file.create_group("steps")
        self.file.flush()

    def _reopen(self) -> None:
        if not self.path.exists():
            raise CaseError("output.path", f"{self.path} does not exist: nothing to resume")
        try:
            self.file = h5py.File(self.path, "r+")
        except OSError as err:
            raise CaseError("output.path", f"cannot reopen {self.path} to resume it "
                                           f"({err.strerror or err})") from None
        stored = self.file.attrs.get("case_normalized")
        current = json.loads(json.dumps(self.model.case.model_dump(mode="json")))
        if stored is None or _without_run_keys(json.loads(stored)) != _without_run_keys(current):
            self.file.close()
            raise CaseError("output.path", f"{self.path} was written by a different case; resume "
                                           "needs the same case (only output and backend may change)")
        steps = self.file["steps"]
        for name in list(steps):
            if not steps[name].attrs.get("complete"):
                del steps[name]       # cut short by a crash: recognisable, and discarded
        complete = sorted(steps)
        if not complete:
            self.file.close()
            raise CaseError("output.path", f"{self.path} holds no complete snapshot to resume from")
        for name in complete:
            self.steps.append((int(steps[name].attrs["step"]), float(steps[name].attrs["time"])))
        candidates = [steps[complete[-1]]] + [self.file[name] for name in CHECKPOINTS
                                               if name in self.file
                                               and self.file[name].attrs.get("complete")]
        last = max(candidates, key=lambda group: int(group.attrs["step"]))
        if "bond_state" not in last:
            self.file.close()
            raise CaseError("output.path", f"{self.path}: the last snapshot has no bond state")
        self.last_snapshot = {name: last[name][...] for name in
                              ("displacement", "velocity", "bond_state")}
        self.last_snapshot.update({key: value for key, value in last.attrs.items()})
        self.file.flush()

    def checkpoint(self, step: int, time: float, displacement: np.ndarray, velocity: np.ndarray,
                   bond_state: np.ndarray, **attrs) -> None:
        """Write a restart point apart from the snapshots, keeping only the newest: the new one is
        written completely under /checkpoint_new, then replaces /checkpoint. A crash at any moment
        leaves at least one complete checkpoint or snapshot to resume from."""
        if "checkpoint_new" in self.file:
            del self.file["checkpoint_new"]
        group = self.file.create_group("checkpoint_new")
        group.attrs["step"] = int(step)
        group.attrs["time"] = float(time)
        for key, value in attrs.items():
            group.attrs[key] = value
        group.create_dataset("displacement", data=displacement)
        group.create_dataset("velocity", data=velocity)
        group.create_dataset("bond_state", data=bond_state, compression="gzip", compression_opts=1)
        group.attrs["complete"] = True
        self.file.flush()
        if "checkpoint" in self.file:
            del self.file["checkpoint"]
        self.file.move("checkpoint_new", "checkpoint")
        self.file.flush()

    def write(self, step: int, time: float, fields: dict[str, np.ndarray], bond_state=None,
              **attrs) -> None:
        group = self.file["steps"].create_group(f"{step:08d}")
        group.attrs["step"] = int(step)
        group.attrs["time"] = float(time)
        for key, value in attrs.items():
            group.attrs[key] = value
        for name in ("displacement", "velocity", "damage"):
            group.create_dataset(name, data=fields[name])
        if bond_state is not None:
            group.create_dataset("bond_state", data=bond_state, compression="gzip",
                                 compression_opts=1)
        group.attrs["complete"] = True   # written last: a group without it is a cut-short snapshot
        self.file.flush()
        self.steps.append((step, time))
        write_xdmf(self.path, self.model.particle_count, self.model.dimension, self.steps,
                   str(fields["displacement"].dtype))

    def close(self) -> None:
        if self.file.id.valid:
            self.file.close()

    def __enter__(self) -> "SnapshotWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _without_run_keys(case: dict) -> dict:
    """The parts of a normalised case that decide the physics (output and backend may differ)."""
    return {key: value for key, value in case.items() if key not in ("output", "backend")}


def snapshot_steps(path: str | Path) -> list[int]:
    """Steps of the complete snapshots in an output file, ascending."""
    with h5py.File(path, "r") as f:
        return sorted(int(g.attrs["step"]) for g in f["steps"].values() if g.attrs.get("complete"))


def read_snapshot(path: str | Path, step: int | None = None) -> dict[str, np.ndarray]:
    """Fields of one complete snapshot (the last one by default), plus ``position``, ``step``, ``time``."""
    steps = snapshot_steps(path)
    if not steps:
        raise ValueError(f"{path}: no complete snapshot")
    step = steps[-1] if step is None else step
    with h5py.File(path, "r") as f:
        group = f["steps"][f"{step:08d}"]
        out = {name: group[name][...] for name in ("displacement", "velocity", "damage")}
        out["position"] = f["particles/position"][...]
        out["step"] = int(group.attrs["step"])
        out["time"] = float(group.attrs["time"])
    return out
