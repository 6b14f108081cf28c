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


def make(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    venvs = [f"{name}={tmp_path / name.lower()}" for name in ("VENV", "SERVE_VENV", "TOOLS_VENV")]
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), *venvs, f"MODEL_DIR={tmp_path / 'model'}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))},
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
