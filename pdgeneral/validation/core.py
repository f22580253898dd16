"""What a validation benchmark returns, and how the suite finds them.

Each benchmark module in this package defines one ``Benchmark`` with a ``run(resolution, workdir,
backend, precision="float64")`` function. ``resolution`` is ``"ci"`` (coarse enough for the test suite
on two cores) or ``"full"`` (the literature's set-up, recorded in docs/validation.md); ``precision`` is
the case key ``precision`` of every case the benchmark builds (``pdgeneral validate --precision``).
``run`` builds its cases, runs them, measures what the literature states, draws its pictures into
``workdir`` and returns a ``Result``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

RESOLUTIONS = ("ci", "full")
#: The case key ``precision``'s values; the first is the default, the one docs/validation.md's
#: benchmark sections record.
PRECISIONS = ("float64", "float32")

#: The smallest relative residual a relaxation in float32 is asked for (docs/case-reference.md,
#: "backend, precision": float32 force sums resolve about 1e-6 of a bond force). The quasi-static
#: benchmarks relax to this in float32 instead of their float64 tolerance, which float32 does not reach:
#: measured on the plate at ci resolution, the relaxation stalls at a residual of 1.9e-6 to 2.7e-6 and
#: runs to max_iterations (100,000 instead of about 700 iterations).
FLOAT32_TOLERANCE = 1.0e-5


def relaxation_tolerance(tolerance: float, precision: str) -> float:
    """The relative residual a quasi-static benchmark whose float64 tolerance is ``tolerance``
    relaxes to in ``precision``."""
    return tolerance if precision == PRECISIONS[0] else max(tolerance, FLOAT32_TOLERANCE)


@dataclass
class Check:
    """One expected-against-obtained comparison, with the tolerance the benchmark states."""
    name: str            # what is compared, e.g. "u_x at x = 0.495 m"
    expected: str        # the literature's value with its unit, e.g. "4.95e-4 m"
    obtained: str        # what the run gave, same unit, e.g. "4.93e-4 m (-0.4 %)"
    passed: bool
    note: str = ""       # tolerance and where it comes from


@dataclass
class Result:
    name: str
    title: str
    source: str          # citation(s)
    setup: str           # one paragraph: geometry, material, discretisation, loading, solver
    resolution: str
    backend: str
    particles: int
    steps: int
    wall_seconds: float
    checks: list[Check] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    notes: str = ""      # model choices, disagreements between sources, known gaps
    precision: str = PRECISIONS[0]   # the case key ``precision`` the benchmark's runs used

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)


@dataclass(frozen=True)
class Benchmark:
    name: str            # short id used by `pdgeneral validate --only NAME`
    title: str
    #: run(resolution, workdir, backend) in float64; run(..., precision=P) otherwise (see
    #: report.run_benchmarks, which calls benchmarks written before precision existed the first way).
    run: Callable[..., Result]

