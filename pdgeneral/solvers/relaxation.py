"""Quasi-static loading by adaptive dynamic relaxation (Kilic and Madenci 2010).

Loads (tractions, body forces, prescribed displacements) grow in ``load_steps`` equal increments;
each increment is relaxed until the residual force norm sqrt(sum |(f_int + b) V|^2) over the free
degrees of freedom is at most ``tolerance`` times the load scale sqrt(sum |b V|^2 over the free
degrees of freedom + sum |f_int V|^2 over the prescribed ones, i.e. the reactions). One snapshot per
load step; its attributes record the iterations, the residual reached and whether it converged.

Bonds break between relaxations, never during one (docs/theory.md, section 7): a load step relaxes
with every bond held, breaks the bonds stretched past their critical stretch in the relaxed state,
and relaxes again until a relaxed state breaks no bond. Breaking during the iterations lets the
fictitious dynamics' overshoot break bonds that the equilibrium would keep."""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

from ..backends.base import Backend
from ..io.history import History
from ..kernels.pmb import QUASI_STATIC
from .interrupt import RunInterrupted, deferred_interrupts


class NotConvergedWarning(UserWarning):
    """A load step reached max_iterations before the residual tolerance."""


#: Bonds are tested for breaking in states relaxed to BREAK_TEST_FACTOR times the tolerance (at
#: most BREAK_TEST_TOLERANCE, at least the tolerance); the load step ends at the tolerance, in a
#: state that breaks no bond. On the notched beam of benchmarks/notched_beam_qs.yaml this halves
#: the iterations of the crack-growth step and changes its broken bonds by 0.3 % (docs/performance.md).
BREAK_TEST_FACTOR = 10.0
BREAK_TEST_TOLERANCE = 1e-3


@dataclass(frozen=True)
class LoadStepRelaxation:
    """What relaxing one load step took: ``iterations`` (all relaxations), the relative
    ``residual`` reached, the ``relaxations`` run and the bonds ``broken`` between them."""
    iterations: int
    residual: float
    relaxations: int
    broken: int


def relax_load_step(backend: Backend, load_factor: float, tolerance: float,
                    max_iterations: int) -> LoadStepRelaxation:
    """Relax one load step (constraints already applied at ``load_factor``): relax with every
    bond held, break the bonds past their critical stretch, and repeat until a relaxed state
    breaks no bond; that state is then relaxed on to ``tolerance`` and tested once more.
    ``max_iterations`` bounds the iterations of the whole load step."""
    test_tolerance = max(tolerance, min(BREAK_TEST_FACTOR * tolerance, BREAK_TEST_TOLERANCE))
    target, resume = test_tolerance, False
    iterations = relaxations = broken = 0
    while True:
        done, ratio = backend.relax(load_factor, target, max_iterations - iterations, resume)
        iterations += done
        relaxations += 1
        if ratio > target:   # out of iterations: the caller warns
            return LoadStepRelaxation(iterations, ratio, relaxations, broken)
        newly = backend.break_bonds()
        broken += newly
        if newly:
            target, resume = test_tolerance, False   # a new state: relax it from rest
        elif target == tolerance:
            return LoadStepRelaxation(iterations, ratio, relaxations, broken)
        else:
            target, resume = tolerance, True          # the same relaxation, on to the tolerance


def run_quasi_static(backend: Backend, writer, load_steps: int, tolerance: float,
                     max_iterations: int, limit: int | None = None,
                     progress: Callable[[int, int], None] | None = None,
                     start_load_step: int = 0, history: History | None = None) -> tuple[int, int]:
    """Relax each load step; returns (load steps run, total relaxation iterations).

    ``start_load_step`` > 0 continues after that load step, whose displacement and bond state the
    backend already holds (each load step starts its relaxation afresh, so nothing else is needed).
    """
    backend.set_body_force(0.0)  # quasi-static loads carry no ramp: the full load, scaled below
    backend.apply_constraints(start_load_step / load_steps, 1.0, QUASI_STATIC)
    backend.compute_forces()
    if history is not None and start_load_step == 0:
        history.record(0, 0.0, load_factor=0.0)
    if writer is not None and start_load_step == 0:
        fields, bits = backend.snapshot_state()
        writer.write(0, 0.0, fields, bond_state=bits, load_factor=0.0,
                     iterations=0, residual=0.0, converged=True, relaxations=0, bonds_broken=0)
    total = 0
    last = load_steps if limit is None else min(limit, load_steps)
    with deferred_interrupts() as interrupted:
        for load_step in range(start_load_step + 1, last + 1):
            factor = load_step / load_steps
            backend.apply_constraints(factor, 1.0, QUASI_STATIC)
            relaxed = relax_load_step(backend, factor, tolerance, max_iterations)
            iterations, ratio = relaxed.iterations, relaxed.residual
            total += iterations
            converged = ratio <= tolerance
            if not converged:
                warnings.warn(f"load step {load_step}: relaxation stopped at max_iterations "
                              f"({max_iterations}) with relative residual {ratio:.3g} > tolerance "
                              f"{tolerance:g}", NotConvergedWarning, stacklevel=2)
            if history is not None:
                history.record(load_step, factor, load_factor=factor)
            if writer is not None:
                fields, bits = backend.snapshot_state()
                writer.write(load_step, factor, fields, bond_state=bits,
                             load_factor=factor, iterations=iterations, residual=ratio,
                             converged=converged, relaxations=relaxed.relaxations,
                             bonds_broken=relaxed.broken)
            if progress is not None:
                progress(load_step, last)
            if interrupted and load_step < last:
                raise RunInterrupted(load_step, str(writer.path) if writer is not None else None)
    return max(0, last - start_load_step), total
