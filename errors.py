"""UserError: a problem with the user's input (a flag, a data file, a run folder). run.py, sweep.py and the
scripts print it as one line and exit non-zero, without a traceback. TrainingDiverged: a
network's training loss became NaN or infinite (run.py names the round and exits 1). exit_with: the console
commands' exit, quiet when the reader of their output goes away. Parser: argparse whose errors are one line.
quiet_start: Ctrl-C during a script's imports as one line and exit 130."""
import argparse
import difflib
import os
import re
import signal
import sys


class UserError(Exception):
    """A problem with the user's input: the message says what to do."""


def close_names(name, known):
    """The up to 3 names of `known` closest to a mistyped `name` (difflib's ratio at least 0.6), closest first."""
    return difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)


def did_you_mean(name, known):
    """'; did you mean X?' (or 'X or Y?') with close_names(name, known), else ''."""
    close = close_names(name, known)
    return f"; did you mean {' or '.join(close)}?" if close else ""


# What loading a saved state (a checkpoint, a training snapshot) into modules it does not fit raises.
STATE_MISFITS = (KeyError, RuntimeError, TypeError, ValueError, IndexError)


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, a batch scheduler's time limit) from a script's `cli` on: stopped as on Ctrl-C, with the
    same line, saying `terminated`, and exit code 143 (128 + SIGTERM)."""


class HungUp(Terminated):
    """SIGHUP (the terminal closed, an ssh connection dropped): stopped as on SIGTERM, saying `hung up`, and exit
    code 129 (128 + SIGHUP)."""


# SIGHUP, where the system has it (Windows has not)
HANGUP = (signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()


def raise_terminated(signum, frame):
    """SIGTERM's and SIGHUP's handler: Terminated or HungUp, raised where the process is."""
    raise HungUp if signum in HANGUP else Terminated


def stop_on_terminate():
    """raise_terminated for SIGTERM, and for SIGHUP unless it is ignored (`nohup`, which asks the command to outlive
    its terminal); returns the previous handlers, for put_back."""
    signums = [signal.SIGTERM, *(s for s in HANGUP if signal.getsignal(s) is not signal.SIG_IGN)]
    return {signum: signal.signal(signum, raise_terminated) for signum in signums}


def put_back(handlers):
    """Install the handlers of {signal number: handler} `handlers` (what signal.signal returned) again."""
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def stopped_by(e):
    """(word, exit code) for the line of a script stopped by KeyboardInterrupt `e`: Ctrl-C's, SIGTERM's or
    SIGHUP's."""
    if isinstance(e, HungUp):
        return "hung up", 129
    return ("terminated", 143) if isinstance(e, Terminated) else ("interrupted", 130)


class GuardWarning(UserWarning):
    """A round's training stopped short of its target (a guard: the epoch cap, no progress, an unreachable target);
    run.main shows every one, since two rounds can stop with the same words."""


def exit_with(main):
    """Exit with main()'s code. A reader that closes the output early (`sweep.py --dry-run | head`) ends the command
    with exit 1 and no traceback: stdout is pointed at /dev/null so the final flush cannot fail again. A warning
    that `-W error` or PYTHONWARNINGS=error turned into an exception is one line (with the note main added, if any)
    and exit 2. A Ctrl-C that escapes main (after it said how it ended, before exit_quietly ignores Ctrl-C) is exit
    130 and no traceback."""
    try:
        code = main()
        sys.stdout.flush()
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        stdout_to_devnull()
        code = 1
    except Warning as e:
        then = "".join(f"; {note}" for note in getattr(e, "__notes__", ()))
        print(f"{os.path.basename(sys.argv[0])}: error: {e} (a warning, made an error by -W or PYTHONWARNINGS: "
              f"fix its cause or let it warn){then}", file=sys.stderr)
        code = 2
    sys.exit(code)


def devnull_on(fd):
    """Point the file descriptor `fd` at /dev/null (taking that number when it is closed)."""
    null = os.open(os.devnull, os.O_WRONLY)
    if null != fd:
        os.dup2(null, fd)
        os.close(null)


def closed_to_devnull(fd):
    """A text stream writing to /dev/null on the file descriptor `fd` (1 or 2), which the caller closed: Python
    then has no sys.stdout or sys.stderr, and the next file opened would take that number (and a library's output
    with it)."""
    devnull_on(fd)
    return open(fd, "w", closefd=False)


def stdout_to_devnull():
    """Point stdout at /dev/null once its reader has gone (a closed pipe), so that no later write or the final
    flush fails again."""
    devnull_on(sys.stdout.fileno())


INVALID_CHOICE = re.compile(r"argument (\S+): invalid choice: '(.*)' \(choose from")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" to a flag's help only when X says something: not for None, '' or False, nor when
    the help already names the default."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default == "" \
                or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class ExamplesHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """HelpFormatter that prints the description and the epilog (usage examples) as written."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: run.py's, sweep.py's and the benchmarks' parser."""

    def error(self, message):
        """One line, no usage block; an invalid choice gets the closest valid ones (did_you_mean)."""
        self.exit(2, f"{self.prog}: error: {message}{self.suggestion(message)} (see --help)\n")

    def suggestion(self, message):
        """did_you_mean for the value of an `invalid choice` message, among its flag's choices; else ''."""
        m = INVALID_CHOICE.match(message)
        flags = {s: a for a in self._actions for s in a.option_strings}
        if not m or m.group(1).split("/")[0] not in flags:
            return ""
        return did_you_mean(m.group(2), flags[m.group(1).split("/")[0]].choices or ())


def first_paragraph(doc):
    """A module docstring's first paragraph: a parser's description ('' under python -OO, which strips
    docstrings)."""
    return (doc or "").split("\n\n")[0]


def counted(n, noun):
    """"1 <noun>" or "n <noun>s": n of them."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


# What each script's Ctrl-C during its imports leaves (quiet_start).
UNCHANGED_WHILE_STARTING = {"run.py": "nothing was changed", "sweep.py": "no run was started",
                            "agg_results.py": "nothing was written", "embed.py": "nothing was written"}


def interrupted_line(script, left=None):
    """The line a Ctrl-C in `script` prints: what it left, by default that nothing changed
    (UNCHANGED_WHILE_STARTING, true before the flags are read)."""
    return f"{script}: interrupted; {left or UNCHANGED_WHILE_STARTING[script]}"


def starting_line(script):
    """The line Ctrl-C during `script`'s imports prints."""
    return f"{script}: interrupted while starting up; {UNCHANGED_WHILE_STARTING[script]}"


def quiet_start(script):
    """Ctrl-C during the imports that follow (torch's and pandas' take seconds) prints starting_line(script) and
    exits 130 at once, not a KeyboardInterrupt traceback; from the script's `cli` on, Ctrl-C raises
    KeyboardInterrupt again and its `main` says what was left. A character the terminal's encoding lacks (an ASCII
    locale: LC_ALL=C with PYTHONUTF8=0) is printed as its escape (σ as \\u03c3) rather than stopping the script;
    a stream the caller closed (`>&-`, `2>&-`) is /dev/null (closed_to_devnull)."""
    for name, fd in (("stdout", 1), ("stderr", 2)):
        if getattr(sys, name) is None:
            setattr(sys, name, closed_to_devnull(fd))
        elif hasattr(getattr(sys, name), "reconfigure"):
            getattr(sys, name).reconfigure(errors="backslashreplace")

    def handler(signum, frame):
        sys.stderr.write(starting_line(script) + "\n")
        os._exit(130)
    signal.signal(signal.SIGINT, handler)
