"""Cold-start figures: seconds spent importing, fetching, creating the session and warming up.

The registry fills one `ColdStart` per model as it loads it; the Lambda handler records how
long its imports took. Both are logged as JSON lines and shown by `GET /v1/models`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

_IMPORT_SECONDS: float | None = None


@dataclass(frozen=True)
class ColdStart:
    """Where one model's first load went; `fetch` includes verifying the files.

    `warm_seconds` is known only for a model warmed at start (the default model).
    """

    fetch_seconds: float
    session_seconds: float
    warm_seconds: float | None = None


def record_import_seconds(seconds: float) -> None:
    """Remember how long the entry point's imports took (once per process)."""
    global _IMPORT_SECONDS
    _IMPORT_SECONDS = round(seconds, 4)


def import_seconds() -> float | None:
    """Return the recorded import time, or None where no entry point measured it."""
    return _IMPORT_SECONDS


def since(started: float) -> float:
    """Return the seconds elapsed since `started` (a `time.perf_counter()` value), rounded."""
    return round(time.perf_counter() - started, 4)
