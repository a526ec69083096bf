"""pyproject.toml: `pip install -e .` installs every top-level module and package of the project, and each
console command names a function that exists."""
import importlib
import tomllib

from cli import ROOT

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

