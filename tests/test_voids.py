"""No bond through a void (discretization.bonds_through_voids): the cells each stencil vector
crosses, and the bonds a holed or concave body does not make, against shapely's geometry of the
body's cells."""
import numpy as np
import pytest
import shapely
from conftest import BASE_2D, case_from, merge, model_from

from pdgeneral import stencil
from pdgeneral.geometry.lattice import lattice_counts
from pdgeneral.geometry.shapes import body_bounds, body_particles

SLOT = {"box": {"min": [0.015, 0.0], "max": [0.0162, 0.012]}}   # one particle column, 12 rows
L_POINTS = [[0.0, 0.0], [0.04, 0.0], [0.04, 0.008], [0.016, 0.008], [0.016, 0.02], [0.0, 0.02]]


def test_the_cells_a_bond_crosses():
    first, cells = stencil.crossed_cells(np.array([[3, 0], [2, 1], [2, 2], [1, 1], [-2, 1], [1, 0]]))
    listed = [sorted(map(tuple, cells[first[k]:first[k + 1]].tolist())) for k in range(6)]
    assert listed == [[(1, 0), (2, 0)],            # along a row: the cells between
                      [(1, 0), (1, 1)],            # y = x/2 changes cell at x = 1
                      [(1, 1)],                    # a diagonal touches (1, 0), (0, 1) at a corner
                      [],
                      [(-1, 0), (-1, 1)],
                      []]
    first, cells = stencil.crossed_cells(np.array([[2, 1, 1]]))
    assert sorted(map(tuple, cells.tolist())) == [(1, 0, 0), (1, 1, 1)]   # corners and edges only


def shapely_through_voids(raw: dict, model) -> set[tuple[int, int]]:
    """The bonds of the body made with bonds_through_voids: keep whose segment runs outside the
    union of the body's cells (squares of one spacing about each particle) over a positive length."""
    dx = raw["discretization"]["spacing"]
    body = shapely.union_all(shapely.box(model.positions[:, 0] - dx / 2, model.positions[:, 1] - dx / 2,
                                         model.positions[:, 0] + dx / 2, model.positions[:, 1] + dx / 2))
    i = np.repeat(np.arange(model.particle_count), np.diff(model.offsets))
    j = model.neighbors
    lines = shapely.linestrings(np.stack([model.positions[i], model.positions[j]], axis=1))
    outside = shapely.length(shapely.difference(lines, body)) > 1e-9 * dx
    return set(zip(i[outside].tolist(), j[outside].tolist(), strict=True))


def bond_set(model) -> set[tuple[int, int]]:
    i = np.repeat(np.arange(model.particle_count), np.diff(model.offsets))
    return set(zip(i.tolist(), model.neighbors.tolist(), strict=True))


@pytest.mark.parametrize("geometry", [
    {"holes": [SLOT]},
    {"box": None, "polygon": {"points": L_POINTS}},
    {"holes": [{"circle": {"center": [0.02, 0.01], "radius": 0.004}}]},
], ids=["slot", "l-shape", "circular-hole"])
def test_the_bonds_not_made_are_those_that_leave_the_body(geometry):
    raw_keep = merge(BASE_2D, {"geometry": geometry,
                               "discretization": {"bonds_through_voids": "keep"}})
    kept = model_from(raw_keep)
    cut = model_from(merge(raw_keep, {"discretization": {"bonds_through_voids": "cut"}}))
    expected = shapely_through_voids(raw_keep, kept)
    assert len(expected) > 0 and len(expected) % 2 == 0
    assert bond_set(kept) - bond_set(cut) == expected
    assert bond_set(cut) <= bond_set(kept)
    assert cut.void_bond_count == len(expected) and kept.void_bond_count == 0
    assert np.array_equal(kept.positions, cut.positions)


def test_a_slot_narrower_than_the_horizon_separates_its_faces():
    model = model_from(merge(BASE_2D, {"geometry": {"holes": [SLOT]}}))
    x = model.positions
    i = np.repeat(np.arange(model.particle_count), np.diff(model.offsets))
    xi, xj = x[i], x[model.neighbors]
    across = ((xi[:, 0] < 0.015) & (xj[:, 0] > 0.0162)) | ((xj[:, 0] < 0.015) & (xi[:, 0] > 0.0162))
    below_tip = np.maximum(xi[:, 1], xj[:, 1]) < 0.012
    assert not np.any(across & below_tip)   # no bond joins the faces
    assert np.any(across & ~below_tip)      # past the tip the body is whole


def test_only_rows_that_miss_a_neighbour_need_the_search():
    """bonds_through_voids searches the rows that miss a stencil neighbour; searching every row
    gives the same bonds (2D and 3D stencils)."""
    from test_dynamics import THREE_D
    cube = {"min": [0.0, 0.0, 0.0], "max": [0.012, 0.012, 0.012]}
    slot_3d = {"box": {"min": [0.006, 0.0, 0.008], "max": [0.007, 0.006, 0.012]}}
    for raw in (merge(BASE_2D, {"geometry": {"holes": [SLOT]}}),
                merge(THREE_D, {"geometry": {"box": cube, "holes": [slot_3d]}})):
        case = case_from(raw)
        dim = case.dimension
        spacing = case.discretization.spacing
        _, kept, counts = body_particles(case.geometry, spacing)
        index = np.stack([(kept // int(np.prod(counts[:d]))) % counts[d] for d in range(dim)],
                         axis=1)
        bonds, offsets, neighbors, slots = stencil.lattice_bonds(index, kept, counts, case.horizon,
                                                                 spacing)
        whole = np.diff(offsets) == bonds.vectors.shape[0]
        args = (bonds, index, kept, counts, offsets, neighbors, slots, case.horizon, spacing)
        searched = stencil.bonds_through_voids(*args)
        everywhere = stencil.bonds_through_voids(*args, search_all=True)
        assert searched.sum() > 0 and 0 < whole.sum() < whole.size
        assert np.array_equal(searched, everywhere)
        assert np.array_equal(lattice_counts(body_bounds(case.geometry), spacing), counts)


def test_a_3d_slot_separates_its_faces():
    from test_dynamics import THREE_D
    raw = merge(THREE_D, {"geometry": {"holes": [{"box": {"min": [0.004, 0.0, 0.0],
                                                          "max": [0.005, 0.004, 0.005]}}]}})
    model = model_from(raw)   # the slot removes the column x = 4.5 mm below y = 4 mm
    x = model.positions
    i = np.repeat(np.arange(model.particle_count), np.diff(model.offsets))
    xi, xj = x[i], x[model.neighbors]
    across = (np.minimum(xi[:, 0], xj[:, 0]) < 0.0045) & (np.maximum(xi[:, 0], xj[:, 0]) > 0.0045)
    assert model.void_bond_count > 0
    assert not np.any(across & (np.maximum(xi[:, 1], xj[:, 1]) < 0.004))
    assert np.any(across)
    assert bond_set(model) == {(j, i) for i, j in bond_set(model)}   # both ends of every bond


def test_an_output_written_before_the_key_resumes_only_with_the_bonds_it_had():
    """--resume compares the case with the one the output recorded: a file written before
    bonds_through_voids existed made every bond (keep). It resumes with keep; with cut, the
    message names the key and why."""
    from pdgeneral.io.hdf5 import case_differences
    raw = merge(BASE_2D, {"geometry": {"holes": [SLOT]}})
    cut = case_from(raw).model_dump(mode="json")
    keep = case_from(merge(raw, {"discretization": {"bonds_through_voids": "keep"}})).model_dump(
        mode="json")
    old = {**cut, "discretization": {k: v for k, v in cut["discretization"].items()
                                     if k != "bonds_through_voids"}}
    assert case_differences(old, keep) == []
    assert case_differences(old, cut) == [("discretization.bonds_through_voids",
                                           "keep (the file predates the key)", "cut")]
    assert case_differences(cut, cut) == [] and case_differences(keep, cut) != []
