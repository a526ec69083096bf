"""Everything the README tells a reader to type or open exists: each `python run.py`, `scripts/sweep.py` and
`scripts/agg_results.py` command line in its shell blocks parses with the real parsers (grids read, flags known),
no analysis command writes into the committed figures under docs/, and every repository path it names (links,
scripts, grids, docs) is there. Its top-level sections follow a researcher's workflow (install, quick start,
reproducing the papers, ..., differences from the original), it links the detail pages in docs/, and no document
sends the reader outside the repository."""
import re
import shlex

import pytest

import run
from cli import ROOT
from scripts import agg_results, embed, sweep

README = (ROOT / "README.md").read_text()


def fenced_blocks(text):
    """(language, body) of each fenced code block of a Markdown text."""
    blocks, language, body = [], None, []
    for line in text.splitlines():
        if line.startswith("```"):
            if language is None:
                language, body = line[3:].strip(), []
            else:
                blocks.append((language, "\n".join(body)))
                language = None
        elif language is not None:
            body.append(line)
    return blocks


SHELL_BLOCKS = [body for language, body in fenced_blocks(README) if language in ("", "bash", "sh", "shell")]
TOOLS = {"run.py": "run", "badge-run": "run", "scripts/sweep.py": "sweep", "badge-sweep": "sweep",
         "scripts/agg_results.py": "agg", "badge-agg": "agg", "scripts/embed.py": "embed"}
REPO_DIRS = ("scripts/", "docs/", "bench/", "tests/", "kernels/", "query_strategies/", ".ci/")
PLACEHOLDER = {"$seed": "1", "$s": "1", "HOST:6379": "127.0.0.1:6379"}


def shell_lines():
    """The README's shell command lines: continuations joined, comments and prompts dropped."""
    for block in SHELL_BLOCKS:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                yield line


def tool_commands():
    """(tool kind, argv) of each README line that calls run.py, the sweep or the analysis; `...`, `[`/`]` around
    optional flags and shell placeholders are dropped or replaced by a value."""
    found = []
    for line in shell_lines():
        for part in re.split(r"&&|;|\|", line):
            words = shlex.split(part.replace("[", " ").replace("]", " "))
            if words[:1] == ["python"]:
                words = words[1:]
            if words and words[0] in TOOLS:
                argv = [PLACEHOLDER.get(w, w) for w in words[1:] if w != "..."]
                found.append((TOOLS[words[0]], argv))
    return found


COMMANDS = tool_commands()


def test_the_readme_has_commands_of_each_tool():
    assert {kind for kind, _ in COMMANDS} == {"run", "sweep", "agg", "embed"}


@pytest.mark.parametrize("kind, argv", COMMANDS, ids=[" ".join(a)[:60] for _, a in COMMANDS])
def test_each_readme_command_parses(kind, argv, monkeypatch):
    monkeypatch.chdir(ROOT)
    if kind == "run":
        run.build_parser().parse_args(argv)
    elif kind == "embed":
        embed.parse_args(argv)
    elif kind == "sweep":
        named = "--algs" in argv or "--grid" in argv
        args, passthrough = sweep.parse_args(argv + ([] if named else ["--algs", "rand"]))
        run.build_parser().parse_args(passthrough)
    else:
        args = agg_results.parse_args(argv)
        assert not (ROOT / args.fig).resolve().is_relative_to(ROOT / "docs"), \
            f"the README's analysis command writes into the committed figures: --fig {args.fig}"


def named_paths():
    """Repository paths the README names: relative link targets and `code` spans that start with a repository
    folder or name a file of the repository's root."""
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    spans = re.findall(r"`([^`\s]+)`", README)
    root_files = {p.name for p in ROOT.iterdir()}
    paths = [p for p in links if "://" not in p]
    paths += [s for s in spans if s.startswith(REPO_DIRS) or s in root_files or s.split("/")[0] in root_files]
    return sorted({p.rstrip(".,:") for p in paths if "<" not in p and not p.startswith("-")})


@pytest.mark.parametrize("path", named_paths())
def test_each_named_path_exists(path):
    assert any(ROOT.glob(path)) if "*" in path else (ROOT / path).exists(), f"README names {path}, which is missing"


WORKFLOW = ["Install", "Quick start", "Reproducing the papers", "Running experiments", "Your own data",
            "Choosing a strategy", "Reading the results", "Sweeps", "Analysis", "Interrupted runs and `--resume`",
            "Reproducibility", "Results", "Tests", "Code layout, and adding a strategy", "Benchmarks",
            "Differences from the original"]


def test_the_readme_reads_top_down_as_a_researchers_workflow():
    headings = [line[3:].strip() for line in README.splitlines() if line.startswith("## ")]
    assert headings == WORKFLOW


@pytest.mark.parametrize("page", ["docs/TRAINING.md", "docs/STATE.md", "docs/PROTOCOL.md", "docs/FIDELITY.md"])
def test_the_readme_links_the_detail_pages(page):
    assert f"]({page})" in README


def test_no_document_points_outside_the_repository():
    for doc in ["README.md", *(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]:
        text = (ROOT / doc).read_text()
        assert "shared/docs" not in text and "SPEC §" not in text, doc


def slugs(text):
    """The anchors GitHub gives a Markdown text's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("target, anchor", sorted(set(re.findall(r"\]\(([^)#\s]*)#([^)\s]+)\)", README))))
def test_each_readme_anchor_names_a_heading(target, anchor):
    assert anchor in slugs((ROOT / target).read_text() if target else README), f"no heading for {target}#{anchor}"
