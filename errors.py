"""UserError: a problem with the user's input (a flag, a data file, a run folder). run.py, sweep.py and the
scripts print it as one line and exit non-zero, without a traceback. TrainingDiverged: a
network's training loss became NaN or infinite (run.py names the round and exits 1)."""


class UserError(Exception):
    """A problem with the user's input: the message says what to do."""


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""
