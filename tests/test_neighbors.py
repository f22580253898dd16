"""Neighbour search against an O(N^2) all-pairs oracle, and the known lattice bond counts."""
import numpy as np
import pytest

from pdgeneral.case.schema import Box
from pdgeneral.geometry import lattice
from pdgeneral.neighbors import find_neighbors


def all_pairs(points, horizon):
    d = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)
    return [sorted(np.nonzero((row <= horizon) & (np.arange(len(points)) != i))[0])
            for i, row in enumerate(d)]


@pytest.mark.parametrize("dim", [2, 3])
def test_cell_list_matches_all_pairs_on_random_points(dim):
    rng = np.random.default_rng(dim)
    points = rng.uniform(0.0, 1.0, size=(400, dim)) * np.array([1.0, 0.6, 0.4][:dim])
    offsets, neighbors = find_neighbors(points, 0.17)
    expected = all_pairs(points, 0.17)
    for i in range(len(points)):
        row = neighbors[offsets[i]:offsets[i + 1]]
        assert list(row) == expected[i]  # same set, ascending order


@pytest.mark.parametrize("dim, expected", [(2, 28), (3, 122)])
def test_interior_bond_count_at_3015_spacings(dim, expected):
    box = Box(min=[0.0] * dim, max=[1.0] * dim)
    points = lattice(box, 0.1)
    offsets, _ = find_neighbors(points, 0.3015)
    counts = np.diff(offsets)
    centre = np.all(np.abs(points - 0.5) < 0.2, axis=1)
    assert counts.max() == expected
    assert np.all(counts[centre] == expected)


def test_horizon_on_a_lattice_shell_includes_it():
    # horizon = 3 dx exactly: the shell at distance 3 dx belongs to the family whatever the rounding.
    points = lattice(Box(min=[0.0, 0.0], max=[0.07, 0.07]), 0.01)
    offsets, _ = find_neighbors(points, 0.03)
    assert np.diff(offsets).max() == 28  # 29 lattice points with i^2 + j^2 <= 9, minus the centre


@pytest.mark.parametrize("spacing, horizon", [(2e-3 / 3, 2e-3), (0.5e-3, 1.5e-3)])
def test_no_bond_lost_when_the_horizon_is_a_whole_number_of_spacings(spacing, horizon):
    # Cells exactly one horizon wide put some pairs at distance 3 dx two cells apart, and their
    # bonds were dropped (1,793 particles one bond short for the first configuration).
    points = lattice(Box(min=[0.0, 0.0], max=[60 * spacing, 40 * spacing]), spacing)
    offsets, neighbors = find_neighbors(points, horizon)
    expected = all_pairs(points, horizon * (1 + 1e-10))
    for i in range(len(points)):
        assert list(neighbors[offsets[i]:offsets[i + 1]]) == expected[i]
    counts = np.diff(offsets)
    interior = np.all((points > 4 * spacing) & (points < points.max(axis=0) - 3 * spacing), axis=1)
    assert np.all(counts[interior] == 28)


def test_lattice_cell_centres_and_order():
    points = lattice(Box(min=[0.0, 0.0], max=[0.3, 0.2]), 0.1)
    assert points.shape == (6, 2)
    np.testing.assert_allclose(points[0], [0.05, 0.05])
    np.testing.assert_allclose(points[1], [0.15, 0.05])   # x fastest
    np.testing.assert_allclose(points[-1], [0.25, 0.15])
