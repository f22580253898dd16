"""Reads the CSV files of `ncu --csv --metrics ...` (benchmarks/gpu_check.sh precision, files named
ncu-CASE-PRECISION.csv after a `pdgeneral bench` case) and prints, per file, what the profiled
kernel did per particle-step: warp instructions issued (times 32: thread instructions), the float64
and float32 add/mul/fma thread instructions (ncu's smsp__sass_thread_inst_executed_op_* counts),
DRAM bytes, the kernel's time and how busy the schedulers were. These are the counters the
workstation model of docs/performance.md starts from.

    python3 benchmarks/ncu_table.py OUT/ncu-*.csv
"""
from __future__ import annotations

import csv
import math
import re
import sys
from pathlib import Path

FLOAT64 = ("dadd", "dmul", "dfma")
FLOAT32 = ("fadd", "fmul", "ffma")
CASES = {"2d-1m": (2, 1_000_000), "2d-4m": (2, 4_000_000), "2d-16m": (2, 16_000_000),
         "3d-1m": (3, 1_000_000), "3d-8m": (3, 8_000_000)}   # as pdgeneral.bench.CASES


def particles(case: str) -> int:
    """The particle count of a bench case (pdgeneral.bench.synthetic_case's lattice)."""
    dimension, n = CASES[case]
    if dimension == 2:
        side = round(math.sqrt(n / 2))
        return 2 * side * side
    return round(n ** (1 / 3)) ** 3


def metrics(path: Path) -> dict[str, float]:
    """metric name -> value of the first profiled kernel in an ncu CSV file."""
    lines = path.read_text().splitlines()
    start = next((k for k, line in enumerate(lines) if line.startswith('"ID"')), None)
    if start is None:
        return {}
    values: dict[str, float] = {}
    for row in csv.DictReader(lines[start:]):
        name = row.get("Metric Name")
        if name and name not in values:
            try:
                values[name] = float(row["Metric Value"].replace(",", "") or 0)
            except ValueError:
                continue
    return values


def main(paths: list[str]) -> None:
    print(f"{'profile':<22} {'inst/p':>8} {'f64/p':>7} {'f32/p':>7} {'f64/f32':>8} {'DRAM B/p':>9} "
          f"{'time ms':>8} {'issue %':>8}")
    for path in map(Path, paths):
        found = metrics(path)
        match = re.match(r"ncu-(\dd-\d+m)-", path.name)
        if not found or not match:
            print(f"{path.stem:<22} (no metrics: see the file)")
            continue
        n = particles(match.group(1))
        count = {op: found.get(f"smsp__sass_thread_inst_executed_op_{op}_pred_on.sum", 0.0)
                 for op in FLOAT64 + FLOAT32}
        f64 = sum(count[op] for op in FLOAT64)
        f32 = sum(count[op] for op in FLOAT32)
        warp_instructions = found.get("smsp__inst_executed.sum", math.nan)
        dram = found.get("dram__bytes_read.sum", math.nan) + found.get("dram__bytes_write.sum", math.nan)
        # ncu reports durations in ns or us depending on size; the CSV's unit column is not read here
        duration = found.get("gpu__time_duration.sum", math.nan)
        issue = found.get("smsp__issue_active.avg.pct_of_peak_sustained_active", math.nan)
        ratio = f64 / f32 if f32 else math.inf
        print(f"{path.stem:<22} {32 * warp_instructions / n:>8.0f} {f64 / n:>7.0f} {f32 / n:>7.0f} "
              f"{ratio:>8.2%} {dram / n:>9.1f} {duration:>8.4g} {issue:>8.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
