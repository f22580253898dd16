"""Does a sweep compile once? Eight variants of the 1M-particle plate of benchmarks/plate_2d_1m.yaml
that differ in E, G0 (critical stretch), density, spacing (at the same horizon factor) and load,
500 steps each, run by `pdgeneral batch` on one GPU with an empty kernel cache: each case's whole
process time (issue 12, item 4; docs/performance.md). Not a test.

    python benchmarks/sweep_batch.py [--backend cuda] [--steps 500] [--directory DIR]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import yaml

from pdgeneral.batch import run_batch

#: (name, changes): E (Pa), density (kg/m^3), critical stretch, spacing (m), initial velocity (m/s)
VARIANTS = [
    ("glass", 72.0e9, 2440.0, 1.0e-3, 1.0e-4, 1.0),
    ("steel", 200.0e9, 7850.0, 2.0e-3, 1.0e-4, 1.0),
    ("aluminium", 70.0e9, 2700.0, 5.0e-3, 1.0e-4, 2.0),
    ("pmma", 3.0e9, 1190.0, 1.0e-2, 1.0e-4, 0.5),
    ("glass-fine", 72.0e9, 2440.0, 1.0e-3, 0.9e-4, 1.0),
    ("steel-coarse", 200.0e9, 7850.0, 2.0e-3, 1.1e-4, 3.0),
    ("concrete", 30.0e9, 2400.0, 2.0e-4, 1.05e-4, 0.2),
    ("titanium", 110.0e9, 4500.0, 4.0e-3, 0.95e-4, 1.5),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="cuda")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--directory", default=None)
    args = parser.parse_args()
    directory = Path(args.directory or tempfile.mkdtemp())
    directory.mkdir(parents=True, exist_ok=True)
    base = yaml.safe_load(Path("benchmarks/plate_2d_1m.yaml").read_text())
    os.environ["PDGENERAL_CACHE_DIR"] = str(directory / "kernel-cache")   # empty: the first compiles
    cases = []
    for name, modulus, density, stretch, spacing, speed in VARIANTS:
        case = dict(base, name=f"sweep-{name}")
        case["material"] = dict(base["material"], youngs_modulus=modulus, density=density,
                                critical_stretch=stretch)
        case["discretization"] = dict(base["discretization"], spacing=spacing)
        case["boundary_conditions"] = [dict(base["boundary_conditions"][0], value=[speed, 0.5 * speed])]
        case["solver"] = {"type": "explicit", "steps": args.steps}
        case["output"] = {"path": str(directory / f"{name}.h5"), "every": args.steps}
        path = directory / f"{name}.yaml"
        path.write_text(yaml.safe_dump(case))
        cases.append(str(path))
    started = time.perf_counter()
    results = run_batch(cases, [], args.backend, jobs=1, overwrite=True)
    total = time.perf_counter() - started
    print(f"{'case':<16} {'status':<7} {'steps':>6} {'process s':>10} {'p-steps/s':>10}")
    for name, result in zip([v[0] for v in VARIANTS], results):
        print(f"{name:<16} {result['status']:<7} {result['steps']:>6} {result['wall']:>10.2f} "
              f"{result['rate']:>10.3g}  {result['error']}")
    print(f"all {len(cases)} cases: {total:.1f} s")


if __name__ == "__main__":
    main()
