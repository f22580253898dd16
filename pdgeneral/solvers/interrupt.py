"""Ctrl-C (SIGINT) stops a run at the next step boundary, never in the middle of a step."""
from __future__ import annotations

import math
import signal
import threading
from contextlib import contextmanager

from ..errors import PdgeneralError


class RunInterrupted(PdgeneralError):
    """The user interrupted the run; the last state was written as a snapshot."""

    def __init__(self, step: int, path: str | None):
        self.step = step
        self.path = path
        where = f" and saved in {path}; resuming continues it" if path else ""
        super().__init__(f"interrupted at step {step}{where}")


class RunUnstable(PdgeneralError):
    """The solution stopped being finite or physical (a particle faster than the wave speed); the
    run stopped and kept its last good snapshot. The cause it names follows from its numbers: the
    fastest prescribed or initial velocity against the speed limit, then dt against the stable
    time step."""

    def __init__(self, step: int, particle: int, position, last_good: int | None, dt: float,
                 stable: float, speed_limit: float = math.inf, load_speed: float = 0.0):
        where = ", ".join(f"{x:.6g}" for x in position)
        kept = f"; the last good snapshot is step {last_good}" if last_good is not None else ""
        if load_speed >= speed_limit:
            cause = (f"a prescribed or initial velocity of {load_speed:.4g} m/s, not below the "
                     f"material's bar wave speed sqrt(E / rho) = {speed_limit:.4g} m/s: check the "
                     "units of the velocity, youngs_modulus and density")
        elif dt > stable:
            cause = (f"a time step above the stable limit (dt = {dt:.4g} s, stable {stable:.4g} s: "
                     "lower solver.safety_factor or solver.time_step)")
        else:
            cause = (f"not the time step, which is within the stable limit (dt = {dt:.4g} s, stable "
                     f"{stable:.4g} s), but a load that drives particles through each other (a "
                     "strain of order one) or material constants in the wrong units (pdgeneral "
                     "check warns of those)")
        super().__init__(
            f"the solution is not finite or a particle outruns the wave speed at step {step} (first "
            f"at particle {particle}, at ({where}) m){kept}. Likely cause: {cause}")


@contextmanager
def deferred_interrupts():
    """Within the block SIGINT only sets a flag (a list that becomes non-empty); the solver checks
    it between chunks of steps. Outside the main thread the block changes nothing."""
    flag: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: flag.append(signum))
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
