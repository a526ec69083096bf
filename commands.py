"""The console commands of pyproject.toml: badge-run, badge-sweep and badge-agg. pip's wrapper imports this module
and calls one of these functions, which makes Ctrl-C during the script's own imports (torch's and pandas' take
seconds) one line and exit 130, as under `python run.py`, before importing the script and calling its `cli`."""
import importlib

from errors import quiet_start


def start(script, module):
    """quiet_start(script), then `module`'s cli()."""
    quiet_start(script)
    importlib.import_module(module).cli()


def badge_run():
    start("run.py", "run")


def badge_sweep():
    start("sweep.py", "scripts.sweep")


def badge_agg():
    start("agg_results.py", "scripts.agg_results")
