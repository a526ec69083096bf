#!/usr/bin/env bash
# The letter sweep of README.md (OpenML #6: 16 features, 26 classes, pool 18,000, test 2,000): mlp, batch 100,
# 100 -> 700 labels, 10 algorithms, 5 seeds, then the paper's analysis into docs/letter/. Rerunning it skips
# finished runs and resumes the others; SEEDS, NEND, ALGS, OUT, FIG and PYTHON override the defaults.
#
# Every round trains to 99 % training accuracy (the paper's protocol, no epoch cap). Budget, measured 2026-11-29
# on the 2-core CPU (no GPU), 2 workers with one thread each, beside other work: a run of a cheap algorithm
# takes about 1 min (3,000-8,000 epochs per round at 700 labels), a bait run about 15-25 min (2.5-3.5 min per
# query of 100 over the 26-class pool). bait comes first in ALGS so that its long runs start early instead of
# ending the sweep alone.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
DATA=${DATA:-../shared/data}
OUT=${OUT:-results/letter}
FIG=${FIG:-docs/letter}
ALGS=${ALGS:-bait,rand,conf,marg,entropy,coreset,badge,kmeans,bald,albl,batchbald,powerbald,powermargin,varratio,meanstd,typiclust,probcover,cluster_margin}
NEND=${NEND:-700}
SEEDS=${SEEDS:-1,2,3,4,5}

"$PYTHON" scripts/sweep.py --did 6 --path "$DATA" --model mlp --nQuery 100 --nStart 100 --nEnd "$NEND" \
    --algs "$ALGS" --seeds "$SEEDS" --workers 2 --out "$OUT"
status=$?
"$PYTHON" scripts/agg_results.py "$OUT" --fig "$FIG" || status=$?
exit $status
