"""Long selections report their steps (query_strategies.selection.progress), and a run shows them and its training's
epochs on its bar."""
import io

import numpy as np
import pytest
import torch
from tqdm import tqdm

import run
from query_strategies.bait_sampling import bait_select
from query_strategies.batchbald import batchbald_select
from query_strategies.probcover import probcover_select
from query_strategies.selection import progress, reporting


def reports(select):
    """The (stage, done, total) reports made while select() runs."""
    seen = []
    with reporting(lambda *report: seen.append(report)):
        select()
    return seen


def test_progress_reaches_the_innermost_open_reporting_block_and_nothing_outside_one():
    """A report goes to the innermost block being run only; once every block has ended, to none of them."""
    outer, inner = [], []
    progress("before", 0, 1)
    with reporting(lambda *report: outer.append(report)):
        with reporting(lambda *report: inner.append(report)):
            progress("inner", 1, 2)
        progress("outer", 2, 3)
    progress("after", 3, 4)
    assert (outer, inner) == ([("outer", 2, 3)], [("inner", 1, 2)])


def test_greedy_selections_report_every_step_of_their_total():
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(40, 3, generator=g), 1)
    emb = torch.randn(40, 4, generator=g)
    mask = torch.zeros(40, dtype=torch.bool)
    mask[:5] = True
    seen = reports(lambda: bait_select(probs, emb, mask, 6, torch.Generator(), lam=1.0))
    assert seen == [("bait greedy steps", i, 18) for i in range(18)]  # 12 additions, 6 removals
    mc = torch.softmax(torch.randn(4, 30, 3, generator=g), 2)
    assert reports(lambda: batchbald_select(mc, 5, g)) == [("batchbald picks", i, 5) for i in range(5)]
    x = torch.nn.functional.normalize(torch.randn(30, 4, generator=g), dim=1)
    labeled = np.zeros(30, dtype=bool)
    expected = [("probcover picks", i, 4) for i in range(4)]
    assert reports(lambda: probcover_select(x, labeled, 4, g, delta=0.5)) == expected


@pytest.mark.filterwarnings("ignore:training stopped")
def test_a_run_shows_a_long_selection_on_its_bar(tmp_path, capsys):
    assert run.main(["--alg", "bait", "--nStart", "50", "--nQuery", "20", "--nEnd", "70", "--maxEpochs", "5",
                     "--out", str(tmp_path)]) == 0
    assert "query: bait greedy steps 0/60" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:training stopped")
def test_a_run_shows_its_training_on_its_bar_once_a_minute_in_a_log(tmp_path, capsys):
    """Its first epoch at once; in a log file (stderr not a terminal) the next only a minute later, so a round of
    five epochs shows only its first."""
    assert run.main(["--alg", "rand", "--nStart", "50", "--nQuery", "20", "--nEnd", "70", "--maxEpochs", "5",
                     "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "train: epoch 1, accuracy " in err and "train: epoch 2," not in err


def test_a_bar_note_waits_its_interval_between_notes(monkeypatch):
    for interval, shown in ((60.0, ["first"]), (0.0, ["first", "second"])):
        for on_a_terminal in (True, False):
            monkeypatch.setitem(run.PROGRESS_SECONDS, on_a_terminal, interval)
        log = io.StringIO()
        with tqdm(total=2, file=log) as bar:
            show = run.bar_note(bar)
            show("first")
            show("second")
        assert [note for note in ("first", "second") if note in log.getvalue()] == shown
