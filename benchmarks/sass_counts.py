"""The GPU step kernels of a case compiled for an H200 (sm_90) on a machine without a GPU, with
their SASS instructions counted: a static count of what ncu counts dynamically, to compare
variants of a kernel before spending device time on them (docs/performance.md says which figures
came from here and which from ncu on the H200).

It builds the CUDA backend of a case with its arrays in host memory (numba types a numpy array as
it types a device array of the same shape and layout) and its launches recorded instead of
prepared, then compiles each recorded kernel with numba-cuda's ``compile_ptx`` for its argument
types, assembles the PTX with ``ptxas -arch=sm_90`` and counts the instructions of
``nvdisasm`` by opcode.

A static count: every instruction once, whether it runs for every particle (the unrolled
stencil loop), rarely (the slow path of a damaged particle) or never; compare the same stretch of
two listings (``--dump``) for a per-bond figure. Needs NVVM, NVRTC, ptxas and nvdisasm, which
pip provides (in one install: a later ``--target`` install replaces the ``nvidia`` folder; the
wheel's nvdisasm may need ``chmod +x``):
    pip install --target /tmp/cudatools nvidia-cuda-nvrtc nvidia-nvvm nvidia-cuda-nvcc \
        nvidia-cuda-nvdisasm
    export CUDA_HOME=/tmp/cudatools/nvidia/cu13 LD_LIBRARY_PATH=/tmp/cudatools/nvidia/cu13/lib
    PYTHONPATH=/tmp/cudatools python benchmarks/sass_counts.py [--case ...] [--set key=value ...]
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numba
import numpy as np
from numba import cuda

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pdgeneral import api, backends, numba_internals
from pdgeneral.backends import cuda as cuda_backend

RECORDED: list = []


class RecordedLaunch:
    """Stands in for PreparedLaunch: keeps the kernel and its arguments."""

    def __init__(self, dispatcher, griddim, blockdim, args, stream=0):
        self.dispatcher = dispatcher
        self.args = list(args)
        self.fast = False
        RECORDED.append(self)

    def set(self, position, value):
        self.args[position] = value

    def __call__(self):
        raise RuntimeError("recorded launches do not run")


def _host_arrays() -> None:
    """The backend's device arrays become numpy arrays of the same shape and type."""
    cuda.device_array = lambda shape, dtype=np.float64, **_: np.zeros(shape, dtype=dtype)
    cuda.device_array_like = lambda array, **_: np.zeros_like(array)
    cuda.to_device = lambda array, **_: np.array(array)
    cuda_backend.PreparedLaunch = RecordedLaunch
    cuda_backend.CudaBackend._upload = lambda self, array: np.array(array)
    cuda_backend.CudaBackend._zeros = lambda self, shape, dtype: np.zeros(shape, dtype=dtype)
    numba_internals.assume_compute_capability((9, 0))   # an H200's, for the device functions
    cuda_backend.CudaBackend.check_memory = classmethod(lambda cls, model, rows=None: None)


def _tool(name: str) -> str:
    home = os.environ.get("CUDA_HOME", "")
    for candidate in (Path(home) / "bin" / name, Path("/tmp/cudatools/nvidia/cu13/bin") / name):
        if candidate.exists():
            return str(candidate)
    return name


def sass_of(dispatcher, args: list, max_registers: int | None = None, dump: str | None = None
            ) -> tuple[str, collections.Counter]:
    """(ptxas's report of registers and spills, opcode -> count) of ``dispatcher`` compiled for
    ``args``' types (``max_registers``: instead of the kernel's own cap; ``dump``: a folder to
    write the SASS listing to)."""
    signature = tuple(numba.typeof(value) for value in args)
    options = {key: value for key, value in dispatcher.targetoptions.items()
               if key in ("max_registers", "fastmath", "lineinfo", "opt")}
    if max_registers:
        options["max_registers"] = max_registers
    ptx, _ = cuda.compile_ptx(dispatcher.py_func, signature, cc=(9, 0),
                              **{k: v for k, v in options.items() if k != "max_registers"})
    with tempfile.TemporaryDirectory() as folder:
        source, cubin = Path(folder) / "kernel.ptx", Path(folder) / "kernel.cubin"
        source.write_text(ptx)
        extra = ([f"--maxrregcount={options['max_registers']}"]
                 if options.get("max_registers") else [])
        report = subprocess.run([_tool("ptxas"), "-arch=sm_90", "-v", *extra, str(source), "-o",
                                 str(cubin)], capture_output=True, text=True, check=True).stderr
        sass = subprocess.run([_tool("nvdisasm"), str(cubin)], capture_output=True,
                              text=True, check=True).stdout
    if dump:
        Path(dump, dispatcher.py_func.__name__ + ".sass").write_text(sass)
    registers = re.search(r"Used (\d+) registers", report).group(0)
    spills = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", report)
    registers += f", {spills.group(0)}" if spills else ""
    opcodes = collections.Counter()
    for line in sass.splitlines():
        match = re.match(r"\s*/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)", line)
        if match:
            opcodes[match.group(1).split(".")[0]] += 1
    return registers, opcodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="cases/crack_branching_glass_2d.yaml")
    parser.add_argument("--set", action="append", default=[], help="case overrides")
    parser.add_argument("--specialized", action="store_true",
                        help="the specialized build of the unrolled loop (default: the shared)")
    parser.add_argument("--max-registers", type=int, default=None,
                        help="a register cap for every kernel compiled here")
    parser.add_argument("--dump", default=None, help="a folder for the SASS listings")
    parser.add_argument("--kernels", default="forces_kick_launch,forces_kick_energy_launch",
                        help="the backend's launches to compile")
    args = parser.parse_args()
    _host_arrays()
    backends.cuda_available = lambda: True   # no GPU here: nothing runs, kernels only compile
    prepared = api.prepare(args.case, ["solver.end_time=null", "solver.time_step=null",
                                       "solver.steps=10", *args.set], "cuda")
    cuda_backend.CudaBackend.specialize_stencil = args.specialized
    engine = backends.create(prepared.backend, prepared.model, 10)
    print(f"{prepared.model.particle_count} particles, stencil of {prepared.model.stencil.size}"
          f" slots, {prepared.model.dtype}, unrolled {engine.unrolled}, specialized"
          f" {engine.specialized}")
    floats = ("DFMA", "DMUL", "DADD", "DSETP", "FFMA", "FMUL", "FADD", "FSETP", "MUFU")
    for name in args.kernels.split(","):
        launch = getattr(engine, name)
        registers, opcodes = sass_of(launch.dispatcher, launch.args, args.max_registers,
                                     args.dump)
        total = sum(opcodes.values()) - opcodes["NOP"]
        print(f"{name}: {launch.dispatcher.py_func.__name__}, {registers},"
              f" {total} instructions (without NOP)")
        print("  " + ", ".join(f"{op} {opcodes[op]}" for op in floats if opcodes[op]))
        print("  most: " + ", ".join(f"{op} {count}" for op, count in opcodes.most_common(14)))


if __name__ == "__main__":
    main()
