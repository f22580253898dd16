"""Loads given as a total force (issue 18, item 5): `type: force` spreads F (N) over the region's
particles by volume, so that they carry F in all; a traction on a region that is not a box is
refused, for its total force would be wrong (docs/theory.md sec. 8)."""
import numpy as np
import pytest
from conftest import BASE_2D, case_from, merge, model_from
from test_dynamics import THREE_D
from test_quasi_static import STRIP

from pdgeneral.api import prepare, run_case
from pdgeneral.errors import CaseError
from pdgeneral.io import read_snapshot

HOLED = merge(BASE_2D, {
    "geometry": {"box": {"min": [0.0, 0.0], "max": [0.04, 0.02]},
                 "holes": [{"circle": {"center": [0.03, 0.01], "radius": 0.003}}]},
    "regions": {"pin": {"circle": {"center": [0.03, 0.01], "radius": 0.0055}},
                "held": {"box": {"min": [0.0, 0.0], "max": [0.003, 0.02]}}},
    "boundary_conditions": [{"region": "pin", "type": "force", "value": [120.0, -30.0],
                             "ramp_time": 1.0e-6},
                            {"region": "held", "type": "velocity", "value": [0.0, 0.0]}]})


def total_force(model, group=0):
    """sum_i b_i V_i of a load group (N)."""
    return (model.load_groups[group].body_force * model.volume).sum(axis=1)


@pytest.mark.parametrize("raw, region, force", [
    (HOLED, "pin", [120.0, -30.0]),
    (merge(THREE_D, {"regions": {"ball": {"sphere": {"center": [0.004, 0.003, 0.0025],
                                                     "radius": 0.002}}},
                     "boundary_conditions": [{"region": "ball", "type": "force",
                                              "value": [0.0, 5.0, -2.0]}]}), "ball", [0.0, 5.0, -2.0]),
])
def test_the_region_carries_the_total_force(raw, region, force):
    model = model_from(raw)
    assert total_force(model) == pytest.approx(force, rel=1e-12, abs=1e-12)
    loaded = np.any(model.load_groups[0].body_force != 0.0, axis=0)
    assert loaded.sum() == model.region_counts[region] > 10
    # spread by volume: the same density on every particle of the region
    b = model.load_groups[0].body_force[:, loaded]
    assert np.allclose(b, b[:, :1])


def test_a_force_equals_the_traction_with_the_same_total(tmp_path):
    traction = prepare(case_from(STRIP)).model
    force = total_force(traction)          # sigma * the loaded face's area (and thickness)
    assert force[0] == pytest.approx(2.0e8 * 0.05 * 0.01, rel=1e-12)   # SIGMA * height * thickness
    as_force = merge(STRIP, {"boundary_conditions": [
        STRIP["boundary_conditions"][0], {"region": "loaded", "type": "force", "value": [float(f) for f in force]}]})
    results = [read_snapshot(run_case(case_from(raw), backend="serial",
                                      output=tmp_path / f"{k}.h5").output)["displacement"]
               for k, raw in enumerate((STRIP, as_force))]
    assert np.abs(results[0] - results[1]).max() <= 1e-9 * np.abs(results[0]).max()


def test_a_force_is_ramped_like_the_other_loads():
    from pdgeneral import backends
    model = model_from(HOLED)
    assert [group.ramp_time for group in model.load_groups] == [1.0e-6]
    engine = backends.create("serial", model)
    engine.set_body_force(0.25e-6)          # a quarter of the way up the ramp
    applied = (engine.arrays.body_force * model.volume).sum(axis=1)
    assert applied == pytest.approx([30.0, -7.5], rel=1e-12)


def test_a_traction_on_a_curved_region_is_refused():
    raw = merge(HOLED, {"boundary_conditions": [{"region": "pin", "type": "traction",
                                                 "value": [1.0e6, 0.0]}]})
    with pytest.raises(CaseError, match=r"boundary_conditions\[0\].type: a traction needs a box region "
                                        r"at the loaded surface; 'pin' is a circle, on which its total "
                                        r"force would be wrong: give the load as type: force"):
        case_from(raw)
