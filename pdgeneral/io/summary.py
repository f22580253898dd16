"""Looking at an output file: a text summary (`pdgeneral info OUT.h5`) and a picture
(`pdgeneral plot OUT.h5`)."""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from ..errors import PdgeneralError
from .hdf5 import FIELDS as SNAPSHOT_FIELDS
from .hdf5 import data_folder, missing_files, read_snapshot, restart_points, snapshot_steps

UNITS = {"damage": "", "displacement": "m", "velocity": "m/s", "strain_energy_density": "J/m^3"}


def _open_output(path: str | Path) -> list[int]:
    try:
        steps = snapshot_steps(path)
    except (OSError, KeyError) as err:
        raise PdgeneralError(f"{path}: not a pdgeneral output file ({err})") from None
    if not steps:
        raise PdgeneralError(f"{path}: no complete snapshot")
    return steps


def describe(path: str | Path) -> list[str]:
    """Lines summarising an output file: case, sizes, steps, times, fields, which files are
    restart points and which snapshots are view-only, final damage."""
    steps = _open_output(path)
    with h5py.File(path, "r") as f:
        attrs = f.attrs
        case = json.loads(attrs["case_normalized"])
        try:
            n, dim = f["particles/position"].shape
            first, last = f["steps"][f"{steps[0]:08d}"], f["steps"][f"{steps[-1]:08d}"]
        except KeyError as err:
            raise missing_files(path, err) from None
        fields = [name for name in SNAPSHOT_FIELDS if name in last]
        held = [*fields, "bond_state"] if "bond_state" in last else fields
        compression = (last[fields[0]].compression or "none") if fields else "none"
        stored = (f"{np.dtype(last[fields[0]].dtype).name}, " if fields else "") + (
            f"compression {compression}")
        if compression == "lzf":   # h5py's own filter: not in the HDF5 library ParaView carries
            stored += ": ParaView needs the LZF filter plugin"
        final = []
        if "damage" in last:
            damage = last["damage"][...]
            final.append(f"damage mean {damage.mean():.4f}, max {damage.max():.4f}, "
                         f"{int(np.count_nonzero(damage > 0.35)):,} particles above 0.35")
        if "displacement" in last:
            final.append(f"max |u| {np.abs(last['displacement'][...]).max():.4g} m")
        lines = [
            f"file        {path}",
            (f"case        {attrs['name']} ({case['solver']['type']}, {dim}D, {attrs['precision']}, "
            f"written by pdgeneral {attrs['pdgeneral_version']} on {attrs['backend']})"),
            f"device      {attrs.get('device', 'not recorded')}",
            f"particles   {n:,}",
            f"snapshots   {len(steps)}: steps {steps[0]} .. {steps[-1]}, time "
            f"{first.attrs['time']:.6g} .. {last.attrs['time']:.6g}"
            + (" (load factor)" if case["solver"]["type"] == "quasi_static" else " s"),
            f"fields      {', '.join(sorted(held))} ({stored})",
        ]
    lines += _restart_lines(path)
    if final:
        lines.append(f"final       {'; '.join(final)}")
    folder = data_folder(path)
    if folder.is_dir():
        files = [entry for entry in folder.iterdir() if entry.is_file()]
        lines.append(f"storage     {folder}: {len(files)} files, "
                     f"{sum(entry.stat().st_size for entry in files) / 1e6:,.1f} MB")
    return lines


def _restart_lines(path: str | Path) -> list[str]:
    """Which snapshots are view-only, which files are restart points, and where --resume starts."""
    points = restart_points(path)
    folder = data_folder(path).name
    lines = []
    for is_restart, label in ((False, "view-only"), (True, "restart")):
        kept = [(step, precision) for step, restart, precision in points["snapshots"]
                if restart == is_restart]
        for precision in sorted({precision for _, precision in kept}):
            at = [step for step, p in kept if p == precision]
            what = ("for plots and ParaView; --resume never reads them" if not is_restart
                    else "each holds the full state")
            shown = at if len(at) <= 12 else [*at[:6], "...", *at[-5:]]
            lines.append(f"{label:<11} steps {', '.join(map(str, shown))} ({len(at)} snapshot"
                         f"{'s' if len(at) != 1 else ''}: {precision} fields, {what})")
    checkpoint = points["checkpoint"]
    if checkpoint is not None:
        lines.append(f"restart     {folder}/checkpoint.h5 at step {checkpoint[0]} ({checkpoint[1]} "
                     "displacement, velocity, bond_state)")
    resume = points["resume_step"]
    lines.append(f"resume      --resume continues from step {resume}" if resume is not None else
                 "resume      no restart point: a run must start again (--overwrite)")
    return lines


FIELDS = ("damage", "displacement", "velocity", "strain_energy_density")
AXES = "xyz"


def _steps_listed(steps: list[int]) -> str:
    """The snapshot steps of an output, shortened when there are many."""
    shown = steps if len(steps) <= 12 else [*steps[:6], "...", *steps[-5:]]
    return f"{', '.join(map(str, shown))} ({len(steps)} snapshots)"


def _field(spec: str, dimension: int) -> tuple[str, int | None]:
    """'damage', 'displacement' (magnitude) or 'displacement:y' (a component) -> (name, axis)."""
    name, _, component = spec.partition(":")
    if name not in FIELDS:
        raise PdgeneralError(f"--field: unknown field {name!r} (choose from {', '.join(FIELDS)}, "
                             "a vector field with :x, :y or :z for a component)")
    if not component:
        return name, None
    scalar = name in ("damage", "strain_energy_density")
    if scalar or component not in AXES[:dimension]:
        allowed = "none (a scalar)" if scalar else ", ".join(AXES[:dimension])
        raise PdgeneralError(f"--field: {spec!r}: no component {component!r} of {name} in "
                             f"{dimension}D (components: {allowed})")
    return name, AXES.index(component)


def _slice(spec: str | None, x: np.ndarray) -> tuple[np.ndarray, str, int]:
    """The particles of a 3D body nearest a plane: ``spec`` 'z=0.0045' (or x=, y=; default: z at
    the middle). Returns (mask, label, the axis left out)."""
    if spec is None:
        axis, value = 2, 0.5 * (x[:, 2].min() + x[:, 2].max())
    else:
        name, _, text = spec.partition("=")
        name = name.strip()
        try:
            value = float(text)
        except ValueError:
            value = None
        if name not in AXES or value is None:
            raise PdgeneralError(f"--slice: {spec!r} must look like z=0.0045 (x=, y= or z=, in m)")
        axis = AXES.index(name)
        planes = np.unique(x[:, axis])
        # the body reaches half a spacing beyond its outermost particle planes
        half = 0.5 * (np.diff(planes).min() if len(planes) > 1 else 0.0)
        low, high = planes[0] - half, planes[-1] + half
        if not low - 1e-12 <= value <= high + 1e-12:
            raise PdgeneralError(f"--slice: {spec!r} is outside the body ({name} from {low:.6g} to "
                                 f"{high:.6g} m)")
    planes = np.unique(x[:, axis])
    plane = planes[np.argmin(np.abs(planes - value))]
    return np.isclose(x[:, axis], plane), f"slice {AXES[axis]} = {plane:.4g} m", axis


def plot_data(path: str | Path, field: str = "damage", step: int | None = None,
              deform: float = 0.0, slice_at: str | None = None) -> dict:
    """What ``plot`` draws: ``xy`` (P, 2) particle positions in the plane drawn (deformed by
    ``deform`` times the displacement), ``values`` (P,), ``label`` (the colour bar's, with unit),
    ``title``, ``axes`` (the names of the drawn axes), ``step``, ``spacing`` (the smallest gap
    between reference columns: the size of a marker). ``field`` is damage, displacement
    or velocity (a vector's magnitude), a component such as displacement:y, or
    strain_energy_density (when the snapshot holds it: output.fields); 3D outputs are
    drawn as the particles nearest a plane (``slice_at``, e.g. 'z=0.0045'; default the mid-plane in
    z)."""
    steps = _open_output(path)
    if step is not None and step not in steps:
        raise PdgeneralError(f"{path}: no complete snapshot at step {step}; the snapshots are at "
                             f"steps {_steps_listed(steps)}")
    snap = read_snapshot(path, step)
    x = snap["position"]
    dimension = x.shape[1]
    name, axis = _field(field, dimension)
    if slice_at is not None and dimension != 3:
        raise PdgeneralError("--slice: a 2D output is drawn whole; --slice is for 3D outputs")
    with h5py.File(path, "r") as f:
        quasi_static = json.loads(f.attrs["case_normalized"])["solver"]["type"] == "quasi_static"
    if name not in snap:
        held = ", ".join(k for k in FIELDS if k in snap)
        raise PdgeneralError(f"--field: the snapshot at step {snap['step']} holds no {name} (it holds "
                             f"{held}; output.fields chooses them)")
    values = snap[name]
    unit = UNITS[name]
    if values.ndim == 2:
        label = f"{name} {AXES[axis]}" if axis is not None else f"|{name}|"
        values = values[:, axis] if axis is not None else np.linalg.norm(values, axis=1)
    else:
        label = name
    if deform and "displacement" not in snap:
        raise PdgeneralError(f"--deform: the snapshot at step {snap['step']} holds no displacement")
    position = x + deform * snap["displacement"] if deform else x
    drawn = [0, 1]
    if dimension == 3:
        keep, where, left_out = _slice(slice_at, x)
        drawn = [a for a in range(3) if a != left_out]
        position, values = position[keep], values[keep]
        label += f" ({where})"
    when = (f"load factor {snap['time']:.4g}" if quasi_static else f"t = {snap['time']:.4g} s")
    title = f"{Path(path).name}: step {snap['step']}, {when}"
    if deform:
        title += f", displacements x {deform:g}"
    # The marker size comes from the reference positions: deformed ones are all distinct, so
    # their smallest gap says nothing about the lattice.
    reference = x[keep][:, drawn] if dimension == 3 else x
    columns = np.unique(np.round(reference[:, 0], 12))
    spacing = float(np.diff(columns).min()) if len(columns) > 1 else float(np.ptp(reference[:, 1]))
    return {"xy": position[:, drawn], "values": values, "spacing": spacing,
            "label": f"{label} ({unit})" if unit else label, "title": title,
            "axes": [AXES[a] for a in drawn], "step": snap["step"], "field": name}


def plot(path: str | Path, field: str = "damage", step: int | None = None,
         output: str | Path | None = None, deform: float = 0.0, slice_at: str | None = None) -> Path:
    """Draw the particles coloured by a field with a colour bar (``plot_data`` says what is drawn).
    Returns the PNG path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = plot_data(path, field, step, deform, slice_at)
    xy, values = data["xy"], data["values"]
    width, height = np.ptp(xy[:, 0]), np.ptp(xy[:, 1])
    figure, axes = plt.subplots(figsize=(8, max(2.0, 8 * height / max(width, 1e-300)) + 1))
    is_damage = data["field"] == "damage"
    # Square markers one lattice spacing wide: about 80 % of the 8-inch (576 pt) figure is the axes.
    spacing = data["spacing"] if data["spacing"] > 0 else width
    points_per_metre = 0.8 * 576 / max(width, height * 0.8)
    scatter = axes.scatter(xy[:, 0], xy[:, 1], c=values, s=(spacing * points_per_metre) ** 2, marker="s",
                           linewidths=0, cmap="inferno" if is_damage else "viridis",
                           vmin=0.0 if is_damage else None, vmax=1.0 if is_damage else None)
    axes.set_aspect("equal")
    axes.set_xlabel(f"{data['axes'][0]} (m)")
    axes.set_ylabel(f"{data['axes'][1]} (m)")
    axes.set_title(data["title"])
    bar = figure.colorbar(scatter, ax=axes, shrink=0.8)
    bar.set_label(data["label"])
    name = field.replace(":", "-")
    output = Path(output) if output else Path(path).with_name(
        f"{Path(path).stem}-{name}-{data['step']:08d}.png")
    figure.savefig(output, dpi=150, bbox_inches="tight")
    plt.close(figure)
    return output
