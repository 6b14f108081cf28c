"""The command line's answers to a missing extra and its help, run as a user would (a subprocess)."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from reranker.cli import build_parser, extra_of_module, module_of
from tests.fixtures.uvicorn_server import serve_process

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
EXTRAS: dict[str, list[str]] = PYPROJECT["project"]["optional-dependencies"]


def distributions(extra: str) -> list[str]:
    """Return the distribution names of one extra in pyproject.toml, e.g. `PyStemmer`."""
    names = [re.split(r"[<>=!~\[;\s]", requirement, maxsplit=1)[0] for requirement in EXTRAS[extra]]
    return [name for name in names if name != "reranker"]


EVAL_MODULES = [module_of(name) for name in distributions("eval")]

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
        *[([module], ["eval", "run", "data", "--model", "m"], "eval") for module in EVAL_MODULES],
    ],
    ids=lambda value: "-".join(value) if isinstance(value, list) and len(value) == 1 else None,
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


def test_every_eval_package_is_one_of_the_hidden_modules() -> None:
    # regex, which the BM25 tokenizer imports first, was missing from a list kept by hand.
    assert {"ranx", "bm25s", "Stemmer", "regex", "httpx", "tqdm"} <= set(EVAL_MODULES)


def test_the_module_map_is_the_extras_of_pyproject() -> None:
    expected = {
        module_of(name): extra
        for extra in reversed([extra for extra in EXTRAS if extra != "dev"])
        for name in distributions(extra)
    }
    assert extra_of_module() == {module: expected[module] for module in extra_of_module()}
    assert set(extra_of_module()) == set(expected)


def test_each_extra_package_installs_the_module_the_map_names() -> None:
    # The dev venv holds every extra: each package's real top-level modules include ours.
    installed = importlib.metadata.packages_distributions()
    for extra in ("eval", "export", "openvino"):
        for name in distributions(extra):
            assert name in installed.get(module_of(name), []), (extra, name, module_of(name))


def test_an_unrelated_missing_module_still_raises() -> None:
    assert "numpy" not in extra_of_module()
    result = run_without(["onnxruntime"], ["models", "export", "a", "b", "--name", "m"])
    assert result.returncode == 1
    assert "Traceback" in result.stderr


def test_every_export_option_has_help() -> None:
    parser = build_parser()
    for word in ("models", "export"):
        (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = commands.choices[word]
    assert not [a.dest for a in parser._actions if a.dest != "help" and not a.help]


@pytest.mark.parametrize("attempt", range(3))
def test_ctrl_c_ends_serve_with_exit_0_and_no_traceback(attempt: int) -> None:
    # A terminal sends SIGINT to the whole foreground process group, not to one process.
    with serve_process([], {"RERANK_API_KEYS": "k"}, preexec_fn=os.setpgrp) as served:
        os.killpg(served.process.pid, signal.SIGINT)
        assert served.finish(timeout=60) == 0, served.output
    output = "".join(served.output)
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    assert "stopped on SIGINT after finishing the requests in flight" in output


@pytest.mark.parametrize("attempt", range(3))
def test_ctrl_c_while_the_default_model_warms_exits_0(tiny_cross_encoder_dir: Path, attempt: int) -> None:
    # Was "terminate called without an active exception" (-6): onnxruntime's threads at exit.
    args = ["--model", str(tiny_cross_encoder_dir)]
    with serve_process(args, {"RERANK_API_KEYS": "k"}, preexec_fn=os.setpgrp) as served:
        os.killpg(served.process.pid, signal.SIGINT)
        assert served.finish(timeout=60) == 0, served.output
    assert "Traceback" not in "".join(served.output)
