"""Unit slips: values that are valid numbers but outside the range of engineering solids and loads
give one warning line naming the key, the value and the likely unit (issue 18, item 3); a run that
then blows up names the cause its numbers show."""
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import BASE_2D, case_from, merge
from test_dynamics import FRACTURE_2D

from pdgeneral.case.plausibility import solver_warnings, unit_warnings
from pdgeneral.solvers.interrupt import RunUnstable

LEFT = {"left": {"box": {"min": [0.0, 0.0], "max": [0.003, 0.02]}}}


def warnings_of(changes):
    return unit_warnings(case_from(merge(BASE_2D, changes)))


@pytest.mark.parametrize("changes, expected", [
    ({"material": {"youngs_modulus": 200.0}},
     ("material.youngs_modulus: 200 Pa is below the range of engineering solids (100000 to 1.2e+12 Pa); "
     "was it meant in GPa? That is 2e+11 Pa")),
    ({"material": {"youngs_modulus": 70000.0}}, "was it meant in MPa? That is 7e+10 Pa"),
    ({"material": {"density": 7.85}}, ("material.density: 7.85 kg/m^3 is below the range of engineering "
                                      "solids (100 to 23000 kg/m^3); was it meant in g/cm^3? That is "
                                      "7850 kg/m^3")),
    ({"material": {"density": 2.44e-9}}, "t/mm^3, the mm-tonne-s system? That is 2440 kg/m^3"),
    ({"material": {"fracture_energy": 0.0038}}, ("material.fracture_energy: 0.0038 J/m^2 is below the "
                                                "range of engineering solids (0.1 to 1e+06 J/m^2); was "
                                                "it meant in kJ/m^2 (N/mm)? That is 3.8 J/m^2")),
    ({"material": {"fracture_energy": 5.0e7}}, "material.fracture_energy: 5e+07 J/m^2 is above"),
    ({"discretization": {"spacing": 0.5}, "geometry": {"box": {"min": [0, 0], "max": [40.0, 20.0]}}},
     ("discretization.spacing: 0.5 m is above the range of fracture specimens (up to 0.1 m); if the "
     "lengths are in mm, give them in m (0.0005 m)")),
    ({"regions": LEFT, "boundary_conditions": [{"region": "left", "type": "velocity",
                                                "value": [-20000.0, None]}]},
     ("boundary_conditions[0].value: 20000 m/s is above the speeds of engineering loads (up to 10000 "
     "m/s); was it meant in mm/s? That is 20 m/s")),
    ({"regions": LEFT, "boundary_conditions": [{"region": "left", "type": "initial_velocity",
                                                "value": [6000.0, 0.0]}]},
     "boundary_conditions[0].value: 6000 m/s is not below the bar wave speed sqrt(E / rho) = 5432 m/s"),
])
def test_a_value_outside_the_range_of_engineering_solids_is_named(changes, expected):
    found = warnings_of(changes)
    assert len(found) == 1 and expected in found[0], found


def test_plausible_values_and_every_shipped_case_give_no_warning():
    from pdgeneral.case import load_case
    assert warnings_of({}) == []
    assert unit_warnings(case_from(FRACTURE_2D)) == []
    cases = sorted(Path("cases").rglob("*.yaml")) + sorted(Path("benchmarks").glob("*.yaml"))
    assert len(cases) >= 10
    for path in cases:
        case = load_case(path)[0]
        assert unit_warnings(case) == [] and solver_warnings(case) == [], path


def test_a_loose_quasi_static_tolerance_with_breakable_bonds_is_named(tmp_path):
    """Above 1e-3 the bonds are tested for breaking far from equilibrium: one warning line, in
    check; none where no bond can break or for the explicit solver."""
    from click.testing import CliRunner

    from pdgeneral.cli import main
    loose = merge(BASE_2D, {"solver": {"type": "quasi_static", "steps": None, "load_steps": 2,
                                       "tolerance": 1e-2}})
    assert solver_warnings(case_from(loose)) == [
        ("solver.tolerance: 0.01 is above 0.001: bonds are tested for breaking in states relaxed only "
        "that far, which can break bonds the equilibrium keeps (docs/theory.md, section 7); use "
        "1e-3 or less")]
    unbreakable = merge(loose, {"material": {"fracture_energy": None, "critical_stretch": math.inf}})
    assert solver_warnings(case_from(unbreakable)) == []
    assert solver_warnings(case_from(merge(loose, {"solver": {"tolerance": 1e-3}}))) == []
    assert solver_warnings(case_from(BASE_2D)) == []
    path = tmp_path / "loose.yaml"
    path.write_text(yaml.safe_dump(loose))
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 0 and "solver.tolerance: 0.01 is above 0.001" in result.output


def test_the_range_limits_themselves_pass():
    from pdgeneral.case import plausibility as p
    assert warnings_of({"material": {"youngs_modulus": p.YOUNGS_MODULUS[0], "density": p.DENSITY[1],
                                     "fracture_energy": p.FRACTURE_ENERGY[0]}}) == []


def test_run_warns_and_blames_the_units_not_the_time_step(tmp_path):
    # The new user's slip: E in GPa. The run stops at its first step; the message must not blame a
    # time step that is below the stable one.
    raw = merge(FRACTURE_2D, {"material": {"youngs_modulus": 72.0}, "solver": {"end_time": None,
                                                                               "steps": 50},
                              "output": {"path": str(tmp_path / "slip.h5")}})
    case = tmp_path / "slip.yaml"
    case.write_text(yaml.safe_dump(raw))
    check = subprocess.run([sys.executable, "-m", "pdgeneral", "check", str(case)],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0
    assert check.stderr.splitlines() == [
        (f"warning: {case}: material.youngs_modulus: 72 Pa is below the range of engineering solids "
        "(100000 to 1.2e+12 Pa); was it meant in GPa? That is 7.2e+10 Pa")]
    run = subprocess.run([sys.executable, "-m", "pdgeneral", "run", str(case), "-b", "serial", "-q"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 3 and "Traceback" not in run.stderr
    assert "warning: " in run.stderr and "material.youngs_modulus: 72 Pa" in run.stderr
    assert "at step 1 " in run.stderr
    speed = math.sqrt(72.0 / 2440.0)
    assert (f"Likely cause: a prescribed or initial velocity of 2 m/s, not below the material's bar "
            f"wave speed sqrt(E / rho) = {speed:.4g} m/s") in run.stderr
    assert "time step above" not in run.stderr


@pytest.mark.parametrize("dt, stable, speed_limit, load, cause", [
    (2e-8, 1e-8, 5000.0, 10.0, "a time step above the stable limit (dt = 2e-08 s, stable 1e-08 s"),
    (1e-8, 2e-8, 5000.0, 10.0, ("not the time step, which is within the stable limit (dt = 1e-08 s, "
                               "stable 2e-08 s)")),
    (1e-8, 2e-8, 0.17, 2.0, ("a prescribed or initial velocity of 2 m/s, not below the material's bar "
                            "wave speed sqrt(E / rho) = 0.17 m/s")),
])
def test_the_instability_message_names_the_cause_its_numbers_show(dt, stable, speed_limit, load, cause):
    message = str(RunUnstable(7, 3, (0.01, 0.02), 5, dt, stable, speed_limit, load))
    assert message.startswith("the solution is not finite or a particle outruns the wave speed at step "
                              "7 (first at particle 3, at (0.01, 0.02) m); the last good snapshot is "
                              "step 5. Likely cause: ")
    assert cause in message
