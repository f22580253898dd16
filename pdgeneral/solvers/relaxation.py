"""Quasi-static loading by adaptive dynamic relaxation (Kilic and Madenci 2010).

Loads (tractions, body forces, prescribed displacements) grow in ``load_steps`` equal increments;
each increment is relaxed until the residual force norm sqrt(sum |(f_int + b) V|^2) over the free
degrees of freedom is at most ``tolerance`` times the load scale sqrt(sum |b V|^2 over the free
degrees of freedom + sum |f_int V|^2 over the prescribed ones, i.e. the reactions). One snapshot per
load step; its attributes record the iterations, the residual reached and whether it converged."""
from __future__ import annotations

import warnings
from typing import Callable, Optional

from ..backends.base import Backend
from ..kernels.pmb import QUASI_STATIC


class NotConvergedWarning(UserWarning):
    """A load step reached max_iterations before the residual tolerance."""


def run_quasi_static(backend: Backend, writer, load_steps: int, tolerance: float,
                     max_iterations: int, limit: Optional[int] = None,
                     progress: Optional[Callable[[int, int], None]] = None) -> tuple[int, int]:
    """Relax each load step; returns (load steps run, total relaxation iterations)."""
    backend.set_body_force(0.0)  # quasi-static loads carry no ramp: the full load, scaled below
    backend.apply_constraints(0.0, 1.0, QUASI_STATIC)
    backend.compute_forces()
    if writer is not None:
        writer.write(0, 0.0, backend.fields(), load_factor=0.0, iterations=0, residual=0.0,
                     converged=True)
    total = 0
    run = load_steps if limit is None else min(limit, load_steps)
    for load_step in range(1, run + 1):
        factor = load_step / load_steps
        backend.apply_constraints(factor, 1.0, QUASI_STATIC)
        iterations, ratio = backend.relax(factor, tolerance, max_iterations)
        total += iterations
        converged = ratio <= tolerance
        if not converged:
            warnings.warn(f"load step {load_step}: relaxation stopped at max_iterations "
                          f"({max_iterations}) with relative residual {ratio:.3g} > tolerance "
                          f"{tolerance:g}", NotConvergedWarning, stacklevel=2)
        if writer is not None:
            writer.write(load_step, factor, backend.fields(), load_factor=factor,
                         iterations=iterations, residual=ratio, converged=converged)
        if progress is not None:
            progress(load_step, run)
    return run, total
