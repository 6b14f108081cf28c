"""The in-process store of what the service did: requests, latency, pairs and tokens scored.

One store serves both outputs: GET /metrics reads its running totals (Prometheus), and on Lambda
the handler drains its per-request events into CloudWatch embedded-metric-format lines. It
imports nothing but the standard library, so a Lambda cold start pays nothing for it.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from typing import Any

# Seconds; from a warm small request (~5 ms) to a 1000-document request on 2 cores (~30 s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
UNMATCHED_ROUTE = "unmatched"


@dataclass
class Histogram:
    """Counts per bucket of LATENCY_BUCKETS (the last one is +Inf), and the sum of all values."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, int]]:
        """Return (upper bound, count of values at or below it) pairs, ending with +Inf."""
        bounds = [*(repr(bound) for bound in LATENCY_BUCKETS), "+Inf"]
        running, pairs = 0, []
        for bound, count in zip(bounds, self.counts, strict=True):
            running += count
            pairs.append((bound, running))
        return pairs


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of the running totals, taken under the recorder's lock."""

    requests: dict[tuple[str, str, str], int]
    latency: dict[tuple[str, str], Histogram]
    pairs: dict[str, int]
    tokens: dict[str, int]


class MetricsRecorder:
    """Thread-safe counters; `keep_events` also queues one event per record, for EMF."""

    def __init__(self, keep_events: bool = False) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = {}
        self._latency: dict[tuple[str, str], Histogram] = {}
        self._pairs: dict[str, int] = {}
        self._tokens: dict[str, int] = {}
        self.keep_events = keep_events
        self._events: list[dict[str, Any]] = []

    def record_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request under its route template (never the raw path)."""
        with self._lock:
            key = (method, route, str(status))
            self._requests[key] = self._requests.get(key, 0) + 1
            self._latency.setdefault((method, route), Histogram()).observe(seconds)
            if self.keep_events:
                self._events.append(
                    {"kind": "request", "route": route, "status": str(status), "seconds": seconds}
                )

    def record_scoring(self, model: str, pairs: int, tokens: int, queue_depth: int) -> None:
        """Count the query-document pairs and tokens one request scored with `model`."""
        with self._lock:
            self._pairs[model] = self._pairs.get(model, 0) + pairs
            self._tokens[model] = self._tokens.get(model, 0) + tokens
            if self.keep_events:
                self._events.append(
                    {
                        "kind": "scoring",
                        "model": model,
                        "pairs": pairs,
                        "tokens": tokens,
                        "queue_depth": queue_depth,
                    }
                )

    def snapshot(self) -> Snapshot:
        with self._lock:
            latency = {key: Histogram(list(h.counts), h.total) for key, h in self._latency.items()}
            return Snapshot(dict(self._requests), latency, dict(self._pairs), dict(self._tokens))

    def drain_events(self) -> list[dict[str, Any]]:
        """Return and forget the events queued since the last drain."""
        with self._lock:
            events, self._events = self._events, []
            return events
