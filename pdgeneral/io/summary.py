"""Looking at an output file: a text summary (`pdgeneral info OUT.h5`) and a picture
(`pdgeneral plot OUT.h5`)."""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from ..errors import PdgeneralError
from .hdf5 import data_folder, missing_files, read_snapshot, snapshot_steps

UNITS = {"damage": "", "displacement": "m", "velocity": "m/s"}


def _open_output(path: str | Path) -> list[int]:
    try:
        steps = snapshot_steps(path)
    except (OSError, KeyError) as err:
        raise PdgeneralError(f"{path}: not a pdgeneral output file ({err})") from None
    if not steps:
        raise PdgeneralError(f"{path}: no complete snapshot")
    return steps


def describe(path: str | Path) -> list[str]:
    """Lines summarising an output file: case, sizes, steps, times, fields, final damage."""
    steps = _open_output(path)
    with h5py.File(path, "r") as f:
        attrs = f.attrs
        case = json.loads(attrs["case_normalized"])
        try:
            n, dim = f["particles/position"].shape
            first, last = f["steps"][f"{steps[0]:08d}"], f["steps"][f"{steps[-1]:08d}"]
        except KeyError as err:
            raise missing_files(path, err) from None
        fields = sorted(k for k in last)
        damage = last["damage"][...]
        lines = [
            f"file        {path}",
            (f"case        {attrs['name']} ({case['solver']['type']}, {dim}D, {attrs['precision']}, "
            f"written by pdgeneral {attrs['pdgeneral_version']} on {attrs['backend']})"),
            f"device      {attrs.get('device', 'not recorded')}",
            f"particles   {n:,}",
            f"snapshots   {len(steps)}: steps {steps[0]} .. {steps[-1]}, time "
            f"{first.attrs['time']:.6g} .. {last.attrs['time']:.6g}"
            + (" (load factor)" if case["solver"]["type"] == "quasi_static" else " s"),
            f"fields      {', '.join(fields)}",
            (f"final       damage mean {damage.mean():.4f}, max {damage.max():.4f}, "
            f"{int(np.count_nonzero(damage > 0.35)):,} particles above 0.35; "
            f"max |u| {np.abs(last['displacement'][...]).max():.4g} m"),
        ]
    folder = data_folder(path)
    if folder.is_dir():
        files = [entry for entry in folder.iterdir() if entry.is_file()]
        lines.append(f"storage     {folder}: {len(files)} files, "
                     f"{sum(entry.stat().st_size for entry in files) / 1e6:,.1f} MB")
    return lines


def plot(path: str | Path, field: str = "damage", step: int | None = None,
         output: str | Path | None = None) -> Path:
    """Draw the particles coloured by a field (vectors by magnitude) with a colour bar; 3D outputs
    are shown as the slice of particles nearest the mid-plane in z. Returns the PNG path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = _open_output(path)
    if step is not None and step not in steps:
        raise PdgeneralError(f"{path}: no complete snapshot at step {step} "
                             f"(steps {steps[0]} .. {steps[-1]}, {len(steps)} snapshots)")
    snap = read_snapshot(path, step)
    x = snap["position"]
    values = snap[field]
    label = field
    if values.ndim == 2:
        values = np.linalg.norm(values, axis=1)
        label = f"|{field}|"
    if x.shape[1] == 3:
        z = x[:, 2]
        middle = z[np.argmin(np.abs(z - 0.5 * (z.min() + z.max())))]
        keep = np.isclose(z, middle)
        x, values = x[keep], values[keep]
        label += f" (slice z = {middle:.4g} m)"
    unit = UNITS[field]
    width, height = np.ptp(x[:, 0]), np.ptp(x[:, 1])
    figure, axes = plt.subplots(figsize=(8, max(2.0, 8 * height / width) + 1))
    is_damage = field == "damage"
    # Square markers one lattice spacing wide: about 80 % of the 8-inch (576 pt) figure is the axes.
    spacing = np.diff(np.unique(x[:, 0])).min() if len(np.unique(x[:, 0])) > 1 else width
    points_per_metre = 0.8 * 576 / max(width, height * 0.8)
    scatter = axes.scatter(x[:, 0], x[:, 1], c=values, s=(spacing * points_per_metre) ** 2, marker="s",
                           linewidths=0, cmap="inferno" if is_damage else "viridis",
                           vmin=0.0 if is_damage else None, vmax=1.0 if is_damage else None)
    axes.set_aspect("equal")
    axes.set_xlabel("x (m)")
    axes.set_ylabel("y (m)")
    axes.set_title(f"{Path(path).name}: step {snap['step']}, t = {snap['time']:.4g}")
    bar = figure.colorbar(scatter, ax=axes, shrink=0.8)
    bar.set_label(f"{label} ({unit})" if unit else label)
    output = Path(output) if output else Path(path).with_name(
        f"{Path(path).stem}-{field}-{snap['step']:08d}.png")
    figure.savefig(output, dpi=150, bbox_inches="tight")
    plt.close(figure)
    return output
