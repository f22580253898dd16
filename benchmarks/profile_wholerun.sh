#!/usr/bin/env bash
# Issue 12, item 6: where a warm whole run's time goes (the 4M plate of gpu_check.sh wholerun): a
# cold run, a warm one, then a warm one under cProfile and -X importtime, into $OUT. Run on the GPU
# machine after the install line of ../shared/gpu/README.md. Not a test.
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export PDGENERAL_CACHE_DIR=$(mktemp -d)
plate="cases/crack_branching_glass_2d.yaml --backend cuda --overwrite -q
       --set discretization.spacing=3.1623e-5 --set discretization.horizon=9.5343e-5
       --set solver.end_time=null --set solver.time_step=null --set solver.steps=4000
       --set output.every=1000"
TIMEFORMAT="process wall %R s"
{ time python3 -m pdgeneral run $plate -o /tmp/p1.h5 ; } 2>&1 | tee $OUT/prof-cold.log
{ time python3 -m pdgeneral run $plate -o /tmp/p2.h5 ; } 2>&1 | tee -a $OUT/prof-cold.log
python3 -X importtime -m cProfile -o $OUT/warm.prof -m pdgeneral run $plate -o /tmp/p3.h5 2> $OUT/importtime.txt
python3 -c "import pstats; s=pstats.Stats('$OUT/warm.prof'); s.sort_stats('cumulative').print_stats(70); s.sort_stats('tottime').print_stats(30)" > $OUT/warm-prof.txt
which nsys ncu >> $OUT/prof-cold.log
