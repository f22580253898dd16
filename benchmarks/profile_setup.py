"""Where the fixed cost of a run goes: the model build and the backend's creation, profiled.

    python benchmarks/profile_setup.py --case 2d-4m --backend cuda

Runs build + backend creation once to fill the caches (numba's and the kernel cache), then times
each phase and prints cProfile's top functions by own time. Not a test; asserts nothing.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from pdgeneral import backends
from pdgeneral.bench import CASES, synthetic_case
from pdgeneral.case.loading import load_case_text
from pdgeneral.model import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="2d-4m", choices=sorted(CASES))
    parser.add_argument("--backend", default="cuda")
    parser.add_argument("--precision", default="float64")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    dimension, particles = CASES[args.case]
    case = load_case_text(synthetic_case(dimension, particles, args.precision), source=args.case)
    name = backends.resolve(args.backend)

    def build_and_create():
        started = time.perf_counter()
        model = build_model(case)
        built = time.perf_counter()
        engine = backends.create(name, model)
        engine.synchronize()
        return model, engine, built - started, time.perf_counter() - built

    model, engine, build, setup = build_and_create()
    print(f"{args.case} on {name}, first (caches filling): build {build:.2f} s, set-up {setup:.2f} s")
    del engine
    for _ in range(2):
        _, engine, build, setup = build_and_create()
        print(f"again: build {build:.2f} s, set-up {setup:.2f} s ({model.particle_count:,} particles, "
              f"{model.bond_count:,} bonds)")
        del engine
    profile = cProfile.Profile()
    profile.enable()
    build_and_create()
    profile.disable()
    pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
