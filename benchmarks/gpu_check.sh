#!/usr/bin/env bash
# Everything one device session checks and times on the GPU machine, logs into $OUT (see
# ../shared/gpu/README.md for the install line that must run first). Usage:
#   benchmarks/gpu_check.sh [tests] [variants] [bench] [precision] [startup] [compare] [history] [output]
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export PYTHONWARNINGS=ignore
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
# The GPU machine sets PYTHONDONTWRITEBYTECODE=1 and the wheels go in with --no-compile, so every
# process there compiled every module from source (0.7 s of a 6.7 s run, cProfile, 2026-12-03);
# an installed package has its bytecode. Write it once, as pip does (compileall ignores the
# variable), so that whole-process times are a user's.
python3 -m compileall -q -j 0 pdgeneral ${PYTHONPATH%%:*} > /dev/null 2>&1 || true
for what in "$@"; do
  case $what in
    tests)   # the whole suite on the real GPU (the simulator twins then run on the GPU too), spread over
             # 8 processes when pytest-xdist travels in .whl. test_xdmf and one crash-safety test read
             # the XDMF index with vtk, which the GPU machine lacks and whose wheel is too large to
             # carry there; they run on CI. PYTEST_ARGS=FILE runs one file instead of tests/
      workers=""
      python3 -c "import xdist" 2>/dev/null && workers="-n 8"
      timeout 560 python3 -m pytest -q -p no:cacheprovider $workers -rs --durations=10 \
        -W ignore::numba.core.errors.NumbaPerformanceWarning --ignore tests/test_xdmf.py \
        --deselect tests/test_crash_safety.py::test_links_resolve_from_another_directory_and_after_the_output_moves \
        ${PYTEST_ARGS:-tests} 2>&1 \
        | tail -n 60 | tee "$OUT/tests.log" ;;
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
    startup) # the fixed costs of a run, with an empty kernel cache and then from it (fresh
             # processes; the package's numba CPU cache starts cold as well)
      export PDGENERAL_CACHE_DIR=$(mktemp -d)
      TIMEFORMAT="process wall %R s"
      branching="cases/crack_branching_glass_2d.yaml --backend cuda -q --overwrite"
      fine="--set discretization.spacing=0.05e-3 --set discretization.horizon=0.15e-3
            --set solver.time_step=7.0e-9 --set output.every=1000"
      for pass in cold warm; do
        echo "== $pass kernel cache"
        time python3 -m pdgeneral bench --cases 2d-4m,3d-8m --backends cuda --precision float64 \
          --steps 100 --json "$OUT/startup-bench-$pass.json"
        time python3 -m pdgeneral run $branching -o /tmp/branching-$pass.h5
        time python3 -m pdgeneral run $branching -o /tmp/branching-fine-$pass.h5 $fine
      done 2>&1 | tee "$OUT/startup.log"
      ls "$PDGENERAL_CACHE_DIR"/* | wc -l | sed 's/^/cache entries: /' | tee -a "$OUT/startup.log"
      unset PDGENERAL_CACHE_DIR ;;
    precision) # per particle-step counters of the fused force kernel from the hardware (issue 12:
               # float32 computes in float32; the workstation model of docs/performance.md)
      metrics="smsp__inst_executed.sum,dram__bytes_read.sum,dram__bytes_write.sum,gpu__time_duration.sum"
      metrics="$metrics,smsp__issue_active.avg.pct_of_peak_sustained_active"
      for op in dadd dmul dfma fadd fmul ffma; do metrics="$metrics,smsp__sass_thread_inst_executed_op_${op}_pred_on.sum"; done
      for case in ${NCU_CASES:-2d-4m 3d-8m}; do
        for p in float32 float64; do
          ncu --clock-control none -k regex:forces_kick --launch-skip 2 --launch-count 1 \
            --metrics "$metrics" --csv python3 -m pdgeneral bench --cases $case --backends cuda \
            --precision $p --steps 20 > "$OUT/ncu-$case-$p.csv" 2>&1
        done
      done
      python3 benchmarks/ncu_table.py "$OUT"/ncu-*.csv 2>&1 | tee "$OUT/ncu-precision.log" ;;
    wholerun) # issue 12, item 6: the 4M glass plate (pre-crack, energy surface correction), 4000
              # steps, 5 snapshots, whole processes with an empty kernel cache and then from it
      export PDGENERAL_CACHE_DIR=$(mktemp -d)
      TIMEFORMAT="process wall %R s"
      plate="cases/crack_branching_glass_2d.yaml --backend cuda --overwrite -q
             --set discretization.spacing=3.1623e-5 --set discretization.horizon=9.5343e-5
             --set solver.end_time=null --set solver.time_step=null --set solver.steps=4000
             --set output.every=1000"
      for pass in cold warm warm; do
        echo "== $pass kernel cache"
        time python3 -m pdgeneral run $plate -o /tmp/plate-$pass.h5
      done 2>&1 | tee "$OUT/wholerun.log" ;;
    history) # what recording a history costs on the GPU (issue 13, item 2)
      python3 benchmarks/history_overhead.py --steps 4000 2>&1 | tee "$OUT/history-overhead.log"
      python3 benchmarks/history_breakdown.py 2>&1 | tee "$OUT/history-breakdown.log" ;;
    output)  # snapshot write throughput against the disk (issue 19, item 2)
      python3 benchmarks/output_throughput.py ${OUTPUT_ARGS:-} 2>&1 | tee "$OUT/output-throughput.log" ;;
    compare)
      python3 -m pdgeneral compare cases/tension_to_failure_2d.yaml serial/parallel/cuda \
        --json "$OUT/compare-fracture.json" 2>&1 | tail -n 12 | tee "$OUT/compare-fracture.log"
      python3 -m pdgeneral compare benchmarks/plate_2d_1m.yaml serial/parallel/cuda --steps 20 \
        --json "$OUT/compare-1m.json" 2>&1 | tail -n 12 | tee "$OUT/compare-1m.log" ;;
  esac
done
