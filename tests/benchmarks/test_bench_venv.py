"""The benchmark venv (`make bench-venv`): built from benchmarks/requirements-bench.txt alone, pinned.

Run through `make -n` on a throwaway path; nothing is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "benchmarks" / "requirements-bench.txt"


def requirement_lines() -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in REQUIREMENTS.read_text().splitlines())
    return [line for line in lines if line]


def test_every_requirement_is_pinned_and_torch_is_the_local_cpu_build() -> None:
    lines = requirement_lines()
    # A range or a plain `torch` resolves to a multi-GB CUDA build from PyPI.
    assert "torch==2.13.0" in lines
    assert "flashrank==0.2.10" in lines and "infinity-emb[torch,optimum]==0.0.78" in lines
    unpinned = [line for line in lines if not re.fullmatch(r"[A-Za-z0-9_.\-\[\],]+==[0-9][^\s,;]*", line)]
    assert unpinned == []


@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not on PATH")
def test_make_bench_venv_installs_the_requirements_file_only_and_pip_checks(tmp_path: Path) -> None:
    venv = tmp_path / "bench"
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "-n", "bench-venv", f"BENCH_VENV={venv}"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))},
    )
    assert result.returncode == 0, result.stderr
    installs = [line for line in result.stdout.splitlines() if f"{venv}/bin/pip install" in line]
    assert installs[-1].endswith("-r benchmarks/requirements-bench.txt")
    assert not any(" -e " in line or line.endswith(" .") for line in installs), installs
    assert f"{venv}/bin/pip check" in result.stdout
