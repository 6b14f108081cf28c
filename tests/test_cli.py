"""The command line's answers to a missing extra and its help, run as a user would (a subprocess)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from reranker.cli import EXTRA_OF_MODULE, build_parser

# Runs the CLI with the named modules made unimportable, as in a venv without that extra.
WITHOUT = (
    "import sys; [sys.modules.__setitem__(m, None) for m in {modules!r}]; "
    "from reranker.cli import main; sys.exit(main({argv!r}))"
)


def run_without(modules: list[str], argv: list[str]) -> subprocess.CompletedProcess[str]:
    code = WITHOUT.format(modules=modules, argv=argv)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("modules", "argv", "extra"),
    [
        (["torch"], ["models", "export", "src", "out", "--name", "m"], "export"),
        (["ranx", "bm25s"], ["eval", "run", "data", "--model", "m"], "eval"),
    ],
)
def test_missing_extra_is_one_line_naming_it_and_exit_2(
    tmp_path: Path, modules: list[str], argv: list[str], extra: str
) -> None:
    argv = [str(tmp_path / part) if part in ("src", "out", "data") else part for part in argv]
    result = run_without(modules, argv)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    command = " ".join(argv[:2])
    assert line.startswith(f"reranker: {command} needs the [{extra}] extra (")
    assert line.endswith(f"is not installed): pip install 'reranker[{extra}]'")


def test_an_unrelated_missing_module_still_raises() -> None:
    assert "numpy" not in EXTRA_OF_MODULE
    result = run_without(["onnxruntime"], ["models", "export", "a", "b", "--name", "m"])
    assert result.returncode == 1
    assert "Traceback" in result.stderr


def test_every_export_option_has_help() -> None:
    parser = build_parser()
    for word in ("models", "export"):
        (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = commands.choices[word]
    assert not [a.dest for a in parser._actions if a.dest != "help" and not a.help]
