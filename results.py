"""A run's output folder: config.json, rounds.csv (one row per finished round), queries.csv (the pool indices labelled
in each round, their rows in the data's source and the scores they were picked by), checkpoint.pt (the state after the
last finished round, for --resume), training.pt (the training in progress of a long round, saved every few minutes so
that --resume continues it) and, once the run has ended, summary.json. Whole files are written atomically (temporary
file, then rename); the CSVs are append-only and flushed after every round.

The checkpoint records what it belongs to: the run's id and identity hash (config.json) and, for each CSV, its
size, line count and SHA-256 when the checkpoint was saved. `RunDir.verify` checks all of it before a resume:
the CSVs must start with exactly the recorded bytes; what follows (rows of the round in flight, a torn line) is
cut off; anything else is refused with one line naming the file."""
import csv
import hashlib
import io
import json
import math
import os
import re
import sys
import warnings
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from dataset import content_sha256
from statefile import StateError, hard_link_refusal, open_regular, read_regular
from strategy_params import result_flags
from training import TRAIN_STOPS

# balanced_acc: mean per-class recall on the test set; rarest_labeled: labelled points of the pool's rarest class
ROUND_COLUMNS = ["round", "n_labeled", "test_acc", "balanced_acc", "rarest_labeled", "train_acc", "train_epochs",
                 "train_stop", "restarts", "train_seconds", "test_seconds", "infer_seconds", "select_seconds",
                 "query_seconds"]
# rounds.csv of versions before balanced_acc and rarest_labeled: a resumed run keeps its format
OLD_ROUND_COLUMNS = [c for c in ROUND_COLUMNS if c not in ("balanced_acc", "rarest_labeled")]


def train_stop(text):
    """Why a round's training ended: one of training.TRAIN_STOPS."""
    if text not in TRAIN_STOPS:
        raise ValueError(f"unknown train_stop {text!r}")
    return text


# How each rounds.csv column is read back: a function from the field's text to its value (ValueError if invalid).
ROUND_PARSERS = {"round": int, "n_labeled": int, "test_acc": float, "balanced_acc": float, "rarest_labeled": int,
                 "train_acc": float, "train_epochs": int,
                 "train_stop": train_stop, "restarts": int, "train_seconds": float, "test_seconds": float,
                 "infer_seconds": float, "select_seconds": float, "query_seconds": float}


def optional_float(text):
    """A float field that may be empty (NaN)."""
    return float(text) if text else math.nan


# index: in the pool; row: in the data's source (Dataset.rows); score: what the strategy ranked the pick by (empty
# where it ranks by none: random picks, the initial labels)
QUERY_COLUMNS = ["round", "index", "row", "score"]
QUERY_PARSERS = {"round": int, "index": int, "row": int, "score": optional_float}
# queries.csv of older versions (before `row`, before `score`): a resumed run keeps the format its file began with
OLD_QUERY_COLUMNS = (["round", "index"], ["round", "index", "row"])
STOP_REASONS = ("budget", "rounds", "pool exhausted")
FORCE_HINT = "start the run again with --force (or use another --out)"
SUMMARY_HINT = f"delete it to resume from the checkpoint, or {FORCE_HINT}"
# config.json's keys that run.py writes as records or lists; every other key holds one flag's plain value.
STRUCTURED_KEYS = {"class_names": list, "data_identity": dict, "input_shape": list, "libraries": dict,
                   "segments": list, "startup_seconds": dict, "trainer_identity": dict}
PLAIN = (str, int, float, bool, type(None))
SHAPES = {list: "a list", dict: "a record", PLAIN: "a plain value (text, a number, true/false or null)"}
# The flags, beyond those that name a run folder (data, did, model, alg, nQuery, seed), whose values change a
# run's picks or accuracies: a sweep reuses a run only when they match, and the analysis never averages runs that
# differ in them. nEnd and rounds only stop a run sooner or later; path, out, dummy, resume and force change
# nothing; --kernel's choice is recorded as `trainer` (the analysis warns when a setting mixes trainers). A
# strategy's own flags change results only for that strategy, as it declares them (strategy_params.result_flags).
SEGMENT_FLAGS = ("threads", "device")  # result-changing flags a resume may change (config.json's segments)
RESULT_FLAGS = ("nStart", "lr", "nEmb", "trunc", "aug", "maxEpochs", "patience", "threads", "device", "imbalance",
                "select_on")


def write_atomic(path, data):
    """Write bytes or text to `path` so that a reader sees the old file or the new one, never a part; on an error
    the temporary file is removed and the old file stays. The temporary file is created anew (a link planted in
    its place is removed, never followed) and renamed over `path` (a link there is replaced, not followed)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with naming(path), os.fdopen(fd, mode, encoding=None if mode == "wb" else "utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def naming(path):
    """Re-raise an OSError without a file name (a failed write or fsync) as one naming `path`."""
    try:
        yield
    except OSError as e:
        if e.filename is None:
            raise OSError(e.errno, e.strerror or str(e), str(path)) from None
        raise


def data_label(did, data):
    """The data's part of a run folder's name: openml<did> when did > 0, a data file's stem (suffix matched in any
    case) made safe as a folder name, else the data set's name (digits when empty)."""
    if did > 0:
        return f"openml{did}"
    if data.lower().endswith((".csv", ".npz")):
        return safe_label(Path(data).stem)
    return data or "digits"


def safe_label(text):
    """`text` with every character outside [A-Za-z0-9._-] replaced by '_', leading dots and dashes dropped, at
    most 64 characters ('data' when nothing is left): never a path, a hidden name or an option."""
    label = re.sub(r"[^A-Za-z0-9._-]", "_", text).lstrip(".-")[:64]
    return label or "data"


def result_settings(config):
    """The result-changing flags of a run, {flag: value}: RESULT_FLAGS and its strategy's flags, as far as
    `config` (config.json, or run.py's flags as a dict) holds them (an older version's config lacks some). A run
    resumed with other --threads or --device than it started with records each part's in its segments: such a
    flag's value is then all of them in order, e.g. '1+2', so that the run pools with no run made with one value."""
    found = {k: config[k] for k in (*RESULT_FLAGS, *result_flags(config.get("alg"))) if k in config}
    segments = config.get("segments")
    for key in SEGMENT_FLAGS:
        parts = segment_values(segments, key) if key in found else []
        if len(parts) > 1:
            found[key] = "+".join(map(str, parts))
    return found


def segment_values(segments, key):
    """The distinct values of `key` over config.json's segments, in order (none when segments is not a list of
    records)."""
    if not isinstance(segments, list) or not all(isinstance(s, dict) for s in segments):
        return []
    return list(dict.fromkeys(s[key] for s in segments if isinstance(s.get(key), (int, str))))


def differing_settings(recorded_config, planned_flags):
    """The flags of result_settings(planned_flags) that recorded_config holds with another value, in that order;
    a flag the recorded config lacks (an older version's run) is unknown and not compared."""
    recorded = result_settings(recorded_config)
    return [k for k, v in result_settings(planned_flags).items() if k in recorded and recorded[k] != v]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def identity_hash(config, keys):
    """SHA-256 of the canonical JSON of config[k] for k in keys: what a checkpoint must belong to."""
    return sha256(json.dumps({k: config.get(k) for k in keys}, sort_keys=True).encode())


def data_fingerprint(ds, source):
    """The data's identity: where it came from, its sizes, SHA-256 over the labels, then the features (pool, then
    test), as stored in memory after loading and splitting (dataset.content_sha256; kept with a decoded cache
    entry), and source_sha256, the data's before any seeded step (the same for every seed of a setting: what the
    analysis compares)."""
    return {"source": source, "n_train": len(ds.y_train), "n_test": len(ds.y_test), "n_classes": ds.n_classes,
            "shape": list(ds.X_train.shape[1:]), "sha256": ds.sha256 or content_sha256(ds),
            "source_sha256": ds.source_sha256}


def read_bytes(path, what):
    """The bytes of a state file; StateError when it is missing, a symbolic link, not a regular file or not
    readable."""
    try:
        return read_regular(path)
    except FileNotFoundError:
        raise StateError(f"{path} is missing", hint=what) from None
    except OSError as e:
        raise StateError(f"{path} cannot be read ({e.strerror or type(e).__name__})", hint=what) from None


def read_json_object(path, hint=FORCE_HINT):
    """A state file holding one JSON object; StateError (then `hint`) when it is missing, garbled or not an
    object."""
    try:
        value = json.loads(read_bytes(path, hint))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise StateError(f"{path} is not valid JSON", hint=hint) from None
    if not isinstance(value, dict):
        raise StateError(f"{path} holds a JSON {type(value).__name__}, not an object", hint=hint)
    return value


def check_config(config, path):
    """config.json as run.py writes it: an `alg`, records and lists under STRUCTURED_KEYS (segments: a list of
    records), a plain value (text, a number, true/false or null) under every other key; StateError naming the first
    key that is not."""
    if not isinstance(config.get("alg"), str):
        raise StateError(f"{path} names no strategy (alg), which run.py always records", hint=FORCE_HINT)
    segments = config.get("segments", [])
    if not isinstance(segments, list) or not all(isinstance(s, dict) for s in segments):
        raise StateError(f"{path}: segments is not a list of records, as run.py writes it", hint=FORCE_HINT)
    for key, value in config.items():
        shape = STRUCTURED_KEYS.get(key, PLAIN)
        if not isinstance(value, shape):
            raise StateError(f"{path}: {key} is not {SHAPES[shape]}, as run.py writes it", hint=FORCE_HINT)
    return config


def check_summary(summary, path):
    """summary.json as run.py writes it: stopped_by one of STOP_REASONS and an integer `rounds`."""
    if summary.get("stopped_by") not in STOP_REASONS or type(summary.get("rounds")) is not int:
        raise StateError(f"{path} lacks a valid stopped_by ({', '.join(STOP_REASONS)}) or rounds", hint=SUMMARY_HINT)
    return summary


def complete_lines(text):
    """A CSV's lines that end in a newline: a last line without one was cut off mid-write and is left out."""
    return text.split("\n")[:-1]


def parse_line(line, columns, parsers):
    """One CSV line as {column: parsed value}; ValueError when the field count or a field is wrong."""
    fields = line.split(",")
    if len(fields) != len(columns):
        raise ValueError(f"{len(fields)} fields, not {len(columns)}")
    return {c: parsers[c](f) for c, f in zip(columns, fields)}


def parse_table(data, path, columns, parsers, first_line=2, hint=FORCE_HINT):
    """The complete lines of a CSV (a last line without its newline is torn and left out) as dicts; StateError
    naming the file and line (the first row's being `first_line` of the file) when the header is not `columns` or
    a line does not parse, with `hint`."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise StateError(f"{path} holds bytes that are not text", hint=FORCE_HINT) from None
    lines = complete_lines(text)
    if not lines or lines[0] != ",".join(columns):
        raise StateError(f"{path} does not start with the header {','.join(columns)}", hint=FORCE_HINT)
    rows = []
    for line_no, line in enumerate(lines[1:], start=first_line):
        try:
            rows.append(parse_line(line, columns, parsers))
        except ValueError as e:
            raise StateError(f"{path} line {line_no} is garbled ({e})", hint=hint) from None
    return rows


def read_rounds(path):
    """rounds.csv's complete rows, parsed with ROUND_PARSERS, in its own format (file_columns; StateError on a
    garbled file)."""
    return parse_table(read_bytes(path, FORCE_HINT), path, file_columns(path, ROUND_COLUMNS, [OLD_ROUND_COLUMNS]),
                       ROUND_PARSERS)


def file_columns(path, columns, older):
    """A CSV's columns: those of `older` (the columns of older versions' files) whose header starts the file (a
    resumed run goes on in the format its file began with), else `columns`. Only the header is read: the file grows
    by every round's rows."""
    try:
        with os.fdopen(open_regular(path, os.O_RDONLY), "rb") as f:
            head = f.read(len(",".join(columns)) + 1)
    except (OSError, StateError):  # missing, a link, not a regular file: the reader that needs it says so
        return columns
    found = [c for c in older if head.startswith((",".join(c) + "\n").encode())]
    return found[0] if found else columns


def number(text):
    """A field's int, else its float; ValueError when it holds neither."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def lenient_field(parser, text):
    """A field read for analysis: `parser`'s value, else the number it holds, else None in a column of numbers
    and the text itself in a column of text (a train_stop that a newer version may write)."""
    for read in (parser, number):
        try:
            return read(text)
        except ValueError:
            pass
    return None if parser in (int, float, number) else text


def csv_fields(line):
    """The fields of one CSV line, quotes removed as the csv module reads them; ValueError for what it cannot read
    (a carriage return inside a field)."""
    try:
        return next(csv.reader([line]), [])
    except csv.Error as e:
        raise ValueError(str(e)) from None


def lenient_rounds(text):
    """The complete lines of a rounds.csv's text as (columns, rows), for an analysis that reads what any version
    wrote: the header may name any columns (an older version's lack newer ones; a column no longer written is read
    as numbers); each row is {column: lenient_field(its parser, field)}, without the columns a short line lacks at
    its end; empty lines are skipped, and fields may be quoted (a spreadsheet's or pandas' QUOTE_ALL export).
    ([], []) when no complete line holds anything but blanks; ValueError naming a line with more fields than the
    header."""
    lines = complete_lines(text)
    if not "".join(lines).strip():
        return [], []
    columns = csv_fields(lines[0])
    rows = []
    for line_no, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        fields = csv_fields(line)
        if len(fields) > len(columns):
            raise ValueError(f"line {line_no} has {len(fields)} fields, the header {len(columns)}")
        rows.append({c: lenient_field(ROUND_PARSERS.get(c, number), f) for c, f in zip(columns, fields)})
    return columns, rows


class RunDir:
    """OUT/<data>_<model>_<alg>_<nQuery>_seed<seed>/ and the files in it."""

    def __init__(self, path):
        self.path = Path(path)
        self.config = self.path / "config.json"
        self.rounds = self.path / "rounds.csv"
        self.queries = self.path / "queries.csv"
        self.summary = self.path / "summary.json"
        self.checkpoint = self.path / "checkpoint.pt"
        self.training = self.path / "training.pt"

    def state_files(self):
        """The paths run.py writes in the folder."""
        return self.config, self.rounds, self.queries, self.summary, self.checkpoint, self.training

    def tables(self):
        """(name, path, columns, parsers) of the two CSVs."""
        return [("rounds", self.rounds, self.round_columns(), ROUND_PARSERS),
                ("queries", self.queries, self.query_columns(), QUERY_PARSERS)]

    def query_columns(self):
        """queries.csv's columns: QUERY_COLUMNS, or those of OLD_QUERY_COLUMNS in a file an older version started."""
        return file_columns(self.queries, QUERY_COLUMNS, OLD_QUERY_COLUMNS)

    def round_columns(self):
        """rounds.csv's columns: ROUND_COLUMNS, or OLD_ROUND_COLUMNS in a file an older version started."""
        return file_columns(self.rounds, ROUND_COLUMNS, [OLD_ROUND_COLUMNS])

    def start(self, config, keep=()):
        """A fresh folder with config.json and the CSV headers (StateError when a directory has one's name): the
        state files run.py writes are removed, but those in `keep`; other files (a user's notes) stay."""
        self.path.mkdir(parents=True, exist_ok=True)
        for path in self.state_files():
            if path.is_dir():
                raise StateError(f"{path} is a directory; remove it to start the run again")
        kept = {Path(k).name for k in keep}
        for f in self.state_files():
            if f.name not in kept:
                f.unlink(missing_ok=True)
        write_atomic(self.config, json.dumps(config, indent=2, sort_keys=True) + "\n")
        write_atomic(self.rounds, ",".join(ROUND_COLUMNS) + "\n")
        write_atomic(self.queries, ",".join(QUERY_COLUMNS) + "\n")

    def append_round(self, row, queried, source_rows):
        """Append the pool indices `queried` (Picks) in this round with their rows in the data's source
        (`source_rows`, one per pool point) and their scores, then the round's row; both flushed to disk."""
        width = len(self.query_columns())
        append_rows(self.queries, [(row["round"], int(i), int(source_rows[i]), score_text(s))[:width]
                                   for i, s in zip(queried.index, queried.score)])
        append_rows(self.rounds, [[format_value(row[c]) for c in self.round_columns()]])

    def finish(self, summary):
        """summary.json marks the run as finished (the sweep skips such runs)."""
        rows = self.accuracies()
        summary = dict(summary, final_test_acc=float(rows[-1][1]) if rows else None,
                       run_id=self.read_config()["run_id"])
        write_atomic(self.summary, json.dumps(summary, indent=2, sort_keys=True) + "\n")

    def read_config(self):
        """config.json as a dict (StateError when missing, garbled, not an object or not as run.py writes it:
        check_config)."""
        return check_config(read_json_object(self.config), self.config)

    def update_config(self, changes):
        """Rewrite config.json with `changes` applied (a resumed run may have a larger budget)."""
        config = self.read_config()
        config.update(changes)
        write_atomic(self.config, json.dumps(config, indent=2, sort_keys=True) + "\n")

    def read_summary(self, state=None, longer=None):
        """summary.json, or None when the run has not ended; StateError when it is garbled or disagrees with
        config.json, the checkpoint or the CSVs (check_finished). `state` and `longer`: the checkpoint and what
        `verify` said of it, when the caller has them (else both are read and verified here)."""
        if not os.path.lexists(self.summary):
            return None
        summary = check_summary(read_json_object(self.summary, SUMMARY_HINT), self.summary)
        config = self.read_config()
        if state is None:
            state = self.load_checkpoint()
            longer = self.verify(state, config.get("run_id"), self.identity(config))
        self.check_finished(summary, state, config, longer)
        return summary

    def identity(self, config):
        """resume.run_identity of config.json (`config`): what its checkpoint must match; StateError when it
        records no data identity to compute it from."""
        from resume import run_identity

        try:
            return run_identity(config)
        except (KeyError, TypeError):
            raise StateError(f"{self.config} records no identity of its data (data_identity)", hint=FORCE_HINT) \
                from None

    def check_finished(self, summary, state, config, longer):
        """StateError unless the summary is that of the run config.json describes (its run id) and of the rounds
        the checkpoint and the CSVs hold: the same last round and number of labels, no row after the checkpoint,
        and a pool too small for another query when it says the pool ran out (the pool's size as the data identity
        records it, which the checkpoint's identity hash covers). A summary of an older version names neither run
        id nor labels: the checkpoint's own run id (checked by `verify`) and its round vouch for it."""
        n_labeled = state["files"]["queries"]["lines"] - 1
        facts = [(what, summary.get(key), held) for what, key, held in
                 [("run id", "run_id", config.get("run_id")), ("labelled points", "n_labeled", n_labeled)]
                 if key in summary or "run_id" in summary]
        facts += [("rounds", summary["rounds"], state["round"]),
                  ("CSVs with rows after the last round", 0, len(longer))]
        if summary["stopped_by"] == "pool exhausted":
            left, n_query = config["data_identity"]["n_train"] - n_labeled, config["nQuery"]
            facts.append(("stopped_by", summary["stopped_by"], summary["stopped_by"] if left < n_query else
                          f"{left} unlabelled points, enough for --nQuery {n_query}"))
        for what, said, held in facts:
            if said != held:
                raise StateError(f"{self.summary} disagrees with the run's other files on {what} ({said!r} in it, "
                                 f"{held!r} in them); {SUMMARY_HINT}")

    def file_marks(self):
        """For each CSV: its size, complete line count (header included) and SHA-256, as they are now."""
        marks = {}
        for name, path, _, _ in self.tables():
            data = read_bytes(path, FORCE_HINT)
            marks[name] = {"bytes": len(data), "lines": data.count(b"\n"), "sha256": sha256(data)}
        return marks

    def save_checkpoint(self, state):
        """Everything needed to continue after the round just finished (model, generators, strategy state) plus
        the CSVs' marks, as tensors and plain values only (numpy arrays become tensors), so that loading it can
        never run code."""
        save_state(self.checkpoint, dict(state, files=self.file_marks()))

    def load_checkpoint(self):
        """The saved state (load_state: tensors and plain values only)."""
        state = load_state(self.checkpoint, "a checkpoint", FORCE_HINT)
        if (not isinstance(state, dict) or not isinstance(state.get("files"), dict)
                or type(state.get("round")) is not int):
            raise StateError(f"{self.checkpoint} records no run identity or file marks (another program or an "
                             f"older version wrote it)", hint=FORCE_HINT)
        return state

    def verify(self, state, run_id, identity):
        """Check that the checkpoint belongs to this run (run id and identity hash), that each CSV starts with
        exactly the bytes recorded in it and has no other name (a hard link, which the appends would write too), and
        that the labelled mask marks the points of queries.csv's recorded lines; return {path: recorded size} for
        the CSVs that hold more (the rows of the round in flight or a torn line, both only of round
        state['round'] + 1). StateError otherwise."""
        if state.get("run_id") != run_id or state.get("identity") != identity:
            raise StateError(f"{self.checkpoint} belongs to another run than {self.config} describes", hint=FORCE_HINT)
        longer, recorded = {}, {}
        for name, path, columns, parsers in self.tables():
            mark = state["files"].get(name)
            mark = mark if isinstance(mark, dict) else {}
            data = read_bytes(path, f"the checkpoint of round {state['round']} needs it; {FORCE_HINT}")
            if (links := os.lstat(path).st_nlink) > 1:  # the resume appends to it: checked before anything changes
                raise StateError(hard_link_refusal(path, links))
            size = mark.get("bytes", -1)
            if type(size) is not int or len(data) < size or size < 0 or sha256(data[:size]) != mark.get("sha256") \
                    or data[:size].count(b"\n") != mark.get("lines"):
                raise StateError(f"{path} differs from the {mark.get('lines', '?')} lines the checkpoint of round "
                                 f"{state['round']} recorded (lines removed, changed or garbled)", hint=FORCE_HINT)
            rows = parse_table(data[:size], path, columns, parsers)
            recorded[name] = [row["round"] for row in rows]
            if name == "queries":
                self.check_labeled(state, [row["index"] for row in rows])
            header, covered = (",".join(columns) + "\n").encode(), data[:size].count(b"\n")
            extra = parse_table(header + data[size:], path, columns, parsers, first_line=covered + 1,
                                hint=f"the checkpoint covers its first {covered} lines: delete the lines after them "
                                     f"to resume, or {FORCE_HINT}")
            if any(row["round"] != state["round"] + 1 for row in extra):
                raise StateError(f"{path} holds lines after round {state['round']} + 1 that no checkpoint "
                                 f"covers", hint=FORCE_HINT)
            if len(data) > size:
                longer[path] = size
        self.check_round(state["round"], recorded)
        return longer

    def check_labeled(self, state, queried):
        """StateError unless the checkpoint's labelled mask marks exactly the pool indices `queried` of the
        queries.csv rows it recorded (the initial set's and every query's)."""
        try:
            mask = np.asarray(state["strategy"]["labeled"])
        except (KeyError, TypeError, ValueError, RuntimeError):
            mask = None
        if mask is None or mask.dtype != bool or mask.ndim != 1 or np.flatnonzero(mask).tolist() != sorted(queried):
            raise StateError(f"{self.checkpoint}'s labelled points are not the {len(queried)} that the lines of "
                             f"{self.queries} it recorded name", hint=FORCE_HINT)

    def check_round(self, rd, recorded):
        """StateError unless the rows the checkpoint recorded are those of rounds 0..rd: one row each in
        rounds.csv, and queries.csv's rows of those rounds in order (a forged round number shows here)."""
        queried, n = recorded["queries"], len(recorded["rounds"])  # rd itself may be any forged integer
        if rd != n - 1 or recorded["rounds"] != list(range(n)) or queried != sorted(queried) \
                or sorted(set(queried)) != list(range(n)):
            raise StateError(f"{self.checkpoint} says round {rd} was the last to finish, which the "
                             f"{len(recorded['rounds'])} rows of {self.rounds} it recorded contradict", hint=FORCE_HINT)

    def check_training(self, owner, rd):
        """StateError unless training.pt, when there, is a training snapshot of the run `owner` names
        (read_snapshot; `rd`: the round a resume trains next): checked before a resume changes anything."""
        if os.path.lexists(self.training):
            read_snapshot(self.training, owner, rd)

    def cut_to(self, sizes):
        """Cut each file in {path: size} back to its first `size` bytes (atomically)."""
        for path, size in sizes.items():
            write_atomic(path, read_bytes(path, FORCE_HINT)[:size])

    def check_nothing_finished(self):
        """Without a checkpoint, at most round 0's row (written just before its checkpoint) may exist; StateError
        when summary.json or rows of later rounds show that a checkpoint was lost."""
        if self.summary.exists():
            raise StateError(f"{self.checkpoint} is missing but {self.summary} says the run ended", hint=FORCE_HINT)
        if self.rounds.exists() and read_bytes(self.rounds, FORCE_HINT).count(b"\n") > 2:
            raise StateError(f"{self.checkpoint} is missing but {self.rounds} holds finished rounds", hint=FORCE_HINT)

    def holds_results(self):
        """Whether any state file of a run is there (a fresh start would overwrite it)."""
        return any(p.exists() for p in self.state_files())

    def accuracies(self):
        """(n_labeled, test_acc) of every complete round row, as written."""
        if not self.rounds.is_file():
            return []
        return [(row["n_labeled"], row["test_acc"]) for row in read_rounds(self.rounds)]


def save_state(path, state):
    """torch.save of `state` (plain: tensors and plain values only) to `path`, atomically."""
    buf = io.BytesIO()
    torch.save(plain(state), buf)
    write_atomic(path, buf.getvalue())


def load_state(path, what, hint):
    """What save_state wrote to `path`, read with torch's restricted unpickler (`weights_only=True`): a file that
    holds anything but tensors and plain containers, numbers and strings is refused without running any of it
    (StateError saying it cannot be read as `what`, then `hint`), and so is one whose bytes fail the CRC-32 that
    torch.save's zip archive keeps of each member (torch.load does not check them). Its tensors come back on the
    CPU whatever device saved them (a CUDA run resumed on a machine without one); the learner copies them to its
    own."""
    data = read_bytes(path, hint)
    try:
        damaged = zipfile.ZipFile(io.BytesIO(data)).testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError):
        damaged = None  # not a zip archive: torch.load names what it is below
    if damaged is not None:
        raise StateError(f"{path} is damaged: its member {damaged} fails its CRC-32 check", hint=hint)
    try:
        with warnings.catch_warnings():  # torch's own warnings on a file another program wrote
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")  # a CUDA run's too
    except Exception as e:  # a damaged or crafted file raises many kinds
        raise StateError(f"{path} cannot be read as {what} of this program ({type(e).__name__})", hint=hint)


def read_snapshot(path, owner, rd):
    """The training snapshot in `path` (load_state) for a resume whose next round is `rd`; StateError, saying to
    delete it, when it holds no training snapshot or one of another run than `owner` (run id and identity hash)."""
    hint = f"delete it to train round {rd} from its first epoch"
    state = load_state(path, "a training snapshot", hint)
    if not isinstance(state, dict) or not isinstance(state.get("training"), dict):
        raise StateError(f"{path} holds no training snapshot", hint=hint)
    if any(state.get(k) != v for k, v in owner.items()):
        raise StateError(f"{path} belongs to another run than its folder's config.json describes", hint=hint)
    return state


class TrainingSnapshot:
    """training.pt: round `rd`'s training in progress, saved every `every` seconds (0 = never) by
    training.Trainer.train, so that --resume continues it from the last save instead of its first epoch. A
    snapshot belongs to one run (`owner`: run id and identity hash, as the checkpoint's), one round, and one
    training (its key: training.training_key of the points, labels and generator state it started from)."""

    def __init__(self, path, owner, rd, every):
        self.path, self.owner, self.rd, self.every = Path(path), owner, rd, every

    def save(self, key, training):
        """Save the training state `training` (Trainer.snapshot_state) of the training `key`."""
        save_state(self.path, {**self.owner, "round": self.rd, "key": key, "training": training})

    def load(self, key, trainer):
        """The saved state of training `key` by `trainer` (training's 'compiled' or 'torch' epoch), or None: when
        there is no snapshot, or one of another round (the run stopped after its checkpoint, before removing it),
        of another training of this round (the resumed run picked other points, e.g. under other --threads) or of
        the other trainer (whose optimizer state has another form; a snapshot older than the field counts as this
        trainer's): a warning for the last two; such a file is removed. StateError when the file cannot be read or
        belongs to another run."""
        if not os.path.lexists(self.path):
            return None
        state = read_snapshot(self.path, self.owner, self.rd)
        saved_by = state["training"].get("trainer", trainer)
        if state.get("round") != self.rd or state.get("key") != key or saved_by != trainer:
            if state.get("round") == self.rd:
                why = (f"with the {saved_by} epoch, and this run trains with the {trainer} one" if saved_by != trainer
                       else "on other points or from another generator state than this one's")
                warnings.warn(f"{self.path} was saved by a training of round {self.rd} {why}; round {self.rd} trains "
                              f"from its first epoch", stacklevel=2)
            self.remove()
            return None
        from tqdm import tqdm  # the line goes above the round's progress bar, never onto it

        tqdm.write(f"run.py: round {self.rd} continues its training from epoch {state['training']['progress'][0]} "
                   f"({self.path.name})", file=sys.stderr)
        return state["training"]

    def unfit(self, error):
        """The StateError for a snapshot whose content does not fit the training it was loaded for (`error`: what
        restoring it raised)."""
        return StateError(f"{self.path} does not fit round {self.rd}'s training ({type(error).__name__}); delete it "
                          f"to train round {self.rd} from its first epoch")

    def remove(self):
        """Delete the snapshot (its round is checkpointed, or it is stale)."""
        self.path.unlink(missing_ok=True)


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
    """Append CSV rows to the regular file `path` (never through a link), flushed and synced to disk."""
    with naming(path), os.fdopen(open_regular(path, os.O_WRONLY | os.O_APPEND), "a", newline="",
                                     encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
        f.flush()
        os.fsync(f.fileno())


def score_text(score):
    """queries.csv's text of a score: empty for NaN (no score), else format_value's."""
    return "" if math.isnan(score) else format_value(score)


def format_value(v):
    """CSV text of a value: booleans as 0/1, floats (numpy's too) in their shortest exact form."""
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, np.integer):
        return int(v)
    return v
