#!/usr/bin/env bash
# The letter sweep of README.md (OpenML #6: 16 features, 26 classes, pool 18,000, test 2,000): mlp, batch 100,
# 100 -> 700 labels, 10 algorithms, 5 seeds, then the paper's analysis into docs/letter/. Rerunning it skips
# finished runs and resumes the others; SEEDS, NEND, ALGS, OUT, FIG and PYTHON override the defaults.
#
# Budget, measured 2026-11-25 on the 2-core CPU (no GPU), 2 workers with one torch thread each: a run of a cheap
# algorithm takes about 40 s (training; most rounds after the first stop at the 2000-epoch cap with training
# accuracy 0.81-0.99, mean 0.91), a bait run about 12.5 min (2 min per query of 100 over the 26-class pool).
# Seeds 1-3 took 31 min (1868 s), seeds 4-5 another 19 min (1113 s): 50 min in all. bait comes first in ALGS so that its long runs start
# early instead of ending the sweep alone.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
DATA=${DATA:-../shared/data}
OUT=${OUT:-results/letter}
FIG=${FIG:-docs/letter}
ALGS=${ALGS:-bait,rand,conf,marg,entropy,coreset,badge,kmeans,bald,albl}
NEND=${NEND:-700}
SEEDS=${SEEDS:-1,2,3,4,5}
MAXEPOCHS=${MAXEPOCHS:-2000}

"$PYTHON" scripts/sweep.py --did 6 --path "$DATA" --model mlp --nQuery 100 --nStart 100 --nEnd "$NEND" \
    --maxEpochs "$MAXEPOCHS" --algs "$ALGS" --seeds "$SEEDS" --workers 2 --out "$OUT"
status=$?
"$PYTHON" scripts/agg_results.py "$OUT" --fig "$FIG" || status=$?
exit $status
