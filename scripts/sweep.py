"""Run a grid of experiments through run.py: every combination of data set, model, batch size, algorithm and seed,
once each, on local worker processes or as Ray tasks.

    python scripts/sweep.py --algs rand,conf,badge --seeds 1,2,3 --nQuery 50 --nStart 50 --nEnd 300 --out results

--data, --did, --model, --nQuery, --algs and --seeds take comma-separated lists; every other option (--nStart,
--nEnd, --path, --maxEpochs, --lr, ...) goes unchanged to every run. A run folder
OUT/<data>_<model>_<alg>_<nQuery>_seed<seed>/ with summary.json and nothing left to do under these flags is
skipped (a larger --nEnd continues it); any other existing run folder is continued with run.py --resume (which
refuses a run that has already made more rounds than --nEnd and --rounds allow). A run
folder whose config.json records other result-changing flags (results.RESULT_FLAGS and the strategy's own, e.g.
--lr, --nStart; one it lacks, from an older version, as run.py's default), or whose config.json cannot be read,
is neither skipped nor continued: it is refused with one
line naming them, or the broken file (exit code 1). Each
run's stdout and stderr go to OUT/logs/<run>.log. A failed run is reported (its name, exit code and error line)
and the others go on; the exit code is 1 when any run failed. Data that no run could read (a missing --data or
--test file, an image data set neither under --path nor downloadable) is refused once, before any run starts
(check_data, exit code 2).

Each run's action is decided again the moment it starts, so that two sweeps of one grid (in two terminals, or on
two machines that share --out) share its runs: a run that another process finished meanwhile is skipped, one it
started is resumed, and one that another process is running right now is left to it (reported as `busy`, not as a
failure).

--dry-run prints each run's action and command, and runs nothing; a run it would resume is followed by how far it
got (query rounds done, its training snapshot's epochs, whether a process runs it now).

--backend local (default) runs --workers processes (spawn; 1 by default); each run uses run.py's --threads
(default 1, as a run by hand, so a sweep and a hand run of the same flags pick the same points); they die with the
sweep, and Ctrl-C stops the running runs within seconds (resumable) and starts no queued one. Two sweeps into one
--out never write the same run folder: its lock keeps the second out.
--backend ray submits one Ray task per run: to a new local Ray instance, or with --address to a running cluster
(the repository is shipped as the tasks' working_dir; --out and --path must then be on a file system every node
sees). Each task asks for --cpus-per-run CPUs, and one GPU as well when the cluster has any; at most --workers
tasks are submitted at a time (without --workers, all of them: Ray runs as many as the cluster's CPUs hold).

--grid FILE reads the same options from a TOML file that can be kept beside the results: top-level keys are the
sweep's options without their dashes (algs, seeds, data, did, model, nQuery as lists; out, workers, backend,
address, cpus-per-run), the [run] table holds the run.py flags of every run (nStart = 100, path = "data", ...;
true gives a switch, false leaves it out). Options given on the command line win over the file; a value of the file
that the command line would refuse is refused too, naming the file and the key."""
import ctypes
import itertools
import math
import multiprocessing as mp
import os
import shlex
import signal
import sys
import threading
import time
import tomllib
import traceback
import warnings
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, replace
from io import StringIO
from multiprocessing import resource_tracker
from multiprocessing.connection import wait
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from errors import (HelpFormatter, Parser, UserError, close_names, counted, did_you_mean, exit_with,  # noqa: E402
                    first_paragraph, interrupted_line, put_back, quiet_start, stop_on_terminate, stopped_by)

if __name__ == "__main__":
    quiet_start("sweep.py")

import dataset  # noqa: E402
import run  # noqa: E402
import resume  # noqa: E402
from query_strategies import ALIASES, STRATEGIES  # noqa: E402
from results import RESULT_FLAGS, RunDir, differing_settings, load_state, result_settings  # noqa: E402
from runlock import holder  # noqa: E402
from statefile import StateError, link_refusal, open_regular, read_regular  # noqa: E402
from strategy_params import given_flags, parameters, result_flags  # noqa: E402
from tqdm import tqdm  # noqa: E402

PR_SET_PDEATHSIG = 1  # prctl option from <linux/prctl.h>: the signal this process gets when its parent dies
RAY_RETRIES = 3  # reruns of a Ray task whose node or worker died (Ray's own default, made explicit)
PATH_FLAGS = ("--path", "--test")  # run.py flags naming files or folders, made absolute for every run
NAME_KEYS = ("alg", "model", "nQuery", "seed")  # what a run folder's name says of its run, beside its data
SWEEP_FLAGS = {"--alg", "--seed", "--dummy", "--out", "--force", "--resume", "--data", "--did", "--model", "--nQuery"}
# The grid's top-level key for each run.py flag the sweep sets
GRID_NAMES = {"alg": "algs", "seed": "seeds", "out": "out", "data": "data", "did": "did", "model": "model",
              "nQuery": "nQuery"}


class SweepError(Exception):
    """A problem with the sweep's flags: one line, exit code 2."""


@dataclass
class Job:
    name: str
    argv: list
    action: str  # "run", "resume", "skip" or "refuse"
    log: str
    reason: str = ""  # why a refused run is not run


# ---------------------------------------------------------------- planning

def split_list(text, flag, cast=str):
    """The comma-separated values of a flag, cast (none for an empty text); SweepError when one is empty or does not
    cast."""
    items = [t.strip() for t in str(text).split(",")] if str(text).strip() else []
    if "" in items:
        raise SweepError(f"{flag} {text!r} has an empty item; separate its values with single commas")
    try:
        return [cast(t) for t in items]
    except ValueError:
        raise SweepError(f"{flag} takes comma-separated {cast.__name__} values, got {text!r}") from None


def data_flags(args):
    """One run.py argument pair per data set: each --data name (files made absolute), then each --did > 0
    (digits when neither); SweepError for one file whose name holds a comma."""
    if "," in str(args.data) and Path(args.data).is_file():
        raise SweepError(f"--data {args.data!r}: a comma separates the sweep's data sets, and this file's name holds "
                         f"one; rename the file")
    specs = [["--data", str(Path(d).resolve()) if d.lower().endswith((".csv", ".npz")) else d]
             for d in split_list(args.data, "--data")]
    dids = split_list(args.did, "--did", int)
    if any(d < 0 for d in dids):
        raise SweepError(f"--did takes OpenML data set ids, at least 1 (0: the --data sets only), got {args.did}")
    specs += [["--did", str(d)] for d in dids if d > 0]
    return specs or [[]]


def parse_run_argv(argv):
    """run.py's namespace for argv; SweepError with run.py's one-line message when its parser or its flag checks
    reject them (the strategy's checks, which import its class, only when --select-on, --nStart 0 or a parameter
    of its own is in play; else the warning for another strategy's flag given, as run.py's)."""
    err, given = StringIO(), given_flags(argv)
    try:
        with redirect_stderr(err):
            ns = run.build_parser().parse_args(argv)
        run.check_flags(ns, given)
        if ns.nStart == 0 or ns.select_on != "model" or parameters(ns.alg):
            run.check_selection_flags(ns, given)
        else:
            run.warn_ignored_flags(ns, given, stacklevel=2)  # from here, as check_selection_flags
    except SystemExit:
        raise SweepError(err.getvalue().strip().removeprefix("run.py: error: ")) from None
    except UserError as e:
        raise SweepError(str(e)) from None
    return ns


def action_for(folder, ns):
    """(action, reason) for the run folder `folder` of the run.py flags `ns` (folder_action); refuse one this user
    cannot enter or read (another user's run: an OSError), naming it."""
    try:
        return folder_action(folder, ns)
    except OSError as e:
        return "refuse", (f"{folder} cannot be read ({e.strerror or e}); fix its permissions or move it away, then run "
                          f"the sweep again")


def folder_action(folder, ns):
    """(action, reason): skip when finished with nothing left under these flags (resume.is_finished), read from the
    data these flags name (an older version's run records no source and counts as the same), and no data file
    modified since the run started (data_changed_since); resume any other
    existing run folder (run.py --resume then compares the data's content when it was read from elsewhere: a file
    of the same name in another folder, another --test or --path); run when nothing is there yet; refuse (reason:
    refusal_line) when its config.json records result-changing flags other than these, or when the folder is a
    symbolic link (its run would be made or reused outside --out)."""
    if folder.is_symlink():
        return "refuse", link_refusal(folder)
    if not (folder / "rounds.csv").is_file() and not (folder / "config.json").is_file():
        return "run", ""
    run_dir, planned = RunDir(folder), planned_settings(ns)
    try:
        recorded = presumed_config(run_dir.read_config())
    except StateError as e:  # a config.json that cannot be read: nothing says which run this is
        return "refuse", (f"{e.problem}; move the folder away (or run it by hand with run.py --force), then run "
                          "the sweep again")
    planned = run.kept_select_on(planned, recorded, STRATEGIES[ns.alg])
    differing = misnamed(recorded, planned) + differing_settings(recorded, planned)
    if differing:  # before the summary: an edited config.json no longer matches its summary.json's identity
        return "refuse", refusal_line(folder, recorded, planned, differing)
    try:
        done = run_dir.read_summary()
    except UserError:
        return "resume", ""  # run.py --resume then names the broken file, and only this run fails
    identity = recorded.get("data_identity")
    same_source = not isinstance(identity, dict) or identity.get("source") == run.data_source(ns)
    unchanged = not data_changed_since(folder / "config.json", ns)
    return ("skip" if same_source and unchanged and resume.is_finished(done, run.n_query_rounds(ns)) else "resume"), ""


def data_changed_since(config, ns):
    """Whether a file a run of `ns` reads its data from (dataset.source_files: its --data and --test files, --did's
    PATH/openml/<did>.csv, a built-in image data set's files under --path) was modified or replaced after `config`
    (the run's config.json) was written: rewritten in place, or another file moved or copied with its times (mv,
    cp -p, tar, rsync) over it, which keeps an older modification time but not the inode's change time. Its
    finished run is then resumed rather than skipped, so that run.py compares the content (and refuses other
    data)."""
    files = dataset.source_files(ns.data, ns.did, ns.path, ns.test)
    written = config.stat().st_mtime
    return any(f.is_file() and max(f.stat().st_mtime, f.stat().st_ctime) > written for f in files)


def planned_settings(ns):
    """What a run of `ns` would record of what its folder's name says (NAME_KEYS) and its result-changing flags
    (results.result_settings: its strategy's parameters among them); --device auto is left out (it records the
    device the run found, which on a Ray cluster is the worker's)."""
    planned = {**{k: getattr(ns, k) for k in NAME_KEYS}, **result_settings(vars(ns))}
    if planned.get("device") == "auto":
        del planned["device"]
    return planned


def misnamed(recorded, planned):
    """The keys of NAME_KEYS in which config.json (`recorded`) differs from the run its folder's name stands for
    (`planned`): a folder renamed or copied from another run's (an alias counting as the strategy it names)."""
    def named(key, value):
        return ALIASES.get(value, value) if key == "alg" else value
    return [k for k in NAME_KEYS if k in recorded and named(k, recorded[k]) != planned[k]]


def presumed_config(recorded):
    """config.json's record (`recorded`) with run.py's default for each result-changing flag it lacks: an older
    version's run, made before the flag existed, ran as its default runs (no --imbalance, --select-on model), as
    run.py --resume (resume.LATER_KEYS) and the analysis (agg_read.PRESUMED) take it; --device's default, auto,
    names no device, so an unrecorded device stays unknown."""
    parser = run.build_parser()
    missing = [k for k in (*RESULT_FLAGS, *result_flags(recorded.get("alg"))) if k != "device" and k not in recorded]
    return {**{k: parser.get_default(k) for k in missing}, **recorded}


def refusal_line(folder, recorded, planned, differing):
    """One line: the flags in which the run in `folder` differs from the planned one (as run.py spells them; a
    flag not given: 'no --flag'), and what to do."""
    def flags(values):
        return " ".join(resume.flag_text(k, values.get(k)) for k in differing)
    shown = {**recorded, **result_settings(recorded)}  # a run resumed with other --threads: '1+2'
    mixed = any(shown.get(k) != recorded.get(k) for k in differing)
    was, now = flags(shown), flags(planned)
    return (f"{folder} was made with {was}{' (resumed with another value)' if mixed else ''}, the sweep would run "
            f"{now}; not reused: {'' if mixed else 'run the sweep with those flags, '}move the folder away or use "
            f"another --out")


def plan(args, passthrough):
    """Every combination as a Job, seeds outside algorithms (all algorithms of seed 1 first); an alias runs as the
    strategy it names (kcenter as coreset)."""
    given = [a.lower() for a in split_list(args.algs, "--algs")]
    algs = [ALIASES.get(a, a) for a in given]
    twins = [(a, b) for i, a in enumerate(given) for b in given[i + 1:]
             if a != b and ALIASES.get(a, a) == ALIASES.get(b, b)]
    if twins:
        a, b = twins[0]
        alias = a if a in ALIASES else b
        raise SweepError(f"--algs names {a} and {b}, one strategy ({alias} is an alias of {ALIASES[alias]}); keep one")
    unknown = [a for a in algs if a not in STRATEGIES]
    if unknown:
        named = [a + (f" (did you mean {' or '.join(close)}?)" if (close := close_names(a, STRATEGIES)) else "")
                 for a in unknown]
        raise SweepError(f"unknown algorithm(s) {', '.join(named)}; known: {', '.join(sorted(STRATEGIES))}")
    seeds = split_list(args.seeds, "--seeds", int)
    models, queries = split_list(args.model, "--model"), split_list(args.nQuery, "--nQuery", int)
    if not (algs and seeds and models and queries):
        raise SweepError("--algs, --seeds, --model and --nQuery each need at least one value")
    owned = sorted({a.split("=")[0] for a in passthrough} & SWEEP_FLAGS)
    if "--resume" in owned or "--force" in owned:
        raise SweepError(f"{' and '.join(f for f in owned if f in ('--force', '--resume'))}: the sweep resumes "
                         "unfinished runs and skips finished ones itself; to make a run again, move its folder away "
                         "(or run it by hand with run.py --force)")
    if owned:
        raise SweepError(f"{', '.join(owned)} is set by the sweep; use --algs, --seeds, --data, --did, --model, "
                         f"--nQuery, --out")
    out = Path(args.out).resolve()
    jobs = []
    for data, model, n_query, seed, alg in itertools.product(data_flags(args), models, queries, seeds, algs):
        argv = ["--alg", alg, "--seed", str(seed), "--model", model, "--nQuery", str(n_query), *data,
                *absolute_path(passthrough), "--out", str(out)]
        ns = parse_run_argv(argv)
        name = run.run_name(ns, seed)
        action, reason = action_for(out / name, ns)
        if action == "resume":
            argv.append("--resume")
        jobs.append(Job(name, argv, action, str(out / "logs" / f"{name}.log"), reason))
    check_names_differ(jobs)
    return jobs


def check_names_differ(jobs):
    """SweepError naming the first run folder that two jobs share: two data sets whose names give the same folder
    name (files a/data.csv and b/data.csv, or a file openml6.csv and --did 6), or a value that the lists repeat."""
    first = {}
    for job in jobs:
        if job.name not in first:
            first[job.name] = job
            continue
        data = [data_flag(j.argv) for j in (first[job.name], job)]
        if data[0] != data[1]:
            raise SweepError(f"{data[0]} and {data[1]} give the same run folder name, {job.name}; rename a data "
                             f"file, or sweep them into different --out folders")
        raise SweepError(f"the lists name the run {job.name} twice; remove the repeated value")


def data_flag(argv):
    """The data flag of a job's run.py argv as given ('--data FILE' or '--did N'; '' for the default digits)."""
    flag = next((f for f in ("--data", "--did") if f in argv), None)
    return f"{flag} {argv[argv.index(flag) + 1]}" if flag else ""


def check_local_device(job):
    """SweepError (run.py's line) when the runs, which share their run.py flags, ask for --device cuda on this
    machine without one: once, before any starts, rather than a failed run each (a Ray cluster's workers may have
    the GPU, so only the local backend is checked)."""
    try:
        run.check_device(parse_run_argv(job.argv).device)
    except UserError as e:
        raise SweepError(str(e)) from None


def check_data(jobs, download=True):
    """SweepError (run.py's line) when a data set of the runs to start cannot be read (dataset.check_available: a
    missing --data or --test file, an image data set neither under --path nor downloadable): once, before any run
    starts, rather than a failed run each; an image data set missing under --path is downloaded here, once, into
    the cache its runs read (--did's data is not: its runs read PATH/openml/<did>.csv or fetch it); then the pools
    (check_pools). With download False (a dry run) such a data set is left unchecked, its pools too: the data flags
    (data_flag) of those left are returned."""
    unchecked = []
    for flag, job in {data_flag(j.argv): j for j in jobs}.items():
        ns = parse_run_argv(job.argv)
        if ns.did <= 0:
            try:
                if not dataset.check_available(ns.data, ns.path, ns.test, download):
                    unchecked.append(flag)
            except UserError as e:
                raise SweepError(str(e)) from None
    check_pools([j for j in jobs if data_flag(j.argv) not in unchecked])
    return unchecked


def dry_run(jobs, unchecked):
    """--dry-run's report: each run's action and command (with progress_note for a run to resume) on stdout, then
    the image data sets a sweep would download first (`unchecked`) and the count of each action on stderr; the exit
    code a sweep would end with for its refusals (1 when a run is refused, else 0)."""
    for j in jobs:
        note = progress_note(*run_folder(j.argv)) if j.action == "resume" else ""
        print(f"{j.action:6s} python run.py {shlex.join(j.argv)}{note}")
    for flag in unchecked:
        print(f"sweep.py: {flag} is neither under --path nor in the cache: the sweep downloads it first (not done, "
              f"and its pools not checked, in a dry run)", file=sys.stderr)
    counts = {a: sum(j.action == a for j in jobs) for a in ("skip", "resume", "run", "refuse")}
    print(f"{counted(len(jobs), 'run')}: {counts['skip']} finished (skip), {counts['resume']} to resume, "
          f"{counts['run']} to run, {counts['refuse']} refused", file=sys.stderr)
    return 1 if counts["refuse"] else 0


def check_pools(jobs):
    """SweepError (run.py's line) when a run's data cannot take its flags: a convolutional --model on a table, a
    first batch or --nQuery larger than the pool (run.check_pool), an --imbalance R above n_max, the smallest
    class's pool count (dataset.long_tail): once, before any run starts, rather than a failed run each. Each data
    set is loaded once, and once per seed with --imbalance, whose pool depends on the seed's data draw as in
    run.py. Data that does not load (a CSV that does not parse, a corrupt archive) is left to its runs, which fail
    with run.py's line while the other data sets' runs go on, unless no data set of the sweep loads: then that is
    refused so too, with the first one's line. --did's data is left to the runs unless its CSV is at
    PATH/openml/<did>.csv (no fetch from OpenML here)."""
    import numpy as np

    runs = {}
    for job in jobs:
        ns = run.build_parser().parse_args(job.argv)  # plan has checked the flags
        if ns.did == 0 or dataset.openml_csv(ns.did, ns.path).is_file():
            seed = run.run_seed(ns) if ns.imbalance is not None else None
            runs.setdefault((data_flag(job.argv), ns.path, ns.test, ns.trunc, ns.imbalance, seed), []).append(ns)
    unreadable = []
    for same_pool in runs.values():
        first = same_pool[0]
        rng = np.random.default_rng(run.seeds(run.run_seed(first), 3)[0])
        try:
            ds = dataset.load(first.data, first.did, first.path, rng, first.trunc, first.aug, first.test)
        except UserError as e:
            unreadable.append(str(e))
            continue
        try:
            if first.imbalance is not None:
                ds = dataset.long_tail(ds, first.imbalance, rng)
            for ns in same_pool:
                run.check_pool(ns, ds)
        except UserError as e:
            raise SweepError(str(e)) from None
    if unreadable and len(unreadable) == len(runs):
        raise SweepError(unreadable[0])


def make_logs_folder(out):
    """OUT/logs, created before any run starts; SweepError naming what stands in the way (a symbolic link there
    would put the logs outside --out)."""
    if (out / "logs").is_symlink():
        raise SweepError(f"{out / 'logs'} is a symbolic link, which a sweep never follows; remove it")
    try:
        (out / "logs").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SweepError(f"{e.filename or out / 'logs'}: {e.strerror or e}; use another --out") from None


def absolute_path(passthrough):
    """The pass-through flags with --path and --test made absolute (workers and Ray tasks may run elsewhere)."""
    out = list(passthrough)
    for i, a in enumerate(out):
        flag, eq, value = a.partition("=")
        if a in PATH_FLAGS and i + 1 < len(out) and out[i + 1]:
            out[i + 1] = str(Path(out[i + 1]).resolve())
        elif eq and flag in PATH_FLAGS and value:
            out[i] = f"{flag}={Path(value).resolve()}"
    return out


# ---------------------------------------------------------------- one run, in a worker

def replan(argv):
    """(action, argv, reason) of a planned run at the moment it starts, since another sweep may have started,
    finished or broken it after the plan: 'busy' (another process holds its folder; reason names it), 'skip',
    'refuse', or 'run' / 'resume' with argv carrying --resume for the latter only."""
    argv = [a for a in argv if a != "--resume"]
    ns, folder = run_folder(argv)
    if busy := busy_line(folder):
        return "busy", argv, busy
    action, reason = action_for(folder, ns)
    return action, argv + ["--resume"] * (action == "resume"), reason


def run_folder(argv):
    """(run.py's parsed flags, the run folder) of a planned run's argv, parsed again without its warnings (the plan
    showed them once; the run's log has its own)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ns = parse_run_argv(argv)
    return ns, Path(ns.out) / run.run_name(ns, ns.seed)


def progress_note(ns, folder):
    """What a dry run adds to a run it would resume: '  # ' + the query rounds rounds.csv holds of those planned,
    how far the next round's training got by its last snapshot (training.pt) and whether another process runs it
    now (or that it has done more query rounds than planned, which run.py refuses); the parts whose files cannot be
    read are left out (run.py --resume names a broken file)."""
    run_dir, parts = RunDir(folder), []
    try:
        done, planned = max(len(run_dir.accuracies()) - 1, 0), run.n_query_rounds(ns)
        parts.append(f"{done} of {planned} query rounds done" if done <= planned else
                     f"{done} query rounds done, more than --nEnd and --rounds now allow ({planned}): run.py will "
                     f"refuse to resume it (raise them to continue it)")
    except UserError:
        pass
    if snapshot := snapshot_progress(run_dir.training):
        parts.append(snapshot)
    if pid := lock_holder(folder):
        parts.append(f"another process (pid {pid}) runs it now")
    return "  # " + "; ".join(parts) if parts else ""


def snapshot_progress(path):
    """'round R: E epochs trained (M min), best epoch accuracy A' from a training snapshot, '' without a readable
    one."""
    if not path.is_file():
        return ""
    try:
        state = load_state(path, "a training snapshot", "")
        epochs, best = state["training"]["progress"][:2]
        return (f"round {int(state['round'])}: {int(epochs):,} epochs trained "
                f"({float(state['training']['seconds']) / 60:.0f} min), best epoch accuracy {float(best):.3f}")
    except (UserError, KeyError, TypeError, ValueError):
        return ""


def busy_line(folder):
    """'another process (pid N) is running it' while a process holds the run folder's lock, else ''."""
    pid = lock_holder(folder)
    return f"another process (pid {pid}) is running it" if pid else ""


def lock_holder(folder):
    """The pid of the process that holds the run folder's lock, or None. A lock file run.py would refuse (a link,
    a FIFO) counts as free, so that run.py names it."""
    try:
        return holder(folder)
    except (UserError, OSError):
        return None


def run_job(argv, log_path):
    """The planned run as replan decides now: run.main(argv) with stdout and stderr appended to log_path, or
    nothing; returns (outcome, exit code, line) with outcome 'ran', 'skip' (also for a resume that found the run
    finished), 'refuse' or 'busy' (also for a run that failed because another process took its folder first). A
    fresh run refused because another sweep filled its folder between the replan and run.py's start is planned once
    more (skipped, or resumed)."""
    try:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return "ran", 2, f"{e.filename or Path(log_path).parent}: {e.strerror or e}"
    for attempt in range(2):
        try:
            action, argv, reason = replan(argv)
        except (SweepError, UserError, OSError) as e:
            return "ran", 2, str(e)
        if action in ("skip", "busy", "refuse"):
            return action, 0, reason
        code, failure = run_logged(argv, log_path)
        if failure:
            return "ran", code, failure
        if code and (busy := busy_line(run_folder(argv)[1])):
            return "busy", 0, busy
        if not (code == 2 and action == "run" and attempt == 0 and filled_meanwhile(argv)):
            break
    if code == 0 and action == "resume" and error_line(log_path).endswith(" is already finished"):
        return "skip", 0, ""  # resumed to compare its data (a data file touched since), and nothing left to run
    return "ran", code, error_line(log_path) if code else ""


def run_logged(argv, log_path):
    """(exit code, '') of run.main(argv) with its output appended to log_path (warnings as run.py's command shows
    them); (1, the exception) when it raised; (2, why) when the log cannot be opened (a link, a FIFO, a full
    disk)."""
    try:
        log_fd = open_regular(log_path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
    except StateError as e:
        return 2, str(e)
    except OSError as e:
        return 2, f"{log_path}: {e.strerror or e}"
    with (os.fdopen(log_fd, "a", encoding="utf-8") as log, redirect_stdout(log), redirect_stderr(log),
          warnings.catch_warnings()):
        warnings.showwarning = run.show_warning  # `warning: ...` lines, as run.py's command prints them
        print(f"{ends_mid_line(log_fd)}# {time.strftime('%Y-%m-%dT%H:%M:%S')} python run.py {shlex.join(argv)}",
              flush=True)
        try:
            return run.main(argv), ""
        except SystemExit as e:
            return (0 if e.code is None else e.code if isinstance(e.code, int) else 2), ""
        except Exception as e:
            traceback.print_exc()
            return 1, f"{type(e).__name__}: {e}"


def ends_mid_line(fd):
    """A newline when the file ends without one (a killed run's last progress bar), else ''."""
    size = os.fstat(fd).st_size
    return "\n" if size and os.pread(fd, 1, size - 1) != b"\n" else ""


def filled_meanwhile(argv):
    """Whether the run folder now asks for something other than a fresh run (it holds another process's results)."""
    ns, folder = run_folder(argv)
    try:
        return action_for(folder, ns)[0] != "run"
    except (SweepError, UserError, OSError):
        return False


def error_line(log_path):
    """The last `run.py: ...` line of the log's latest attempt, else its last non-empty line ('(no output)' when
    there is none or it cannot be read)."""
    try:
        text = read_regular(log_path).decode(errors="replace")
    except (StateError, OSError):
        text = ""
    lines = [ln.strip() for ln in text.rsplit("\n# ", 1)[-1].replace("\r", "\n").split("\n") if ln.strip()]
    marked = [ln for ln in lines if ln.startswith("run.py:")]
    return (marked or lines or ["(no output)"])[-1]


# ---------------------------------------------------------------- backends

def run_local(jobs, workers, done):
    """jobs on at most `workers` spawned processes at a time; done(job, outcome, code, line) as each ends. Workers
    die with the sweep (worker_main); when the sweep is interrupted, the running ones are stopped (stop_workers)
    and the queued ones never start."""
    workers = min(workers, len(jobs))
    ctx, queue, running = mp.get_context("spawn"), list(jobs), {}
    resource_tracker.ensure_running()  # started by the first worker otherwise, unblocking SIGINT (sigint_blocked)
    try:
        while queue or running:
            while queue and len(running) < workers:
                job = queue.pop(0)
                with run.interrupt_held(), sigint_blocked():  # a Ctrl-C now stops the sweep once the worker is known
                    try:
                        receive, send = ctx.Pipe(duplex=False)
                        proc = ctx.Process(target=worker_main, args=(job.argv, job.log, os.getpid(), send),
                                           daemon=True)
                        proc.start()
                    except OSError as e:  # out of file descriptors or processes (ulimit -n, ulimit -u)
                        raise SweepError(f"a worker process for {job.name} could not be started ({e.strerror or e}); "
                                         f"raise the limit (ulimit -n, ulimit -u) or lower --workers, then run the "
                                         f"same command again (finished runs are kept)") from None
                    send.close()
                    running[proc.sentinel] = (proc, job, receive)
            for sentinel in wait(list(running)):
                proc, job, receive = running.pop(sentinel)
                proc.join()
                with receive:
                    done(job, *worker_outcome(proc.exitcode, receive, job.log))
    finally:
        stop_workers([proc for proc, _, _ in running.values()])


@contextmanager
def sigint_blocked():
    """SIGINT blocked in this thread for the body: a worker started in it inherits the block, which worker_main
    lifts, so a Ctrl-C (or stop_workers' SIGINT) while the worker starts does not break its imports."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def worker_main(argv, log_path, parent, send):
    """A local worker: in its own process group (a Ctrl-C at the terminal reaches only the sweep, which forwards
    it once), ended when the sweep dies (on Linux killed by the kernel, PR_SET_PDEATHSIG; elsewhere interrupted by
    watch_parent), then run_job; sends its result through `send` and exits with its code."""
    os.setpgrp()
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        watch_parent(parent)
    if os.getppid() != parent:  # the sweep died before the line above took effect
        os._exit(1)
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # held while it started (a Ctrl-C comes now)
        result = run_job(argv, log_path)
    except KeyboardInterrupt:  # interrupted before run.py took over (it exits 130 itself, its rounds saved)
        sys.exit(130)
    send.send(result)
    sys.exit(result[1])


def watch_parent(parent, every=1.0):
    """Interrupt this process (SIGINT: run.py stops with its finished rounds saved) once its parent `parent` is gone,
    checked every `every` seconds from a daemon thread: how a worker dies with the sweep where the kernel has no
    PR_SET_PDEATHSIG (macOS), instead of running on for hours holding its run's lock."""
    def watch():
        while os.getppid() == parent:
            time.sleep(every)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def worker_outcome(exitcode, receive, log_path):
    """(outcome, exit code, line) of a finished worker process: what it sent, else (killed, or failed before it
    could send) 'ran' with its exit code, a signal counting as exit 1."""
    if exitcode < 0:
        guess = " (out of memory?)" if exitcode == -signal.SIGKILL else ""
        return "ran", 1, f"its worker process was killed by {signal.Signals(-exitcode).name}{guess}"
    try:
        if receive.poll():
            return receive.recv()
    except EOFError:  # the worker died before it sent anything (poll answers True at end of file)
        pass
    return "ran", exitcode or 1, error_line(log_path)


def stop_workers(procs, grace=3.0):
    """SIGINT to each live worker (run.py then exits 130 with its finished rounds saved); SIGKILL to any still
    alive `grace` seconds later. A killed run is resumable too: it loses only its unfinished round."""
    procs = [p for p in procs if p.is_alive()]
    for p in procs:
        os.kill(p.pid, signal.SIGINT)
    deadline = time.monotonic() + grace
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()


def ray_task_options(ray, args):
    """--cpus-per-run CPUs per run, and one GPU when the cluster has GPUs; a task whose node or worker dies is run
    again up to RAY_RETRIES times (its run_job resumes the run from its last finished round); on a local instance
    the tasks find the code through PYTHONPATH (on a cluster it travels as the job's working_dir, see start_ray)."""
    options = {"num_cpus": args.cpus_per_run, "max_retries": RAY_RETRIES}
    if ray.cluster_resources().get("GPU", 0) > 0:
        options["num_gpus"] = 1
    if not args.address:
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        options["runtime_env"] = {"env_vars": {"PYTHONPATH": path}}
    return options


def start_ray(args):
    """The ray module, connected: to --address, to the instance this process already runs, or to a new one."""
    try:
        import ray
    except ImportError:
        raise SweepError("--backend ray needs the ray package: pip install 'ray[default]'") from None
    if not ray.is_initialized():
        try:
            if args.address:  # Ray accepts a local working_dir only for the whole job, not per task
                ray.init(address=args.address, log_to_driver=False, runtime_env={
                    "working_dir": str(ROOT), "excludes": [".git", "results", "data", "docs", "bench", ".cache"]})
            else:
                ray.init(include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise SweepError(f"cannot start or reach Ray ({type(e).__name__}: {e})") from None
    return ray


def check_cpus_per_run(ray, cpus):
    """SweepError when no live node has `cpus` CPUs, and a GPU when the cluster has any (a task then asks for one
    besides its CPUs, ray_task_options): Ray would wait for such a node for ever."""
    gpus = ray.cluster_resources().get("GPU", 0) > 0
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive") and (not gpus or n["Resources"].get("GPU", 0) > 0)]
    largest = max((r.get("CPU", 0) for r in nodes), default=0)
    if cpus > largest:
        raise SweepError(f"--cpus-per-run {cpus:g}: no node of the Ray cluster {'with a GPU ' * gpus}has that many "
                         f"CPUs (the largest has {largest:g}); lower it")


def run_ray(ray, jobs, args, done):
    """One Ray task per job, at most --workers of them submitted at a time (without --workers, all at once: the
    cluster's CPUs and --cpus-per-run then decide how many run together); done(job, outcome, code, line) as each
    finishes. When the sweep is interrupted its tasks are cancelled; when the driver dies, Ray itself kills the
    tasks it owned."""
    task = ray.remote(run_job).options(**ray_task_options(ray, args))
    queue, pending = list(jobs), {}
    try:
        while queue or pending:
            while queue and len(pending) < (args.workers or len(jobs)):
                job = queue.pop(0)
                pending[task.remote(job.argv, job.log)] = job
            ready, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(ready[0])
            try:
                outcome, code, line = ray.get(ready[0])
            except ray.exceptions.RayError as e:
                outcome, code, line = "ran", 1, str(e).strip().splitlines()[-1]
            done(job, outcome, code, line)
    finally:
        for ref in pending:  # interrupted: kill the running tasks' workers, drop the queued ones
            ray.cancel(ref, force=True)


# ---------------------------------------------------------------- command line

def build_parser():
    p = Parser(prog="sweep.py", description=first_paragraph(__doc__), allow_abbrev=False,
               formatter_class=HelpFormatter,
               epilog="Any other option goes to every run.py call, e.g. --nStart 100 --nEnd 1000 "
                      "--path ../shared/data --maxEpochs 500.")
    p.add_argument("--grid", metavar="FILE", help="TOML file of these options and a [run] table of run.py flags "
                   "(see README, 'Sweeps'); the command line wins over it")
    p.add_argument("--algs", help="comma-separated --alg names (required, here or in --grid)")
    p.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated seeds")
    p.add_argument("--data", default="", help="comma-separated --data values (digits when neither this nor --did)")
    p.add_argument("--did", default="0", help="comma-separated OpenML ids")
    p.add_argument("--model", default="mlp", help="comma-separated models")
    p.add_argument("--nQuery", default="100", help="comma-separated batch sizes")
    p.add_argument("--out", default="results", help="results folder")
    p.add_argument("--workers", type=int, help="runs at once (local backend: 1 by default; ray: by default as many "
                   "as the cluster's CPUs hold, --cpus-per-run each)")
    p.add_argument("--backend", choices=("local", "ray"), default="local", help="where the runs execute")
    p.add_argument("--address", default=None, help="ray backend: address of a running cluster (default: start one)")
    p.add_argument("--cpus-per-run", type=float, help="ray backend: CPUs per run (without GPUs; default: 1)")
    p.add_argument("--dry-run", action="store_true",
                   help="print what would run (and how far each run to resume got), run nothing")
    return p


DATA_OPTIONS = ("--data", "--did")  # the sweep's options naming its data sets
GRID_LISTS = ("algs", "seeds", "data", "did", "model", "nQuery")  # the grid keys that take a list
GRID_INTS = ("seeds", "did", "nQuery")  # the grid keys whose values are integers
GRID_KEYS = {*GRID_LISTS, "out", "workers", "backend", "address", "cpus-per-run"}


def read_grid(path):
    """A TOML grid file as (sweep option defaults as strings, the [run] table as run.py argv): a list of plain
    values becomes a comma list (an empty list or item, an item holding a comma, a list inside, a value of
    GRID_INTS that is not an integer, or a list for a key of one value is a SweepError), `key = value` in [run]
    becomes run_flag's argv; a text starting with ~ is expanded to the home folder, as a shell would."""
    try:
        grid = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise SweepError(f"--grid {path} cannot be read as TOML ({e}); see README, 'Sweeps'") from None
    run_table = grid.pop("run", {})
    unknown = sorted(set(grid) - GRID_KEYS) + ([] if isinstance(run_table, dict) else ["run (not a table)"])
    if unknown:
        raise SweepError(f"--grid {path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(GRID_KEYS))} "
                         f"and a [run] table")
    grid, run_table = home_expanded(grid), home_expanded(run_table)
    for key, value in grid.items():
        if not isinstance(value, list):
            check_grid_values(path, key, [value])
            continue
        if key not in GRID_LISTS:
            raise SweepError(f"--grid {path}: {key} = {value!r} takes one value (lists go to {', '.join(GRID_LISTS)})")
        if any(isinstance(item, (list, dict)) for item in value):
            raise SweepError(f"--grid {path}: {key} = {value!r} holds a list or table; give a list of plain values")
        if not value or not all(str(item).strip() for item in value):
            raise SweepError(f"--grid {path}: {key} = {value!r} has no value or an empty one; give its values, or "
                             f"leave the key out for the default")
        check_grid_values(path, key, value)
    defaults = {k.replace("-", "_"): ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in grid.items()}
    parser = run.build_parser()
    argv = [a for key, value in run_table.items() for a in run_flag(parser, path, key, value)]
    parsed_or_grid_error(lambda: parser.parse_args(argv), f"--grid {path}: [run]")
    return defaults, argv


def home_expanded(table):
    """The grid `table` with each text (or list item) that starts with ~ expanded to the home folder: no shell
    expands a TOML file's paths, and a folder named ~ would be made in the current one."""
    def expanded(value):
        return os.path.expanduser(value) if isinstance(value, str) and value.startswith("~") else value
    if not isinstance(table, dict):
        return table
    return {k: [expanded(v) for v in value] if isinstance(value, list) else expanded(value)
            for k, value in table.items()}


def check_grid_values(path, key, values):
    """SweepError naming the grid file and `key` when one of its `values` holds a comma (the sweep's lists are
    comma-separated: "rand,conf" would be read as two items, a file a,b.csv as two files) or, for GRID_INTS, is
    not an integer (1.5, true)."""
    for value in values:
        if key in GRID_INTS and (isinstance(value, bool) or not isinstance(value, int)):
            raise SweepError(f"--grid {path}: {key} takes integers, not {value!r}")
        if isinstance(value, str) and "," in value:
            fix = "rename the file" if key == "data" else "give each value as its own list item"
            raise SweepError(f"--grid {path}: {key} item {value!r} holds a comma, which separates the sweep's "
                             f"values; {fix}")


def run_flag(parser, path, key, value):
    """The run.py argv of the grid's `[run] key = value`: `--key value`; true: `--key` alone; false: nothing, for a
    switch of run.py's `parser` only (for a flag that takes a value it would silently mean its default, and true
    would leave it without its value); SweepError for the sweep's own options (out, workers, ...)."""
    if isinstance(value, (list, dict)):
        raise SweepError(f"--grid {path}: [run] {key} must be one value (lists go at the top level)")
    switches = {s for a in parser._actions if a.nargs == 0 for s in a.option_strings}
    known = any(f"--{key}" in a.option_strings for a in parser._actions)
    if isinstance(value, bool) and f"--{key}" not in switches and (known or value is False):
        raise SweepError(f"--grid {path}: [run] {key} = {str(value).lower()}: --{key} is not a switch of run.py; "
                         f"give it a value (a flag of 0 or 1 takes {key} = {int(value)}), or leave the key out for "
                         f"run.py's default")
    if value is False:
        return []
    if f"--{key}" in SWEEP_FLAGS:
        top = GRID_NAMES.get(key)
        fix = (f"give it at the top level, before [run], as {top} = ..." if top else
               "the sweep resumes unfinished runs and skips finished ones itself; leave the key out")
        raise SweepError(f"--grid {path}: [run] {key}: the sweep sets --{key} of each run; {fix}")
    if key in GRID_KEYS:
        raise SweepError(f"--grid {path}: [run] {key} is the sweep's own option; give it at the top level, before "
                         f"[run]")
    return [f"--{key}"] if value is True else [f"--{key}", str(value)]


def check_grid_choices(parser, args, path):
    """SweepError naming the grid file and key when a sweep option with choices (--backend) holds a value the
    grid gave that is not one of them (argparse checks the choices of the command line's values only)."""
    for action in parser._actions:
        value = getattr(args, action.dest, None)
        if action.choices and value not in action.choices:
            key = action.option_strings[0].removeprefix("--")
            raise SweepError(f"--grid {path}: {key} = {value!r} is not one of {', '.join(action.choices)}"
                             f"{did_you_mean(str(value), action.choices)}")


def parsed_or_grid_error(parse, where):
    """parse() (an argparse call); SweepError with the parser's message after `where` (the grid file) when it
    exits on an error."""
    err = StringIO()
    try:
        with redirect_stderr(err):
            return parse()
    except SystemExit:
        message = err.getvalue().strip().split(": error: ", 1)[-1].removesuffix(" (see --help)")
        raise SweepError(f"{where} {message}") from None


def without_flags(argv, flags):
    """argv (`--flag value`, or `--flag` alone) without the flags in `flags`, values included: the grid's run.py
    flags that the command line sets again, so that each run's command names every flag once."""
    kept, dropping = [], False
    for a in argv:
        if a.startswith("--"):
            dropping = a in flags
        if not dropping:
            kept.append(a)
    return kept


def without_grid_data(defaults, argv):
    """The grid's option defaults without its data sets (data and did) when the command line `argv` names any:
    --data and --did name the sweep's data sets together, so either replaces both of the grid's."""
    if any(a.split("=")[0] in DATA_OPTIONS for a in argv):
        return {k: v for k, v in defaults.items() if k not in ("data", "did")}
    return defaults


def parse_args(argv):
    """(sweep options, run.py flags): the command line over the --grid file over the defaults; a run.py flag on the
    command line replaces the grid's."""
    parser = build_parser()
    args, passthrough = parser.parse_known_args(argv)
    if args.grid:
        defaults, run_argv = read_grid(args.grid)
        parser.set_defaults(**without_grid_data(defaults, sys.argv[1:] if argv is None else argv))
        args, passthrough = parsed_or_grid_error(lambda: parser.parse_known_args(argv), f"--grid {args.grid}:")
        check_grid_choices(parser, args, args.grid)
        passthrough = without_flags(run_argv, {a.split("=")[0] for a in passthrough if a.startswith("--")}) \
            + passthrough
    if not args.algs:
        raise SweepError("--algs is required (or algs in the --grid file)")
    return args, passthrough


def check_cpus_flag(args):
    """SweepError when --cpus-per-run is not a positive number, or is given without --backend ray (the local
    backend's runs take run.py's --threads); sets the default, 1 CPU."""
    if args.cpus_per_run is None:
        args.cpus_per_run = 1.0
    elif not (math.isfinite(args.cpus_per_run) and args.cpus_per_run > 0):
        raise SweepError(f"--cpus-per-run must be a positive number of CPUs, got {args.cpus_per_run:g}")
    elif args.backend != "ray":
        raise SweepError("--cpus-per-run needs --backend ray (a local run's threads are run.py's --threads)")


def main(argv=None):
    try:
        args, passthrough = parse_args(argv)
        if args.workers is not None and args.workers < 1:
            raise SweepError("--workers must be at least 1")
        if not args.out.strip():
            raise SweepError("--out is empty; name a results folder, e.g. --out results")
        if args.address and args.backend != "ray":
            raise SweepError("--address needs --backend ray")
        check_cpus_flag(args)
        jobs = plan(args, passthrough)  # run.check_flags refuses an --out that is a file
        todo = [j for j in jobs if j.action in ("run", "resume")]
        if todo and args.backend == "local":
            check_local_device(todo[0])
        unchecked = check_data(todo, download=not args.dry_run) if todo else []
        refused = [j for j in jobs if j.action == "refuse"]
        for j in refused:
            print(f"REFUSED {j.name}: {j.reason}", file=sys.stderr)
        if args.dry_run:
            return dry_run(jobs, unchecked)
        make_logs_folder(Path(args.out))
        ray = start_ray(args) if args.backend == "ray" and todo else None
        if ray:
            check_cpus_per_run(ray, args.cpus_per_run)
    except SweepError as e:
        print(f"sweep.py: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # reading the flags, the grid, the run folders or the data
        print(interrupted_line("sweep.py"), file=sys.stderr)
        return 130
    failed, busy, skipped = [], [], [j for j in jobs if j.action == "skip"]
    bar = None  # made in the try below, so that a Ctrl-C while tqdm draws it is reported as any other

    def done(job, outcome, code, line):
        """Counts a job that ended: skipped now (finished meanwhile), busy (left to the process running it),
        refused now, or ran (failed when its code is not 0)."""
        if outcome == "skip":
            skipped.append(job)
        elif outcome == "busy":
            busy.append((job, line))
            tqdm.write(f"BUSY {job.name}: {line}; left to it", file=sys.stderr)
        elif outcome == "refuse":
            refused.append(replace(job, action="refuse", reason=line))
            tqdm.write(f"REFUSED {job.name}: {line}", file=sys.stderr)
        elif code != 0:
            failed.append((job, code, line))
            tqdm.write(f"FAILED {job.name} (exit {code}): {line}  [log: {job.log}]", file=sys.stderr)
        bar.set_postfix(failed=len(failed), refresh=False)
        bar.update()

    start = time.perf_counter()
    default_stops = stop_on_terminate()
    try:
        try:
            bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), unit="run", desc="sweep", file=sys.stderr)
            if ray:
                run_ray(ray, todo, args, done)
            elif todo:
                run_local(todo, args.workers or 1, done)
        finally:
            put_back(default_stops)
            # the bar's last reference (done's too) dropped with Ctrl-C held: its __del__ runs now, not as main
            # returns, where Python would print and ignore a Ctrl-C that lands in it
            with run.interrupt_held():
                if bar is not None:
                    bar.close()
                bar = None
    except KeyboardInterrupt as e:
        stopped, code = stopped_by(e)
        print(f"sweep.py: {stopped}; run the same command again to skip finished runs and resume the others",
              file=sys.stderr)
        return code
    except SweepError as e:  # a worker could not be started
        print(f"sweep.py: error: {e}", file=sys.stderr)
        return 2
    try:
        return report(jobs, skipped, busy, refused, failed, time.perf_counter() - start)
    except KeyboardInterrupt:
        print("sweep.py: interrupted as the sweep ended; its runs had all ended (run the same command again for the "
              "summary: it skips finished runs)", file=sys.stderr)
        return 130


def report(jobs, skipped, busy, refused, failed, seconds):
    """The sweep's summary line (stdout), then a line for each run that failed, was refused or was left busy
    (stderr); main's exit code: 1 when a run failed or was refused, else 0."""
    ran = len(jobs) - len(skipped) - len(busy) - len(refused) - len(failed)
    busy_note = f"{len(busy)} left to other processes running them, " if busy else ""
    refused_note = f"{len(refused)} refused (made with other settings, or unreadable), " if refused else ""
    print(f"{counted(len(jobs), 'run')}: {ran} ran, {len(skipped)} skipped (finished before), {busy_note}{refused_note}"
          f"{len(failed)} failed, {seconds:.0f} s")
    for job, code, line in failed:
        print(f"failed: {job.name} (exit {code}): {line}", file=sys.stderr)
    for job in refused:
        print(f"refused: {job.name}: {job.reason}", file=sys.stderr)
    for job, line in busy:
        print(f"busy: {job.name}: {line}; run the sweep again after it ends to check on it", file=sys.stderr)
    return 1 if failed or refused else 0


def cli():
    """The console command (`badge-sweep`, or `python scripts/sweep.py`): warnings as run.py's command shows them
    (a `warning: ...` line each); Ctrl-C (SIGINT) stops the sweep even when a non-interactive shell started it in the
    background with SIGINT ignored, and is ignored once main returns (run.exit_quietly); exits with main's code."""
    warnings.showwarning = run.show_warning
    signal.signal(signal.SIGINT, signal.default_int_handler)
    exit_with(lambda: run.exit_quietly(main()))


if __name__ == "__main__":
    cli()
