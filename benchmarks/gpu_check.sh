#!/usr/bin/env bash
# Everything one device session checks and times on the GPU machine, logs into $OUT (see
# ../shared/gpu/README.md for the install line that must run first). Usage:
#   benchmarks/gpu_check.sh [tests] [variants] [bench] [compare]
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export PYTHONWARNINGS=ignore
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
for what in "$@"; do
  case $what in
    tests)   # the GPU-relevant files (the GPU machine has no vtk, which test_xdmf and the tests
             # importing it need; they run on CI)
      python3 -m pytest -q -x -p no:cacheprovider -W ignore::numba.core.errors.NumbaPerformanceWarning \
        tests/test_cuda.py tests/test_memory.py tests/test_dynamics.py tests/test_resume.py \
        tests/test_cli.py tests/test_stencil.py 2>&1 \
        | tail -n 30 | tee "$OUT/tests.log" ;;
    variants)
      python3 benchmarks/gpu_variants.py --registers 2>&1 | tee "$OUT/registers.log"
      python3 benchmarks/gpu_variants.py --case 2d-4m --steps 50 2>&1 | tee "$OUT/variants.log" ;;
    registers)
      python3 benchmarks/gpu_variants.py --registers 2>&1 | tee "$OUT/registers.log" ;;
    steps)
      python3 benchmarks/gpu_force_variants.py --case 2d-4m --step-only 2>&1 | tee "$OUT/steps-2d.log"
      python3 benchmarks/gpu_force_variants.py --case 2d-1m --step-only 2>&1 | tee "$OUT/steps-2d-1m.log" ;;
    steps-3d)
      python3 benchmarks/gpu_force_variants.py --case 3d-8m --step-only 2>&1 | tee "$OUT/steps-3d.log" ;;
    minimal)
      python3 benchmarks/gpu_variants.py --minimal 2>&1 | tee "$OUT/minimal.log" ;;
    bench)
      python3 -m pdgeneral bench --cases 2d-1m,2d-4m,2d-16m,3d-1m,3d-8m --backends cuda \
        --precision float64 --steps 100 --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.log"
      python3 -m pdgeneral bench --cases 2d-4m,3d-8m --backends cuda \
        --precision float32 --steps 100 --json "$OUT/bench32.json" 2>&1 | tee "$OUT/bench32.log" ;;
    bench-quick)
      python3 -m pdgeneral bench --cases 2d-4m,3d-8m --backends cuda --precision float64 --steps 100 \
        --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.log" ;;
    compare)
      python3 -m pdgeneral compare cases/tension_to_failure_2d.yaml serial/parallel/cuda \
        --json "$OUT/compare-fracture.json" 2>&1 | tail -n 12 | tee "$OUT/compare-fracture.log"
      python3 -m pdgeneral compare benchmarks/plate_2d_1m.yaml serial/parallel/cuda --steps 20 \
        --json "$OUT/compare-1m.json" 2>&1 | tail -n 12 | tee "$OUT/compare-1m.log" ;;
  esac
done
