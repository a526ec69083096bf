#!/usr/bin/env bash
# Issue 4 item 3: the letter sweep (OpenML #6: 16 features, 26 classes, pool 18,000, test 2,000), mlp, batch 100,
# 3 seeds, then the paper's analysis into docs/letter/. Rerunning it skips finished runs and resumes the others.
#
# Budget, measured 2026-11-23 on the 2-core CPU (no GPU) while shared with other work (load average 2-5), one
# torch thread per run (sweep.py gives each of its --workers cores // workers threads):
#   python run.py --did 6 --path ../shared/data --alg rand --nStart 100 --nQuery 100 --nEnd 1000 --out /tmp/x
#     158 s (training 154 s; every round after the first stops at the 2000-epoch cap, training accuracy 0.88-0.96;
#     test accuracy 0.44 at 100 labels, 0.70 at 500, 0.74 at 1000); with 2 threads on the loaded machine one
#     round took 131 s instead of 5 s.
#   query seconds of one round at 100 labels (--nEnd 200): bait 182, kmeans 2.0, baseline 0.6, bald 0.3,
#     coreset 0.2, badge 0.1, albl 0.1; conf / marg / entropy / rand well under 0.1.
# Hence --nEnd 700 (6 query rounds, checkpoints 100, 200, 300, 500): a cheap run ~1.4 min, a bait run ~20 min;
# 10 algorithms x 3 seeds = 30 runs ~ 100 CPU-minutes ~ 50-55 min on 2 workers. bait comes first in ALGS so that
# its long runs start early instead of ending the sweep alone.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
DATA=${DATA:-../shared/data}
OUT=${OUT:-results/letter}
FIG=${FIG:-docs/letter}
ALGS=${ALGS:-bait,rand,conf,marg,entropy,coreset,badge,kmeans,bald,albl}
NEND=${NEND:-700}
MAXEPOCHS=${MAXEPOCHS:-2000}

"$PYTHON" scripts/sweep.py --did 6 --path "$DATA" --model mlp --nQuery 100 --nStart 100 --nEnd "$NEND" \
    --maxEpochs "$MAXEPOCHS" --algs "$ALGS" --seeds 1,2,3 --workers 2 --out "$OUT"
status=$?
"$PYTHON" scripts/agg_results.py "$OUT" --fig "$FIG" || status=$?
exit $status
