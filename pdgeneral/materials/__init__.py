"""Materials: each is one module (pmb.py, lps.py) that turns a case's ``material`` section into
the constants its kernels take, the per-particle quantities a model needs of it (its stiffness for
the stable time step and the relaxation's mass, the LPS weighted volume) and the attributes an
output records. What the case's validation asks of a material module: ``check_keys(material)``, which raises
ValueError (one line) for a key the model does not take or one it lacks (case/schema.py).

What model.build_model asks of a material module:

- ``constants(material, horizon, dimension, plane, thickness) -> MaterialConstants``;
- ``moment_weight(constants, stencil, horizon, spacing)``: per stencil slot, the weight of a bond
  in the energy surface correction's moments, and ``reference_moments(...)``: their target;
- ``particle_terms(constants, stencil, volume, correction, corrected, offsets, neighbors,
  bond_slot, horizon, spacing) -> ParticleTerms | None``;
- ``attributes(constants)`` (what an output records of it) and ``summary(constants)`` (the line
  ``pdgeneral check`` prints).

What the backends ask of it (they do not branch on the material):

- ``FORCE_PASSES``: the names of the kernel bodies (kernels/) of one force evaluation, run in
  order over every particle, each finished everywhere before the next starts; every one takes
  ``(i, displacement, no_fail, bonds, stencil, material, force)`` (kernels/arguments.py);
- ``ENERGY_PASS``: the body of a history row's energy pass, ``(i, displacement, velocity, volume,
  density, constrained, bonds, stencil, material, load_forces, energy_density, sums)``;
- ``UNROLLED_FORCE``: whether kernels/unrolled.py writes out its passes' stencil loops (the GPU
  unrolls them where the stencil is small enough); ``RECORDED_ENERGY``: None, or the body
  (kernels.pmb.recorded_energy) that turns what its (single) force pass sums of a particle's bonds
  with kernels.pmb.RECORD_ENERGY into a history row's terms, so that the GPU sums a row in the step
  before it (backends/cuda.py: forces_kick_energy_kernel); None: a row takes the energy pass;
- ``kernel_material(model, arrays, reciprocal_form)``: its ``material`` bundle for the kernels,
  over the backend's ``arrays`` (its per-particle arrays are declared in the array table,
  arrays.py, with ``when`` naming the material)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class MaterialConstants:
    """What the kernels and the outputs need of a material, for one case (SI units)."""
    model: str                     # "pmb" or "lps"
    youngs_modulus: float
    poissons_ratio: float          # PMB: the one it imposes (1/4, or 1/3 in plane stress)
    critical_stretch: float
    #: PMB: the micromodulus c (N/m^6; per unit thickness in 2D). NaN for the LPS.
    micromodulus: float = float("nan")
    #: LPS: the bulk modulus kappa of the dimension (K in 3D, the in-plane one in 2D), the shear
    #: modulus G and the force state's coefficients c_theta, c_e (kernels/lps.py). NaN for PMB.
    bulk_modulus: float = float("nan")
    shear_modulus: float = float("nan")
    dilatation_coefficient: float = float("nan")
    deviatoric_coefficient: float = float("nan")
    influence: str = ""
    #: Derived numbers to print (pdgeneral check) and record (output attributes), by name.
    derived: dict = field(default_factory=dict)

    def attributes(self) -> dict:
        """Output attributes (io/hdf5.py): the model and its constants (the material module's
        ``attributes``)."""
        return module(self.model).attributes(self)

    def summary(self) -> str:
        """One line for ``pdgeneral check`` (the material module's ``summary``)."""
        return module(self.model).summary(self)


@dataclass(frozen=True)
class ParticleTerms:
    """Per-particle quantities a material adds to the model (float64, (N,))."""
    #: Silling and Askari's pairwise stiffness sum (N/m^4): dt < sqrt(2 rho / stiffness).
    stiffness: np.ndarray
    #: The part of ``stiffness`` that couples a particle to its neighbours' neighbours (the LPS
    #: dilatation; None for PMB): the relaxation's Gershgorin bound weighs it differently.
    coupling_stiffness: np.ndarray | None = None
    #: LPS (None for PMB): 1 / m0, the whole family's weighted volume's reciprocal, and the
    #: factors P_i (per particle) and q (one number) of the force state (materials/lps.py,
    #: particle_terms).
    inverse_weighted_volume: float | None = None
    dilatation_factor: np.ndarray | None = None
    deviatoric_factor: float | None = None
    #: LPS: omega of each stencil slot, isotropy factor included (materials.lps.influence_table).
    stencil_influence: np.ndarray | None = None


def module(name: str):
    """The material module of a case's ``material.model``."""
    from . import lps, pmb
    return {"pmb": pmb, "lps": lps}[name]
