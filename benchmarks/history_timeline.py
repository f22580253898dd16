"""A history row's cost on the GPU's own clock (issue 13, item 2): groups of ten steps queued back
to back, with a row inside each group (its kernel, the reductions, the entries, the copies) and
without, timed by CUDA events, so the host's share is hidden as in a run. With --profile, one
group with its row runs between cuda.profile_start/stop, for `ncu --profile-from-start off`,
which then lists every kernel of a row with its duration. Not a test.

    python benchmarks/history_timeline.py [--groups 40] [--profile] [--energy-registers N]
"""
from __future__ import annotations

import argparse

from history_breakdown import plate_with_history  # (benchmarks/, the script's directory)
from numba import cuda


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spacing", type=float, default=3.1623e-5)
    parser.add_argument("--groups", type=int, default=40)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--energy-registers", type=int, default=None,
                        help="the row kernel's register cap instead of the backend's (0: none)")
    args = parser.parse_args()
    if args.energy_registers is not None:
        from pdgeneral.backends import cuda as cuda_backend
        cuda_backend.ENERGY_KERNEL_OPTIONS = ({"max_registers": args.energy_registers}
                                              if args.energy_registers else {})
    model, engine, history, dt = plate_with_history(args.spacing, "cuda")

    def groups(with_rows: bool, first: int) -> float:
        engine.advance(first, 10, dt, history=history if with_rows else None)   # warm
        history.resolve()
        engine.synchronize()
        start, end = cuda.event(), cuda.event()
        start.record()
        for g in range(1, args.groups + 1):   # steps 10g + 6 ... 10g + 15: the row inside
            engine.advance(first + 10 * g + 5, 10, dt, history=history if with_rows else None)
        end.record()
        end.synchronize()
        history.resolve()
        return cuda.event_elapsed_time(start, end) / args.groups

    if args.profile:
        engine.advance(0, 10, dt, history=history)
        history.resolve()
        engine.synchronize()
        cuda.profile_start()
        engine.advance(15, 10, dt, history=history)   # steps 16 ... 25, the row at 20
        engine.synchronize()
        cuda.profile_stop()
        history.resolve()
        return
    print(f"{model.particle_count:,} particles, {engine.entry_count} history entries, "
          f"rows inside chunks: {engine.records_rows_inside_chunks}")
    for attempt in range(3):
        plain = groups(False, 100000 * attempt)
        rows = groups(True, 100000 * attempt + 50000)
        print(f"ten steps on the GPU's clock: {plain:.4f} ms plain, {rows:.4f} ms with a row: "
              f"+{rows - plain:.4f} ms a row ({rows / plain - 1:+.2%}); the samples' side stream "
              f"overlaps: {getattr(engine, 'side_stream_overlaps', '-')}", flush=True)


if __name__ == "__main__":
    main()
