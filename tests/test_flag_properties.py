"""Property test over run.py's numeric flags: every combination either runs to the expected number of rounds or
stops with exit code 2 and one line on stderr — never a traceback, never a hang.

Tried: --nStart, --nQuery, --nEnd from −3 up to beyond the digits pool (1,617 points); --rounds −1..3; --trunc
−3..1,700 (−1 = off); --lr among 0, negatives, NaN, ±inf, tiny and normal values; --nEmb −1..40."""
import math

import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

import run

POOL = 1617  # digits: 1,797 rows minus a 10 % test split


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_start=st.integers(-3, 1800), n_query=st.integers(-3, 1800), n_end=st.integers(-3, 2000),
       rounds=st.integers(-1, 3), trunc=st.sampled_from([-3, -1, 0, 120, 1700]),
       lr=st.sampled_from([0.0, -1e-3, math.nan, math.inf, -math.inf, 1e-12, 1e-3]),
       n_emb=st.sampled_from([-1, 0, 8, 40]))
@example(n_start=50, n_query=50, n_end=150, rounds=0, trunc=-1, lr=1e-3, n_emb=8)
@example(n_start=1500, n_query=100, n_end=2000, rounds=3, trunc=-1, lr=1e-3, n_emb=8)  # the pool runs out
@example(n_start=20, n_query=30, n_end=100, rounds=2, trunc=120, lr=1e-3, n_emb=8)
@example(n_start=50, n_query=50, n_end=100, rounds=3, trunc=-1, lr=1e-3, n_emb=8)  # the budget ends before --rounds
@pytest.mark.filterwarnings("ignore:training stopped")
def test_flags_run_or_fail_cleanly(n_start, n_query, n_end, rounds, trunc, lr, n_emb, tmp_path_factory, capsys):
    budget = (n_end - n_start) // max(n_query, 1)
    planned = min(rounds, budget) if rounds > 0 else budget  # --rounds caps, never extends, the budget
    assume(planned <= 4)  # keep each example short
    out = tmp_path_factory.mktemp("flags")
    argv = ["--nStart", n_start, "--nQuery", n_query, "--nEnd", n_end, "--rounds", rounds, "--trunc", trunc,
            f"--lr={lr}", "--nEmb", n_emb, "--maxEpochs", "3", "--out", out]
    try:
        code = run.main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    event(f"exit {code}")
    if code == 2:
        lines = [ln for ln in err.splitlines() if ln.startswith("run.py: error:")]
        assert len(lines) == 1
        return
    assert code == 0, err
    assert n_query > 0 and n_start > 0 and n_end >= n_start and lr > 0 and math.isfinite(lr) and n_emb > 0
    assert rounds >= 0
    rows = (next(out.glob("*/rounds.csv"))).read_text().splitlines()[1:]
    if trunc == -1:
        assert len(rows) == 1 + min(planned, (POOL - n_start) // n_query)
