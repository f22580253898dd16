"""Histories: the global numbers an engineer reads from a run, one row per recorded step.

An output's ``/history`` group (``OUT.h5.d/history.h5``, linked from OUT.h5; io/hdf5.py publishes it
with every snapshot and checkpoint, so a crash keeps every row up to the last restart point):

    step (R,) int64, time (R,) s          (quasi-static runs: the load step, and time = load factor)
    kinetic_energy (R,) J                 1/2 sum rho V |v|^2 (0 in quasi-static runs)
    strain_energy (R,) J                  sum V W, W the strain energy density of the intact bonds
    external_work (R,) J                  work of the loads and of the prescribed motions so far
    dissipated_energy (R,) J              the energy the broken bonds held at the critical stretch
    broken_bonds (R,) int64               bonds (pairs) broken so far, pre-cracks excluded
    regions/<name>/reaction_force (R, dim) N   -sum over the region of V f_int: a load cell's reading
    regions/<name>/displacement (R, dim) m     the region's mean displacement
    work/constraint_power (R,)            sum over prescribed components of reaction x velocity (W;
                                          per unit load factor in quasi-static runs)
    work/load_displacement (R, G)         per load group g, sum over free components V B_g . u (N m)
    work/constrained_kinetic_energy (R,)  the prescribed components' kinetic energy (J)
    work/constraint_work (R,)             the prescribed motions' work (J): the trapezoid rule over
                                          every step (explicit), over the load steps (quasi-static)
    work/load_work (R,)                   the loads' work (J): their ramp integrated against
                                          load_displacement between regular rows
    restart/step (k,), restart/constraint_work (k, C)   explicit runs: the constraint entries'
                                          work sums at the last (two) restart points, what a
                                          resume continues from (read_history leaves them out)

2D energies and forces are for the plate's real thickness (the volumes include it). docs/theory.md
("Histories") gives each definition with its sources; the work/ columns are the terms the external
work is integrated from, kept so that a resumed run continues the integral with the same bits.

Which steps have a row: explicit runs every ``output.history_every`` steps (default 10) from step 0,
and the last step; quasi-static runs every load step. The external work is integrated between
*regular* rows (multiples of history_every): a row at the last step that is not one is integrated
from the regular row before it and is dropped when a resume lengthens the run, so that a resumed
history equals the uninterrupted run's row for row, bit for bit.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from ..kernels.pmb import ramp

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..model import Model

#: Steps between history rows of an explicit run when output.history_every is not given.
DEFAULT_HISTORY_EVERY = 10

SCALARS = ("kinetic_energy", "strain_energy", "external_work", "dissipated_energy")
WORK = ("constraint_power", "constrained_kinetic_energy")
UNITS = {"time": "s", "kinetic_energy": "J", "strain_energy": "J", "external_work": "J",
         "dissipated_energy": "J", "broken_bonds": "1", "reaction_force": "N", "displacement": "m",
         "step": "1"}


class HistoryWarning(UserWarning):
    """A resumed output whose history cannot be continued (written before histories existed)."""


class History:
    """Computes and keeps a run's history rows (see the module text). Create it after the backend
    and before any state is loaded into it: it measures the bonds' initial state (what was intact
    after the pre-cracks) once."""

    def __init__(self, model: Model, backend: Backend, every: int | None = None,
                 quasi_static: bool = False):
        self.model = model
        self.backend = backend
        self.quasi_static = quasi_static
        self.every = 1 if quasi_static else (every or DEFAULT_HISTORY_EVERY)
        dim = model.dimension
        # One entry per (region particle, component) and per constraint entry; each writes two
        # rows of a table that the device sums (kernels.pmb.entry_terms): per region and
        # component its reaction and displacement, then the constraints' power, kinetic energy
        # and work sums.
        particles, components, rows, columns = [], [], [], []
        #: name -> (first row, particles of the region)
        self._regions: dict[str, tuple[int, int]] = {}
        row = 0
        for name, members in model.regions.items():
            self._regions[name] = (row, members.size)
            for d in range(dim):
                particles.append(members)
                components.append(np.full(members.size, d))
                rows.append(np.full(members.size, row))
                columns.append(np.arange(members.size))
                row += 2
        count = model.constraint_particle.shape[0]
        self._constraints = row
        particles.append(model.constraint_particle)
        components.append(model.constraint_component)
        rows.append(np.full(count, row))
        columns.append(np.arange(count))
        rate = (np.asarray(model.constraint_value, dtype=np.float64) if quasi_static
                else np.full(count, np.inf))   # du/d(load factor), or the velocity (explicit)
        entries = {"particle": np.concatenate(particles), "component": np.concatenate(components),
                   "row": np.concatenate(rows), "column": np.concatenate(columns),
                   "rate": np.concatenate([np.full(sum(c.size for c in columns[:-1]), np.nan),
                                           rate])}
        width = max([count, *(members.size for members in model.regions.values())], default=1)
        backend.prepare_history(entries, row + 3, width)   # + the constraints' work sums
        initial = backend.energy_totals()
        self._critical_energy = float(initial[2])   # of the bonds intact at the start
        self._intact = round(float(initial[3]))
        self.rows: dict[str, list] = {}
        #: The explicit run's time step (solvers/explicit.py sets it).
        self.time_step = 0.0
        #: (step, constraint work sums) of the last two restart points (``freeze``).
        self._restart: list[tuple[int, np.ndarray]] = []
        #: Samples not yet rows: (step, time, load factor, Backend.history_sample handle).
        self._pending: list = []

    # Rows -----------------------------------------------------------------------------------------
    def regular(self, step: int) -> bool:
        """Whether ``step`` is a row the external work is integrated through."""
        return step % self.every == 0

    def record(self, step: int, time: float, load_factor: float | None = None) -> None:
        """Take the row of the backend's current state: explicit runs after a whole step (the
        velocities at full steps), quasi-static ones after a load step's relaxation. The GPU
        queues it (Backend.history_sample); it becomes a row at a ``resolve``: of the older half when
        the backend's ring of samples is full, and of all before anyone reads the rows."""
        if self._pending and self._pending[-1][0] >= step:
            self.resolve()
        if self.rows and self.rows["step"][-1] >= step:
            self.truncate(step - 1)    # the step again (a resume that rewinds): replace its row
        self._pending.append((step, time, load_factor, self.backend.history_sample()))
        slots = getattr(self.backend, "SAMPLE_SLOTS", 1)
        if len(self._pending) >= slots:
            # the older half: long copied, while the device works on the steps queued since
            self.resolve(max(1, slots // 2))

    def resolve(self, count: int | None = None) -> None:
        """Turn the samples taken so far (the first ``count``) into rows, in order; each waits
        for its own copies from the device, not for the steps queued after it."""
        if not self._pending:
            return
        count = len(self._pending) if count is None else count
        pending, self._pending = self._pending[:count], self._pending[count:]
        for step, time, load_factor, handle in pending:
            totals, terms = self.backend.history_values(handle)
            self._append(step, time, load_factor, totals, terms)

    def _append(self, step: int, time: float, load_factor: float | None, totals: np.ndarray,
                terms: np.ndarray) -> None:
        model = self.model
        groups = len(model.load_groups)
        power = float(terms[self._constraints])
        if self.quasi_static:
            constrained_kinetic = 0.0
            load_factors = np.full(groups, float(load_factor))
            position = float(load_factor)
        else:
            constrained_kinetic = float(terms[self._constraints + 1])
            load_factors = np.array([ramp(time, g.ramp_time) for g in model.load_groups])
            position = time
        load_displacement = np.asarray(totals[4:4 + groups], dtype=np.float64)
        previous = self._last_regular(step)
        first = self.rows["work/constrained_kinetic_energy"][0] if previous else constrained_kinetic
        first_power = self.rows["work/constraint_power"][0] if previous else power
        # The loads' work: the trapezoid rule between regular rows of the ramp against
        # sum V B.u, exact while a ramp is constant (a load applied at once, or after its ramp).
        load_work = 0.0
        if previous is not None:
            p = previous
            load_work = p["load_work"] + float(np.sum(
                0.5 * (p["load_factors"] + load_factors) * (load_displacement - p["load_displacement"])))
        if self.quasi_static:
            # between load steps, the trapezoid rule over the load factor
            constraint_work = 0.0 if previous is None else (
                previous["constraint_work"]
                + 0.5 * (previous["constraint_power"] + power) * (position - previous["position"]))
        else:
            # every step's dt R_n v_n, summed on the device (kernels.pmb.constrain), and the ends'
            # halves: the trapezoid rule over every step
            constraint_work = (float(terms[self._constraints + 2])
                               + 0.5 * self.time_step * (power - first_power))
        row = {
            "step": int(step), "time": float(time),
            # the free components' (the particle sums) and the prescribed ones' (the entries)
            "kinetic_energy": 0.0 if self.quasi_static else float(totals[0]) + constrained_kinetic,
            "strain_energy": float(totals[1]),
            "external_work": constraint_work + load_work + constrained_kinetic - first,
            "dissipated_energy": self._critical_energy - float(totals[2]),
            "broken_bonds": (self._intact - round(float(totals[3]))) // 2,
            "work/constraint_power": power,
            "work/constraint_work": constraint_work,
            "work/load_displacement": load_displacement,
            "work/load_work": load_work,
            "work/constrained_kinetic_energy": constrained_kinetic,
        }
        dim = model.dimension
        for name, (first, count) in self._regions.items():
            row[f"regions/{name}/reaction_force"] = terms[first:first + 2 * dim:2].copy()
            row[f"regions/{name}/displacement"] = terms[first + 1:first + 2 * dim:2] / count
        for key, value in row.items():
            self.rows.setdefault(key, []).append(value)

    def _last_regular(self, step: int) -> dict | None:
        """The integration state at the last regular row before ``step``."""
        steps = self.rows.get("step", [])
        for k in range(len(steps) - 1, -1, -1):
            if steps[k] < step and self.regular(steps[k]):
                time = self.rows["time"][k]
                return {"load_work": self.rows["work/load_work"][k],
                        "constraint_work": self.rows["work/constraint_work"][k],
                        "constraint_power": self.rows["work/constraint_power"][k],
                        "load_displacement": np.asarray(self.rows["work/load_displacement"][k]),
                        "load_factors": self._load_factors(time),
                        "position": time}
        return None

    def _load_factors(self, time: float) -> np.ndarray:
        groups = self.model.load_groups
        if self.quasi_static:
            return np.full(len(groups), float(time))
        return np.array([ramp(time, g.ramp_time) for g in groups])

    def truncate(self, step: int) -> None:
        """Keep the rows up to ``step``: a resume from there drops the rest, and a row there that
        is not regular (the last step of the run being lengthened)."""
        steps = self.rows.get("step", [])
        keep = [k for k, s in enumerate(steps) if s < step or (s == step and self.regular(s))]
        self.rows = {key: [values[k] for k in keep] for key, values in self.rows.items()}

    # What the writer calls (io/hdf5.py: SnapshotWriter.history) ------------------------------------
    def freeze(self, step: int) -> dict[str, np.ndarray]:
        """The rows up to ``step`` as arrays (a copy: the run goes on adding rows), called when the
        restart point of ``step`` is written, with the backend's state at that step. With them,
        what a resume from this restart point (or the one before: a crash between the two files)
        needs to continue the external work bit for bit: the constraint entries' work sums."""
        self.resolve()
        steps = self.rows.get("step", [])
        count = sum(1 for s in steps if s <= step)
        frozen = self.arrays(count)
        if not self.quasi_static:
            work = self.backend.constraint_work()
            self._restart = [entry for entry in self._restart if entry[0] < step][-1:]
            self._restart.append((int(step), work))
            frozen["restart/step"] = np.array([s for s, _ in self._restart], dtype=np.int64)
            frozen["restart/constraint_work"] = np.stack([w for _, w in self._restart])
        return frozen

    def arrays(self, count: int | None = None) -> dict[str, np.ndarray]:
        """The rows (the first ``count``) as arrays, pending samples resolved first."""
        self.resolve()
        dim = self.model.dimension
        groups = len(self.model.load_groups)
        out = {}
        for key, values in self.rows.items():
            values = values[:count]
            if key in ("step", "broken_bonds"):
                out[key] = np.asarray(values, dtype=np.int64)
            elif key == "work/load_displacement":
                out[key] = np.asarray(values, dtype=np.float64).reshape(len(values), groups)
            elif key.startswith("regions/"):
                out[key] = np.asarray(values, dtype=np.float64).reshape(len(values), dim)
            else:
                out[key] = np.asarray(values, dtype=np.float64)
        return out

    def write(self, f: h5py.File, frozen: dict[str, np.ndarray]) -> None:
        """Fill an open HDF5 file with frozen rows (the writer's thread)."""
        f.attrs["every"] = self.every
        f.attrs["quasi_static"] = self.quasi_static
        for key, values in frozen.items():
            dataset = f.create_dataset(key, data=values)
            unit = UNITS.get(key.rsplit("/", 1)[-1])
            if unit:
                dataset.attrs["unit"] = unit

    def restore(self, path: str | Path | None, step: int) -> None:
        """Continue the history of a resumed output from its rows up to ``step`` (``path``: the
        output's history.h5, None when it has none): the rows, and the constraint entries' work
        sums at ``step`` into the backend. Raises ValueError when the file does not reach
        ``step`` (an output written before histories existed, or damaged by hand)."""
        self.rows = {}
        if path is None or not Path(path).exists():
            if step > 0:
                raise ValueError("it has no history to continue")
            return
        with h5py.File(path, "r") as f:
            data = read_group(f)
        restart_steps = data.pop("restart/step", np.zeros(0, dtype=np.int64))
        restart_work = data.pop("restart/constraint_work", None)
        for key, values in data.items():
            self.rows[key] = [np.array(v) if np.ndim(v) else v.item() for v in values]
        if not self.rows.get("step") or max(self.rows["step"]) < step - step % self.every:
            raise ValueError(f"its history stops before step {step}")
        self.truncate(step)
        if not self.quasi_static:
            matches = np.flatnonzero(restart_steps == step)
            if not matches.size:
                raise ValueError(f"its history holds no work sums of step {step}")
            work = np.asarray(restart_work[matches[0]], dtype=np.float64)
            self.backend.load_constraint_work(work)
            self._restart = [(int(step), work)]


def read_group(group: h5py.Group) -> dict[str, np.ndarray]:
    """Every dataset under ``group`` as {relative path: array}."""
    out = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            out[name] = item[...]

    group.visititems(visit)
    return out


def read_history(path: str | Path) -> dict[str, np.ndarray]:
    """The history of an output file as {name: array}: ``step``, ``time``, the energies,
    ``broken_bonds`` and ``regions/<name>/reaction_force``, ``regions/<name>/displacement`` (the
    module text). Raises ValueError when the output has none."""
    with h5py.File(path, "r") as f:
        if "history" not in f:
            raise ValueError(f"{path}: no history (written by an older pdgeneral, or the run "
                             "recorded none)")
        try:
            rows = read_group(f["history"])
        except KeyError as err:
            raise ValueError(f"{path}: its history file is missing ({err})") from None
    # restart/: what a resume continues from (the last restart points' work sums), not rows
    return {key: value for key, value in rows.items() if not key.startswith("restart/")}


def history_table(history: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The history as flat columns (vectors split into _x, _y, _z), in reading order: what
    `pdgeneral history` prints and exports."""
    columns = {"step": history["step"], "time": history["time"]}
    for key in (*SCALARS, "broken_bonds"):
        columns[key] = history[key]
    regions = [key.split("/")[1] for key in history if key.startswith("regions/")]
    for name in dict.fromkeys(regions):      # in the file's order, each region once
        for quantity in ("reaction_force", "displacement"):
            values = history[f"regions/{name}/{quantity}"]
            for d in range(values.shape[1]):
                columns[f"{name}.{quantity}_{'xyz'[d]}"] = values[:, d]
    return columns


def history_frame(path: str | Path):
    """The history as a pandas DataFrame (pandas must be installed), columns as history_table."""
    import pandas as pd
    return pd.DataFrame(history_table(read_history(path)))
