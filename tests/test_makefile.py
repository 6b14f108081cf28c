"""The Makefile's venv checks: a venv made by a wrong Python is rebuilt, a wrong PYTHON refused.

Run through `make` itself on throwaway venv paths; nothing is installed (the checks come first).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not on PATH")


def fake_python(path: Path, version: str) -> Path:
    """Write an executable that answers like an old Python: prints its version, fails the check."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho "Python {version}"\nexit 1\n')
    path.chmod(0o755)
    return path


def make(tmp_path: Path, *args: str, ci: bool = False) -> subprocess.CompletedProcess[str]:
    venvs = [f"{name}={tmp_path / name.lower()}" for name in ("VENV", "SERVE_VENV", "TOOLS_VENV")]
    paths = [f"MODEL_DIR={tmp_path / 'model'}", f"STATUS_DIR={tmp_path / 'status'}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS")) and k != "CI"}
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), *venvs, *paths, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "CI": "true"} if ci else env,
    )


def test_a_venv_made_by_an_old_python_loses_its_stamp_with_a_message(tmp_path: Path) -> None:
    fake_python(tmp_path / "serve_venv" / "bin" / "python", "3.9.2")
    stamp = tmp_path / "serve_venv" / ".installed"
    stamp.touch()
    result = make(tmp_path, "-n", "serve")
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first == (
        f"{tmp_path / 'serve_venv'} was made by a Python that is gone or older than 3.11 "
        "(Python 3.9.2): rebuilding it with python3"
    )
    assert not stamp.exists()
    # The rebuild deletes the old venv before making a new one.
    assert f"rm -rf {tmp_path / 'serve_venv'}" in result.stdout


def test_a_good_venv_keeps_its_stamp(tmp_path: Path) -> None:
    venv = tmp_path / "serve_venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    (venv / ".installed").touch()
    result = make(tmp_path, "-n", "serve")
    assert "was made by a Python" not in result.stdout
    assert (venv / ".installed").exists()


def test_an_old_python_is_refused_before_anything_is_installed(tmp_path: Path) -> None:
    old = fake_python(tmp_path / "python3.9", "3.9.2")
    result = make(tmp_path, f"PYTHON={old}", "serve")
    assert result.returncode != 0
    assert f"make: {old} is not Python 3.11 or newer; run again with PYTHON=python3.11 (or newer)" in (
        result.stderr
    )
    assert not (tmp_path / "tools_venv").exists() and not (tmp_path / "serve_venv").exists()


def test_the_serving_venv_gets_the_runtime_only_and_every_venv_is_pip_checked(tmp_path: Path) -> None:
    result = make(tmp_path, "-n", "serve")
    serve_lines = [line for line in result.stdout.splitlines() if str(tmp_path / "serve_venv") in line]
    assert any(line.endswith("/bin/pip install -q --disable-pip-version-check .") for line in serve_lines)
    for name in ("serve_venv", "tools_venv"):
        assert f"{tmp_path / name}/bin/pip check" in result.stdout


def phony_targets() -> set[str]:
    """Return the Makefile's .PHONY targets: its commands, as opposed to the files it makes."""
    targets: set[str] = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith(".PHONY:"):
            targets |= set(line.removeprefix(".PHONY:").split())
    return targets


def documented_targets() -> set[str]:
    """Return every `make TARGET` the README and the docs tell users to run."""
    import re

    texts = [ROOT / "README.md", ROOT / "infra" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found: set[str] = set()
    for path in texts:
        found |= set(re.findall(r"`make ([a-z][a-z-]*)", path.read_text()))
        found |= set(re.findall(r"^make ([a-z][a-z-]*)", path.read_text(), re.MULTILINE))
    return found


def test_every_documented_target_is_a_command_of_the_makefile() -> None:
    assert {
        "serve",
        "test",
        "gate",
        "audit",
        "lambda-zip",
        "image-smoke",
        "bench-venv",
    } <= documented_targets()
    assert documented_targets() <= phony_targets()


@pytest.mark.parametrize("target", sorted(phony_targets()))
def test_every_target_dry_runs_in_a_fresh_clone(tmp_path: Path, target: str) -> None:
    # `.venv/.dev-installed`, which no rule made, once broke lambda-zip and image-smoke.
    result = make(tmp_path, f"DATA_DIR={tmp_path / 'data'}", "-n", target)
    assert result.returncode == 0, result.stderr
    assert "No rule to make target" not in result.stderr


def fresh_serve_venv(tmp_path: Path) -> Path:
    """A serving venv whose stamp is newer than every source, and whose `reranker` echoes its args."""
    venv = tmp_path / "serve_venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    (venv / "bin" / "reranker").write_text('#!/bin/sh\necho "reranker $*"\n')
    (venv / "bin" / "reranker").chmod(0o755)
    (venv / ".installed").touch()
    return venv


def test_make_serve_names_the_model_it_serves(tmp_path: Path) -> None:
    fresh_serve_venv(tmp_path)
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text('{"name": "my-reranker", "aliases": ["prod"]}')
    result = make(tmp_path, "serve")
    assert result.returncode == 0, result.stderr
    first, *_ = result.stdout.splitlines()
    assert first == (
        f"Serving {model} as model 'my-reranker' (alias 'prod') on http://127.0.0.1:8000 "
        "(API key: local-dev-key)"
    )
    assert f"reranker serve --model {model} --host 127.0.0.1 --port 8000" in result.stdout


def test_a_readme_change_does_not_rebuild_the_serving_venv(tmp_path: Path) -> None:
    stamp = fresh_serve_venv(tmp_path) / ".installed"
    sources = [ROOT / "pyproject.toml", ROOT / "README.md", *(ROOT / "src").rglob("*.py")]
    newest = max(path.stat().st_mtime for path in sources)
    os.utime(stamp, (newest + 1, newest + 1))
    os.utime(ROOT / "README.md", (newest + 2, newest + 2))  # README edited after the venv was made
    pip = f"{tmp_path / 'serve_venv'}/bin/pip install"
    assert pip not in make(tmp_path, "-n", "serve").stdout
    oldest = min(path.stat().st_mtime for path in sources)
    os.utime(stamp, (oldest - 1, oldest - 1))  # a package source is newer: it rebuilds
    assert pip in make(tmp_path, "-n", "serve").stdout


def test_the_cpu_build_of_torch_can_be_chosen_for_the_tools_venv(tmp_path: Path) -> None:
    index = "https://download.pytorch.org/whl/cpu"
    result = make(tmp_path, f"TORCH_INDEX_URL={index}", "-n", "default-model")
    tools = [line for line in result.stdout.splitlines() if "tools_venv/bin/pip install" in line]
    assert any(f"--extra-index-url {index} -e .[export]" in line.replace('"', "") for line in tools), tools


def test_the_gate_without_its_data_is_skipped_locally_and_not_read_as_a_pass(tmp_path: Path) -> None:
    result = make(tmp_path, f"DATA_DIR={tmp_path / 'data'}", "gate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("gate: SKIPPED - ")
    status = (tmp_path / "status" / "gate").read_text()
    assert status == "relevance gate: SKIPPED (no BEIR data; not a pass)\n"


def test_the_gate_without_its_data_fails_in_ci(tmp_path: Path) -> None:
    result = make(tmp_path, f"DATA_DIR={tmp_path / 'data'}", "gate", ci=True)
    assert result.returncode != 0
    assert f"gate: FAILED - {tmp_path / 'data'}/beir/scifact is absent and CI=true" in result.stderr
    assert "SKIPPED" not in result.stdout


def test_make_test_ends_with_a_summary_of_what_ran(tmp_path: Path) -> None:
    result = make(tmp_path, f"DATA_DIR={tmp_path / 'data'}", "-n", "test")
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith('echo "make test: lint, types and the test suite passed; ')
    assert f"--status-file {tmp_path / 'status'}/audit" in result.stdout
