"""How much do snapshots slow a run down? The crack-branching glass plate refined to about 4M
particles, 4000 explicit steps: stepping without output, with 5 snapshots written in the
background (the default) and with 5 snapshots written in the stepping thread (issue 12, item 5;
docs/performance.md). Not a test.

    python benchmarks/snapshot_overlap.py [--backend cuda] [--steps 4000] [--spacing 3.1623e-5]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pdgeneral import api


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="cuda")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--spacing", type=float, default=3.1623e-5)
    parser.add_argument("--directory", default=None, help="where the outputs go (default: a temporary one)")
    parser.add_argument("--background-only", action="store_true",
                        help="leave out the run that writes in the stepping thread")
    parser.add_argument("--set", dest="extra", action="append", default=[],
                        help="more case overrides, KEY=VALUE (e.g. precision=float32)")
    args = parser.parse_args()
    overrides = [f"discretization.spacing={args.spacing}", f"discretization.horizon={3.015 * args.spacing}",
                 "solver.end_time=null", "solver.time_step=null", f"solver.steps={args.steps}",
                 f"output.every={args.steps // 4}", *args.extra]
    started = time.perf_counter()
    prepared = api.prepare("cases/crack_branching_glass_2d.yaml", overrides, args.backend)
    print(f"{prepared.model.particle_count:,} particles, model built in {time.perf_counter() - started:.1f} s",
          flush=True)
    directory = Path(args.directory or tempfile.mkdtemp())
    runs = (("no output", False, True), ("5 snapshots, background", True, True),
            ("5 snapshots, in the stepping thread", True, False))
    if args.background_only:
        runs = runs[:2]
    for label, write, background in runs:
        api.BACKGROUND_WRITES = background
        last_step = []

        def progress(done, total, last_step=last_step):
            if done == total:
                last_step.append(time.perf_counter())

        started = time.perf_counter()
        summary = api.run_case(prepared, output=directory / "overlap.h5", overwrite=True, write=write,
                               progress=progress)
        ended = time.perf_counter()
        # stepping = the summary's time (the last snapshot's write included); of it, the time after
        # the last step is that write alone, which nothing can overlap
        tail = ended - last_step[0]
        print(f"{label:36s}: stepping {summary.wall_seconds:.2f} s, of which {tail:.2f} s after the last "
              f"step; {summary.particle_steps_per_second:.3g} particle-steps/s (set-up "
              f"{summary.setup_seconds:.2f} s, whole call {ended - started:.2f} s)", flush=True)
    api.BACKGROUND_WRITES = True


if __name__ == "__main__":
    main()
