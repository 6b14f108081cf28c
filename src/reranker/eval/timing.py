"""Stage timings of one eval run that add up to its wall time, and the process time before it.

A figure people act on ("the gate takes 4 minutes") must say where the minutes went: each stage
is timed back to back, the remainder is named as such, and the seconds the process spent before
the run started (interpreter start, imports) are read from the kernel.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def process_seconds() -> float | None:
    """Return how long this process has run (Linux /proc), None where that cannot be read."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


class Stopwatch:
    """Named stages, timed one after another from the moment it is made."""

    def __init__(self, before: float | None = None) -> None:
        """`before`: seconds the process ran before this run (the CLI passes `process_seconds()`;
        a run inside a long-lived process, e.g. a test suite, has no meaningful one)."""
        self.started = time.perf_counter()
        self.before = before
        self.stages: list[dict[str, Any]] = []

    @contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[dict[str, Any]]:
        """Time the block as one stage; the yielded dict's `detail` may be set inside."""
        entry: dict[str, Any] = {"stage": name, "seconds": 0.0, "detail": detail}
        clock = time.perf_counter()
        try:
            yield entry
        finally:
            entry["seconds"] = time.perf_counter() - clock
            self.stages.append(entry)

    def add(self, name: str, seconds: float, detail: str = "") -> None:
        """Record a stage timed elsewhere."""
        self.stages.append({"stage": name, "seconds": seconds, "detail": detail})

    def summary(self) -> dict[str, Any]:
        """Return the stages, the remainder ("other"), the run's wall time and the process's."""
        wall = time.perf_counter() - self.started
        other = wall - sum(entry["seconds"] for entry in self.stages)
        return {
            "stages": [*self.stages, {"stage": "other", "seconds": other, "detail": "not in a stage above"}],
            "wall_seconds": wall,
            "before_run_seconds": self.before,
        }
