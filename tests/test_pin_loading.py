"""Loading through pin holes (issue 18, item 5): the ``ring`` shape and its bearing half
(``facing``), and the shipped compact tension specimen loaded through them, whose load-line
compliance is checked against ASTM E399's (Saxena and Hudak 1978)."""
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import BASE_2D, case_from, merge, model_from

from pdgeneral.case.schema import Shape
from pdgeneral.errors import CaseError
from pdgeneral.geometry.shapes import bounds, inside

CASE = Path(__file__).parent.parent / "cases" / "compact_tension_2d.yaml"

HOLE = {"center": [0.02, 0.01], "radius": 0.0032}
RING = {"center": [0.02, 0.01], "inner_radius": 0.0032, "outer_radius": 0.0062}
PLATE = merge(BASE_2D, {"geometry": {"holes": [{"circle": HOLE}]},
                        "regions": {"ring": {"ring": RING},
                                    "upper": {"ring": {**RING, "facing": [0.0, 1.0]}},
                                    "lower": {"ring": {**RING, "facing": [0.0, -2.0]}}}})


def test_a_ring_is_the_annulus_and_facing_keeps_the_half_on_that_side():
    model = model_from(PLATE)
    x = model.positions
    distance = np.linalg.norm(x - HOLE["center"], axis=1)
    ring = (distance >= RING["inner_radius"]) & (distance <= RING["outer_radius"])
    assert model.region_counts["ring"] == ring.sum() > 50
    # the halves: y above / below the centre, the particles on the dividing diameter in both
    upper = ring & (x[:, 1] >= HOLE["center"][1])
    lower = ring & (x[:, 1] <= HOLE["center"][1])
    assert model.region_counts["upper"] == upper.sum()
    assert model.region_counts["lower"] == lower.sum()
    assert upper.sum() + lower.sum() == ring.sum() + (upper & lower).sum()
    # the annulus' area, to the staircase of a lattice 1 mm wide
    area = np.pi * (RING["outer_radius"] ** 2 - RING["inner_radius"] ** 2)
    assert ring.sum() * 1.0e-6 == pytest.approx(area, rel=0.15)
    # an arc of 60 degrees about facing: the particles within 30 degrees of it
    arc = model_from(merge(PLATE, {"regions": {"upper": {"ring": {"arc": 60.0}}}}))
    rel = x - HOLE["center"]
    within = ring & (rel[:, 1] >= distance * np.cos(np.radians(30.0)) - 1e-12)
    assert arc.region_counts["upper"] == within.sum() > 5


@pytest.mark.parametrize("facing, arc", [([0.0, 1.0], 180.0), ([1.0, 1.0], 180.0),
                                         ([-1.0, 0.2], 180.0), ([0.0, 1.0], 60.0),
                                         ([1.0, -0.3], 270.0)])
def test_the_box_of_an_arc_of_a_ring_is_tight(facing, arc):
    shape = Shape(ring={**RING, "facing": facing, "arc": arc})
    lo, hi = bounds(shape)
    points = np.random.default_rng(1).uniform(-0.01, 0.01, (400_000, 2)) + HOLE["center"]
    kept = points[inside(shape, points, 1.0e-6)]
    assert np.all(kept >= lo - 1e-9) and np.all(kept <= hi + 1e-9)
    assert np.allclose(kept.min(axis=0), lo, atol=5e-5) and np.allclose(kept.max(axis=0), hi, atol=5e-5)


def test_a_ring_can_be_the_body():
    model = model_from(merge(BASE_2D, {"geometry": {"box": None, "ring": RING}}))
    area = np.pi * (RING["outer_radius"] ** 2 - RING["inner_radius"] ** 2)
    assert model.particle_count * 1.0e-6 == pytest.approx(area, rel=0.15)


@pytest.mark.parametrize("ring, key, message", [
    ({**RING, "outer_radius": 0.003}, "regions.ring.ring", r"outer_radius \(0.003\) must exceed inner_radius"),
    ({**RING, "facing": [0.0, 0.0]}, "regions.ring.ring.facing", "not the zero vector"),
    ({**RING, "facing": [0.0, 1.0, 0.0]}, "regions.ring.ring.facing", "2"),
    ({**RING, "arc": 90.0}, "regions.ring.ring.arc", "arc needs facing"),
    ({**RING, "facing": [0.0, 1.0], "arc": 400.0}, "regions.ring.ring.arc", "less than or equal to 360"),
])
def test_a_wrong_ring_is_named(ring, key, message):
    with pytest.raises(CaseError, match=message) as err:
        case_from(merge(PLATE, {"regions": {"ring": {"ring": ring}}}))
    assert err.value.key.startswith(key)


def test_a_ring_in_3d_is_refused():
    from test_dynamics import THREE_D
    raw = merge(THREE_D, {"regions": {"pin": {"ring": {**RING, "center": [0.0, 0.0, 0.0]}}}})
    with pytest.raises(CaseError, match="ring is a 2D shape"):
        case_from(raw)


def compliance(crack_to: float, spacing: float = 1.0e-3, notch_cracked: bool = True,
               voids: str = "cut") -> float:
    """E B v / P of the shipped specimen, elastic, pulled by P on its pins' bearing halves
    (quasi-static): v the opening of the pins (their regions' mean displacements)."""
    from pdgeneral.api import run_case
    from pdgeneral.io.history import read_history
    raw = yaml.safe_load(CASE.read_text())
    youngs, thickness, load = float(raw["material"]["youngs_modulus"]), float(raw["thickness"]), 500.0
    raw["discretization"]["spacing"] = spacing
    raw["discretization"]["bonds_through_voids"] = voids
    raw["material"] = {"model": "pmb", "youngs_modulus": youngs, "density": 1190.0,
                       "critical_stretch": float("inf")}
    raw["boundary_conditions"] = [
        {"region": "top_pin", "type": "force", "value": [0.0, load]},
        {"region": "bottom_pin", "type": "force", "value": [0.0, -load]}]
    raw["solver"] = {"type": "quasi_static", "load_steps": 1, "tolerance": 1.0e-6}
    start = [0.0, 0.030] if notch_cracked else [0.030, 0.030]
    raw["precracks"] = [{"segment": {"start": start, "end": [crack_to, 0.030]}}]
    summary = run_case(case_from(raw), backend="parallel", write=True, overwrite=True,
                       output=Path(raw["output"]["path"]).name)
    history = read_history(summary.output)
    opening = (history["regions/top_pin/displacement"][-1, 1]
               - history["regions/bottom_pin/displacement"][-1, 1])
    return youngs * thickness * opening / load


def saxena_hudak(a_w: float) -> float:
    """ASTM E399 / E1820's load-line compliance of the compact specimen, E B v / P (Saxena and
    Hudak 1978; plane stress)."""
    return ((1 + a_w) / (1 - a_w)) ** 2 * (2.1630 + 12.219 * a_w - 20.065 * a_w ** 2
                                           - 0.9925 * a_w ** 3 + 20.609 * a_w ** 4
                                           - 9.9314 * a_w ** 5)


def test_the_compact_tension_specimen_has_e399s_compliance(tmp_path, monkeypatch):
    """At a/W = 0.5 and 0.7, 1 mm spacing: within 11-14 % above Saxena and Hudak's values
    (measured: 41.1 against 37.0 and 139.0 against 122.8; at 0.5 mm spacing 39.2, +5.9 %: the
    excess halves with the spacing, as a crack tip blunted over the horizon makes it). The
    machined notch alone (no pre-crack along it) opens as the pre-cracked one: no bond is made
    across it. Bonds kept across it (``bonds_through_voids: keep``) bridge its faces, 1.5 mm
    apart, less than the horizon: the specimen is then 9x too stiff."""
    monkeypatch.chdir(tmp_path)
    load_line, width = 0.0125, 0.050
    for a_w in (0.5, 0.7):
        ratio = compliance(load_line + a_w * width) / saxena_hudak(a_w)
        assert 1.0 < ratio < 1.16, (a_w, ratio)
    cracked = compliance(load_line + 0.5 * width)
    assert compliance(load_line + 0.5 * width, notch_cracked=False) == pytest.approx(cracked, rel=0.01)
    bridged = compliance(load_line + 0.5 * width, notch_cracked=False, voids="keep")
    assert bridged / saxena_hudak(0.5) < 0.2
