"""numba's internals are used only with the versions tested (pdgeneral/numba_internals.py); with
others the run still works, through numba's public paths, and one warning says what to do."""
import subprocess
import sys

import pytest

from pdgeneral import numba_internals


def test_the_installed_versions_are_the_tested_ones():
    # CI installs from pyproject.toml's pins, which must match numba_internals.TESTED.
    assert numba_internals.mismatch() is None, numba_internals.mismatch()


def test_pyproject_pins_what_was_tested():
    from pathlib import Path
    text = Path(__file__).parent.parent.joinpath("pyproject.toml").read_text()
    for name, (low, high) in numba_internals.TESTED.items():
        assert f'"{name}>={low},<{high}"' in text


@pytest.mark.parametrize("version, expected", [("0.68.1", True), ("0.68.0rc1", True), ("0.69.0", False),
                                               ("0.67.9", False), ("1.0", False)])
def test_versions_are_compared_as_releases(monkeypatch, version, expected):
    monkeypatch.setattr(numba_internals, "installed_versions",
                        lambda: {"numba": version, "numba-cuda": "0.30.4"})
    assert (numba_internals.mismatch() is None) == expected


def test_another_numba_turns_the_internals_off_and_still_runs(tmp_path):
    # A fresh process believes numba is 0.99: one warning naming the versions and the pip command;
    # no kernel cache entry is written, and a serial run gives the usual result.
    script = f"""
import warnings, numba, numpy as np
numba.__version__ = "0.99.0"
import os; os.environ["PDGENERAL_CACHE_DIR"] = {str(tmp_path / "cache")!r}
import sys; sys.path.insert(0, {str(tmp_path.parent)!r})
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from pdgeneral import backends
    from pdgeneral.case import load_case_text
    from pdgeneral.model import build_model
    text = '''
name: t
dimension: 2
material: {{model: pmb, youngs_modulus: 72.0e9, density: 2440.0, critical_stretch: .inf}}
discretization: {{spacing: 1.0e-3, horizon_factor: 3.015}}
geometry: {{box: {{min: [0, 0], max: [0.01, 0.01]}}}}
solver: {{type: explicit, steps: 2}}
'''
    model = build_model(load_case_text(text))
    engine = backends.create("serial", model)
    engine.compute_forces()
    print("force", float(np.abs(engine.arrays.force).max()))
messages = [str(w.message) for w in caught if "tested" in str(w.message)]
print(len(messages)); print(messages[0])
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "force 0.0"          # the undeformed lattice: no force
    assert lines[1] == "1"                  # warned once
    assert "numba 0.99.0 (tested: >=0.68.0,<0.69)" in lines[2]
    assert "pip install 'numba>=0.68.0,<0.69' 'numba-cuda>=0.30.4,<0.31'" in lines[2]
    assert not list((tmp_path / "cache").rglob("*.nbk"))      # the cache stayed off
