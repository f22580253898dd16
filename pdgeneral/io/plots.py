"""Pictures of a run beyond one snapshot: the history (energies, load curves) and an animation of a
field over every snapshot (matplotlib's animation writers: GIF through Pillow, MP4 through ffmpeg)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import PdgeneralError
from .history import read_history


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def loaded_regions(path: str | Path) -> list[str]:
    """The regions of an output's case that carry a prescribed motion or a load, in case order:
    those whose reaction force against displacement is a load curve."""
    import json

    import h5py
    with h5py.File(path, "r") as f:
        case = json.loads(f.attrs["case_normalized"])
    names = []
    for condition in case.get("boundary_conditions", []):
        if condition["region"] not in names:
            names.append(condition["region"])
    return names


def history_is_quasi_static(path: str | Path) -> bool:
    import h5py
    with h5py.File(path, "r") as f:
        return bool(f["history"].attrs.get("quasi_static", False))


def plot_history(path: str | Path, output: str | Path | None = None) -> Path:
    """A PNG of the history: the energies against time (load factor for quasi-static runs) and,
    for every region with a prescribed motion or a load, its reaction force against its
    displacement, the component with the largest force. Returns the PNG path."""
    try:
        history = read_history(path)
    except ValueError as err:
        raise PdgeneralError(str(err)) from None
    regions = [name for name in loaded_regions(path) if f"regions/{name}/reaction_force" in history]
    plt = _pyplot()
    panels = 1 + (1 if regions else 0)
    figure, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 4.5), squeeze=False)
    energy = axes[0, 0]
    quasi_static = history_is_quasi_static(path)
    x = history["time"]
    for key, label in (("kinetic_energy", "kinetic"), ("strain_energy", "strain"),
                       ("dissipated_energy", "dissipated"), ("external_work", "external work")):
        energy.plot(x, history[key], label=label)
    total = history["kinetic_energy"] + history["strain_energy"] + history["dissipated_energy"]
    energy.plot(x, total, "k--", linewidth=1, label="kinetic + strain + dissipated")
    energy.set_xlabel("load factor" if quasi_static else "time (s)")
    energy.set_ylabel("energy (J)")
    energy.set_title("energies")
    energy.legend(fontsize=8)
    if regions:
        curve = axes[0, 1]
        for name in regions:
            force = history[f"regions/{name}/reaction_force"]
            displacement = history[f"regions/{name}/displacement"]
            d = int(np.argmax(np.abs(force).max(axis=0)))
            axis = "xyz"[d]
            curve.plot(displacement[:, d], force[:, d], marker=".", markersize=3,
                       label=f"{name} ({axis})")
        curve.set_xlabel("mean displacement of the region (m)")
        curve.set_ylabel("reaction force (N)")
        curve.set_title("load curves")
        curve.legend(fontsize=8)
    figure.tight_layout()
    output = Path(output) if output else Path(path).with_name(f"{Path(path).stem}-history.png")
    figure.savefig(output, dpi=150)
    plt.close(figure)
    return output


def animate(path: str | Path, field: str = "damage", output: str | Path | None = None,
            deform: float = 0.0, slice_at: str | None = None, fps: int = 5) -> Path:
    """Every snapshot of ``field`` (as `pdgeneral plot` draws one) as the frames of a GIF, or an
    MP4 where ffmpeg exists, each with its time. Returns the file's path."""
    from matplotlib import animation

    from .hdf5 import snapshot_steps
    from .summary import plot_data
    output = Path(output) if output else Path(path).with_name(f"{Path(path).stem}-{field}.gif")
    suffix = output.suffix.lower()
    if suffix == ".gif":
        writer = animation.PillowWriter(fps=fps)
    elif suffix == ".mp4":
        if not animation.FFMpegWriter.isAvailable():
            raise PdgeneralError(f"{output}: writing MP4 needs ffmpeg, which was not found; "
                                 "write a .gif instead")
        writer = animation.FFMpegWriter(fps=fps)
    else:
        raise PdgeneralError(f"{output}: an animation is written as .gif or .mp4")
    steps = snapshot_steps(path)
    if not steps:
        raise PdgeneralError(f"{path}: no complete snapshot to animate")
    frames = [plot_data(path, field, step, deform, slice_at) for step in steps]
    plt = _pyplot()
    xy = frames[-1]["xy"]
    everything = np.concatenate([frame["xy"] for frame in frames])
    low, high = everything.min(axis=0), everything.max(axis=0)
    width, height = max(high[0] - low[0], 1e-300), max(high[1] - low[1], 1e-300)
    values = np.concatenate([frame["values"] for frame in frames])
    is_damage = frames[0]["field"] == "damage"
    vmin, vmax = (0.0, 1.0) if is_damage else (float(values.min()), float(values.max()))
    figure, axes = plt.subplots(figsize=(8, max(2.0, 8 * height / width) + 1))
    columns = np.unique(np.round(frames[0]["xy"][:, 0], 12))
    spacing = np.diff(columns).min() if len(columns) > 1 else width
    size = (spacing * 0.8 * 576 / max(width, height * 0.8)) ** 2
    scatter = axes.scatter(xy[:, 0], xy[:, 1], c=frames[-1]["values"], s=size, marker="s",
                           linewidths=0, cmap="inferno" if is_damage else "viridis",
                           vmin=vmin, vmax=vmax)
    axes.set_xlim(low[0] - spacing, high[0] + spacing)
    axes.set_ylim(low[1] - spacing, high[1] + spacing)
    axes.set_aspect("equal")
    axes.set_xlabel(f"{frames[0]['axes'][0]} (m)")
    axes.set_ylabel(f"{frames[0]['axes'][1]} (m)")
    figure.colorbar(scatter, ax=axes, shrink=0.8).set_label(frames[0]["label"])
    import h5py
    with h5py.File(path, "r") as f:
        times = [float(f["steps"][f"{step:08d}"].attrs["time"]) for step in steps]
    with writer.saving(figure, str(output), dpi=100):
        for frame, step, time in zip(frames, steps, times, strict=True):
            scatter.set_offsets(frame["xy"])
            scatter.set_array(frame["values"])
            axes.set_title(f"step {step}, t = {time:.4g} s")
            writer.grab_frame()
    plt.close(figure)
    return output
