"""Memory a run needs, from the array layout of backends/base.py (used by `check` and before runs)."""
from __future__ import annotations


def estimate_bytes(particles: int, bonds: int, dimension: int, precision: str) -> int:
    """Bytes of the working arrays of one backend.

    Per bond: neighbour index (4), weight (real), state (1).
    Per particle: reference, displacement, velocity, force, body force, two residuals (7 * dim reals),
    volume, initial bond volume, damage, ADR mass (4 reals), 4 ADR sums, constraint bits (1), CSR
    offset (8).
    """
    real = 8 if precision == "float64" else 4
    per_bond = 4 + real + 1
    per_particle = (7 * dimension + 4 + 4) * real + 1 + 8
    return bonds * per_bond + particles * per_particle
