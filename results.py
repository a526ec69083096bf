"""A run's output folder: config.json, rounds.csv (one row per finished round), queries.csv (the pool indices
labelled in each round), checkpoint.pt (the state after the last finished round, for --resume) and, once the
run has ended, summary.json. Whole files are written atomically (temporary file, then rename); the CSVs are
append-only and flushed after every round."""
import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import torch

from runlock import LOCK_NAME

ROUND_COLUMNS = ["round", "n_labeled", "test_acc", "train_acc", "train_epochs", "epoch_cap_hit", "restarts",
                 "train_seconds", "test_seconds", "infer_seconds", "select_seconds", "query_seconds"]


def write_atomic(path, data):
    """Write bytes or text to `path` so that a reader sees the old file or the new one, never a part."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(tmp, mode) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class RunDir:
    """OUT/<data>_<model>_<alg>_<nQuery>_seed<seed>/ and the files in it."""

    def __init__(self, path):
        self.path = Path(path)
        self.config = self.path / "config.json"
        self.rounds = self.path / "rounds.csv"
        self.queries = self.path / "queries.csv"
        self.summary = self.path / "summary.json"
        self.checkpoint = self.path / "checkpoint.pt"

    def start(self, config):
        """A fresh folder with config.json and the CSV headers (the run's lock file stays)."""
        self.path.mkdir(parents=True, exist_ok=True)
        for f in self.path.iterdir():
            if f.is_file() and f.name != LOCK_NAME:
                f.unlink()
        write_atomic(self.config, json.dumps(config, indent=2, sort_keys=True) + "\n")
        write_atomic(self.rounds, ",".join(ROUND_COLUMNS) + "\n")
        write_atomic(self.queries, "round,index\n")

    def append_round(self, row, queried):
        """Append the pool indices queried in this round, then the round's row; both flushed to disk."""
        append_rows(self.queries, [(row["round"], int(i)) for i in queried])
        append_rows(self.rounds, [[format_value(row[c]) for c in ROUND_COLUMNS]])


    def finish(self, summary):
        """summary.json marks the run as finished (the sweep skips such runs)."""
        rows = self.accuracies()
        summary = dict(summary, final_test_acc=float(rows[-1][1]) if rows else None)
        write_atomic(self.summary, json.dumps(summary, indent=2, sort_keys=True) + "\n")

    def update_config(self, changes):
        """Rewrite config.json with `changes` applied (a resumed run may have a larger budget)."""
        config = json.loads(self.config.read_text())
        config.update(changes)
        write_atomic(self.config, json.dumps(config, indent=2, sort_keys=True) + "\n")

    def read_summary(self):
        return json.loads(self.summary.read_text()) if self.summary.is_file() else None

    def save_checkpoint(self, state):
        """Everything needed to continue after the round just finished (model, generators, strategy state), as
        tensors and plain values only (numpy arrays become tensors), so that loading it can never run code."""
        buf = io.BytesIO()
        torch.save(plain(state), buf)
        write_atomic(self.checkpoint, buf.getvalue())

    def load_checkpoint(self):
        """The saved state, read with torch's restricted unpickler (`weights_only=True`): a file that holds
        anything but tensors and plain containers, numbers and strings is refused without running any of it."""
        try:
            return torch.load(self.checkpoint, weights_only=True)
        except Exception as e:  # a damaged or crafted file raises many kinds
            from dataset import UserError
            raise UserError(f"{self.checkpoint} cannot be read as a checkpoint of this program "
                            f"({type(e).__name__}); start the run again with --force")

    def truncate_to(self, last_round):
        """Keep the complete CSV lines of rounds 0..last_round and drop the rest (a torn last line included)."""
        self.summary.unlink(missing_ok=True)
        for path, n_fields in ((self.rounds, len(ROUND_COLUMNS)), (self.queries, 2)):
            text = path.read_text() if path.is_file() else ""
            lines = text.split("\n")
            header, body = lines[0], lines[1:-1]  # the part after the last newline is torn or empty
            keep = [ln for ln in body if len(ln.split(",")) == n_fields and int(ln.split(",")[0]) <= last_round]
            write_atomic(path, "\n".join([header] + keep) + "\n")

    def accuracies(self):
        """(n_labeled, test_acc) of every complete round row, as written."""
        if not self.rounds.is_file():
            return []
        lines = self.rounds.read_text().split("\n")[1:-1]
        i, j = ROUND_COLUMNS.index("n_labeled"), ROUND_COLUMNS.index("test_acc")
        fields = [ln.split(",") for ln in lines]
        return [(f[i], f[j]) for f in fields if len(f) == len(ROUND_COLUMNS)]


def plain(obj):
    """`obj` with numpy arrays turned into tensors and numpy scalars into Python numbers, containers kept: what
    `torch.load(..., weights_only=True)` accepts."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj)
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def append_rows(path, rows):
    with open(path, "a", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
        f.flush()
        os.fsync(f.fileno())


def format_value(v):
    """CSV text of a value: booleans as 0/1, floats (numpy's too) in their shortest exact form."""
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, np.integer):
        return int(v)
    return v
