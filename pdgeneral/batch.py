"""`pdgeneral batch`: many cases, one after another or side by side, each in its own process.

A separate process per case isolates failures (a crash or a bad case stops only that case) and lets
each case see only its GPU (CUDA_VISIBLE_DEVICES), taken in turn from ``--gpus``. Cases side by
side share the CPU cores: each process gets its share through NUMBA_NUM_THREADS (numba's parallel
loops would otherwise start a thread per core in every process, and the processes would take turns
on the cores: on 2 cores, two cases side by side took 19.7 s against 12.1 s one after the other).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def threads_per_job(jobs: int, cases: int) -> int | None:
    """CPU threads for each case's process: the cores shared by the cases that run side by side,
    at least one; None when NUMBA_NUM_THREADS is set already (the user's choice is kept)."""
    if "NUMBA_NUM_THREADS" in os.environ:
        return None
    return max(1, (os.cpu_count() or 1) // max(1, min(jobs, cases)))


def _run_one(index: int, case: str, overrides: list[str], backend: str | None, gpus: list[str],
             overwrite: bool, threads: int | None = None) -> dict:
    command = [sys.executable, "-m", "pdgeneral", "run", case, "--quiet"]
    for item in overrides:
        command += ["--set", item]
    if backend:
        command += ["--backend", backend]
    if overwrite:
        command.append("--overwrite")
    env = dict(os.environ)
    if threads is not None:
        env["NUMBA_NUM_THREADS"] = str(threads)
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]
    with tempfile.TemporaryDirectory() as scratch:
        summary_path = Path(scratch) / "summary.json"
        started = time.perf_counter()
        proc = subprocess.run(command + ["--summary-json", str(summary_path)], capture_output=True,
                              text=True, env=env, check=False)
        wall = time.perf_counter() - started
        if proc.returncode == 0 and summary_path.exists():
            summary = json.loads(summary_path.read_text())
            return {"case": case, "status": "ok", "steps": summary["steps"], "wall": wall,
                    "rate": summary["particle_steps_per_second"], "output": summary["output"],
                    "error": ""}
    lines = [line for line in (proc.stderr or proc.stdout).strip().splitlines() if line.strip()]
    error = lines[-1] if lines else f"exit code {proc.returncode}"
    return {"case": case, "status": "failed", "steps": 0, "wall": wall, "rate": 0.0, "output": "",
            "error": error.removeprefix("error: ")}


def run_batch(cases: list[str], overrides: list[str], backend: str | None = None, jobs: int = 1,
              gpus: list[str] | None = None, overwrite: bool = False) -> list[dict]:
    """Run every case; results in the order given, whatever order they finished in."""
    gpus = gpus or []
    threads = threads_per_job(jobs, len(cases))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_run_one, i, case, overrides, backend, gpus, overwrite, threads)
                   for i, case in enumerate(cases)]
        return [future.result() for future in futures]
