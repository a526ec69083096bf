#!/usr/bin/env bash
# The CUDA path, checked in one short script on a machine with a GPU (at most about 430 s on one H100 with 16 cores),
# the cheap and most telling checks first:
#   0. a 10-second run.py on digits with --device cuda; when it fails (no CUDA build of torch, a torch the project
#      cannot run on) the script stops at once;
#   1. a resnet and a cnn command run twice on CUDA with identical accuracies and picks (README, "Reproducibility"),
#      and a training continued from its CUDA snapshot as it would have gone on uninterrupted (tests/test_training.py);
#   2. CPU-vs-CUDA agreement of the deterministic selections (bench/cuda_agreement.py);
#   3. bench/train_speed.py and a reduced bench/run_select.sh (n = 10,000) on CUDA;
#   4. every strategy on 5,000 random MNIST pool points (run.py --trunc), two query rounds, JOBS (default 4) at once.
# Each step has a time limit (60 s a strategy) and none runs past DEADLINE + 60 s; one that could not finish within
# its limit by then (DEADLINE default 360) prints `skipped (deadline)` and counts as not run. The last line counts
# the steps passed, failed and not run; exit 1 when one failed.
# Usage: DATA=<folder> bash bench/gpu_check.sh python3
#   DATA: the folder holding MNIST/raw and openml/6.csv (default ../shared/data); OUT: a folder that receives every
#   log as gpu_check_logs.tar.gz (without it the logs stay in a temporary folder, named at the end).
# Through the device tool, which copies the working tree only (not ../shared/data): first, here,
#   mkdir -p .gpu-data && cp -r ../shared/data/MNIST ../shared/data/openml .gpu-data/ &&
#       echo /.gpu-data/ >> .git/info/exclude
# then the device command `DATA=.gpu-data OUT=$OUT bash bench/gpu_check.sh python3` with carry [".gpu-data"] and
# timeout_s 450 (a step past its limit is killed 10 s after its SIGTERM; 450 s leaves room in a 15-minute device
# budget for a second call).
set -uo pipefail
DATA=$(realpath -m "${DATA:-$(dirname "$0")/../../shared/data}")
[[ -z ${OUT:-} ]] || OUT=$(realpath -m "$OUT")
cd "$(dirname "$0")/.."
PY=${1:-python3}
DEADLINE=${DEADLINE:-360}
JOBS=${JOBS:-4}
MNIST=(--data MNIST --trunc 5000 --nStart 100 --nQuery 100 --nEnd 300 --device cuda --path "$DATA" --force)

fail_now() {
    echo "gpu_check.sh: error: $1" >&2
    exit 1
}

if ! "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
    fail_now "$PY sees no CUDA device (or cannot import torch); run it on a machine with a GPU"
fi
for number in DEADLINE JOBS; do
    [[ ${!number} =~ ^[1-9][0-9]*$ ]] || fail_now "$number must be a positive whole number, got '${!number}'"
done
for needed in MNIST/raw openml/6.csv; do
    [[ -e $DATA/$needed ]] || fail_now "$DATA has no $needed; set DATA to the data folder (see the header)"
done
WORK=$(mktemp -d)

record() {
    # record VERDICT LINE: print LINE and count VERDICT (ok, FAIL or skipped) in $WORK/verdicts.
    printf '%s\n' "$2"
    echo "$1" >> "$WORK/verdicts"
}

step() {
    # step NAME LIMIT COMMAND...: run_step, or a `skipped (deadline)` line (status 2) when its LIMIT would run past
    # DEADLINE + 60 s (a step cut short would count as failed).
    if (( SECONDS + $2 > DEADLINE + 60 )); then
        record skipped "$(printf '%-26s skipped (deadline)' "$1")"
        return 2
    fi
    run_step "$@"
}

run_step() {
    # run_step NAME LIMIT COMMAND...: COMMAND, logged to $WORK/NAME.log and stopped after LIMIT seconds (or at
    # DEADLINE + 60 s, when that comes first); one line says how it went. Returns COMMAND's status.
    local name=$1 limit=$(( $2 < DEADLINE + 60 - SECONDS ? $2 : DEADLINE + 60 - SECONDS )) start=$SECONDS status
    shift 2
    timeout -k 10 "$limit" "$@" > "$WORK/$name.log" 2>&1
    status=$?
    if (( status == 0 )); then
        record ok "$(printf '%-26s ok   %4d s' "$name" $((SECONDS - start)))"
    elif (( status == 124 )); then
        record FAIL "$(printf '%-26s FAIL timed out after %d s' "$name" "$limit")"
    else
        record FAIL "$(printf '%-26s FAIL %s' "$name" "$(tail -n 1 "$WORK/$name.log")")"
    fi
    return $status
}

in_parallel() {
    # in_parallel STEP_ARGS...: step STEP_ARGS in the background once fewer than JOBS steps run.
    while (( $(jobs -rp | wc -l) >= JOBS )); do wait -n; done
    step "$@" &
}

show() {
    # show NAME: step NAME's log, indented (the tables of the speed benchmarks), when it ran.
    sed 's/^/    /' "$WORK/$1.log" 2>/dev/null
}

same_results() {
    # same_results NAME A B: whether output folders A and B (one run each) have the same accuracies and picks; not
    # run when either run was skipped (no log A.log or B.log).
    local a=("$2"/*/rounds.csv) b=("$3"/*/rounds.csv)
    if [[ ! -e $2.log || ! -e $3.log ]]; then
        record skipped "$1: skipped (deadline)"
    elif [[ -f $a && -f $b ]] && cmp -s <(cut -d, -f1-3 "$a") <(cut -d, -f1-3 "$b") &&
        cmp -s "${a%/*}/queries.csv" "${b%/*}/queries.csv"; then
        record ok "$1: identical"
    else
        record FAIL "$1: DIFFER (or a run failed)"
    fi
}

finish() {
    # The summary line (stdout and summary.txt), and every log into $OUT/gpu_check_logs.tar.gz when OUT is set.
    local passed failed skipped
    passed=$(grep -cx ok "$WORK/verdicts" 2>/dev/null) failed=$(grep -cx FAIL "$WORK/verdicts" 2>/dev/null)
    skipped=$(grep -cx skipped "$WORK/verdicts" 2>/dev/null)
    local incomplete=""
    (( skipped )) && incomplete=" (deadline of $DEADLINE s reached: the check is incomplete)"
    printf 'gpu_check.sh: %d passed, %d failed, %d not run%s\n' "$passed" "$failed" "$skipped" "$incomplete" |
        tee "$WORK/summary.txt"
    if [[ -n ${OUT:-} ]]; then
        mkdir -p "$OUT" && tar -czf "$OUT/gpu_check_logs.tar.gz" --exclude='*.pt' -C "$WORK" . && rm -rf "$WORK" &&
            echo "logs: $OUT/gpu_check_logs.tar.gz"
    else
        echo "logs: $WORK"
    fi
}
trap finish EXIT

"$PY" -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"
echo "== 0. a short run on digits with --device cuda"
run_step smoke 60 "$PY" run.py --nStart 50 --nQuery 50 --nEnd 150 --maxEpochs 50 --device cuda --path "$DATA" \
    --out "$WORK/smoke" --force || fail_now "the smoke run failed (its last line above), so nothing else was checked"

echo "== 1. the same command twice on CUDA; a training continued from its CUDA snapshot"
for case in "resnet badge" "cnn bald"; do
    set -- $case
    for copy in a b; do
        in_parallel "twice_$1_$copy" 120 "$PY" run.py --model "$1" --alg "$2" --maxEpochs 100 "${MNIST[@]}" \
            --out "$WORK/twice_$1_$copy"
    done
done
in_parallel snapshot 120 "$PY" -m pytest -q -p no:cacheprovider tests/test_training.py -k "snapshot and cuda"
wait
for case in "resnet badge" "cnn bald"; do
    set -- $case
    same_results "$1 $2 twice" "$WORK/twice_$1_a" "$WORK/twice_$1_b"
done
grep -hs "deterministic" "$WORK"/twice_*.log | sort -u

echo "== 2. CPU vs CUDA selections"
step cuda_agreement 60 "$PY" bench/cuda_agreement.py
show cuda_agreement
echo "== 3. training and selection speed on CUDA"
step train_speed 150 "$PY" bench/train_speed.py --device cuda --path "$DATA"
show train_speed
step run_select 150 bash bench/run_select.sh "$PY" --device cuda --n 10000
show run_select

echo "== 4. every strategy on 5,000 MNIST pool points, --device cuda, two query rounds"
LIST="from query_strategies import STRATEGIES, ALIASES; print(' '.join(sorted(set(STRATEGIES) - set(ALIASES))))"
if ! algs=$("$PY" -c "$LIST" 2> "$WORK/strategy_list.log") || [[ -z $algs ]]; then
    record FAIL "strategy list FAIL: $(tail -n 1 "$WORK/strategy_list.log")"
fi
for alg in $algs; do
    in_parallel "$alg" 60 "$PY" run.py --model mlp --alg "$alg" "${MNIST[@]}" --out "$WORK/strategies"
done
wait
! grep -qx FAIL "$WORK/verdicts"
