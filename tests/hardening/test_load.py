"""benchmarks/load.py runs bounded, stops by itself, and shows 429 under overload with /health up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "load.py"


@pytest.mark.slow
def test_load_script_shows_429_past_the_bound_and_health_answering(tiny_cross_encoder_dir: Path) -> None:
    args = ["--model", str(tiny_cross_encoder_dir), "--clients", "1,12", "--seconds", "2"]
    args += ["--max-concurrency", "1", "--max-queue", "2", "--documents", "8", "--json"]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["server_exit_status"] == 0  # SIGTERM at the end: a clean, drained stop
    within, overload = report["phases"]
    # One client never exceeds the bound: everything is answered, nothing refused.
    assert within["ok"] > 0 and set(within["statuses"]) == {"200"}
    # Twelve clients against 1 running + 2 waiting: the rest are refused at once, with Retry-After.
    assert overload["ok"] > 0 and overload["statuses"]["429"] > 0
    assert set(overload["statuses"]) == {"200", "429"}  # no 5xx, no transport errors
    assert overload["retry_after"] == ["1"]
    for phase in (within, overload):
        assert phase["health_probes"] > 0 and phase["health_failures"] == 0


@pytest.mark.slow
def test_bodies_script_reports_the_small_request_and_the_peak(tiny_cross_encoder_dir: Path) -> None:
    script = SCRIPT.parent / "bodies.py"
    args = ["--model", str(tiny_cross_encoder_dir), "--large", "4", "--megabytes", "1", "--timeout", "60"]
    result = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["server_exit_status"] == 0
    assert sum(report["large_statuses"].values()) == 4 and set(report["large_statuses"]) <= {"200", "429"}
    assert report["small_status"] in (200, 429) and report["small_seconds"] < 30
    assert report["rss_peak_mb"] >= report["rss_before_mb"] > 0
