"""Histories (io/history.py): energies, reactions and load curves against independent numbers."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import BASE_2D, case_from, merge

from pdgeneral import backends
from pdgeneral.io.history import History
from pdgeneral.model import build_model, time_stepping
from pdgeneral.solvers import run_explicit, run_quasi_static

E = 72.0e9
THICKNESS = 1.0e-3

HEIGHT = 0.02
GRIPS = {"left": {"box": {"min": [0.0, 0.0], "max": [0.0025, HEIGHT]}},
         "right": {"box": {"min": [0.0575, 0.0], "max": [0.06, HEIGHT]}}}
#: A strip pulled apart by its grips at 0.5 m/s each (ramped over 2 us), the grips never breaking:
#: the set-up of the energy balances through fracture (here and tests/test_lps.py).
GRIP_PULL = {
    "geometry": {"box": {"min": [0.0, 0.0], "max": [0.06, 0.01]}},
    "regions": GRIPS,
    "boundary_conditions": [
        {"region": "left", "type": "velocity", "value": [-0.5, None], "ramp_time": 2e-6},
        {"region": "right", "type": "velocity", "value": [0.5, None], "ramp_time": 2e-6}],
    "no_fail": ["left", "right"]}


def recorded(raw: dict, backend: str = "serial", every: int = 10, velocity=None,
             steps: int | None = None, state: bool = False):
    """Run a case through the solvers with a History (no output file); its rows as arrays (and,
    with ``state``, the model and the final displacement (N, dim)).
    ``velocity``: a function of the positions (N, dim) giving an initial velocity field."""
    model = build_model(case_from(raw))
    engine = backends.create(backend, model)
    engine.warm_up(model.case.solver.type)
    history = History(model, engine, every, quasi_static=model.case.solver.type != "explicit")
    if velocity is not None:
        engine.load_state(np.zeros((model.particle_count, model.dimension)),
                          velocity(model.positions), engine.bond_bits())
    if model.case.solver.type == "explicit":
        dt, total = time_stepping(model)
        run_explicit(engine, None, steps or total, dt, 10**9, history=history)
    else:
        solver = model.case.solver
        run_quasi_static(engine, None, solver.load_steps, solver.tolerance, solver.max_iterations,
                         history=history)
    if state:
        return history.arrays(), model, engine.fields()["displacement"]
    return history.arrays()


def test_free_vibration_keeps_kinetic_plus_strain_energy():
    """A free plate given the velocity of its first longitudinal mode, nothing breaking: kinetic +
    strain energy constant to 1e-4 over 2000 steps, while both exchange most of it. Velocity
    Verlet's energy error is of second order in the time step (it conserves a shadow energy):
    halving the step divides the oscillation by about 4, and at 0.3 of the stable step it is
    below 1e-4 (at the default 0.8, about 5e-4)."""
    amplitude = 0.01   # m/s: strains of about 1e-6, far below breaking

    def mode(x):
        v = np.zeros_like(x)
        v[:, 0] = amplitude * np.cos(np.pi * x[:, 0] / 0.06)
        return v

    errors = {}
    for safety in (0.6, 0.3):
        raw = merge(BASE_2D, {"geometry": {"box": {"min": [0, 0], "max": [0.06, 0.01]}},
                              "solver": {"steps": 2000, "safety_factor": safety}})
        h = recorded(raw, velocity=mode)
        total = h["kinetic_energy"] + h["strain_energy"]
        assert h["step"][-1] == 2000 and len(h["step"]) == 201
        assert h["strain_energy"].max() > 0.5 * total[0]   # the energy really moves between the two
        assert np.all(h["external_work"] == 0) and np.all(h["dissipated_energy"] == 0)
        assert np.all(h["broken_bonds"] == 0)
        errors[safety] = np.abs(total / total[0] - 1).max()
    assert errors[0.3] < 1e-4
    assert 3.0 < errors[0.6] / errors[0.3] < 5.0   # measured 4.0 (docs/theory.md, sec. 11)


def stretched(load_steps: int = 4) -> dict:
    return merge(BASE_2D, {
        "geometry": {"box": {"min": [0.0, 0.0], "max": [0.06, HEIGHT]}},
        "regions": GRIPS,
        "boundary_conditions": [{"region": "left", "type": "displacement", "value": [0.0, None]},
                                {"region": "right", "type": "displacement",
                                 "value": [1.0e-6, None]}],
        "no_fail": ["left", "right"],
        "solver": {"type": "quasi_static", "steps": None, "load_steps": load_steps,
                   "tolerance": 1e-8, "max_iterations": 100000}})


def test_quasi_static_reaction_is_e_strain_area_and_grips_balance():
    """A plate stretched by its grips (plane stress): the grip's reaction is E eps A within 2 %
    (eps measured in the middle, where the stress is uniform),
    the two grips' reactions are equal and opposite within 0.5 %, and the elastic body stores the
    work its grips did."""
    h, model, displacement = recorded(stretched(), state=True)
    left = h["regions/left/reaction_force"][-1]
    right = h["regions/right/reaction_force"][-1]
    # the strain where the stress is uniform: the slope of u_x over the middle third
    x = model.positions[:, 0]
    middle = (x > 0.02) & (x < 0.04)
    strain = np.polyfit(x[middle], displacement[middle, 0], 1)[0]
    # (1.3 % above it here, 2.9 % in a plate half as tall: the surfaces' share, as delta / height)
    expected = E * strain * HEIGHT * THICKNESS
    assert right[0] == pytest.approx(expected, rel=0.02)
    assert left[0] == pytest.approx(-right[0], rel=0.005)
    assert abs(right[1]) < 1e-6 * abs(right[0])
    # linear elastic: the reaction grows with the load factor, and W = 1/2 F u at every step
    assert np.allclose(h["regions/right/reaction_force"][:, 0], right[0] * h["time"], rtol=1e-4)
    assert h["strain_energy"][-1] == pytest.approx(h["external_work"][-1], rel=1e-3)
    assert h["kinetic_energy"].max() == 0.0


def test_grip_pull_balances_energy_with_breaking():
    """Explicit, grips pulled at constant speed through fracture: kinetic + strain + dissipated
    energy equals the work the grips did (within 2 % of it), with thousands of bonds broken."""
    raw = merge(BASE_2D, {**GRIP_PULL, "solver": {"steps": 600}})
    h = recorded(raw)
    balance = h["kinetic_energy"] + h["strain_energy"] + h["dissipated_energy"]
    assert h["broken_bonds"][-1] > 500
    assert h["dissipated_energy"][-1] > 0.1 * h["external_work"][-1]
    assert np.abs(balance - h["external_work"]).max() < 0.02 * h["external_work"][-1]


#: A small plate torn apart by its grips within a few dozen steps: every history term is non-zero.
SMALL_PULL = merge(BASE_2D, {
    "geometry": {"box": {"min": [0.0, 0.0], "max": [0.016, 0.006]}},
    "regions": {"left": {"box": {"min": [0.0, 0.0], "max": [0.0015, 0.006]}},
                "right": {"box": {"min": [0.0145, 0.0], "max": [0.016, 0.006]}}},
    "boundary_conditions": [{"region": "left", "type": "velocity", "value": [-2.0, None]},
                            {"region": "right", "type": "velocity", "value": [2.0, None]}]})


def test_backends_record_the_same_history():
    """serial == parallel bit for bit; the GPU (here its simulator) within rounding."""
    raw = merge(SMALL_PULL, {"solver": {"steps": 30}})
    serial = recorded(raw, "serial", every=5)
    parallel = recorded(raw, "parallel", every=5)
    assert serial["broken_bonds"][-1] > 0       # through breaking
    for key in serial:
        assert np.array_equal(serial[key], parallel[key]), key
    # the GPU records the rows inside its chunks of steps (the row's step is one kernel that also
    # does the next kick and drift); the CPU ends a chunk at each row
    cuda = recorded(raw, "cuda", every=5)
    # (the grips' reactions are zero here: the bonds at the grips break in the first steps)
    grips = [key for key in serial if key.startswith("regions/") and key.endswith("displacement")]
    assert grips
    for key in ("kinetic_energy", "strain_energy", "external_work", *grips):
        scale = np.abs(serial[key]).max()
        assert np.allclose(cuda[key], serial[key], rtol=1e-10, atol=1e-12 * scale), key
    assert np.array_equal(cuda["step"], serial["step"])
    assert np.array_equal(cuda["broken_bonds"], serial["broken_bonds"])


def test_strain_energy_density_of_a_uniform_strain():
    """An interior particle under a uniaxial strain eps (u_x = eps x) holds W = 1/2 C11 eps^2,
    C11 = E / (1 - nu^2) = 9 E / 8 for the plane-stress PMB (nu = 1/3)."""
    model = build_model(case_from(merge(BASE_2D, {"geometry": {"box": {"min": [0, 0],
                                                                        "max": [0.03, 0.03]}}})))
    engine = backends.create("serial", model)
    eps = 1e-4
    u = np.zeros((model.particle_count, 2))
    u[:, 0] = eps * model.positions[:, 0]
    engine.load_state(u, np.zeros_like(u), engine.bond_bits())
    engine.compute_energy()
    centre = np.argmin(((model.positions - 0.015) ** 2).sum(axis=1))
    density = engine.download(engine.arrays.energy_density)
    assert density[centre] == pytest.approx(0.5 * 9 * E / 8 * eps**2, rel=1e-3)


# Through run_case and the output file -------------------------------------------------------------

def fracture_case(**output):
    from test_dynamics import FRACTURE_2D
    return merge(FRACTURE_2D, {"solver": {"end_time": None, "steps": 120},
                               "output": {"every": 25, "history_every": 10, **output}})


def assert_same_history(a, b):
    from pdgeneral.io.history import read_history
    first, second = read_history(a), read_history(b)
    assert sorted(first) == sorted(second)
    for key in first:
        assert np.array_equal(first[key], second[key]), key


@pytest.mark.parametrize("cut", [65, 60])
def test_resumed_history_equals_the_uninterrupted_one(tmp_path, cut):
    """Stopped at a step that is (60) or is not (65) a regular row, then resumed to the end: the
    history equals the uninterrupted run's row for row, bit for bit, through prescribed motions,
    a ramped load and breaking bonds."""
    from pdgeneral.api import run_case
    from pdgeneral.io.history import read_history
    raw = fracture_case()
    full = run_case(case_from(raw), backend="serial", output=tmp_path / "full.h5")
    run_case(case_from(raw), backend="serial", output=tmp_path / "cut.h5", steps=cut)
    cut_rows = read_history(tmp_path / "cut.h5")["step"]
    assert cut_rows[-1] == cut
    run_case(case_from(raw), backend="serial", output=tmp_path / "cut.h5", resume=True)
    assert_same_history(full.output, tmp_path / "cut.h5")
    history = read_history(full.output)
    assert list(history["step"]) == list(range(0, 121, 10))
    assert history["broken_bonds"][-1] > 0 and history["external_work"][-1] > 0
    assert history["regions/right/reaction_force"].shape == (13, 2)


def test_resumed_history_from_a_checkpoint_after_sigkill_like_stop(tmp_path):
    """A run whose last restart point is a checkpoint between snapshots (checkpoint_every 30):
    resumed from it, the history is the uninterrupted one's."""
    from pdgeneral.api import run_case
    raw = fracture_case(every=1000, checkpoint_every=30)
    full = run_case(case_from(raw), backend="serial", output=tmp_path / "full.h5")
    run_case(case_from(raw), backend="serial", output=tmp_path / "cut.h5", steps=95)
    run_case(case_from(raw), backend="serial", output=tmp_path / "cut.h5", resume=True)
    assert_same_history(full.output, tmp_path / "cut.h5")


def test_quasi_static_resumed_history(tmp_path):
    from pdgeneral.api import run_case
    raw = stretched(load_steps=4)
    full = run_case(case_from(raw), backend="serial", output=tmp_path / "full.h5")
    run_case(case_from(raw), backend="serial", output=tmp_path / "cut.h5", steps=2)
    run_case(case_from(raw), backend="serial", output=tmp_path / "cut.h5", resume=True)
    assert_same_history(full.output, tmp_path / "cut.h5")


def test_history_commands_and_strain_energy_field(tmp_path):
    """`pdgeneral history` prints and exports the table, `plot --history` draws it, `plot
    --animate` writes a GIF of every snapshot, and output.fields adds the strain energy density."""
    import csv

    import h5py
    from click.testing import CliRunner
    from PIL import Image

    from pdgeneral.api import run_case
    from pdgeneral.cli import main
    from pdgeneral.io import read_snapshot
    raw = fracture_case(fields=["displacement", "velocity", "damage", "strain_energy_density"])
    out = run_case(case_from(raw), backend="serial", output=tmp_path / "run.h5").output
    runner = CliRunner()
    printed = runner.invoke(main, ["history", out])
    assert printed.exit_code == 0, printed.output
    lines = printed.output.splitlines()
    assert "kinetic_energy" in lines[0] and "right.reaction_force_x" in lines[0]
    assert "(J)" in lines[1] and "(N)" in lines[1]
    assert len(lines) == 2 + 13
    exported = runner.invoke(main, ["history", out, "--csv", str(tmp_path / "h.csv")])
    assert exported.exit_code == 0, exported.output
    with open(tmp_path / "h.csv") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:3] == ["step", "time (s)", "kinetic_energy (J)"] and len(rows) == 14
    assert float(rows[-1][0]) == 120
    drawn = runner.invoke(main, ["plot", out, "--history", "-o", str(tmp_path / "h.png")])
    assert drawn.exit_code == 0, drawn.output
    assert (tmp_path / "h.png").stat().st_size > 10_000
    animated = runner.invoke(main, ["plot", out, "--animate", "-o", str(tmp_path / "crack.gif")])
    assert animated.exit_code == 0, animated.output
    with Image.open(tmp_path / "crack.gif") as gif:
        assert gif.n_frames == 6          # snapshots 0, 25, 50, 75, 100, 120
    refused = runner.invoke(main, ["plot", out, "--animate", "-o", str(tmp_path / "crack.avi")])
    assert refused.exit_code == 2 and ".gif or .mp4" in refused.output
    # the optional field, in the snapshot and the XDMF, equals what the energy pass gives
    snap = read_snapshot(out)
    with h5py.File(out) as f:
        density = f["steps/00000120/strain_energy_density"][...]
    assert density.shape == (snap["position"].shape[0],) and density.max() > 0
    assert "strain_energy_density" in (tmp_path / "run.xdmf").read_text()
    total = float(np.sum(density.astype(np.float64) * 0.001 ** 2 * 1e-3))
    from pdgeneral.io.history import read_history
    assert total == pytest.approx(read_history(out)["strain_energy"][-1], rel=1e-6)


def test_the_load_curve_example_of_the_api_document_runs(tmp_path, monkeypatch):
    """docs/api.md's "A load curve" block, as written, on the shipped case."""
    import re
    from pathlib import Path
    root = Path(__file__).parent.parent
    code = re.findall(r"```python\n(.*?)```", (root / "docs/api.md").read_text(), re.DOTALL)[1]
    assert "read_history" in code
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "tension_to_failure_2d.yaml").write_text(
        (root / "cases/tension_to_failure_2d.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "docs/api.md", "exec"), namespace)  # noqa: S102 - our own documentation
    h = namespace["h"]
    assert namespace["force"].max() > 10.0 and h["broken_bonds"][-1] > 100
    assert np.abs(namespace["balance"]).max() < 0.02 * h["external_work"][-1]


def test_gpu_history_steps_change_no_bit_and_match_the_energy_pass():
    """On the GPU the steps that end with a history row take a force kernel that also sums the
    bonds' energy terms (kernels.pmb.RECORD_ENERGY): the run's fields are the same bits as without
    a history, and its energies those of the separate energy pass within rounding."""
    raw = merge(SMALL_PULL, {"solver": {"steps": 20}})
    model = build_model(case_from(raw))
    dt, steps = time_stepping(model)
    states = []
    for every in (None, 5):
        engine = backends.create("cuda", model)
        engine.warm_up("explicit")
        history = History(model, engine, every) if every else None
        run_explicit(engine, None, steps, dt, 10**9, history=history)
        fields = engine.fields()
        states.append((fields["displacement"], fields["velocity"], engine.bond_bits()))
    for a, b in zip(*states, strict=True):
        assert np.array_equal(a, b)
    assert engine._energy_fresh                      # the last row came from the force kernel
    fused = history.arrays()
    engine._energy_fresh = False
    separate = engine.energy_totals()
    assert fused["strain_energy"][-1] == pytest.approx(separate[1], rel=1e-10)
    # the particle sums cover the free components; the grips' prescribed ones come from the
    # constraint entries (kernels.pmb.energy_term)
    free = fused["kinetic_energy"][-1] - fused["work/constrained_kinetic_energy"][-1]
    assert fused["work/constrained_kinetic_energy"][-1] > 0.0
    assert free == pytest.approx(separate[0], rel=1e-9)
    assert fused["broken_bonds"][-1] > 0


def test_gpu_energy_sums_over_several_reduction_levels_equal_the_cpu_ones(monkeypatch):
    """Sums over several levels of reduce_rows_kernel (prepared launches of one kernel with
    different grids) equal the CPU's. The simulator's ``kernel[grid, block]`` returns the kernel
    itself, so a launch that kept its configuration ran every level with the last level's grid
    (garbage totals, NaN at times). Blocks of 8 threads here (the simulator reads the module's
    constant when the kernels are built, and it is part of their key) give three levels on a
    small plate."""
    from pdgeneral.backends import cuda as cuda_backend
    monkeypatch.setattr(cuda_backend, "REDUCE_THREADS", 8)
    raw = merge(BASE_2D, {"regions": {"right": {"box": {"min": [0.0375, 0.0], "max": [0.04, 0.02]}}},
                          "boundary_conditions": [
                              {"region": "right", "type": "body_force", "value": [1.0e9, 0.0]}]})
    model = build_model(case_from(raw))
    assert model.particle_count > 8 ** 3
    velocity = np.sin(model.positions[:, :1] * 100.0) * np.array([1.0, -0.5])
    totals = []
    for backend in ("serial", "cuda"):
        engine = backends.create(backend, model)
        engine.load_state(np.zeros((model.particle_count, 2)), velocity, engine.bond_bits())
        totals.append(engine.energy_totals())
    serial, gpu = totals
    assert len(engine._reductions["energy", False]) == 3          # (the default stream's)
    assert gpu[3] == serial[3] > 0                                # intact bonds, exactly
    assert np.allclose(gpu, serial, rtol=1e-12, atol=0.0)


def test_gpu_exact_sums_of_narrow_rows_are_fsum_bit_for_bit():
    """The GPU's host-side exact sums of its last reduction level (CudaBackend._exact): rows of one
    or two numbers are added by numpy, wider ones by math.fsum; all are fsum's bits, signed zeros
    and cancellation included."""
    import math

    from pdgeneral.backends.cuda import CudaBackend
    rng = np.random.default_rng(7)
    for width in (1, 2, 3, 300):
        host = rng.normal(size=(9, width)) * 10.0 ** rng.integers(-20, 20, size=(9, width))
        host[0, :] = -0.0
        host[1, :] = 0.0
        if width == 2:
            host[2] = [1.0e16, 1.0]
            host[3] = [-0.0, 0.0]
            host[4] = [1.0e300, -1.0e300]
        expected = np.array([math.fsum(row) for row in host])
        assert CudaBackend._exact(host).tobytes() == expected.tobytes()
