"""Crack metrics over the snapshots of an output file (layout: pdgeneral/io/hdf5.py)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from ..io import read_snapshot, snapshot_steps
from .crack import DEFAULT_THRESHOLD, Branching, branching, crack_tip


def file_spacing(path: str | Path) -> float:
    """The lattice spacing (m) a run used, from its output file."""
    with h5py.File(path, "r") as f:
        return float(f.attrs["spacing"])


def damage_field(path: str | Path, step: int | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """``(position (N, dim) m, damage (N,), time s)`` of one snapshot (the last by default)."""
    snapshot = read_snapshot(path, step)
    return snapshot["position"], snapshot["damage"], snapshot["time"]


def broken_bonds(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(steps (S,), times (S,) s, broken (S,))``: bonds broken since the first snapshot, counted
    once per pair (the file stores each bond from both ends), from every snapshot's bond state. Pre-
    crack bonds are broken before the first snapshot and so are not counted."""
    steps = snapshot_steps(path)
    times, intact = [], []
    with h5py.File(path, "r") as f:
        for step in steps:
            group = f["steps"][f"{step:08d}"]
            if "bond_state" not in group:
                raise ValueError(f"{path}: snapshot {step} has no bond state")
            words = np.ascontiguousarray(group["bond_state"][...], dtype=np.uint32)
            intact.append(int(np.unpackbits(words.view(np.uint8)).sum()))
            times.append(float(group.attrs["time"]))
    intact = np.array(intact, dtype=np.int64)
    return np.array(steps), np.array(times), (intact[0] - intact) // 2


def tip_history(path: str | Path, start: Sequence[float], direction: Sequence[float] | None = None,
                spacing: float | None = None, threshold: float = DEFAULT_THRESHOLD,
                reach: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(times (S,) s, tips (S, dim) m)``: the tip of the crack connected to ``start`` (see
    ``crack_tip``) in every complete snapshot. A snapshot with no crack connected to ``start`` gives
    ``start`` itself (a crack of zero length). ``spacing`` defaults to the file's."""
    spacing = file_spacing(path) if spacing is None else spacing
    start = np.asarray(start, dtype=float)
    times, tips = [], []
    for step in snapshot_steps(path):
        position, damage, time = damage_field(path, step)
        tip = crack_tip(position, damage, start, spacing, direction, threshold, reach)
        times.append(time)
        tips.append(start if tip is None else tip)
    return np.array(times), np.array(tips)


def branching_time(path: str | Path, start: Sequence[float], direction: Sequence[float] | None = None,
                   spacing: float | None = None, threshold: float = DEFAULT_THRESHOLD,
                   reach: float | None = None,
                   min_length: float | None = None) -> tuple[float, Branching] | None:
    """``(time s, Branching)`` of the first snapshot in which the crack connected to ``start`` has
    branched (see ``branching``), or ``None``. The branching happened between that snapshot and the
    one before it; the junction it reports is where the branches meet."""
    spacing = file_spacing(path) if spacing is None else spacing
    for step in snapshot_steps(path):
        position, damage, time = damage_field(path, step)
        found = branching(position, damage, start, spacing, direction, threshold, reach, min_length)
        if found is not None:
            return time, found
    return None
