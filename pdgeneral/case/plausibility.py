"""Warnings for values that are valid numbers but lie outside the range of engineering solids and
loads: the sign of a unit slip (``youngs_modulus: 200`` meant in GPa, a density in g/cm^3, lengths
in mm). They are warnings, not errors: an unusual material may lie outside a range on purpose.

The ranges (SI units) are those of the material-property charts of Ashby, "Materials Selection in
Mechanical Design" (4th ed., 2011, ch. 4): Young's modulus from soft foams and elastomers (about
1e5 Pa) to diamond (1.2e12 Pa); density from balsa and cork (about 100 kg/m^3; foams go lower) to
osmium (22,600 kg/m^3); toughness G_c from brittle crystals and glass (1 to 10 J/m^2) to tough
metals (about 1e6 J/m^2). A lattice spacing is a fraction of a specimen, which in a fracture test is
at most of the order of a metre; load velocities reach a few km/s in ballistic impact.
docs/case-reference.md lists them.
"""
from __future__ import annotations

import math

from .schema import Case

YOUNGS_MODULUS = (1.0e5, 1.2e12)     # Pa
DENSITY = (100.0, 23.0e3)            # kg/m^3
FRACTURE_ENERGY = (0.1, 1.0e6)       # J/m^2
SPACING = (1.0e-7, 0.1)              # m
LOAD_SPEED = 1.0e4                   # m/s

# Likely intended units: (name, factor to SI) tried in order for a value below its range.
_BELOW = {
    "material.youngs_modulus": (("GPa", 1e9), ("MPa", 1e6)),
    "material.density": (("g/cm^3", 1e3), ("t/mm^3, the mm-tonne-s system", 1e12)),
    "material.fracture_energy": (("kJ/m^2 (N/mm)", 1e3),),
}


def _range_warning(key: str, value: float, low: float, high: float, unit: str) -> str | None:
    if low <= value <= high:
        return None
    where = "below" if value < low else "above"
    line = (f"{key}: {value:g} {unit} is {where} the range of engineering solids "
            f"({low:g} to {high:g} {unit})")
    if value < low:
        for name, factor in _BELOW.get(key, ()):
            if low <= value * factor <= high:
                return line + f"; was it meant in {name}? That is {value * factor:g} {unit}"
    return line


def unit_warnings(case: Case) -> list[str]:
    """One line per suspicious value: the key, the value, the range and, where one fits, the unit
    it was likely meant in."""
    material = case.material
    found = [
        _range_warning("material.youngs_modulus", material.youngs_modulus, *YOUNGS_MODULUS, "Pa"),
        _range_warning("material.density", material.density, *DENSITY, "kg/m^3"),
    ]
    if material.fracture_energy is not None:
        found.append(_range_warning("material.fracture_energy", material.fracture_energy,
                                    *FRACTURE_ENERGY, "J/m^2"))
    spacing = case.discretization.spacing
    if spacing > SPACING[1]:
        found.append(f"discretization.spacing: {spacing:g} m is above the range of fracture specimens "
                     f"(up to {SPACING[1]:g} m); if the lengths are in mm, give them in m "
                     f"({spacing * 1e-3:g} m)")
    elif spacing < SPACING[0]:
        found.append(f"discretization.spacing: {spacing:g} m is below {SPACING[0]:g} m, smaller than "
                     "continuum mechanics describes")

    # A load faster than the material's bar wave speed stops the run at once (solvers/explicit.py
    # takes a particle faster than it for an instability); only meaningful for a plausible E and rho.
    plausible = not found[0] and not found[1]
    wave_speed = math.sqrt(material.youngs_modulus / material.density)
    for index, bc in enumerate(case.boundary_conditions):
        if bc.type not in ("velocity", "initial_velocity"):
            continue
        speed = math.sqrt(sum(v * v for v in bc.value if v is not None))
        key = f"boundary_conditions[{index}].value"
        if speed > LOAD_SPEED:
            found.append(f"{key}: {speed:g} m/s is above the speeds of engineering loads (up to "
                         f"{LOAD_SPEED:g} m/s); was it meant in mm/s? That is {speed * 1e-3:g} m/s")
        elif plausible and speed >= wave_speed:
            found.append(f"{key}: {speed:g} m/s is not below the bar wave speed sqrt(E / rho) = "
                         f"{wave_speed:.4g} m/s of the material: the run would stop at its first "
                         "step; check the units of the velocity, youngs_modulus and density")
    return [line for line in found if line]


def solver_warnings(case: Case) -> list[str]:
    """One line per solver setting that makes the answer depend on the solver: a quasi-static
    tolerance above BREAK_TEST_TOLERANCE where bonds can break (bonds are then tested for
    breaking in states that far from equilibrium; on the notched beam of docs/theory.md section
    7, 1e-2 ran the crack through the beam where the equilibrium arrests it)."""
    from ..model import DEFAULT_TOLERANCE
    from ..solvers.relaxation import BREAK_TEST_TOLERANCE
    solver = case.solver
    if solver.type != "quasi_static":
        return []
    tolerance = solver.tolerance or DEFAULT_TOLERANCE
    stretch = case.material.critical_stretch
    breakable = stretch is None or math.isfinite(stretch)
    if breakable and tolerance > BREAK_TEST_TOLERANCE:
        return [(f"solver.tolerance: {tolerance:g} is above {BREAK_TEST_TOLERANCE:g}: bonds are tested "
                "for breaking in states relaxed only that far, which can break bonds the "
                "equilibrium keeps (docs/theory.md, section 7); use 1e-3 or less")]
    return []
