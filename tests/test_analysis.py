"""Crack metrics (pdgeneral.analysis) on damage fields whose answer is known by construction.

The fields are real peridynamic damage: pre-crack segments of known geometry cut the bonds of a
lattice (pdgeneral's own pre-crack code, docs/theory.md sec. 9) and the damage follows from the cut
bonds by the formula of theory sec. 4, recomputed here in numpy. A crack drawn between particle rows
leaves the two rows next to it at damage ~0.4 (0.399 for a horizon of 3 spacings, 0.422 for 4).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import BASE_2D, merge, model_from

from pdgeneral import analysis
from pdgeneral.bondstate import pack
from pdgeneral.io import SnapshotWriter

DX = 5.0e-4


def damage_of(model) -> np.ndarray:
    """phi_i = 1 - sum_intact beta V / sum_all beta V (docs/theory.md sec. 4), bonds from the model."""
    pos = model.positions
    owner = np.repeat(np.arange(model.particle_count), np.diff(model.offsets))
    length = np.linalg.norm(pos[model.neighbors] - pos[owner], axis=1)
    beta = np.clip((model.horizon + model.spacing / 2 - length) / model.spacing, 0.0, 1.0)
    weight = beta * model.volume[model.neighbors]
    intact = np.bincount(owner, weight * model.initial_intact, model.particle_count)
    return 1.0 - intact / model.initial_bond_volume


def plate_raw(segments, size=(0.05, 0.02), spacing=DX, factor=3.0) -> dict:
    return merge(BASE_2D, {
        "discretization": {"spacing": spacing, "horizon_factor": factor},
        "geometry": {"box": {"min": [0.0, 0.0], "max": list(size)}},
        "precracks": [{"segment": {"start": list(a), "end": list(b)}} for a, b in segments]})


def cracked_plate(segments, size=(0.05, 0.02), spacing=DX, factor=3.0):
    model = model_from(plate_raw(segments, size, spacing, factor))
    return model.positions, damage_of(model)


def test_threshold_separates_crack_rows_from_their_neighbours():
    # A straight crack between rows: the two rows next to it are cracked, the next ones are not
    # (DEFAULT_THRESHOLD's reasoning), for the horizon factors the benchmarks use.
    for factor in (3.0, 4.0):
        pos, damage = cracked_plate([((0.0, 0.01), (0.025, 0.01))], factor=factor)
        column = np.abs(pos[:, 0] - 0.01025) < 1e-9
        mask = analysis.cracked(damage[column])
        assert np.allclose(np.sort(pos[column][mask, 1]), [0.00975, 0.01025])
        assert damage[column].max() > 0.38     # first rows: 0.399 (factor 3), 0.422 (factor 4)


def test_straight_crack_tip_and_bands():
    length = 0.025
    pos, damage = cracked_plate([((0.0, 0.01), (length, 0.01))])
    tip = analysis.crack_tip(pos, damage, (0.0, 0.01), DX)
    # The crack ends on a cell face; the last cracked particles are the pair dx/2 behind it (0.358):
    # the pair dx/2 ahead keeps all but the bonds that cross the crack behind the tip (0.108).
    assert tip == pytest.approx([length - DX / 2, 0.01], abs=1e-12)
    assert np.allclose(analysis.crack_tip(pos, damage, (0.0, 0.01), DX, direction=(1, 0)), tip)
    assert np.allclose(analysis.crack_bands(pos, damage, 0.01, DX), [(0.00975, 0.01025)])
    assert analysis.crack_bands(pos, damage, 0.03, DX) == []
    # Far from every crack: nothing connected.
    assert analysis.crack_tip(pos, damage, (0.045, 0.002), DX) is None


def test_tip_along_direction_ignores_the_precrack_behind_the_start():
    # A pre-crack from the left edge to x = 25 mm, grown by a second segment to x = 35 mm: from the
    # notch tip, the farthest point is the left end of the pre-crack (25 mm away, against 10 mm);
    # along +x it is the grown tip.
    pos, damage = cracked_plate([((0.0, 0.01), (0.025, 0.01)), ((0.025, 0.01), (0.035, 0.01))])
    assert analysis.crack_tip(pos, damage, (0.025, 0.01), DX)[0] == pytest.approx(DX / 2)
    assert analysis.crack_tip(pos, damage, (0.025, 0.01), DX,
                              direction=(1, 0)) == pytest.approx([0.035 - DX / 2, 0.01])


def test_two_separate_bands_on_a_vertical_line():
    pos, damage = cracked_plate([((0.0, 0.005), (0.04, 0.005)), ((0.0, 0.015), (0.04, 0.015))])
    bands = analysis.crack_bands(pos, damage, 0.02, DX)
    assert np.allclose(bands, [(0.00475, 0.00525), (0.01475, 0.01525)])
    # On a cell face the line takes both neighbouring columns: the same bands.
    assert np.allclose(analysis.crack_bands(pos, damage, 0.0200 + DX / 2, DX), bands)


def y_crack(half_angle_deg: float, junction=(0.02, 0.02), size=(0.06, 0.04), shift=0.0):
    """A stem along y = 20 mm from the left edge to ``junction`` and two straight arms to x = 50 mm at
    +-half_angle; ``shift`` moves the upper arm up (m)."""
    t = math.tan(math.radians(half_angle_deg))
    x0, y0 = junction
    run = 0.05 - x0
    return cracked_plate([((0.0, y0), (x0, y0)),
                          ((x0, y0 + shift), (0.05, y0 + shift + run * t)),
                          ((x0, y0), (0.05, y0 - run * t))], size=size)


@pytest.mark.parametrize("half_angle", [15.0, 25.0])
def test_branching_point_and_angle_of_a_y_crack(half_angle):
    pos, damage = y_crack(half_angle)
    found = analysis.branching(pos, damage, (0.0, 0.02), DX, direction=(1, 0))
    assert found is not None
    # Junction from the intersection of the fitted branch lines: within one spacing of (20, 20) mm
    # (the band centres are particle rows, off the true lines by up to dx/2).
    assert np.linalg.norm(found.point - [0.02, 0.02]) <= DX
    # The two arms only become separate bands (one uncracked row between them) downstream.
    assert found.separation[0] > 0.02
    # Angle between the fitted lines: 2 x half-angle within 1.5 degrees (rows quantise the band
    # centres by dx/2 over a 5 mm fit: atan(0.25/5) = 2.9 degrees at worst per branch, less on average).
    assert found.angle == pytest.approx(2 * half_angle, abs=1.5)
    profile = analysis.branch_count(pos, damage, (0.0, 0.02), DX, direction=(1, 0))
    assert set(profile.counts[profile.distances < 0.0195]) == {1}
    assert set(profile.counts[(profile.distances > 0.03) & (profile.distances < 0.0495)]) == {2}


def test_no_branching_on_a_straight_crack_or_a_short_fork():
    pos, damage = cracked_plate([((0.0, 0.01), (0.04, 0.01))])
    assert analysis.branching(pos, damage, (0.0, 0.01), DX, direction=(1, 0)) is None
    # A side crack 6 mm long at 45 degrees, a separate band over only 4 stations (the first 2.5 mm
    # it shares the main crack's band), is not a branch under the 10-spacing minimum, but is one when
    # the minimum is 2 spacings; the junction is then its root (20, 10) mm.
    # The side crack starts a quarter spacing off the lattice corner: a 45-degree line through a
    # corner runs through particle centres, and particles on a crack line are never detached.
    root = (0.02 + DX / 4, 0.01)
    side_end = (root[0] + 0.006 * math.cos(math.pi / 4), root[1] + 0.006 * math.sin(math.pi / 4))
    pos, damage = cracked_plate([((0.0, 0.01), (0.04, 0.01)), (root, side_end)])
    assert analysis.branching(pos, damage, (0.0, 0.01), DX, direction=(1, 0)) is None
    fork = analysis.branching(pos, damage, (0.0, 0.01), DX, direction=(1, 0), min_length=2 * DX)
    # The junction is where lines fitted to the two branches meet: the side branch is 12 spacings
    # long and three rows wide, which puts that point within 2 spacings of the root (1.75 here).
    assert np.linalg.norm(fork.point - root) <= 2 * DX


@pytest.mark.parametrize("sign", [1, -1])
def test_crack_angle_of_a_crack_at_70_degrees(sign):
    # A notch along +x ending at the tip, and a crack leaving the tip at 70 degrees up (sign = 1) or
    # down (sign = -1); fit between 2 horizons and 25 mm as for Kalthoff-Winkler.
    angle = math.radians(70.0)
    y0 = 0.005 if sign > 0 else 0.035
    tip = (0.02, y0)
    end = (0.02 + 0.03 * math.cos(angle), y0 + sign * 0.03 * math.sin(angle))
    pos, damage = cracked_plate([((0.0, y0), tip), (tip, end)], size=(0.05, 0.04))
    horizon = 3 * DX
    measured = analysis.crack_angle(pos, damage, tip, (1, 0), 2 * horizon, 0.025, spacing=DX)
    # The lattice rows along the crack scatter about its line by about dx/2 over 22 mm: well
    # under half a degree.
    assert measured == pytest.approx(sign * 70.0, abs=0.5)
    # Only the side the crack is on holds particles.
    assert analysis.crack_angle(pos, damage, tip, (1, 0), 2 * horizon, 0.025, spacing=DX,
                                side=sign) == pytest.approx(measured)
    with pytest.raises(ValueError):
        analysis.crack_angle(pos, damage, tip, (1, 0), 2 * horizon, 0.025, spacing=DX, side=-sign)
    # Without dropping what lies behind the tip, the notch pulls the fit away from 70 degrees.
    assert abs(analysis.crack_angle(pos, damage, tip, (1, 0), 2 * horizon, 0.025, spacing=DX,
                                    behind=True) - sign * 70.0) > 5.0


def test_mirror_asymmetry_of_symmetric_and_shifted_fields():
    pos, damage = y_crack(15.0)
    assert analysis.mirror_asymmetry(pos, damage, 0.02) < 1e-12
    # A straight crack 2 mm above the mirror line: its rows sit 2 x 2 mm from their images.
    pos, damage = cracked_plate([((0.0, 0.012), (0.03, 0.012))])
    assert analysis.mirror_asymmetry(pos, damage, 0.01) == pytest.approx(0.004, abs=1e-12)
    # The upper arm of a Y moved up by 1 mm: a particle of that arm lies 1 mm cos(15 deg) = 0.97 mm
    # from the mirrored lower arm's line; the lattice rows move the nearest particle by up to
    # dx/2 either way.
    pos, damage = y_crack(15.0, shift=0.001)
    assert analysis.mirror_asymmetry(pos, damage, 0.02) == pytest.approx(
        0.001 * math.cos(math.radians(15.0)), abs=DX / 2)


def test_tip_history_and_speed_from_an_output_file(tmp_path):
    # Snapshots of a crack growing at a known speed, written through the real writer: 1 us apart,
    # 1500 m/s = 3 spacings per snapshot, so every tip lands on the lattice exactly.
    speed, interval, a0 = 1500.0, 1.0e-6, 0.01
    path = tmp_path / "growing.h5"
    models = []
    for k in range(6):
        length = a0 + speed * interval * k
        models.append(model_from(plate_raw([((0.0, 0.01), (length, 0.01))])))
    first = models[0]
    zeros = np.zeros((first.particle_count, 2))
    with SnapshotWriter(path, first, "synthetic", "serial") as writer:
        for k, model in enumerate(models):
            writer.write(10 * k, k * interval,
                         {"displacement": zeros, "velocity": zeros, "damage": damage_of(model)},
                         bond_state=pack(model.offsets, model.initial_intact, model.max_bonds))
    times, tips = analysis.tip_history(path, start=(a0, 0.01), direction=(1, 0))
    assert times == pytest.approx(np.arange(6) * interval)
    assert tips[:, 0] == pytest.approx(a0 - DX / 2 + speed * times, abs=1e-12)
    mid, speeds = analysis.crack_speed(times, tips)
    assert mid == pytest.approx((np.arange(5) + 0.5) * interval)
    assert speeds == pytest.approx(np.full(5, speed), rel=1e-9)
    assert analysis.crack_speed(times, tips, window=3,
                                direction=(1, 0))[1] == pytest.approx(np.full(3, speed), rel=1e-9)
    assert analysis.mean_crack_speed(times, tips, 0.0, 5 * interval) == pytest.approx(speed, rel=1e-9)
    # Bonds broken since the first snapshot: those the longer cracks cut, once per pair.
    steps, _, broken = analysis.broken_bonds(path)
    expected = [(np.count_nonzero(~m.initial_intact) - np.count_nonzero(~first.initial_intact)) // 2
                for m in models]
    assert list(steps) == [0, 10, 20, 30, 40, 50] and list(broken) == expected and broken[-1] > 0
    assert analysis.file_spacing(path) == DX
    assert analysis.branching_time(path, (a0, 0.01), direction=(1, 0)) is None


def test_speed_error_is_bounded_by_one_spacing_per_window():
    # A crack growing at 1234 m/s sampled every 1 us: the lattice tips differ from the exact ones by
    # less than one spacing, so a window of w intervals errs by less than dx / (w * 1 us).
    speed, interval = 1234.0, 1.0e-6
    times = np.arange(8) * interval
    exact = 0.01 + speed * times
    tips = np.stack([np.floor(exact / DX) * DX + DX / 2, np.full_like(exact, 0.01)], axis=1)
    for window in (1, 3):
        _, speeds = analysis.crack_speed(times, tips, window=window)
        assert np.all(np.abs(speeds - speed) < DX / (window * interval))


def test_branching_time_from_an_output_file(tmp_path):
    # Snapshot 0: the stem only; snapshot 1: the Y. Branching is first seen at t = 1 us.
    stem = model_from(plate_raw([((0.0, 0.02), (0.02, 0.02))], size=(0.06, 0.04)))
    t = math.tan(math.radians(15.0))
    full = model_from(plate_raw([((0.0, 0.02), (0.02, 0.02)), ((0.02, 0.02), (0.05, 0.02 + 0.03 * t)),
                                 ((0.02, 0.02), (0.05, 0.02 - 0.03 * t))], size=(0.06, 0.04)))
    path = tmp_path / "branch.h5"
    zeros = np.zeros((stem.particle_count, 2))
    with SnapshotWriter(path, stem, "synthetic", "serial") as writer:
        for k, model in enumerate((stem, full)):
            writer.write(k, k * 1.0e-6, {"displacement": zeros, "velocity": zeros,
                                         "damage": damage_of(model)})
    time, found = analysis.branching_time(path, (0.0, 0.02), direction=(1, 0))
    assert time == 1.0e-6
    assert np.linalg.norm(found.point - [0.02, 0.02]) <= DX
