"""Secrets stay secret: keys compared in constant time and never logged, users hashed, CORS opt-in."""

from __future__ import annotations

import hmac
from typing import Any

import pytest
from fastapi.testclient import TestClient

from reranker.api import auth
from reranker.api.app import create_app
from reranker.config import Settings
from reranker.errors import Unauthorized
from reranker.logs import hash_user
from tests.hardening.conftest import API_KEY, AUTH, SALT, SECOND_KEY, CapturedLogs
from tests.hardening.hostile import GOOD

USER = "alice@example.com"
DOCUMENT = "a very private document text 4f1d"


def test_every_key_is_compared_even_after_a_match(monkeypatch: pytest.MonkeyPatch) -> None:
    """The time taken must not tell which key matched, nor how many keys there are before it."""
    calls: list[bytes] = []
    compare = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(b)
        return compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    keys = [API_KEY.encode(), SECOND_KEY.encode()]
    settings = Settings(api_keys=[])
    auth.check_bearer(f"Bearer {API_KEY}", settings, keys)
    assert calls == keys
    calls.clear()
    with pytest.raises(Unauthorized):
        auth.check_bearer("Bearer nope", settings, keys)
    assert calls == keys


def test_keys_documents_and_raw_users_are_never_logged(
    hardened_client: TestClient, service_logs: CapturedLogs
) -> None:
    wrong = "wrong-key-that-looks-real-9c2e"
    request = {**GOOD, "documents": [DOCUMENT, "b"], "user": USER, "metadata": {"team": "search"}}
    for headers in (AUTH, {"Authorization": f"Bearer {SECOND_KEY}"}, {"Authorization": f"Bearer {wrong}"}):
        hardened_client.post("/v1/rerank", json=request, headers=headers)
        hardened_client.post("/v2/rerank", json=request | {"user": None}, headers=headers)
        hardened_client.get("/v1/models", headers=headers)
    hardened_client.post("/v1/rerank", json={**request, "model": "nope"}, headers=AUTH)
    logged = service_logs.text
    assert '"message": "rerank"' in logged  # the capture works: the request lines are there
    assert hash_user(USER, SALT.encode()) in logged
    assert '"team": "search"' in logged
    for secret in (API_KEY, SECOND_KEY, wrong, SALT, USER, DOCUMENT):
        assert secret not in logged, f"logs hold {secret!r}"


def test_a_failing_request_logs_its_traceback_but_no_key(
    hardened_settings: Settings, service_logs: CapturedLogs, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(hardened_settings)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("scorer bug")

    monkeypatch.setattr(app.state.service, "rerank", broken)
    service_logs.attach()
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/v1/rerank", json=GOOD, headers=AUTH)
    assert response.status_code == 500
    assert "scorer bug" not in response.text and "Traceback" not in response.text
    assert "scorer bug" in service_logs.text and "Traceback" in service_logs.text
    assert API_KEY not in service_logs.text


PREFLIGHT = {
    "Origin": "https://app.example.com",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


def test_cors_is_off_unless_configured(hardened_client: TestClient) -> None:
    preflight = hardened_client.options("/v1/rerank", headers=PREFLIGHT)
    assert preflight.status_code == 405
    assert "access-control-allow-origin" not in preflight.headers
    simple = hardened_client.post(
        "/v1/rerank", json=GOOD, headers={**AUTH, "Origin": "https://app.example.com"}
    )
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


def test_cors_allows_only_the_configured_origins(hardened_settings: Settings) -> None:
    settings = hardened_settings.model_copy(update={"cors_origins": ["https://app.example.com"]})
    with TestClient(create_app(settings)) as client:
        preflight = client.options("/v1/rerank", headers=PREFLIGHT)
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "access-control-allow-credentials" not in preflight.headers
        simple = client.post("/v1/rerank", json=GOOD, headers={**AUTH, "Origin": "https://app.example.com"})
        assert simple.headers["access-control-allow-origin"] == "https://app.example.com"
        other = client.options("/v1/rerank", headers={**PREFLIGHT, "Origin": "https://evil.example"})
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers
        stolen = client.post("/v1/rerank", json=GOOD, headers={**AUTH, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in stolen.headers


@pytest.mark.parametrize("path", ["/health", "/v1/models", "/openapi.json", "/docs", "/nowhere"])
def test_security_headers_on_every_route(hardened_client: TestClient, path: str) -> None:
    response = hardened_client.get(path, headers=AUTH)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-request-id"].startswith("rerank_")


def test_fastapi_body_limit_is_off_so_ours_is_the_one_mechanism(hardened_client: TestClient) -> None:
    """FastAPI 0.13x+ has its own max_body_size (plain-text 413); ours answers in the spec's shape."""
    assert hardened_client.app.max_body_size is None  # type: ignore[attr-defined]
    big = {**GOOD, "documents": ["x" * 7_000_000]}
    response = hardened_client.post("/v1/rerank", json=big, headers=AUTH)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "payload_too_large"


def test_two_authorization_headers_are_refused(hardened_client: TestClient) -> None:
    # Even when both carry a valid key: which one a proxy checks and which one we read may differ.
    for second in (f"Bearer {SECOND_KEY}", "Bearer wrong"):
        response = hardened_client.post(
            "/v1/rerank",
            json=GOOD,
            headers=[("Authorization", f"Bearer {API_KEY}"), ("Authorization", second)],
        )
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        message = response.json()["error"]["message"]
        assert message == "the request has 2 Authorization headers; send one: Authorization: Bearer <API key>"
        assert API_KEY not in response.text and SECOND_KEY not in response.text
    assert hardened_client.post("/v1/rerank", json=GOOD, headers=AUTH).status_code == 200
