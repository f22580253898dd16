"""Throughput benchmarks on fixed synthetic cases (never part of the tests).

Cases: a 2D plate (plane stress, horizon 3.015 dx, 28 bonds per interior particle) and a 3D block
(122 bonds per interior particle), no fracture (every bond is evaluated every step), energy surface
correction on; the first quarter of the body starts moving, which sends a wave through the rest.
Each run reports particle-steps/s, bond updates/s and, for the GPU, the effective memory bandwidth
(compulsory bytes per step, memory.step_traffic_bytes, times the step rate) against the device's
measured copy bandwidth."""
from __future__ import annotations

import datetime
import math
import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass

from . import __version__, backends
from .case import load_case_text
from .memory import step_traffic_bytes
from .model import build_model, time_stepping

#: The particle-steps of the run a benchmark stands for: a long one (the GPU then specializes its
#: unrolled force loop for the model, as backends/cuda.py does past SPECIALIZE_PARTICLE_STEPS).
LONG_RUN_PARTICLE_STEPS = 10**13

#: name -> (dimension, particles)
CASES = {
    "2d-1m": (2, 1_000_000), "2d-4m": (2, 4_000_000), "2d-16m": (2, 16_000_000),
    "3d-1m": (3, 1_000_000), "3d-8m": (3, 8_000_000),
}


def synthetic_case(dimension: int, particles: int, precision: str, material: str = "pmb") -> str:
    """YAML of a plate (2D, aspect 2:1) or cube (3D) of about ``particles`` particles, of PMB
    glass or (``material`` lps) an LPS with nu = 0.3."""
    spacing = 1.0e-4
    if dimension == 2:
        side = round(math.sqrt(particles / 2))
        extent = [2 * side * spacing, side * spacing]
        extra = "thickness: 1.0e-3\n"
    else:
        side = round(particles ** (1 / 3))
        extent = [side * spacing] * 3
        extra = ""
    zero = [0.0] * dimension
    velocity = [1.0, 0.5, 0.25][:dimension]
    quarter = [extent[0] / 4] + extent[1:]
    return f"""
name: bench-{dimension}d-{particles}
dimension: {dimension}
{extra}material: {{model: {material}, {"poissons_ratio: 0.3, " if material == "lps" else ""}youngs_modulus: 72.0e9, density: 2440.0, critical_stretch: .inf}}
discretization: {{spacing: {spacing}, horizon_factor: 3.015, surface_correction: energy}}
geometry: {{box: {{min: {zero}, max: {extent}}}}}
regions: {{moving: {{box: {{min: {zero}, max: {quarter}}}}}}}
boundary_conditions: [{{region: moving, type: initial_velocity, value: {velocity}}}]
solver: {{type: explicit, steps: 100}}
precision: {precision}
"""


@dataclass
class BenchResult:
    case: str
    backend: str
    precision: str
    particles: int
    bonds: int
    build_seconds: float
    setup_seconds: float
    steps: int
    seconds: float
    particle_steps_per_s: float
    bond_updates_per_s: float
    effective_bandwidth_gbs: float

    def line(self) -> str:
        return (f"{self.case:>7} {self.precision:>7} {self.backend:>8}: {self.particles:>10,} particles "
                f"{self.steps:>5} steps {self.seconds:8.3f} s  {self.particle_steps_per_s:9.3g} p-steps/s "
                f"{self.bond_updates_per_s:9.3g} bonds/s  {self.effective_bandwidth_gbs:7.1f} GB/s  "
                f"(build {self.build_seconds:.1f} s, set-up {self.setup_seconds:.1f} s)")


def time_backend(model, backend: str, steps: int) -> tuple[float, float, float]:
    """(set-up seconds including compilation, seconds for ``steps`` explicit steps, fraction of
    particles with explicit bond rows)."""
    started = time.perf_counter()
    # the throughput of a long run: the backend builds its loops as for one (backends.create)
    engine = backends.create(backend, model, steps=LONG_RUN_PARTICLE_STEPS // model.particle_count)
    engine.warm_up("explicit")
    engine.compute_forces()
    engine.synchronize()
    setup = time.perf_counter() - started
    dt, _ = time_stepping(model)
    engine.advance(0, 1, dt)  # first step outside the timing
    engine.synchronize()
    started = time.perf_counter()
    engine.advance(1, steps, dt)
    engine.synchronize()
    explicit = engine.rows.explicit.shape[0] / model.particle_count
    return setup, time.perf_counter() - started, explicit


def run_benchmarks(case_names, backend_names, precisions, steps: int, report=print,
                   material: str = "pmb") -> list[BenchResult]:
    results = []
    for name in case_names:
        dimension, particles = CASES[name]
        for precision in precisions:
            started = time.perf_counter()
            model = build_model(load_case_text(synthetic_case(dimension, particles, precision,
                                                              material),
                                               source=f"bench {name}"))
            build = time.perf_counter() - started
            for backend in backend_names:
                setup, seconds, explicit = time_backend(model, backend, steps)
                rate = steps / seconds
                traffic = step_traffic_bytes(dimension, precision, model.max_bonds, explicit,
                                             fused=backend == "cuda")
                result = BenchResult(name, backend, precision, model.particle_count, model.bond_count,
                                     build, setup, steps, seconds, rate * model.particle_count,
                                     rate * model.bond_count,
                                     rate * model.particle_count * traffic / 1e9)
                report(result.line())
                results.append(result)
            del model
    return results


def copy_bandwidth_gbs(megabytes: int = 2048, repeats: int = 10) -> float:
    """Device-to-device copy bandwidth (bytes read + written per second), measured with events."""
    import numpy as np
    from numba import cuda
    n = megabytes * 2**20 // 8
    src = cuda.device_array(n, dtype=np.float64)
    dst = cuda.device_array(n, dtype=np.float64)
    dst.copy_to_device(src)
    cuda.synchronize()
    start, stop = cuda.event(), cuda.event()
    start.record()
    for _ in range(repeats):
        dst.copy_to_device(src)
    stop.record()
    stop.synchronize()
    seconds = cuda.event_elapsed_time(start, stop) / 1e3
    return 2 * n * 8 * repeats / seconds / 1e9


def environment() -> dict:
    import numba
    info = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "pdgeneral": __version__,
            "numba": numba.__version__, "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(), "cpu_cores": os.cpu_count(),
            "numba_threads": numba.config.NUMBA_NUM_THREADS}
    try:
        info["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                        text=True, timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        info["commit"] = ""
    if backends.cuda_available():
        from numba import cuda
        device = cuda.get_current_device()
        name = device.name.decode() if isinstance(device.name, bytes) else device.name
        info["gpu"] = name
        info["compute_capability"] = ".".join(map(str, device.compute_capability))
    return info


def as_json(results: list[BenchResult], extra: dict) -> dict:
    return {**environment(), **extra, "results": [asdict(r) for r in results]}
