"""pyproject.toml: `pip install -e .` installs every top-level module and package of the project, and each
console command names a function that exists and runs its script, Ctrl-C during the script's imports one line."""
import importlib
import subprocess
import sys
import tomllib

import pytest

from cli import ROOT
from ctrl_c import ctrl_c_at, loaded
from errors import starting_line
from procs import start_cli

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_top_level_module_and_package_is_installed():
    setup = PROJECT["tool"]["setuptools"]
    assert sorted(setup["py-modules"]) == sorted(p.stem for p in ROOT.glob("*.py"))
    assert sorted(setup["packages"]) == sorted(p.parent.name for p in ROOT.glob("*/__init__.py"))


def test_console_commands_resolve_to_functions():
    scripts = PROJECT["project"]["scripts"]
    assert set(scripts) == {"badge-run", "badge-sweep", "badge-agg"}
    for target in scripts.values():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), target


def console_command(tmp_path, name):
    """The script pip writes for console command `name` (from pyproject.toml), in tmp_path; the project's folder on
    its path, as `pip install -e .` puts it."""
    module, function = PROJECT["project"]["scripts"][name].split(":")
    path = tmp_path / name
    path.write_text(f"import re\nimport sys\nsys.path.insert(0, {str(ROOT)!r})\nfrom {module} import {function}\n"
                    "if __name__ == '__main__':\n"
                    "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
                    f"    sys.exit({function}())\n")
    return path


@pytest.mark.parametrize("name, usage", [("badge-run", "usage: run.py"), ("badge-sweep", "usage: sweep.py"),
                                         ("badge-agg", "usage: agg_results.py")])
def test_console_commands_run_their_scripts(tmp_path, name, usage):
    proc = subprocess.run([sys.executable, console_command(tmp_path, name), "--help"], capture_output=True,
                          text=True, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith(usage), proc.stderr


def test_ctrl_c_while_a_console_command_imports_is_one_line_and_exit_130(tmp_path):
    """badge-agg caught while agg_results imports its libraries (pandas loaded, torch not yet) printed a
    KeyboardInterrupt traceback, or, started as a background job (SIGINT ignored, as here), went on to its end:
    pip's script imports the module, so the module's `__main__` guard did not apply."""
    command = console_command(tmp_path, "badge-agg")
    code, err = ctrl_c_at(lambda: start_cli(tmp_path / "results", "--fig", tmp_path / "fig", script=command),
                          lambda pid: loaded(pid, "pandas") and not loaded(pid, "libtorch"))
    assert code == 130 and err == starting_line("agg_results.py") + "\n", err
    assert not (tmp_path / "fig").exists()

