"""The crack-branching benchmark at its "ci" resolution: every check passes, and what it measured is
physically sane (pdgeneral/validation/crack_branching.py; issue 4, item 5)."""
from __future__ import annotations

import numpy as np
import pytest

from pdgeneral import analysis
from pdgeneral.validation import MODULES
from pdgeneral.validation import crack_branching as branching


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("branching")
    measured = branching.simulate("ci", "parallel")
    return measured, branching.result(measured, "ci", workdir, 0.0)


def test_wave_speeds_of_glass_in_plane_stress():
    # Issue 4 quotes c_R = 3058 m/s for plane stress, nu = 1/3; c_d = sqrt(E / (rho (1 - nu^2)))
    # = 5762 m/s. The Rayleigh root is checked against its own equation.
    c_d, c_s, c_r = analysis.wave_speeds(72.0e9, 2440.0, 1.0 / 3.0, "stress")
    assert c_d == pytest.approx(5761.66, abs=0.01)
    assert c_r == pytest.approx(3058, abs=0.5)
    x, k = c_r / c_s, (c_s / c_d) ** 2
    assert (2 - x * x) ** 2 == pytest.approx(4 * np.sqrt(1 - x * x) * np.sqrt(1 - k * x * x), rel=1e-12)
    # Plane stress with nu = 1/3 is plane strain with nu / (1 + nu) = 1/4, the Poisson solid, whose
    # Rayleigh root is exact: c_R / c_s = sqrt(2 - 2 / sqrt(3)) = 0.9194 (Rayleigh 1885).
    assert c_r / c_s == pytest.approx(np.sqrt(2 - 2 / np.sqrt(3)), rel=1e-10)


def test_registered():
    # pdgeneral validate finds it by module name and runs it by benchmark name.
    assert "crack_branching" in MODULES and branching.BENCHMARK.name == "crack_branching"


def test_every_check_passes_at_ci_resolution(ci_run):
    _, result = ci_run
    failed = [f"{c.name}: expected {c.expected}, obtained {c.obtained}" for c in result.checks
              if not c.passed]
    assert not failed, failed
    # One run: three-microsecond quiet time, branching, bands, lattice symmetry, field symmetry,
    # mean speed, largest speed, no-fail layers, no crack along the loaded edges.
    assert len(result.checks) == 9 and result.passed
    assert all(path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for path in result.figures)


def test_measured_values_are_sane(ci_run):
    measured, _ = ci_run
    (m,) = measured
    dx = m.variant.spacing
    c_d, c_r = branching.speeds()
    # Bonds start breaking once the wave has reached the notch tip (20 mm / c_d = 3.5 us) and
    # stressed it: before 43 us, and not before 3.5 us.
    first = m.times[np.nonzero(m.broken > 0)[0][0]]
    assert 0.02 / c_d < first < branching.END_TIME
    # The junction lies on the centre line, between the notch tip and the probe line at 95 mm, and
    # the tip reaches it after the crack started and before 43 us.
    assert 0.05 < m.branch.point[0] < 0.095
    assert abs(m.branch.point[1] - 0.02) <= 2 * dx
    assert first < m.junction_time < m.detected_time <= branching.END_TIME
    # The two branches diverge (the angle of a branching crack, not a kink or a closing pair).
    assert 10.0 < m.branch.angle < 120.0
    # The tip only moves forward, by less than c_R in any 1 us interval plus one lattice step.
    steps = np.diff(m.tips[:, 0])
    assert steps.min() >= 0.0 and steps.max() <= c_r * 1e-6 + dx
    # The bands on x = 95 mm are mirror images of each other.
    (low, high) = m.bands[0], m.bands[-1]
    assert low[0] + high[1] == pytest.approx(0.04, abs=1e-9)
