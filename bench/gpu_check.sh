#!/usr/bin/env bash
# The CUDA path, checked in one short script (run it on a machine with a GPU, e.g. through the device tool):
#   1. every strategy on MNIST with --device cuda for two query rounds (a one-line status each), and a training
#      continued from its snapshot on CUDA as it would have gone on uninterrupted, and a resnet and a cnn run
#      done twice with identical accuracies and picks;
#   2. CPU-vs-CUDA agreement of the deterministic selections (bench/cuda_agreement.py);
#   3. bench/train_speed.py and bench/run_select.sh on CUDA.
# Usage: bash bench/gpu_check.sh [python]   (OUT=folder for the results; default a temporary folder)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${1:-python}
if ! "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
    echo "gpu_check.sh: error: $PY sees no CUDA device (or cannot import torch); run it on a machine with a GPU" >&2
    exit 1
fi
"$PY" -c "import torch; print(torch.cuda.get_device_name(0))"
OUT=${OUT:-$(mktemp -d)}
echo "results and logs in $OUT"
DATA=${DATA:-../shared/data}
status=0
echo "== 1. every strategy on MNIST, --device cuda, two query rounds"
for alg in $("$PY" -c "from query_strategies import STRATEGIES, ALIASES; print(' '.join(sorted(set(STRATEGIES) - set(ALIASES))))"); do
    start=$SECONDS
    if "$PY" run.py --data MNIST --path "$DATA" --model mlp --alg "$alg" --nStart 100 --nQuery 100 --nEnd 300 \
        --device cuda --out "$OUT/strategies" --force > "$OUT/$alg.log" 2>&1; then
        printf '%-16s ok   %4d s\n' "$alg" "$((SECONDS - start))"
    else
        printf '%-16s FAIL %s\n' "$alg" "$(tail -n 1 "$OUT/$alg.log")"; status=1
    fi
done
"$PY" run.py --data MNIST --path "$DATA" --model cnn --alg badge --nStart 100 --nQuery 100 --nEnd 300 \
    --device cuda --out "$OUT/strategies" --force > "$OUT/cnn.log" 2>&1 && echo "cnn badge ok" || { echo "cnn FAIL"; status=1; }
"$PY" -m pytest -q tests/test_training.py -k "snapshot and cuda" || status=1  # a training snapshot on CUDA
echo "== 1b. the same command twice on CUDA: identical accuracies and picks (README, 'Reproducibility')"
for case in "resnet badge" "cnn bald"; do
    set -- $case
    for copy in a b; do
        "$PY" run.py --data MNIST --path "$DATA" --model "$1" --alg "$2" --nStart 100 --nQuery 100 --nEnd 300 \
            --maxEpochs 100 --device cuda --out "$OUT/twice_$copy" --force > "$OUT/twice_${copy}_$1.log" 2>&1
    done
    run="MNIST_$1_$2_100_seed1"
    if cmp -s <(cut -d, -f1-3 "$OUT/twice_a/$run/rounds.csv") <(cut -d, -f1-3 "$OUT/twice_b/$run/rounds.csv") &&
       cmp -s "$OUT/twice_a/$run/queries.csv" "$OUT/twice_b/$run/queries.csv"; then
        echo "$1 $2 twice: identical"
    else
        echo "$1 $2 twice: DIFFER (or failed: $(tail -n 1 "$OUT/twice_b_$1.log"))"; status=1
    fi
    grep -h "deterministic" "$OUT"/twice_?_"$1".log | sort -u
done
echo "== 2. CPU vs CUDA selections"
"$PY" bench/cuda_agreement.py || status=1
echo "== 3. training and selection speed on CUDA"
"$PY" bench/train_speed.py --device cuda || status=1
bash bench/run_select.sh "$PY" --device cuda || status=1
exit $status
