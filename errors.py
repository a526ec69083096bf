"""UserError: a problem with the user's input (a flag, a data file, a run folder). run.py, sweep.py and the
scripts print it as one line and exit non-zero, without a traceback. TrainingDiverged: a
network's training loss became NaN or infinite (run.py names the round and exits 1)."""
import difflib


class UserError(Exception):
    """A problem with the user's input: the message says what to do."""


def close_names(name, known):
    """The up to 3 names of `known` closest to a mistyped `name` (difflib's ratio at least 0.6), closest first."""
    return difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)


def did_you_mean(name, known):
    """'; did you mean X?' (or 'X or Y?') with close_names(name, known), else ''."""
    close = close_names(name, known)
    return f"; did you mean {' or '.join(close)}?" if close else ""


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""
