#!/usr/bin/env bash
# The selection targets of the performance issues, one bench/selection_speed.py run each, printed as a table
# (BENCHMARKS.md, "Selection only"; the n = 50,000 BAIT row runs alone: about 4 min on a 2-core CPU).
#   bench/run_select.sh [python] [extra bench/selection_speed.py flags, e.g. --device cuda]
# A failed run stops the table with selection_speed.py's one-line error and exit 1.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python
if [[ $# -gt 0 && $1 != -* ]]; then PY=$1; shift; fi
if [[ " $* " == *" --help "* || " $* " == *" -h "* ]]; then
    sed -n '2,5s/^# \{0,1\}//p' "$0"
    exit 0
fi
ROW='%(alg)-14s %(n)6d %(d)4d %(classes)3d %(k)5d %(labeled)6d %(seconds)9.3f %(cpu_seconds)9.3f %(peak_rss_mb)9.0f'
printf '%-14s %6s %4s %3s %5s %6s %9s %9s %9s\n' alg n d C k L seconds cpu_s rss_mb
run() {
    local out
    out=$("$PY" bench/selection_speed.py "$@") || exit 1
    tail -n 1 <<< "$out" | "$PY" -c "import json, sys; print('$ROW' % json.load(sys.stdin))"
}
run --alg badge --n 20000 --d 128 --classes 10 --k 1000 "$@"
run --alg badge --n 50000 --d 512 --classes 10 --k 1000 "$@"
run --alg coreset --n 50000 --d 512 --k 1000 "$@"
run --alg coreset --n 50000 --d 512 --k 1000 --labeled 1000 "$@"
run --alg bait --n 2000 --d 32 --classes 10 --k 20 --labeled 100 "$@"
run --alg kdpp --n 5000 --d 64 --classes 10 --k 100 "$@"
run --alg kmeans --n 20000 --d 128 --k 100 "$@"
run --alg batchbald --n 20000 --d 8 --classes 10 --k 20 --draws 10 "$@"
run --alg batchbald --n 50000 --d 8 --classes 10 --k 20 --draws 10 "$@"
run --alg powerbald --n 50000 --d 8 --classes 10 --k 1000 --draws 10 "$@"
run --alg meanstd --n 50000 --d 8 --classes 10 --k 1000 --draws 10 "$@"
run --alg typiclust --n 20000 --d 128 --k 100 --labeled 100 "$@"
run --alg typiclust --n 50000 --d 128 --k 100 --labeled 100 "$@"
run --alg typiclust --n 50000 --d 128 --k 1000 --labeled 1000 "$@"
run --alg probcover --n 20000 --d 128 --k 100 --labeled 100 "$@"
run --alg probcover --n 50000 --d 128 --k 100 --labeled 100 "$@"
run --alg cluster_margin --n 20000 --d 128 --k 100 "$@"
run --alg cluster_margin --n 50000 --d 128 --k 100 "$@"
