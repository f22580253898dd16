"""The kernels' arguments, bundled by what they are: a body takes ``bonds``, ``stencil`` and
``material`` instead of twenty positional names, and every backend passes the same bundles.

They are named tuples of arrays and numbers: numba compiles attribute access on them to the same
loads as separate arguments (on the CPU inside prange loops too), and numba-cuda passes a tuple
argument to a kernel as its elements (numba.cuda.dispatcher ``_prepare_args``), so on the GPU they
cost nothing either. backends/base.py builds them once per run from the arrays it owns; a
material module (materials/) builds its own bundle (``material``).
"""
from __future__ import annotations

from typing import Any, NamedTuple


class Bonds(NamedTuple):
    """Where particle i's bonds are and whether they hold (kernels.pmb.bond_at).

    A stencil particle (``row[i]`` < 0) takes its bonds from the stencil; the others from their
    explicit row r, whose bond n is at ``first[r] + n * stride`` (CSR rows on the CPU, stride 1;
    bond-major padded columns on the GPU, stride = the number of rows)."""
    row: Any          # (N,) int32: particle i's explicit row, -1 for a stencil particle
    first: Any        # (E,) int64: where each explicit row starts
    count: Any        # (E,) int32: how many bonds it has
    stride: int       # distance between a row's successive bonds
    neighbors: Any    # per explicit bond: the other particle j (int32)
    slot: Any         # per explicit bond: its stencil slot (int16), for xi and |xi|
    weight: Any       # per explicit bond: w_ij = beta_ij V_j G_ij (run precision)
    intact: Any       # (words, N) uint32: bond n of particle i is bit n % 32 of intact[n // 32, i]


class StencilTables(NamedTuple):
    """Per stencil slot (pdgeneral.stencil; backends.base.slot_tables), in the run's precision:
    the neighbour's index offset of a stencil particle, the lattice vector and what the force
    loops derive from it once, and a stencil particle's bond weight."""
    offset: Any          # (S,) int64: j = i + offset[n] for a stencil particle
    xi: Any              # (dim, S) lattice vector
    length: Any          # (S,) |xi|
    inverse_length: Any  # (S,) 1 / |xi|
    break_squared: Any   # (S,) ((1 + s0) |xi|)^2
    weight: Any          # (S,) a stencil particle's w_ij
    influence: Any       # (S,) the LPS's omega(|xi|) (ones for PMB, which does not read it)


class Pmb(NamedTuple):
    """PMB's constants (materials/pmb.py) in the run's precision."""
    micromodulus: Any
    critical_stretch: Any
    reciprocal_form: bool   # the bond force's evaluation (kernels.pmb.bond_force)


class Lps(NamedTuple):
    """The LPS's constants and per-particle terms (materials/lps.py, kernels/lps.py)."""
    critical_stretch: Any
    inverse_weighted_volume: Any   # 1 / m0 of a whole family
    deviatoric_factor: Any         # q = c_e / m0
    bulk_modulus: Any              # kappa of the dimension
    dilatation_factor: Any         # (N,) P_i
    dilatation: Any                # (N,) theta_i, written by the dilatation pass
    dilatation_term: Any           # (N,) P_i theta_i, what the force pass reads
