"""The LPS elastic benchmark (validation/lps_elastic.py) at its CI resolution: every check passes, and
the expected values it compares against are recomputed here from the classical formulas."""
import pytest
from test_validation_elastic import assert_well_formed, first_number, run_ci

from pdgeneral.validation import MODULES, lps_elastic

E, NU = 200.0e9, 0.3


@pytest.fixture(scope="module")
def lps(tmp_path_factory):
    return run_ci(lps_elastic, tmp_path_factory)


def test_plane_constants_are_the_classical_ones():
    # uniaxial stress in the plane: plane strain has E' = E / (1 - nu^2), nu' = nu / (1 - nu)
    assert lps_elastic.plane_constants("stress") == (E, NU)
    modulus, ratio = lps_elastic.plane_constants("strain")
    assert modulus == pytest.approx(219.78e9, rel=1e-4) and ratio == pytest.approx(0.428571, rel=1e-5)


@pytest.mark.slow
def test_lps_elastic_benchmark_passes(lps):
    result, directory = lps
    assert_well_formed(result, directory, "lps_elastic")
    names = [check.name for check in result.checks]
    # both planes, both displacement components, two influence functions, three block strains
    assert sum("plane stress: interior" in n for n in names) == 2
    assert sum("plane strain: interior" in n for n in names) == 2
    assert sum("influence" in n for n in names) == 2
    assert sum("3D block" in n for n in names) == 3
    strain_uy = next(c for c in result.checks if c.name.startswith("plane strain: interior u_y"))
    assert first_number(strain_uy.expected.split("=")[1]) == pytest.approx(NU / (1 - NU), rel=1e-3)
    for check in result.checks:
        if "3D block" in check.name:
            assert abs(first_number(check.obtained)) <= 3.0      # issue 14, item 3 (percent)
    assert "10 x 10" in result.notes


def test_lps_elastic_is_in_the_document_order():
    assert MODULES.index("lps_elastic") == MODULES.index("block_tension") + 1


@pytest.mark.slow
def test_lps_wave_speed_benchmark_passes(tmp_path_factory):
    from pdgeneral.validation import wave_speed, wave_speed_lps
    result, directory = run_ci(wave_speed_lps, tmp_path_factory)
    assert_well_formed(result, directory, "wave_speed_lps")
    speed = result.checks[1]
    # the bar speed sqrt(E / rho), whatever nu (uniaxial stress), within the 2 %
    assert first_number(speed.expected) == pytest.approx((E / 7850.0) ** 0.5, rel=1e-4)
    assert first_number(speed.obtained) == pytest.approx(wave_speed.WAVE_SPEED, rel=0.02)
