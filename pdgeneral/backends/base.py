"""What every backend provides: device-resident copies of the model and state, and the operations
the solvers call. Solvers never branch on the backend; backends never know the case file."""
from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np

from .. import arrays, bondstate, materials, stencil
from ..kernels.arguments import Bonds, StencilTables
from ..model import Model
from ..physics.pmb import break_length_squared


class Backend:
    """Owns the working arrays of one run. Subclasses implement the upload/download and the
    operations; this base class lays the arrays out (structure-of-arrays, run precision)."""

    name = "base"
    #: Whether interior particles read their bonds from the lattice stencil (pdgeneral.stencil);
    #: False gives every particle an explicit row (the same forces; tests compare the two).
    use_stencil = True

    def __init__(self, model: Model, bonds: tuple | None = None):
        """``bonds``: Model.explicit_bonds(self.use_stencil) when the subclass has them already
        (the CUDA backend needs the rows to check the memory first)."""
        self.model = model
        bonds = model.explicit_bonds(self.use_stencil) if bonds is None else bonds
        rows, row_offsets, *per_bond = bonds
        del bonds
        dtype = model.dtype
        n = model.particle_count
        dim = model.dimension
        #: The run's floating-point type: scalars reach the kernels in it (kernels.pmb.REAL).
        self.real = dtype.type
        #: The evaluation of the bond force (kernels.pmb.bond_force; uses_reciprocal_form).
        self.reciprocal_form = uses_reciprocal_form(model)
        self.horizon = dtype.type(model.horizon)
        self.spacing = dtype.type(model.spacing)
        self.density = dtype.type(model.density)
        self.load_ramps = [g.ramp_time for g in model.load_groups]
        #: When the last load ramp ends (s): the body force is constant after it.
        self.last_ramp = max(self.load_ramps, default=0.0)
        load_forces = (np.stack([g.body_force for g in model.load_groups]) if model.load_groups
                       else np.zeros((0, dim, n)))
        # ADR fictitious density with dt = 1: lambda_i = 1/4 dt^2 times the Gershgorin bound of
        # particle i's rows of the linearised stiffness, 2 (1 + sqrt(dim)) / 2 sum_j c w_ij / |xi_ij|,
        # as the stability of the relaxation requires (Underwood 1983; Kilic and Madenci 2010,
        # eq. 12; docs/theory.md, section 7). A larger lambda is as stable and converges slower.
        fictitious_density = model.particle_stiffness * (0.25 * (1.0 + math.sqrt(dim)))
        if model.coupling_stiffness is not None:
            # The LPS dilatation couples a particle to its neighbours' neighbours: those rows'
            # Gershgorin sums are bounded by 2 sqrt(dim) times their coupling stiffness, not
            # (1 + sqrt(dim)) (docs/theory.md, section 12).
            fictitious_density = fictitious_density + model.coupling_stiffness * (
                0.25 * (2.0 * math.sqrt(dim) - 1.0 - math.sqrt(dim)))
        self.rows = rows
        row_first, row_count, self.bond_stride, per_bond = self._bond_layout(row_offsets,
                                                                             tuple(per_bond))
        neighbors, bond_slot, bond_weights = per_bond
        #: The sizes of the array table (arrays.py) for this run: the arrays below are the
        #: table's, with its shapes and types (tests/test_memory.py checks it).
        self.sizes = arrays.sizes(
            n, dim, np.dtype(dtype).name, self.layout, max_bonds=model.max_bonds,
            explicit_particles=row_count.shape[0], explicit_bonds=neighbors.shape[0],
            stencil_size=model.stencil.size, load_groups=len(model.load_groups), histories=False,
            constraint_entries=int(model.constraint_particle.shape[0]),
            material=model.material.model)
        sources = {
            "volume": model.volume, "no_fail": model.no_fail, "bond_row": rows.bond_row,
            "initial_bond_volume": model.initial_bond_volume, "constrained": model.constrained,
            "fictitious_density": fictitious_density, "load_forces": load_forces,
            "velocity": model.initial_velocity,
            "intact": bondstate.pack(model.offsets, model.initial_intact, model.max_bonds),
            "row_first": row_first, "row_count": row_count, "neighbors": neighbors,
            "bond_slot": bond_slot, "bond_weights": bond_weights,
            "stencil_offset": model.stencil.offsets,
            **{f"stencil_{name}": table for name, table in slot_tables(model, rows).items()},
            "constraint_particle": model.constraint_particle,
            "constraint_component": model.constraint_component,
            "constraint_kind": model.constraint_kind, "constraint_value": model.constraint_value,
            "constraint_ramp": model.constraint_ramp, "load_ramps": self.load_ramps,
            "dilatation_factor": model.dilatation_factor}
        self.arrays = SimpleNamespace()
        for spec in arrays.ARRAYS:
            if spec.when not in ("histories", "cuda") and self.sizes.present(spec):
                setattr(self.arrays, spec.name, self._allocate(spec, sources.get(spec.name)))
        a = self.arrays
        # The kernels' argument bundles (kernels/arguments.py), over the arrays above.
        self.bonds = Bonds(a.bond_row, a.row_first, a.row_count, self.bond_stride, a.neighbors,
                           a.bond_slot, a.bond_weights, a.intact)
        self.stencil = StencilTables(a.stencil_offset, a.stencil_xi, a.stencil_length,
                                     a.stencil_inverse_length, a.stencil_break_squared,
                                     a.stencil_weight, a.stencil_influence)
        #: The material's module (materials/): which bodies the passes run; and its bundle.
        self.material_module = materials.module(model.material.model)
        self.material = self.material_module.kernel_material(model, a, self.reciprocal_form)

    # Layout and transfers -----------------------------------------------------------------------
    #: How explicit bond rows are stored (arrays.sizes): "cpu" CSR rows, "cuda" padded columns.
    layout = "cpu"

    def _allocate(self, spec: arrays.Array, source=None):
        """The array ``spec`` of the table (arrays.py): ``source`` (host data of the model, or the
        state's initial values) in the declared type, else zeros of the declared shape. A model
        array may share memory with the model; a state array is always a fresh copy, so that two
        backends of one model (compare, tests) never write into each other's state."""
        dtype = arrays.dtype_of(spec, self.model.dtype)
        if source is None:
            if spec.role == "model":   # a table entry without its data: never a silent zero
                raise RuntimeError(f"the array table's {spec.name!r} has no source in the model")
            return self._zeros(arrays.shape(spec, self.sizes), dtype)
        copy = spec.role in ("state", "restart")
        return self._upload(np.array(source, dtype=dtype, copy=True) if copy
                            else np.asarray(source, dtype=dtype))

    def _bond_layout(self, row_offsets: np.ndarray, per_bond: tuple):
        """(row_first (E,), row_count (E,) int32, bond_stride, per-bond arrays) of the explicit
        rows, given as CSR (``row_offsets``, Model.explicit_bonds): bond n of explicit row r is at
        row_first[r] + n * bond_stride. Default: the CSR rows as they are."""
        return (np.ascontiguousarray(row_offsets[:-1]), np.diff(row_offsets).astype(np.int32), 1,
                tuple(_not_empty(v) for v in per_bond))

    def _upload(self, array: np.ndarray):
        raise NotImplementedError

    def _zeros(self, shape: tuple, dtype):
        """A fresh working array of zeros (a state array: never shared)."""
        return self._upload(np.zeros(shape, dtype=dtype))

    def download(self, array) -> np.ndarray:
        raise NotImplementedError

    def fields(self) -> dict[str, np.ndarray]:
        """Snapshot fields in output layout: displacement and velocity (N, dim), damage (N,), and
        strain_energy_density (N,) when output.fields names it."""
        a = self.arrays
        self.compute_damage()
        fields = {
            "displacement": self.download(a.displacement).T,
            "velocity": self.download(a.velocity).T,
            "damage": self.download(a.damage),
        }
        if "strain_energy_density" in self.model.case.output.fields:
            self.compute_energy()
            fields["strain_energy_density"] = self.download(a.energy_density)
        return fields

    def snapshot_state(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """(fields, bond-state words) for a snapshot or checkpoint that is written while the run
        steps on (io/hdf5.py): host arrays that stay valid until the second-next call (the writer
        has one write in flight). Here fresh copies; the GPU copies into pinned buffers."""
        return self.fields(), self.bond_bits()

    def bond_bits(self) -> np.ndarray:
        """(words, N) uint32 bond-state words, the same bit order on every backend."""
        return self.download(self.arrays.intact)

    def _assign(self, target, host: np.ndarray) -> None:
        """Overwrite a working array in place with host data (its kernels keep the same object)."""
        raise NotImplementedError

    def load_state(self, displacement: np.ndarray, velocity: np.ndarray, bond_bits: np.ndarray) -> None:
        """Continue from a snapshot: displacement and velocity (N, dim), bond-state words."""
        a = self.arrays
        dtype = self.model.dtype
        self._assign(a.displacement, np.ascontiguousarray(displacement.T, dtype=dtype))
        self._assign(a.velocity, np.ascontiguousarray(velocity.T, dtype=dtype))
        if bond_bits.shape != tuple(a.intact.shape):
            raise ValueError(f"bond state of shape {bond_bits.shape}, expected {a.intact.shape}")
        self._assign(a.intact, np.ascontiguousarray(bond_bits, dtype=np.uint32))

    def constraint_work(self) -> np.ndarray:
        """(C,) float64: each constraint entry's work sum (kernels.pmb.constrain), part of the
        restart state (io/history.py keeps it with the history)."""
        return self.download(self.arrays.constraint_work)[:self.model.constraint_particle.shape[0]]

    def load_constraint_work(self, values: np.ndarray) -> None:
        """Continue the work sums from a restart point."""
        work = np.zeros(self.arrays.constraint_work.shape, dtype=np.float64)
        work[:values.shape[0]] = values
        self._assign(self.arrays.constraint_work, work)

    def first_unphysical_particle(self, speed_limit: float) -> int:
        """Index of the first particle whose displacement or velocity is not finite, or whose speed
        exceeds ``speed_limit``, or -1 (kernels.pmb.unphysical); the host receives one number."""
        raise NotImplementedError

    def intact_bonds(self) -> np.ndarray:
        """(M,) bool, True for intact bonds, in the model's CSR order."""
        return bondstate.unpack(self.model.offsets, self.download(self.arrays.intact))

    # Argument tuples of the passes (the same on every backend) ---------------------------------
    def _force_args(self) -> tuple:
        """Every force pass's arguments (materials/: FORCE_PASSES)."""
        a = self.arrays
        return (a.displacement, a.no_fail, self.bonds, self.stencil, self.material, a.force)

    def _held_force_args(self) -> tuple:
        """``_force_args`` with every particle marked no_fail: the force loop then breaks no
        bond (the relaxation's, which breaks bonds only between relaxations)."""
        args = list(self._force_args())
        if getattr(self, "_all_held", None) is None:
            self._all_held = self._upload(np.ones(self.model.particle_count, dtype=self.model.no_fail.dtype))
        args[1] = self._all_held
        return tuple(args)

    def _damage_args(self) -> tuple:
        a = self.arrays
        return (a.volume, self.horizon, self.spacing, self.bonds, self.stencil,
                a.initial_bond_volume, a.damage)

    def _constraint_args(self) -> tuple:
        a = self.arrays
        return (a.constraint_particle, a.constraint_component, a.constraint_kind, a.constraint_value,
                a.constraint_ramp, a.displacement, a.velocity, a.volume, a.force, a.constraint_work)

    def _energy_args(self) -> tuple:
        """The energy pass's arguments (materials/: ENERGY_PASS)."""
        a = self.arrays
        return (a.displacement, a.velocity, a.volume, self.density, a.constrained, self.bonds,
                self.stencil, self.material, a.load_forces, a.energy_density, a.history_sums)

    def _entry_args(self) -> tuple:
        a = self.arrays
        return (a.entry_particle, a.entry_component, a.entry_row, a.entry_column, a.entry_rate,
                a.volume, self.density, a.force, a.displacement, a.velocity, a.constraint_work,
                a.history_terms)

    # Histories (io/history.py) -------------------------------------------------------------------
    def prepare_history(self, entries: dict[str, np.ndarray], rows: int, width: int) -> None:
        """Allocate the energy pass's arrays and the history entries (io/history.py): per entry
        ``particle``, ``component``, ``row``, ``column`` and ``rate`` (kernels.pmb.entry_terms),
        whose terms fill a (``rows``, ``width``) float64 table summed row by row on the device."""
        self._allocate_energy()
        a = self.arrays
        self.entry_count = int(entries["particle"].shape[0])
        for name in ("particle", "component", "row", "column", "rate"):
            setattr(a, f"entry_{name}", self._allocate(arrays.by_name(f"entry_{name}"),
                                                       _not_empty(np.asarray(entries[name]))))
        # (the table counts two terms per entry, padded: arrays.py)
        a.history_terms = self._zeros((max(1, rows), max(1, width)), np.float64)
        self.history_rows = rows

    def _allocate_energy(self) -> None:
        a = self.arrays
        if not hasattr(a, "energy_density"):
            self.sizes = dataclasses.replace(self.sizes, histories=True)
            for name in ("energy_density", "history_sums"):
                setattr(a, name, self._allocate(arrays.by_name(name)))

    def compute_energy(self) -> None:
        """The energy pass (kernels.pmb.particle_energy) at the current state."""
        raise NotImplementedError

    def energy_totals(self) -> np.ndarray:
        """(4 + load groups,) float64: the energy pass's per-particle sums (kernels.pmb.
        particle_energy) summed over the particles, at the current state."""
        raise NotImplementedError

    def history_terms(self) -> np.ndarray:
        """(rows,) float64: the history entries' terms (prepare_history) at the current state,
        each row summed over its columns."""
        raise NotImplementedError

    def history_sample(self):
        """What a history row needs of the current state (energy_totals, history_terms), as a
        handle for ``history_values``. Here computed at once; the GPU queues it and copies the
        sums back asynchronously, so that the steps go on while the host waits for nothing."""
        return self.energy_totals(), self.history_terms()

    def history_values(self, handle) -> tuple[np.ndarray, np.ndarray]:
        """(energy totals, history terms) of a ``history_sample``; the GPU first waits for that
        sample's copies (not for the steps queued after it)."""
        return handle

    # Operations (solvers call these) ------------------------------------------------------------
    def compute_forces(self) -> None:
        """Internal force density at the current displacement; breaks bonds."""
        raise NotImplementedError

    def compute_damage(self) -> None:
        """Damage of every particle from the current bond state (for snapshots)."""
        raise NotImplementedError

    def apply_constraints(self, time: float, dt: float, phase: int) -> None:
        raise NotImplementedError

    def set_body_force(self, time: float) -> None:
        """body_force = sum over load groups of ramp(time) * group force."""
        raise NotImplementedError

    #: Whether ``advance`` can record a history's rows between its steps (``history``); else the
    #: solver ends each chunk of steps at a row.
    records_rows_inside_chunks = False

    def advance(self, first_step: int, n_steps: int, dt: float, energy: bool = False,
                history=None) -> None:
        """n_steps explicit velocity-Verlet steps starting at step first_step. ``energy``: a
        history row follows (a backend may then gather its energy terms during the last step;
        the results are the same). ``history`` (io/history.py; where records_rows_inside_chunks):
        record its regular rows before the last step too."""
        raise NotImplementedError

    def relax(self, load_factor: float, tolerance: float, max_iterations: int,
              resume: bool = False) -> tuple[int, float]:
        """Adaptive dynamic relaxation at a load factor with every bond held (none breaks: see
        ``break_bonds``); returns (iterations, relative residual). ``resume`` continues the last
        relaxation (its velocities and last residual) instead of starting from rest."""
        raise NotImplementedError

    def intact_bond_ends(self) -> int:
        """Set bits of the bond state: each intact bond counts at both of its particles."""
        return int(np.bitwise_count(self.bond_bits()).sum())

    def break_bonds(self) -> int:
        """One force evaluation that breaks every bond stretched past its critical stretch in the
        current state (the explicit solver's test); returns the number of bonds it broke."""
        before = self.intact_bond_ends()
        self.compute_forces()
        return (before - self.intact_bond_ends()) // 2

    def device(self) -> str:
        """The hardware this backend runs on, for output files and reports."""
        import os
        import platform
        return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU threads"

    def synchronize(self) -> None:
        """Wait until queued work has finished (a no-op on the CPU); timings call it."""

    def warm_up(self, solver: str) -> None:
        """Compile what the solver will call (so that timings of the stepping exclude compilation),
        without changing the state."""
        raise NotImplementedError


def uses_reciprocal_form(model: Model) -> bool:
    """Whether a run evaluates the bond force in the reciprocal form (kernels.pmb.bond_force; the
    LPS's extension likewise, kernels.lps.bond_extension): explicit float64 runs do. float32 runs
    keep the stretch form, and so do quasi-static ones: the relaxation drives the residual towards zero, and the reciprocal form's difference
    1/|xi| - 1/|xi + eta| leaves about 1e-16 / strain of each bond's force as noise (a residual
    floor of 8e-8 of the load at a strain of 1e-8), where the stretch form's floor is about 1e-15."""
    return model.dtype == np.float64 and model.case.solver.type == "explicit"


def slot_tables(model: Model, rows: stencil.Rows) -> dict[str, np.ndarray]:
    """The per-slot tables of the force loops in the run's precision: bond vector ``xi`` (dim, S),
    ``length`` |xi|, ``inverse_length`` 1 / |xi|, ``break_squared`` ((1 + s0) |xi|)^2 (computed in
    float64, then rounded), the stencil particles' ``weight`` and the LPS's ``influence`` omega
    (ones for PMB, which does not read it)."""
    dtype = model.dtype
    length = model.stencil.length
    influence = (model.stencil_influence if model.stencil_influence is not None
                 else np.ones(model.stencil.size))
    return {"xi": np.asarray(model.stencil.xi, dtype=dtype), "length": np.asarray(length, dtype=dtype),
            "inverse_length": np.asarray(1.0 / length, dtype=dtype),
            "break_squared": np.asarray(break_length_squared(length, model.critical_stretch),
                                        dtype=dtype),
            "weight": np.asarray(rows.stencil_weight, dtype=dtype),
            "influence": np.asarray(influence, dtype=dtype)}


def _not_empty(values: np.ndarray) -> np.ndarray:
    """The array, or one zero of its type when it is empty (no explicit rows): device arrays of
    size zero are not allowed everywhere."""
    return values if values.size else np.zeros(1, dtype=values.dtype)
