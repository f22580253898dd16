"""What a validation benchmark returns, and how the suite finds them.

Each benchmark module in this package defines one ``Benchmark`` with a ``run(resolution, workdir,
backend)`` function. ``resolution`` is ``"ci"`` (coarse enough for the test suite on two cores) or
``"full"`` (the literature's set-up, recorded in docs/validation.md). ``run`` builds its case, runs it,
measures what the literature states, draws its pictures into ``workdir`` and returns a ``Result``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

RESOLUTIONS = ("ci", "full")


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

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)


@dataclass(frozen=True)
class Benchmark:
    name: str            # short id used by `pdgeneral validate --only NAME`
    title: str
    run: Callable[[str, Path, str], Result]
