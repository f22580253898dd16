"""Does a snapshot go to disk at the disk's speed? (issue 19, item 2; docs/performance.md, "Output at
scale"). Not a test, and no GPU needed: the arrays are synthetic, in the layout the backends hand to
the writer (displacement and velocity as (N, 2) views of (2, N) arrays, damage (N,), bond-state
words (1, N) uint32), and SnapshotWriter.write writes them as a run does (its step file, the
checkpoint.h5 of a view-only snapshot, OUT.h5 and the XDMF index, each through tmp + fsync +
rename). In the same run and directory, a dd-like write of the same number of bytes (64 MiB blocks
of random bytes, so that no layer can compress them away, then fsync) measures the disk; the two
alternate, ``--repeat`` times each, and the medians are compared.

    python benchmarks/output_throughput.py [--particles 4e6,16e6,100e6] [--directory DIR]
        [--runs float32:float32,float64:float32,float64:float64] [--compression none]
        [--repeat 3] [--threads T] [--json results.json] [--step-seconds S --every 1000]

``--runs`` lists RUN:SNAPSHOT precisions: float32:float32 is a float32 run (its snapshots are
restart points), float64:float32 a float64 run with the default output.precision (view-only
float32 snapshots plus the float64 checkpoint.h5 in the same job), float64:float64 a float64 run
writing full snapshots. ``--directory`` must be on the disk to measure (default
results/output-throughput under the current directory; not /tmp, which may be memory). ``--source
OUT.h5`` measures the compressions on a real output's last snapshot instead (ratio and cost: the
synthetic arrays are random and do not compress like a run's); ``--tile N`` repeats its arrays to N
particles for times that mean something. ``--step-seconds`` (a step's time on
the GPU at that size) adds the share of the snapshot interval the write takes.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np

from pdgeneral import __version__
from pdgeneral.case.schema import Case
from pdgeneral.io import hdf5
from pdgeneral.io.hdf5 import SnapshotWriter, data_folder
from pdgeneral.materials import MaterialConstants

CASE = {"name": "output-throughput", "dimension": 2, "plane": "stress", "thickness": 1.0e-3,
        "material": {"model": "pmb", "youngs_modulus": 72.0e9, "density": 2440.0, "fracture_energy": 3.8},
        "discretization": {"spacing": 1.0e-3, "horizon_factor": 3.015},
        "geometry": {"box": {"min": [0.0, 0.0], "max": [1.0, 1.0]}},
        "solver": {"type": "explicit", "steps": 1000}}
DD_BLOCK = 64 << 20


def environment(directory: Path) -> dict:
    info = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "pdgeneral": __version__,
            "h5py": h5py.version.version, "hdf5": h5py.version.hdf5_version, "numpy": np.__version__,
            "cpu": platform.processor() or platform.machine(), "cpu_cores": os.cpu_count(),
            "write_threads": hdf5.WRITE_THREADS, "block_bytes": hdf5.BLOCK_BYTES,
            "directory": str(directory.resolve())}
    for key, command in (("commit", ["git", "rev-parse", "--short", "HEAD"]),
                         ("filesystem", ["df", "-hT", str(directory)])):
        try:
            out = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False).stdout
            info[key] = out.strip().splitlines()[-1] if out.strip() else ""
        except (OSError, subprocess.SubprocessError):
            info[key] = ""
    return info


def synthetic_model(n: int, run_precision: str, snapshot_precision: str, compression: str):
    """What SnapshotWriter reads of a model, without building one (no lattice, no bonds)."""
    case = Case.model_validate({**CASE, "precision": run_precision,
                                "output": {"precision": snapshot_precision, "compression": compression}})
    return SimpleNamespace(case=case, positions=np.zeros((n, 2)), volume=np.zeros(n),
                           particle_count=n, dimension=2, dtype=np.dtype(run_precision),
                           micromodulus=1.0, critical_stretch=1.0, horizon=1.0, spacing=1.0,
                           stable_time_step=1.0, regions={},
                           material=MaterialConstants("pmb", 1.0, 0.25, 1.0, micromodulus=1.0))


def synthetic_state(n: int, run_precision: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Fields as a backend's snapshot_state gives them; random values (every byte written)."""
    rng = np.random.default_rng(19)
    dtype = np.dtype(run_precision)
    displacement = rng.random((2, n), dtype=dtype if dtype.kind == "f" else np.float64).T
    velocity = rng.random((2, n), dtype=displacement.dtype).T
    damage = rng.random(n, dtype=displacement.dtype)
    bits = rng.integers(0, 2**32, (1, n), dtype=np.uint32)
    return {"displacement": displacement, "velocity": velocity, "damage": damage}, bits


def disk_write(path: Path, nbytes: int) -> float:
    """Seconds to write ``nbytes`` of random bytes in 64 MiB blocks and fsync them (dd conv=fsync)."""
    block = np.random.default_rng(0).integers(0, 256, DD_BLOCK, dtype=np.uint8)
    view = memoryview(block)
    started = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        left = nbytes
        while left > 0:
            left -= os.write(fd, view[:min(left, DD_BLOCK)])
        os.fsync(fd)
    finally:
        os.close(fd)
    seconds = time.perf_counter() - started
    path.unlink()
    return seconds


def snapshot_writes(directory: Path, model, fields, bits, repeat: int):
    """For each of ``repeat`` snapshots: (seconds of its write, every file of its job with fsyncs
    included; bytes written; {file: bytes}). The output's first snapshot, always a restart point
    in the run's precision, is written first and not timed; each timed step file is deleted once
    measured (disk space: 100M particles in float64 are 4.4 GB a snapshot)."""
    out = directory / "out.h5"
    folder = data_folder(out)
    with SnapshotWriter(out, model, "", "serial", overwrite=True) as writer:
        writer.write(0, 0.0, fields, bond_state=bits, time_step=1.0e-9)
        (folder / hdf5.step_file(0)).unlink()
        for k in range(1, repeat + 1):
            before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
            started = time.perf_counter()
            writer.write(1000 * k, 1.0e-6 * k, fields, bond_state=bits, time_step=1.0e-9)
            writer.wait()
            seconds = time.perf_counter() - started
            files = {p.name: p.stat().st_size for p in folder.iterdir()
                     if before.get(p.name) != p.stat().st_mtime_ns}
            files["OUT.h5 + xdmf"] = out.stat().st_size + out.with_suffix(".xdmf").stat().st_size
            (folder / hdf5.step_file(1000 * k)).unlink()
            yield seconds, sum(files.values()), files
    shutil.rmtree(folder)


def throughput(args) -> list[dict]:
    directory = Path(args.directory)
    results = []
    header = (f"{'particles':>12} {'run':>8} {'snapshot':>8} {'compr.':>6} {'MB':>9} {'write s':>8} "
              f"{'MB/s':>7} {'disk MB/s':>9} {'of disk':>7} {'best':>7} {'disk':>7}  files")
    print("(medians of --repeat; best: the fastest write and the fastest disk write, MB/s)")
    print(header)
    for count in args.particles.split(","):
        n = int(float(count))
        for run in args.runs.split(","):
            run_precision, snapshot_precision = run.split(":")
            fields, bits = synthetic_state(n, run_precision)
            for compression in args.compression.split(","):
                model = synthetic_model(n, run_precision, snapshot_precision, compression)
                writes, disks, nbytes, files = [], [], 0, {}
                jobs = snapshot_writes(directory, model, fields, bits, args.repeat)
                for k in range(args.repeat):
                    # which goes first alternates: a write slows the next one down on some disks
                    # (the host's cache still flushing), and neither should always pay for it
                    if k % 2:
                        disks.append(disk_write(directory / "dd.bin", nbytes))
                    seconds, nbytes, files = next(jobs)
                    writes.append(seconds)
                    if not k % 2:
                        disks.append(disk_write(directory / "dd.bin", nbytes))
                for _ in jobs:      # the generator's clean-up
                    pass
                write_s, disk_s = statistics.median(writes), statistics.median(disks)
                rate, disk_rate = nbytes / write_s / 1e6, nbytes / disk_s / 1e6
                best, best_disk = nbytes / min(writes) / 1e6, nbytes / min(disks) / 1e6
                row = {"particles": n, "run_precision": run_precision,
                       "snapshot_precision": snapshot_precision, "compression": compression,
                       "bytes": nbytes, "files": files, "write_seconds": writes, "disk_seconds": disks,
                       "write_mb_s": rate, "disk_mb_s": disk_rate, "percent_of_disk": 100 * rate / disk_rate,
                       "best_write_mb_s": best, "best_disk_mb_s": best_disk}
                shown = ", ".join(f"{name} {size / 1e6:.0f} MB" for name, size in files.items()
                                  if size > 1e6)
                line = (f"{n:>12,} {run_precision:>8} {snapshot_precision:>8} {compression:>6} "
                        f"{nbytes / 1e6:>9.1f} {write_s:>8.3f} {rate:>7.0f} {disk_rate:>9.0f} "
                        f"{100 * rate / disk_rate:>6.0f}% {best:>7.0f} {best_disk:>7.0f}  {shown}")
                if args.step_seconds:
                    interval = args.every * args.step_seconds
                    row["share_of_interval"] = write_s / interval
                    line += (f"; {100 * write_s / interval:.0f}% of {args.every} steps "
                             f"({interval:.2f} s)")
                print(line, flush=True)
                results.append(row)
            del fields, bits
    return results


def compression_costs(args) -> list[dict]:
    """Each compression on a real output's last snapshot (as the writer would write it with that
    output.compression): bytes, ratio, seconds to write (fsync included) and to read back."""
    with h5py.File(args.source, "r") as f:
        last = max(f["steps"])
        group = f["steps"][last]
        fields = {name: group[name][...] for name in hdf5.FIELDS if name in group}
        bits = group["bond_state"][...]
    n = bits.shape[1]
    copies = max(1, -(-int(args.tile) // n)) if args.tile else 1
    if copies > 1:
        # Side by side, copies of the run's arrays: each copy is further apart than the
        # compressors look back (lzf 8 KiB, gzip 32 KiB), so they see no repetition.
        fields = {name: np.concatenate([values] * copies) for name, values in fields.items()}
        bits = np.concatenate([bits] * copies, axis=1)
        n *= copies
    # The backends' layout: (N, dim) views of (dim, N) arrays.
    for name in ("displacement", "velocity"):
        fields[name] = np.ascontiguousarray(fields[name].T).T
    directory = Path(args.directory)
    results = []
    print(f"{args.source}: step {int(last)}, {n // copies:,} particles"
          + (f" x {copies} copies side by side" if copies > 1 else ""))
    print(f"{'snapshot':>8} {'compr.':>6} {'step file MB':>12} {'ratio':>6} {'write s':>8} {'read s':>7}"
          f"  per array (ratio)")
    for snapshot_precision in sorted({run.split(":")[-1] for run in args.runs.split(",")}):
        # A run of the snapshot's precision: its job is the step file alone (a restart point).
        state = {name: (np.ascontiguousarray(values.T, dtype=snapshot_precision).T if values.ndim == 2
                        else values.astype(snapshot_precision)) for name, values in fields.items()}
        plain = None
        for compression in ("none", "lzf", "gzip"):
            model = synthetic_model(n, snapshot_precision, snapshot_precision, compression)
            writes, reads, size, arrays = [], [], 0, {}
            for seconds, _, files in snapshot_writes(directory, model, state, bits, args.repeat):
                writes.append(seconds)
                size = files[next(name for name in files if name.startswith("step-"))]
            # read back: a step file written again, kept this time
            out = directory / "read.h5"
            with SnapshotWriter(out, model, "", "serial", overwrite=True) as writer:
                writer.write(0, 0.0, state, bond_state=bits, time_step=1.0e-9)
            for _ in range(args.repeat):
                with h5py.File(data_folder(out) / hdf5.step_file(0), "r") as f:
                    started = time.perf_counter()
                    arrays = {name: f[name].id.get_storage_size() for name in f}
                    for name in f:
                        f[name][...]
                    reads.append(time.perf_counter() - started)
            shutil.rmtree(data_folder(out))
            plain = plain or (size, arrays)
            write_s, read_s = statistics.median(writes), statistics.median(reads)
            per = ", ".join(f"{name} {plain[1][name] / max(stored, 1):.1f}"
                            for name, stored in arrays.items())
            print(f"{snapshot_precision:>8} {compression:>6} {size / 1e6:>12.1f} {plain[0] / size:>6.2f} "
                  f"{write_s:>8.3f} {read_s:>7.3f}  {per}", flush=True)
            results.append({"snapshot_precision": snapshot_precision, "compression": compression,
                            "bytes": size, "ratio": plain[0] / size, "write_seconds": writes,
                            "read_seconds": reads, "array_bytes": arrays})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--particles", default="4e6,16e6,100e6", help="comma-separated particle counts")
    parser.add_argument("--runs", default="float32:float32,float64:float32,float64:float64",
                        help="comma-separated RUN:SNAPSHOT precisions")
    parser.add_argument("--compression", default="none", help="comma-separated: none, lzf, gzip")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--directory", default="results/output-throughput",
                        help="where the files go: on the disk to measure")
    parser.add_argument("--source", default=None, help="a real output: measure the compressions on it")
    parser.add_argument("--tile", type=float, default=0,
                        help="with --source: repeat its arrays to at least this many particles")
    parser.add_argument("--step-seconds", type=float, default=None,
                        help="seconds per step at this size (from the GPU), for the share of the interval")
    parser.add_argument("--every", type=int, default=1000,
                        help="steps between snapshots (with --step-seconds)")
    parser.add_argument("--threads", type=int, default=None,
                        help=f"writer threads (default {hdf5.WRITE_THREADS}: the cores, at most 8)")
    parser.add_argument("--json", default=None, help="also write the results as JSON")
    args = parser.parse_args()
    if args.threads:
        hdf5.WRITE_THREADS = args.threads
    directory = Path(args.directory)
    directory.mkdir(parents=True, exist_ok=True)
    info = environment(directory)
    print(f"{info['cpu']}, {info['cpu_cores']} cores; h5py {info['h5py']}, HDF5 {info['hdf5']}; "
          f"writer: {info['write_threads']} threads, {info['block_bytes'] >> 20} MiB blocks; "
          f"commit {info['commit']}")
    print(f"disk: {info['filesystem']}")
    results = compression_costs(args) if args.source else throughput(args)
    if args.json:
        Path(args.json).write_text(json.dumps({**info, "results": results}, indent=2))


if __name__ == "__main__":
    main()
