"""A run stopped after one round and resumed, against the same run uninterrupted (in-process, run.main)."""
import json

import pandas as pd
import torch

import run

COLUMNS = ["n_labeled", "test_acc", "train_acc", "train_epochs", "train_stop"]


def resume_after_one_round(flags, folder, tmp_path):
    """(the checkpoint after round 1, config.json) of `flags` run into tmp_path/parts/`folder` for one round then
    resumed, asserting its queries.csv and rounds.csv's deterministic columns equal those of an uninterrupted run."""
    assert run.main([*flags, "--out", str(tmp_path / "whole")]) == 0
    assert run.main([*flags, "--out", str(tmp_path / "parts"), "--rounds", "1"]) == 0
    state = torch.load(tmp_path / "parts" / folder / "checkpoint.pt", weights_only=False)
    assert run.main([*flags, "--out", str(tmp_path / "parts"), "--resume"]) == 0
    whole, parts = tmp_path / "whole" / folder, tmp_path / "parts" / folder
    assert (whole / "queries.csv").read_text() == (parts / "queries.csv").read_text()
    assert pd.read_csv(whole / "rounds.csv")[COLUMNS].equals(pd.read_csv(parts / "rounds.csv")[COLUMNS])
    return state, json.loads((whole / "config.json").read_text())
