"""The histories' validation benchmark (pdgeneral/validation/histories.py) at its CI resolution:
the quasi-static reaction against E eps A, crack branching's energy balance, the load curve of a
plate pulled to failure. The expected values are recomputed here from the formulas."""
import re

import pytest

from pdgeneral.validation import MODULES, histories

NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return histories.run("ci", tmp_path_factory.mktemp("histories"), "parallel")


def numbers(text: str) -> list[float]:
    return [float(x) for x in NUMBER.findall(text)]


def test_every_check_passes_and_draws_its_figures(result):
    assert "histories" in MODULES
    assert result.passed, [(c.name, c.obtained) for c in result.checks if not c.passed]
    assert len(result.checks) == 6
    assert [p.name for p in result.figures] == ["histories-energies.png", "histories-load-curve.png"]
    assert all(p.stat().st_size > 10_000 for p in result.figures)


def test_the_expected_values_are_the_formulas(result):
    reaction, _, _, balance, slope, _ = result.checks
    expected, strain = numbers(reaction.expected)[0], numbers(reaction.expected)[1]
    assert expected == pytest.approx(72e9 * strain * 0.02 * 1e-3, rel=1e-3)       # E eps A
    assert numbers(slope.expected)[0] == pytest.approx(72e9 * 0.02 * 1e-3 / 0.037, rel=1e-3)
    obtained = numbers(balance.obtained)
    assert abs(obtained[1]) < 2.0        # percent, the balance at 43 us
