"""The order of a step, written once for every backend.

``verlet_steps`` is a chunk of explicit velocity-Verlet steps (Silling and Askari 2005, sec. 4) and
``relaxation_iterations`` the iterations of adaptive dynamic relaxation at one load factor
(Kilic and Madenci 2010), as sequences of a backend's operations (passes over the particles):

    kick_drift(dt, state)               v += dt/2 a, u += dt v (the first step of a chunk)
    constrain(time, dt, phase, state)   the prescribed motions (kernels.pmb.constrain)
    body_force(time, state)             the ramped loads, while a ramp is rising
    forces_kick(energy, dt, state)      the material's force passes (breaking bonds), then
                                        v += dt/2 a; ``energy``: a history row follows, whose sums
                                        a backend may gather in the same pass (the GPU does)
    forces_kick_drift(dt, state)        forces, then this step's kick and the next one's
                                        kick_drift (kernels.pmb.kick_kick_drift_to), which a
                                        backend may fuse into its last force pass
    forces_kick_row_drift(dt, state)    forces_kick_drift that also sums a history row of the
                                        state between the two kicks, for ``row``
    row(n, time, state)                 record step n's row (io/history.py), then go on with the
                                        next step's displacement
    held_forces(state)                  the force passes with every bond held
    residual(load_factor, dt, state)    the residual and the four reduced sums of the damping
                                        estimate (kernels.pmb.relaxation_residual)
    relaxation_update(first, damping, dt, state)

A backend binds these names (kernels.retarget) to its own operations and runs the sources: the CPU
compiles them with numba against its compiled loops (backends/cpu.py: no Python between steps);
the GPU runs them as Python, each operation a prepared kernel launch (backends/cuda.py). A new pass
(the LPS's dilatation) goes into the material's force passes; an exchange between passes (MPI)
goes here, once. The body force is set before the forces: neither reads the other, and the GPU's
fused force-and-kick kernel reads it.
"""
from __future__ import annotations

import math

from ..kernels.pmb import AFTER_DRIFT, AFTER_KICK, relaxation_control

#: The type of the kicks' dt and the relaxation's scalars: the run's precision, bound by the backend
#: (kernels.pmb.REAL: time and the constraints keep float64).
REAL = float


def verlet_steps(first_step, n_steps, dt, last_ramp, energy, every, state):
    """``n_steps`` velocity-Verlet steps from step ``first_step`` (time = step * dt); the loads'
    ramps end at ``last_ramp`` (s); ``energy``: a history row follows the last step; ``every`` > 0:
    a row at every multiple of it before the last step too (``row``; a backend that can record
    rows between its operations: the GPU's. The CPU's driver is compiled and cannot call the
    host's history, so its chunks end at the rows and it passes 0)."""
    step = REAL(dt)
    for s in range(n_steps):
        n = first_step + s + 1
        time = n * dt
        if s == 0:
            kick_drift(step, state)  # noqa: F821 - the backend's operations (module text)
        constrain(time, dt, AFTER_DRIFT, state)  # noqa: F821
        if time - dt < last_ramp:
            body_force(time, state)  # noqa: F821
        if s == n_steps - 1:
            forces_kick(energy, step, state)  # noqa: F821
            constrain(time, dt, AFTER_KICK, state)  # noqa: F821
        elif every > 0 and n % every == 0:
            # the row's state: the velocities at the full step (the prescribed ones from
            # AFTER_KICK, which the next AFTER_DRIFT overwrites, as it does without a row)
            forces_kick_row_drift(step, state)  # noqa: F821
            constrain(time, dt, AFTER_KICK, state)  # noqa: F821
            row(n, time, state)  # noqa: F821
        else:
            forces_kick_drift(step, state)  # noqa: F821


def relaxation_iterations(max_iterations, tolerance, load_factor, dt, resume, state):
    """Adaptive dynamic relaxation at one load factor until |r| <= tolerance * scale, from rest or
    (``resume``) continuing from the velocities and last residual it left (docs/theory.md,
    section 7). Returns (iterations, relative residual)."""
    ratio = math.inf
    step = REAL(dt)
    factor = REAL(load_factor)
    for iteration in range(max_iterations + 1):
        held_forces(state)  # noqa: F821
        stiffness, mass, residual_sq, reference_sq = residual(factor, step, state)  # noqa: F821
        ratio, damping = relaxation_control(stiffness, mass, residual_sq, reference_sq, dt)
        if ratio <= tolerance or iteration == max_iterations:
            return iteration, ratio
        relaxation_update(iteration == 0 and not resume, REAL(damping), step, state)  # noqa: F821
    return max_iterations, ratio
