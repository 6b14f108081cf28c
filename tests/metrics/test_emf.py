"""CloudWatch EMF lines from the real Lambda handler, fed real API Gateway event payloads."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from reranker.metrics.emf import emf_line
from tests.events.test_handler import BODY, KEY, context, handler_module, make_event

__all__ = ["handler_module"]  # the module-scoped fixture of tests/events, reused here


def parse(line: str) -> dict[str, Any]:
    """Return one EMF document after checking what CloudWatch requires of it."""
    document: dict[str, Any] = json.loads(line)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert isinstance(document["_aws"]["Timestamp"], int)
    assert directive["Namespace"] == "Reranker"
    for dimension_set in directive["Dimensions"]:
        assert all(isinstance(document[name], str) for name in dimension_set)
    for metric in directive["Metrics"]:
        assert isinstance(document[metric["Name"]], int | float)
        assert metric["Unit"] in {"Count", "Milliseconds"}
    return document


def invoke_lines(module: ModuleType, event: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> list[Any]:
    capsys.readouterr()
    response = module.handler(event, context())
    out = capsys.readouterr().out
    lines = [parse(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    return [response, *lines]


def test_first_invocation_reports_the_cold_start_then_each_request(
    handler_module: ModuleType, capsys: pytest.CaptureFixture[str], default_model_dir: Path
) -> None:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    event = make_event("apigw-http-v2", "POST", "/v1/rerank", json.dumps(BODY).encode(), headers)
    response, *lines = invoke_lines(handler_module, event, capsys)
    assert response["statusCode"] == 200
    answer = json.loads(response["body"])
    # The cold start comes first; the job's scoring line is recorded before its request ends.
    cold, load, scoring, request = lines
    # `import` is ~0 when an earlier test module already imported the handler's dependencies.
    assert cold["cold_starts"] == 1 and cold["init"] > 0 and cold["import"] >= 0
    assert load["model"] == "all-minilm-l6-v2"
    assert {"model_load_fetch", "model_load_session", "model_load_warm"} <= set(load)
    assert (request["route"], request["status"], request["requests"]) == ("/v1/rerank", "200", 1)
    assert request["latency"] > 0
    assert (scoring["model"], scoring["pairs_scored"]) == ("default", len(BODY["documents"]))
    assert scoring["tokens_scored"] == answer["usage"]["prompt_tokens"]
    assert scoring["queue_depth"] == 0

    # Later invocations: no cold start; an error counts under its status, and scores nothing.
    bad = make_event(
        "apigw-http-v2", "POST", "/v1/rerank", json.dumps({**BODY, "top_n": 0}).encode(), headers
    )
    response, *lines = invoke_lines(handler_module, bad, capsys)
    assert response["statusCode"] == 400
    (only,) = lines
    assert (only["route"], only["status"], only["requests"]) == ("/v1/rerank", "400", 1)


def test_emf_line_shape() -> None:
    line = emf_line("Ns", {"route": "/x"}, {"requests": (1, "Count")}, timestamp_ms=5)
    assert json.loads(line) == {
        "_aws": {
            "Timestamp": 5,
            "CloudWatchMetrics": [
                {
                    "Namespace": "Ns",
                    "Dimensions": [["service", "route"]],
                    "Metrics": [{"Name": "requests", "Unit": "Count"}],
                }
            ],
        },
        "service": "reranker",
        "route": "/x",
        "requests": 1,
    }
