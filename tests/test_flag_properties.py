"""Property test over run.py's numeric flags: every combination the rules allow runs to the expected number of
rounds; every other stops with exit code 2 and one line on stderr naming the first rule it breaks — never a
traceback, never a hang, never a refusal of valid flags.

Tried: --nStart and --nQuery from −3 up to beyond the digits pool (1,617 points), --nEnd from 50 below --nStart to
400 above it; --rounds −1..3; --trunc −3..1,700 (−1 = off); --lr among 0, negatives, NaN, ±inf, tiny and normal
values; --nEmb −1..40. About half the values drawn for --trunc and --lr are valid, so that valid runs are tried too.
The rules, in the order run.py applies them: run.check_flags (--nQuery > 0, --nStart ≥ 0, --lr positive and finite,
--nEmb > 0, --rounds ≥ 0), dataset.truncate (--trunc −1 or positive; digits has only classes 0–9, so the pool keeps
min(--trunc, 1,617) points), then run.check_pool (the first batch (--nStart, or --nQuery in a cold start, --nStart 0)
at most the pool; --nEnd at least the first batch and not between it and one query more; when a query round is
planned, --nQuery at most the unlabelled points left after the first batch)."""
import math

import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

import run

POOL = 1617  # digits: 1,797 rows minus a 10 % test split


def pool_size(trunc):
    """The digits pool after --trunc (-1 = the whole pool)."""
    return POOL if trunc == -1 else min(trunc, POOL)


def expected_error(n_start, n_query, n_end, rounds, trunc, lr, n_emb):
    """A part of the one error line run.py must print for these flags (the first rule they break), or None when
    they are valid."""
    first = n_start or n_query
    rules = [(n_query > 0, "--nQuery must be positive"), (n_start >= 0, "--nStart must be at least 0"),
             (math.isfinite(lr) and lr > 0, "--lr must be a positive finite number"),
             (n_emb > 0, f"--nEmb must be positive, got {n_emb}"), (rounds >= 0, "--rounds must be at least 0"),
             (trunc == -1 or trunc > 0, f"--trunc must be positive (or -1 for no truncation), got {trunc}"),
             (first <= pool_size(trunc), f"is larger than the pool of {pool_size(trunc)} points"),
             (n_end >= first, f"--nEnd ({n_end}) is below the first batch ({first}"),
             (not first < n_end < first + n_query, f"--nEnd {n_end} leaves room for no query of --nQuery {n_query}")]
    message = next((message for ok, message in rules if not ok), None)
    left = pool_size(trunc) - first
    if message is None and planned_rounds(n_start, n_query, n_end, rounds) > 0 and left == 0:
        return f"the first batch of {first} labels the whole pool of {first} points, leaving none to query"
    if message is None and planned_rounds(n_start, n_query, n_end, rounds) > 0 and n_query > left:
        return f"--nQuery {n_query} is larger than the {left} unlabelled points left after the first batch of {first}"
    return message


def planned_rounds(n_start, n_query, n_end, rounds):
    """The query rounds --rounds (which caps, never extends, the budget) and the budget ⌊(nEnd − first batch) /
    nQuery⌋ allow, before the pool is counted."""
    budget = (n_end - (n_start or n_query)) // n_query
    return min(rounds, budget) if rounds > 0 else budget


def expected_rows(n_start, n_query, n_end, rounds, trunc):
    """rounds.csv's rows of a valid run: round 0, then the planned rounds that the pool allows."""
    first = n_start or n_query
    return 1 + min(planned_rounds(n_start, n_query, n_end, rounds), (pool_size(trunc) - first) // n_query)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_start=st.integers(-3, 1800), n_query=st.integers(-3, 1800), n_to_query=st.integers(-50, 400),
       rounds=st.integers(-1, 3), trunc=st.one_of(st.sampled_from([-1, 120, 1700]), st.sampled_from([-3, 0])),
       lr=st.one_of(st.sampled_from([1e-12, 1e-3]), st.sampled_from([0.0, -1e-3, math.nan, math.inf, -math.inf])),
       n_emb=st.sampled_from([-1, 0, 8, 40]))
@example(n_start=50, n_query=50, n_to_query=100, rounds=0, trunc=-1, lr=1e-3, n_emb=8)
@example(n_start=1500, n_query=100, n_to_query=500, rounds=3, trunc=-1, lr=1e-3, n_emb=8)  # the pool runs out
@example(n_start=20, n_query=30, n_to_query=80, rounds=2, trunc=120, lr=1e-3, n_emb=8)
@example(n_start=50, n_query=50, n_to_query=50, rounds=3, trunc=-1, lr=1e-3, n_emb=8)  # the budget ends first
@example(n_start=1600, n_query=10, n_to_query=30, rounds=0, trunc=1700, lr=1e-3, n_emb=8)  # --trunc above the pool
@example(n_start=150, n_query=10, n_to_query=20, rounds=0, trunc=120, lr=1e-3, n_emb=8)  # above the truncated pool
@example(n_start=50, n_query=50, n_to_query=50, rounds=0, trunc=0, lr=1e-3, n_emb=8)
@example(n_start=0, n_query=40, n_to_query=100, rounds=0, trunc=-1, lr=1e-3, n_emb=8)  # a cold start
@example(n_start=0, n_query=40, n_to_query=30, rounds=0, trunc=-1, lr=1e-3, n_emb=8)  # --nEnd below its first batch
@example(n_start=50, n_query=50, n_to_query=50, rounds=0, trunc=-1, lr=math.nan, n_emb=8)
@example(n_start=3, n_query=118, n_to_query=118, rounds=0, trunc=120, lr=1e-12, n_emb=8)  # no query fits the pool
@pytest.mark.filterwarnings("ignore:training stopped")
def test_flags_run_or_fail_cleanly(n_start, n_query, n_to_query, rounds, trunc, lr, n_emb, tmp_path_factory,
                                   capsys):
    n_end = n_start + n_to_query
    error = expected_error(n_start, n_query, n_end, rounds, trunc, lr, n_emb)
    assume(error is not None or expected_rows(n_start, n_query, n_end, rounds, trunc) <= 5)  # short examples
    out = tmp_path_factory.mktemp("flags")
    argv = ["--nStart", n_start, "--nQuery", n_query, "--nEnd", n_end, "--rounds", rounds, "--trunc", trunc,
            f"--lr={lr}", "--nEmb", n_emb, "--maxEpochs", "3", "--out", out]
    code = run.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    event(f"exit {code}")
    if error is not None:
        assert code == 2, err
        lines = [ln for ln in err.splitlines() if ln.startswith("run.py: error:")]
        assert len(lines) == 1 and error in lines[0], (error, err)
        return
    assert code == 0, err
    rows = (next(out.glob("*/rounds.csv"))).read_text().splitlines()[1:]
    assert len(rows) == expected_rows(n_start, n_query, n_end, rounds, trunc)
