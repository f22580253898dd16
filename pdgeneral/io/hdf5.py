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


class SnapshotWriter:
    """Writes one run's snapshots. Use as a context manager."""

    def __init__(self, path: str | Path, model: Model, case_text: str, backend: str,
                 overwrite: bool = False, attributes: dict | None = None):
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise CaseError("output.path", f"{self.path} exists; pass --overwrite to replace it")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = h5py.File(self.path, "w")
        except OSError as err:
            raise CaseError("output.path", f"cannot write {self.path} ({err.strerror or err})") from None
        self.model = model
        self.steps: list[tuple[int, float]] = []
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

    def write(self, step: int, time: float, fields: dict[str, np.ndarray], **attrs) -> None:
        group = self.file["steps"].create_group(f"{step:08d}")
        group.attrs["step"] = int(step)
        group.attrs["time"] = float(time)
        for key, value in attrs.items():
            group.attrs[key] = value
        for name in ("displacement", "velocity", "damage"):
            group.create_dataset(name, data=fields[name])
        group.attrs["complete"] = True
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
