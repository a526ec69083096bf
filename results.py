"""A run's output folder: config.json, rounds.csv (one row per finished round) and queries.csv (the pool indices
labelled in each round). Whole files are written atomically (temporary file, then rename); the CSVs are
append-only and flushed after every round."""
import csv
import json
import os
from pathlib import Path

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

    def start(self, config):
        """A fresh folder with config.json and the CSV headers."""
        self.path.mkdir(parents=True, exist_ok=True)
        for f in self.path.iterdir():
            if f.is_file():
                f.unlink()
        write_atomic(self.config, json.dumps(config, indent=2, sort_keys=True) + "\n")
        write_atomic(self.rounds, ",".join(ROUND_COLUMNS) + "\n")
        write_atomic(self.queries, "round,index\n")

    def append_round(self, row, queried):
        """Append the pool indices queried in this round, then the round's row; both flushed to disk."""
        append_rows(self.queries, [(row["round"], int(i)) for i in queried])
        append_rows(self.rounds, [[format_value(row[c]) for c in ROUND_COLUMNS]])


def append_rows(path, rows):
    with open(path, "a", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
        f.flush()
        os.fsync(f.fileno())


def format_value(v):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float):
        return repr(v)
    return v
