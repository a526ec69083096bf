#!/usr/bin/env bash
# The MNIST sweep of README.md (torchvision's MNIST: 60,000 pool images, 10,000 test): mlp, batch 100,
# 100 -> 1000 labels, every round trained to 99 % training accuracy, 5 seeds, then the paper's analysis into
# docs/mnist/. Rerunning it skips finished runs and resumes the others; SEEDS, NEND, ALGS, OUT, FIG and PYTHON
# override the defaults. bait comes first in ALGS so that its long runs (about 1 min per query over the
# 60,000-image pool on the 2-core CPU) start early.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
DATA=${DATA:-../shared/data}
OUT=${OUT:-results/mnist}
FIG=${FIG:-docs/mnist}
ALGS=${ALGS:-bait,rand,conf,marg,entropy,coreset,badge,kmeans,bald,albl}
NEND=${NEND:-1000}
SEEDS=${SEEDS:-1,2,3,4,5}

"$PYTHON" scripts/sweep.py --data MNIST --path "$DATA" --model mlp --nQuery 100 --nStart 100 --nEnd "$NEND" \
    --algs "$ALGS" --seeds "$SEEDS" --workers 2 --out "$OUT"
status=$?
"$PYTHON" scripts/agg_results.py "$OUT" --fig "$FIG" || status=$?
exit $status
