"""CPU backends: ``serial`` (one thread) and ``parallel`` (numba prange).

Both compile the same loop sources below; with ``parallel=False`` numba runs ``prange`` as ``range``.
Each parallel loop iteration writes only its own particle (or constraint entry), and every
reduction is a sequential sum outside the parallel loops, so the two give identical bits.
"""
from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import numba
import numpy as np
from numba import njit, prange
from numba.extending import register_jitable

from .. import kernel_cache, materials
from ..kernels import retarget, specialize
from ..kernels.lps import BODIES as LPS_BODIES
from ..kernels.pmb import (
    BODIES,
    constrain,
    entry_terms,
    external_force,
    kick,
    kick_drift,
    kick_kick_drift,
    particle_damage,
    relaxation_residual,
    relaxation_update,
    unphysical,
)
from ..solvers import steps
from .base import Backend, uses_reciprocal_form

# Each parallel loop is its own compiled function around one shared body: ``range`` in the serial
# build, ``prange`` in the parallel one. The step loops below call them in sequence, so a loop never
# starts before the previous one has finished on every thread.

def _force_pass_source(displacement, no_fail, bonds, stencil, material, force):
    """One force pass of the material (materials/: FORCE_PASSES) over every particle."""
    for i in prange(displacement.shape[1]):
        FORCE_PASS(i, displacement, no_fail, bonds, stencil, material, force)  # noqa: F821


def _passes_source(displacement, no_fail, bonds, stencil, material, force):
    """The passes before the last, then the last: numba finishes one parallel loop on every
    thread before it starts the next (the LPS's force pass reads the dilatation of the
    neighbours)."""
    BEFORE(displacement, no_fail, bonds, stencil, material, force)  # noqa: F821
    LAST(displacement, no_fail, bonds, stencil, material, force)  # noqa: F821


def _damage_source(volume, horizon, spacing, bonds, stencil, initial_bond_volume, damage):
    for i in prange(damage.shape[0]):
        particle_damage(i, volume, horizon, spacing, bonds, stencil, initial_bond_volume, damage)


def _energy_source(displacement, velocity, volume, density, constrained, bonds, stencil, material,
                   load_forces, energy_density, sums):
    for i in prange(displacement.shape[1]):
        ENERGY_PASS(i, displacement, velocity, volume, density, constrained, bonds,  # noqa: F821
                    stencil, material, load_forces, energy_density, sums)


def _entries_source(particle, component, row, column, rate, volume, density, force, displacement,
                    velocity, work, terms):
    for m in prange(particle.shape[0]):
        entry_terms(m, particle, component, row, column, rate, volume, density, force,
                    displacement, velocity, work, terms)


def _constrain_source(time, dt, phase, particle, component, kind, value, ramp_time, displacement,
                      velocity, volume, force, work):
    for m in prange(particle.shape[0]):
        constrain(m, time, dt, phase, particle, component, kind, value, ramp_time, displacement,
                  velocity, volume, force, work)


def _kick_drift_source(dt, density, constrained, displacement, velocity, force, body_force):
    for i in prange(displacement.shape[1]):
        kick_drift(i, dt, density, constrained, displacement, velocity, force, body_force)


def _kick_kick_drift_source(dt, density, constrained, displacement, velocity, force, body_force):
    for i in prange(displacement.shape[1]):
        kick_kick_drift(i, dt, density, constrained, displacement, velocity, force, body_force)


def _kick_source(dt, density, constrained, velocity, force, body_force):
    for i in prange(velocity.shape[1]):
        kick(i, dt, density, constrained, velocity, force, body_force)


def _body_force_source(time, load_ramps, load_forces, body_force):
    for i in prange(body_force.shape[1]):
        external_force(i, time, load_ramps, load_forces, body_force)


def _residual_source(load_factor, dt, constrained, volume, force, body_force, fictitious_density,
                     velocity, displacement, old_residual, residual, sums):
    for i in prange(displacement.shape[1]):
        relaxation_residual(i, load_factor, dt, constrained, volume, force, body_force,
                            fictitious_density, velocity, displacement, old_residual, residual, sums)


def _relaxation_update_source(first, damping, dt, constrained, fictitious_density, residual, velocity,
                              displacement, old_residual):
    for i in prange(displacement.shape[1]):
        relaxation_update(i, first, damping, dt, constrained, fictitious_density, residual, velocity,
                          displacement, old_residual)


# error_model="numpy": division by zero gives inf/nan as on a GPU instead of a Python exception
# check per division (numba's default), which costs the serial build a factor of two.
_OPTIONS = {"error_model": "numpy"}


_LOOP_SOURCES = {"damage": _damage_source, "constrain": _constrain_source,
                 "kick_drift": _kick_drift_source, "kick": _kick_source,
                 "kick_kick_drift": _kick_kick_drift_source, "body_force": _body_force_source,
                 "residual": _residual_source, "relaxation_update": _relaxation_update_source,
                 "energy": _energy_source, "entries": _entries_source}


def _bodies(reciprocal_form: bool, real) -> dict:
    """The shared bodies (kernels.pmb.BODIES) for one CPU build: the bond force's evaluation fixed
    at compilation (kernels.pmb.SPECIALIZED_FORM), as in the CUDA build, and the arithmetic in
    ``real`` (kernels.pmb.REAL: a float32 build computes in float32). (The serial slowdown the
    reciprocal form first brought, 90 against 55 ms per force pass on a 250k plate, came from
    computing the factor for every bond, kernels.pmb.SELECT_FACTOR, not from compiling both forms
    in.)"""
    return specialize(BODIES + LPS_BODIES,
                      {"SPECIALIZED_FORM": 1 if reciprocal_form else 2, "REAL": real},
                      register_jitable(inline="always"))


def _compile_loops(parallel: bool, reciprocal_form: bool, real, material: str,
                   key: tuple) -> SimpleNamespace:
    """The per-particle loops of one material (materials/: its FORCE_PASSES, run in order as
    ``forces``, and its ENERGY_PASS); ``key`` names this build in the kernel cache
    (kernel_cache.py)."""
    jit = njit(parallel=True, **_OPTIONS) if parallel else njit(**_OPTIONS)
    table = _bodies(reciprocal_form, real)
    module = materials.module(material)
    table["ENERGY_PASS"] = table[module.ENERGY_PASS]
    loops = {name: kernel_cache.attach(jit(retarget(source, table)), key)
             for name, source in _LOOP_SOURCES.items()}
    forces = None
    for body in module.FORCE_PASSES:
        step = kernel_cache.attach(jit(retarget(_force_pass_source,
                                                dict(table, FORCE_PASS=table[body]))),
                                   (*key, body))
        forces = step if forces is None else kernel_cache.attach(
            njit(**_OPTIONS)(retarget(_passes_source, {"BEFORE": forces, "LAST": step})),
            (*key, "passes", body))
    return SimpleNamespace(forces=forces, **loops)


class StepState(NamedTuple):
    """What the step driver's operations read (solvers/steps.py), one argument for numba."""
    density: Any
    constrained: Any
    displacement: Any
    velocity: Any
    force: Any
    body_force: Any
    load_ramps: Any
    load_forces: Any
    force_args: tuple        # CpuBackend._force_args
    held_force_args: tuple   # CpuBackend._held_force_args
    constraint_args: tuple   # CpuBackend._constraint_args
    volume: Any
    fictitious_density: Any
    old_residual: Any
    residual: Any
    sums: Any


def _operations(loops: SimpleNamespace, key: tuple) -> dict:
    """The operations of solvers/steps.py over one backend's compiled loops, compiled (``key``
    names them in the kernel cache)."""
    forces_all = loops.forces
    constrain_all = loops.constrain
    kick_drift_all = loops.kick_drift
    kick_all = loops.kick
    kick_kick_drift_all = loops.kick_kick_drift
    body_force_all = loops.body_force
    residual_all = loops.residual
    update_all = loops.relaxation_update

    def kick_drift(step, state):
        kick_drift_all(step, state.density, state.constrained, state.displacement, state.velocity,
                       state.force, state.body_force)

    def constrain(time, dt, phase, state):
        constrain_all(time, dt, phase, *state.constraint_args)

    def body_force(time, state):
        body_force_all(time, state.load_ramps, state.load_forces, state.body_force)

    def forces_kick(energy, step, state):   # the history row's energy pass follows (CpuBackend)
        forces_all(*state.force_args)
        kick_all(step, state.density, state.constrained, state.velocity, state.force,
                 state.body_force)

    def forces_kick_drift(step, state):
        forces_all(*state.force_args)
        kick_kick_drift_all(step, state.density, state.constrained, state.displacement,
                            state.velocity, state.force, state.body_force)

    def row(n, time, state):   # never called: the CPU's chunks end at the rows (every = 0)
        pass

    def held_forces(state):
        forces_all(*state.held_force_args)

    def residual(load_factor, dt, state):
        sums = state.sums
        residual_all(load_factor, dt, state.constrained, state.volume, state.force,
                     state.body_force, state.fictitious_density, state.velocity,
                     state.displacement, state.old_residual, state.residual, sums)
        stiffness = 0.0
        mass = 0.0
        residual_sq = 0.0
        reference_sq = 0.0
        for i in range(sums.shape[1]):  # sequential: same order, same bits, on every backend
            stiffness += sums[0, i]
            mass += sums[1, i]
            residual_sq += sums[2, i]
            reference_sq += sums[3, i]
        return stiffness, mass, residual_sq, reference_sq

    def relaxation_update(first, damping, dt, state):
        update_all(first, damping, dt, state.constrained, state.fictitious_density,
                   state.residual, state.velocity, state.displacement, state.old_residual)

    functions = (kick_drift, constrain, body_force, forces_kick, forces_kick_drift, row,
                 held_forces, residual, relaxation_update)
    compiled = {f.__name__: kernel_cache.attach(njit(**_OPTIONS)(f), key) for f in functions}
    # a row inside a chunk never comes (every = 0): its step is the plain one
    compiled["forces_kick_row_drift"] = compiled["forces_kick_drift"]
    return compiled


def _compile_drivers(loops: SimpleNamespace, real, key: tuple) -> SimpleNamespace:
    """The step driver (solvers/steps.py) compiled over one backend's loops (``key`` names it
    in the kernel cache), with the kicks' and the relaxation's scalars in ``real`` (the time and
    the ramps stay float64: kernels.pmb)."""
    table = dict(_operations(loops, key), REAL=real)
    return SimpleNamespace(**{
        function.__name__: kernel_cache.attach(njit(**_OPTIONS)(retarget(function, table)), key)
        for function in (steps.verlet_steps, steps.relaxation_iterations)})


@partial(kernel_cache.attach, key=("cpu",))
@njit(**_OPTIONS)
def _first_unphysical(displacement, velocity, speed_limit):
    for i in range(displacement.shape[1]):
        if unphysical(i, speed_limit, displacement, velocity):
            return i
    return -1


_LOOPS = {}


def follow_cpu_share() -> None:
    """Use the number of threads that `pdgeneral batch` assigns this process now (the file named by
    PDGENERAL_CPU_SHARE: the cores divided among the cases running side by side; pdgeneral/batch.py),
    up to numba's thread pool. Any problem with the file leaves the threads as they are. The
    results do not depend on the thread count (the module text)."""
    path = os.environ.get("PDGENERAL_CPU_SHARE")
    if not path:
        return
    try:
        threads = int(Path(path).read_text())
    except (OSError, ValueError):
        return
    threads = max(1, min(threads, numba.config.NUMBA_NUM_THREADS))
    if threads != numba.get_num_threads():
        numba.set_num_threads(threads)


def _kernels(parallel: bool, reciprocal_form: bool, dtype: np.dtype,
             material: str) -> SimpleNamespace:
    """Compiled loops and drivers for one CPU backend (built once per process)."""
    key = (parallel, reciprocal_form, np.dtype(dtype).str, material)
    if key not in _LOOPS:
        real = np.dtype(dtype).type
        loops = _compile_loops(parallel, reciprocal_form, real, material, key)   # (the options join the
        drivers = _compile_drivers(loops, real, key)                    # key in kernel_cache.attach)
        _LOOPS[key] = SimpleNamespace(**vars(loops), **vars(drivers))
    return _LOOPS[key]


class CpuBackend(Backend):
    """Arrays live in host memory; loops are numba-compiled, serial or prange-parallel."""

    def __init__(self, model, parallel: bool):
        self.parallel = parallel
        self.name = "parallel" if parallel else "serial"
        self.kernels = _kernels(parallel, uses_reciprocal_form(model), model.dtype,
                                model.material.model)
        super().__init__(model)
        self._step_states: dict[bool, StepState] = {}

    # Backend API --------------------------------------------------------------------------------
    def _upload(self, array):
        return np.ascontiguousarray(array)

    def download(self, array):
        return np.array(array, copy=True)

    def _assign(self, target, host):
        target[...] = host

    def first_unphysical_particle(self, speed_limit: float) -> int:
        a = self.arrays   # no copies on the CPU
        return _first_unphysical(a.displacement, a.velocity, self.real(speed_limit))

    def compute_forces(self) -> None:
        self.kernels.forces(*self._force_args())

    def compute_damage(self) -> None:
        self.kernels.damage(*self._damage_args())

    def apply_constraints(self, time: float, dt: float, phase: int) -> None:
        self.kernels.constrain(time, dt, phase, *self._constraint_args())

    def compute_energy(self) -> None:
        self._allocate_energy()
        self.kernels.energy(*self._energy_args())

    def energy_totals(self) -> np.ndarray:
        self.compute_energy()
        # numpy's pairwise sum of each row, outside the parallel loop: the same bits on every
        # thread count (math.fsum would take a second per row at 4M particles)
        return self.arrays.history_sums.sum(axis=1)

    def history_terms(self) -> np.ndarray:
        if self.entry_count == 0:    # the arrays hold one placeholder entry
            return np.zeros(self.history_rows)
        self.kernels.entries(*self._entry_args())
        return self.arrays.history_terms.sum(axis=1)   # pairwise, deterministic (energy_totals)

    def set_body_force(self, time: float) -> None:
        a = self.arrays
        self.kernels.body_force(time, a.load_ramps, a.load_forces, a.body_force)

    def _state(self, relaxation: bool = False) -> StepState:
        """The step driver's state (the arrays stay the same objects for the whole run). Only the
        relaxation's has the held force arguments (their all-no_fail array is made for it alone);
        the explicit driver never reads them and gets the force arguments there (the same types,
        so the same compiled driver)."""
        if self._step_states.get(relaxation) is None:
            a = self.arrays
            force_args = self._force_args()
            self._step_states[relaxation] = StepState(
                self.density, a.constrained, a.displacement, a.velocity, a.force, a.body_force,
                a.load_ramps, a.load_forces, force_args,
                self._held_force_args() if relaxation else force_args, self._constraint_args(),
                a.volume, a.fictitious_density, a.old_residual, a.residual, a.sums)
        return self._step_states[relaxation]

    def advance(self, first_step: int, n_steps: int, dt: float, energy: bool = False,
                history=None) -> None:
        follow_cpu_share()   # between chunks of steps (about half a second each)
        # every = 0: the rows end the chunks (records_rows_inside_chunks is False)
        self.kernels.verlet_steps(first_step, n_steps, dt, self.last_ramp, energy, 0,
                                  self._state())

    def warm_up(self, solver: str) -> None:
        self.compute_damage()         # what snapshots call; reads the state only
        if solver == "explicit":
            self.advance(0, 0, 1.0)   # zero steps: compiles the driver and every loop it calls
        else:
            self.relax(0.0, 1.0, 0)   # one force evaluation at zero load, before any load step

    def relax(self, load_factor: float, tolerance: float, max_iterations: int,
              resume: bool = False) -> tuple[int, float]:
        follow_cpu_share()
        a = self.arrays
        if not resume:
            a.velocity[...] = 0.0
            a.old_residual[...] = 0.0
        iterations, ratio = self.kernels.relaxation_iterations(
            max_iterations, tolerance, load_factor, 1.0, resume, self._state(relaxation=True))
        return int(iterations), float(ratio)
