"""Real Lambda event payloads (shapes as AWS documents them) through `reranker.handler.handler`."""

from __future__ import annotations

import base64
import copy
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from reranker.config import get_settings

PAYLOADS = Path(__file__).parent / "payloads"
KEY = "lambda-test-key"
KINDS = ["apigw-rest-v1", "apigw-http-v2", "alb", "function-url"]
BODY = {
    "model": "default",
    "query": "deploy a model",
    "documents": ["billing and invoices", "deploy a model"],
}

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def make_event(
    kind: str,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    base64_body: bool = False,
) -> dict[str, Any]:
    """Return the stored AWS sample of `kind` with this request's method, path, headers and body."""
    event: dict[str, Any] = copy.deepcopy(json.loads((PAYLOADS / f"{kind}.json").read_text()))
    encoded = None if body is None else (base64.b64encode(body).decode() if base64_body else body.decode())
    event["body"] = encoded
    event["isBase64Encoded"] = base64_body
    if kind in ("apigw-http-v2", "function-url"):
        event["rawPath"] = path
        event["requestContext"]["http"].update(method=method, path=path)
        if kind == "apigw-http-v2":
            event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {path}"
        event["headers"].update({k.lower(): v for k, v in headers.items()})
        event["headers"]["content-length"] = str(len(body or b""))
    else:
        event["path"] = path
        event["httpMethod"] = method
        if kind == "apigw-rest-v1":
            event["requestContext"]["httpMethod"] = method
            event["headers"].update(headers)
            event["multiValueHeaders"].update({k: [v] for k, v in headers.items()})
        else:
            event["headers"].update({k.lower(): v for k, v in headers.items()})
    return event


def context() -> SimpleNamespace:
    return SimpleNamespace(
        function_name="reranker",
        function_version="$LATEST",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:reranker",
        memory_limit_in_mb=3008,
        aws_request_id="6f0b1b5e-0000-4000-8000-000000000000",
        log_group_name="/aws/lambda/reranker",
        log_stream_name="2026/11/26/[$LATEST]abcdef",
        get_remaining_time_in_millis=lambda: 30_000,
    )


@pytest.fixture(scope="module")
def handler_module(tiny_cross_encoder_dir: Path, default_model_dir: Path) -> Iterator[ModuleType]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            "RERANK_MODELS",
            json.dumps({"all-minilm-l6-v2": str(default_model_dir), "tiny-ce": str(tiny_cross_encoder_dir)}),
        )
        patch.setenv("RERANK_ALIASES", json.dumps({"default": "all-minilm-l6-v2"}))
        patch.setenv("RERANK_DEFAULT_MODEL", "default")
        patch.setenv("RERANK_API_KEYS", KEY)
        get_settings.cache_clear()
        sys.modules.pop("reranker.handler", None)
        yield importlib.import_module("reranker.handler")
    get_settings.cache_clear()
    sys.modules.pop("reranker.handler", None)


def invoke(module: ModuleType, event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    response: dict[str, Any] = module.handler(event, context())
    assert response["isBase64Encoded"] is False
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = values[-1]
    return response["statusCode"], headers, json.loads(response["body"])


def test_default_model_is_warmed_at_init(handler_module: ModuleType) -> None:
    served = {m.name: m.scorer for m in handler_module.app.state.service.registry.served()}
    assert served["all-minilm-l6-v2"] is not None
    assert served["tiny-ce"] is None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("base64_body", [False, True])
def test_rerank_through_each_event_source(handler_module: ModuleType, kind: str, base64_body: bool) -> None:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    event = make_event(kind, "POST", "/v1/rerank", json.dumps(BODY).encode(), headers, base64_body)
    status, response_headers, body = invoke(handler_module, event)
    assert status == 200
    assert response_headers["content-type"] == "application/json"
    assert response_headers["x-request-id"] == body["id"]
    assert [r["index"] for r in body["results"]] == [1, 0]
    assert body["usage"]["prompt_tokens"] > 0


@pytest.mark.parametrize("kind", KINDS)
def test_errors_keep_their_status_and_shape(handler_module: ModuleType, kind: str) -> None:
    good = json.dumps(BODY).encode()
    status, headers, body = invoke(handler_module, make_event(kind, "POST", "/v1/rerank", good, {}))
    assert status == 401 and body["error"]["type"] == "authentication_error"
    assert headers["www-authenticate"] == "Bearer"
    auth = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    bad = json.dumps({**BODY, "top_n": 0}).encode()
    status, _, body = invoke(handler_module, make_event(kind, "POST", "/v1/rerank", bad, auth))
    assert status == 400 and body["error"]["param"] == "top_n"
    unknown = json.dumps({**BODY, "model": "nope"}).encode()
    status, _, body = invoke(handler_module, make_event(kind, "POST", "/v1/rerank", unknown, auth))
    assert status == 404


@pytest.mark.parametrize("kind", KINDS)
def test_health_and_models(handler_module: ModuleType, kind: str) -> None:
    status, _, body = invoke(handler_module, make_event(kind, "GET", "/health", None, {}))
    assert (status, body) == (200, {"status": "ok"})
    auth = {"Authorization": f"Bearer {KEY}"}
    status, _, body = invoke(handler_module, make_event(kind, "GET", "/v1/models", None, auth))
    assert status == 200
    assert {card["id"] for card in body["data"]} == {"all-minilm-l6-v2", "tiny-ce"}


def test_a_snapshot_holds_the_routes_a_cold_start_defers(tiny_cross_encoder_dir: Path) -> None:
    """SnapStart: before the snapshot the compat routes are built, so restored copies need not."""
    script = (
        "import reranker.handler as h\n"
        "from reranker.api.marks import scoring_paths\n"
        "paths = lambda: scoring_paths(h.app.routes)\n"
        "before = '/v2/rerank' in paths()\n"
        "h.before_snapshot()\n"
        "print(before, '/v2/rerank' in paths(), h.app.state.compat_routes)\n"
    )
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("RERANK_")},
        "RERANK_MODELS": json.dumps({"tiny-ce": str(tiny_cross_encoder_dir)}),
        "RERANK_API_KEYS": KEY,
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True", "True"]
