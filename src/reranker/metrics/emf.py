"""CloudWatch embedded metric format (EMF): the Lambda's metrics as JSON lines on stdout.

Lambda sends stdout to CloudWatch Logs, which turns each line with an `_aws` key into metrics:
no agent, no API call, no extra latency. The handler drains the recorder after every
invocation; the first invocation also reports the cold start. The format is a few keys, so it
is written here rather than through a library (aws-lambda-powertools' Metrics adds ~85 ms of
imports to a cold start and one dimension set per flush).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from reranker.coldstart import ColdStart
from reranker.metrics.recorder import MetricsRecorder

SERVICE = "reranker"
LambdaHandler = Callable[[Any, Any], Any]


def emf_line(
    namespace: str,
    dimensions: dict[str, str],
    metrics: dict[str, tuple[float, str]],
    timestamp_ms: int | None = None,
) -> str:
    """Return one EMF JSON line: `metrics` maps name -> (value, CloudWatch unit)."""
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [["service", *dimensions]],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
                }
            ],
        },
        "service": SERVICE,
        **dimensions,
        **{name: value for name, (value, _) in metrics.items()},
    }
    return json.dumps(document, separators=(",", ":"))


def event_lines(namespace: str, events: Iterable[dict[str, Any]]) -> list[str]:
    """Return the EMF lines of the recorder's events (one line each)."""
    lines = []
    for event in events:
        if event["kind"] == "request":
            lines.append(
                emf_line(
                    namespace,
                    {"route": event["route"], "status": event["status"]},
                    {"requests": (1, "Count"), "latency": (event["seconds"] * 1000, "Milliseconds")},
                )
            )
        elif event["kind"] == "scoring":
            lines.append(
                emf_line(
                    namespace,
                    {"model": event["model"]},
                    {
                        "pairs_scored": (event["pairs"], "Count"),
                        "tokens_scored": (event["tokens"], "Count"),
                        "queue_depth": (event["queue_depth"], "Count"),
                    },
                )
            )
    return lines


def cold_start_lines(
    namespace: str, init_seconds: float, import_seconds: float | None, loads: dict[str, dict[str, float]]
) -> list[str]:
    """Return the cold start's EMF lines: init and import time, then each loaded model's phases."""
    figures = {"cold_starts": (1.0, "Count"), "init": (init_seconds * 1000, "Milliseconds")}
    if import_seconds is not None:
        figures["import"] = (import_seconds * 1000, "Milliseconds")
    lines = [emf_line(namespace, {}, figures)]
    for model, phases in loads.items():
        metrics = {
            f"model_load_{phase}": (seconds * 1000, "Milliseconds") for phase, seconds in phases.items()
        }
        lines.append(emf_line(namespace, {"model": model}, metrics))
    return lines


def model_loads(cold_starts: Iterable[tuple[str, ColdStart | None]]) -> dict[str, dict[str, float]]:
    """Return {model: {phase: seconds}} of the models loaded so far (fetch, session, warm)."""
    loads: dict[str, dict[str, float]] = {}
    for name, cold in cold_starts:
        if cold is None:
            continue
        phases = {"fetch": cold.fetch_seconds, "session": cold.session_seconds, "warm": cold.warm_seconds}
        loads[name] = {phase: seconds for phase, seconds in phases.items() if seconds is not None}
    return loads


def with_emf(
    handler: LambdaHandler,
    recorder: MetricsRecorder,
    namespace: str,
    cold_start: Callable[[], list[str]] | None = None,
    out: TextIO | None = None,
) -> LambdaHandler:
    """Return `handler` that writes the invocation's EMF lines after each call (and the cold start first)."""
    recorder.keep_events = True
    pending_cold_start = [cold_start]

    def invoke(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            stream = out or sys.stdout
            lines = event_lines(namespace, recorder.drain_events())
            first = pending_cold_start.pop() if pending_cold_start else None
            if first is not None:
                lines = first() + lines
            for line in lines:
                stream.write(line + "\n")
            stream.flush()

    return invoke
