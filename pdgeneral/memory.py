"""Memory a run needs, from the array layouts of backends/base.py and backends/cuda.py.

Used by `pdgeneral check` and by the CUDA backend, which refuses a case that does not fit before it
allocates anything.
"""
from __future__ import annotations

import math


def estimate_bytes(particles: int, bonds: int, dimension: int, precision: str, backend: str = "cpu",
                   max_bonds: int | None = None) -> int:
    """Bytes of the working arrays of one backend.

    Per particle (both backends): reference, displacement, velocity, force, body force and two
    relaxation residuals (7 * dim reals), volume, initial bond
    volume, damage, relaxation mass (4 reals), 4 relaxation sums (float64 on the GPU), the
    constraint bits and the no-fail flag (2 bytes), bond row start and count (12 bytes), and the
    bond-state words (4 bytes per 32 bonds).
    Per bond: neighbour index (4) + bond weight (real); on the GPU both are padded to
    max_bonds slots per particle.
    """
    real = 8 if precision == "float64" else 4
    max_bonds = max_bonds if max_bonds is not None else math.ceil(bonds / max(particles, 1))
    words = max(1, (max_bonds + 31) // 32)
    per_particle = (7 * dimension + 4) * real + 4 * 8 + 2 + 12 + 4 * words
    if backend == "cuda":
        return particles * per_particle + particles * max_bonds * (4 + real)
    return particles * per_particle + bonds * (4 + real)


def step_traffic_bytes(dimension: int, precision: str, max_bonds: int) -> int:
    """Compulsory device-memory traffic of one explicit step per particle, in bytes, counting each
    array element once (neighbour gathers are assumed to hit the caches).

    Force kernel: reads reference and displacement (2 dim reals), no-fail flag (1), row start and
    count (8), bond-state words (4 per 32 bonds), neighbour index and bond weight (4 + real per
    bond); writes force (dim reals). Inside a chunk of steps one fused pass (kick_kick_drift) reads
    v, u, f, b and writes v, u (6 dim reals) and reads the constraint bits (1)."""
    real = 8 if precision == "float64" else 4
    words = max(1, (max_bonds + 31) // 32)
    per_bond = 4 + real
    force = 2 * dimension * real + 1 + 8 + 4 * words + per_bond * max_bonds
    force += dimension * real
    return force + 6 * dimension * real + 1
