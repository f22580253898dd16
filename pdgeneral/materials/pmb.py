"""The prototype microelastic brittle material (PMB, bond-based): constants from the case's
``material`` section (physics/pmb.py holds the formulas and their sources; kernels/pmb.py the
bodies)."""
from __future__ import annotations

from ..physics import pmb as physics
from . import MaterialConstants


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
