"""The prototype microelastic brittle material (PMB, bond-based): constants from the case's
``material`` section (physics/pmb.py holds the formulas and their sources; kernels/pmb.py the
bodies)."""
from __future__ import annotations

import numpy as np

from ..kernels.arguments import Pmb
from ..physics import pmb as physics
from . import MaterialConstants, ParticleTerms

#: One force pass (kernels.pmb.particle_force), whose stencil loop the GPU unrolls and which also
#: sums a history row's bond terms there (kernels.pmb.RECORD_ENERGY), turned into the row's terms
#: by kernels.pmb.recorded_energy; its energy pass.
FORCE_PASSES = ("particle_force",)
ENERGY_PASS = "particle_energy"
UNROLLED_FORCE = True
RECORDED_ENERGY = "recorded_energy"


def check_keys(material) -> None:
    """The case's ``material`` section as PMB reads it (case/schema.py): no key of another model."""
    for key in ("poissons_ratio", "influence"):
        if getattr(material, key) is not None:
            raise ValueError(f"material.{key} applies to model lps only (PMB fixes Poisson's "
                             "ratio at 1/4 in 3D and plane strain, 1/3 in plane stress)")


def constants(material, horizon: float, dimension: int, plane: str, thickness: float
              ) -> MaterialConstants:
    """PMB's micromodulus and critical stretch (docs/theory.md sections 1-2)."""
    c = physics.micromodulus(material.youngs_modulus, horizon, dimension, plane, thickness)
    if material.critical_stretch is not None:
        s0 = material.critical_stretch
    else:
        s0 = physics.critical_stretch(material.youngs_modulus, material.fracture_energy, horizon,
                                      dimension, plane)
    nu = physics.POISSON_RATIO["3d" if dimension == 3 else plane]
    return MaterialConstants(model="pmb", youngs_modulus=material.youngs_modulus,
                             poissons_ratio=nu, critical_stretch=s0, micromodulus=c)


def moment_weight(constants_: MaterialConstants, bonds, horizon: float, spacing: float) -> np.ndarray:
    """Per stencil slot, what the energy surface correction's moments weigh a bond with: |xi|
    (the PMB bond's energy c s^2 |xi| / 2; docs/theory.md sec. 5)."""
    return bonds.length


def reference_moments(constants_: MaterialConstants, bonds, slot_weight: np.ndarray, horizon: float,
                      spacing: float, volume: float, dimension: int, thickness: float) -> float:
    """The continuum's value of the correction's moments: the energy density of a unit uniaxial
    strain over c/4 (docs/theory.md sec. 5), the same along every axis."""
    return physics.uniaxial_strain_energy_density(1.0, horizon, dimension, 1.0, thickness) * 4.0


def particle_terms(constants_: MaterialConstants, *model_arrays) -> ParticleTerms | None:
    """None: PMB's stiffness sum_j c w_ij / |xi_ij| comes with the stencil classification
    (model._classify_rows), which evaluates each bond weight once for both."""
    return None


def kernel_material(model, arrays, reciprocal_form: bool) -> Pmb:
    """The kernels' ``material`` bundle: c and s0 in the run's precision, and the bond force's
    evaluation (kernels.pmb.bond_force)."""
    dtype = model.dtype.type
    return Pmb(dtype(model.micromodulus), dtype(model.critical_stretch), reciprocal_form)


def attributes(constants_: MaterialConstants) -> dict:
    """Output attributes (io/hdf5.py)."""
    return {"material_model": "pmb", "micromodulus": constants_.micromodulus,
            "critical_stretch": constants_.critical_stretch,
            "poissons_ratio": constants_.poissons_ratio}


def summary(constants_: MaterialConstants) -> str:
    """One line for ``pdgeneral check``."""
    return (f"model pmb (nu = {constants_.poissons_ratio:.4g}, fixed), micromodulus "
            f"{constants_.micromodulus:.6g}, critical stretch {constants_.critical_stretch:.6g}")
