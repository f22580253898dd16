"""Reads the CSV files of `ncu --csv --metrics ...` (benchmarks/gpu_check.sh precision) and prints,
per file, the float64 and float32 instructions the profiled kernel executed (thread-level counts,
as ncu's smsp__sass_thread_inst_executed_op_* metrics give them) and their ratio.

    python3 benchmarks/ncu_table.py OUT/ncu-*.csv
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

FLOAT64 = ("dadd", "dmul", "dfma")
FLOAT32 = ("fadd", "fmul", "ffma")


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
            values[name] = float(row["Metric Value"].replace(",", "") or 0)
    return values


def main(paths: list[str]) -> None:
    print(f"{'profile':<28} {'dadd':>10} {'dmul':>10} {'dfma':>10} {'fadd':>10} {'fmul':>10} "
          f"{'ffma':>10} {'f64/f32':>9}")
    for path in map(Path, paths):
        found = metrics(path)
        if not found:
            print(f"{path.stem:<28} (no metrics: see the file)")
            continue
        count = {op: found.get(f"smsp__sass_thread_inst_executed_op_{op}_pred_on.sum", 0.0)
                 for op in FLOAT64 + FLOAT32}
        f64 = sum(count[op] for op in FLOAT64)
        f32 = sum(count[op] for op in FLOAT32)
        ratio = f64 / f32 if f32 else float("inf")
        print(f"{path.stem:<28} " + " ".join(f"{count[op]:>10.4g}" for op in FLOAT64 + FLOAT32)
              + f" {ratio:>9.2%}")


if __name__ == "__main__":
    main(sys.argv[1:])
