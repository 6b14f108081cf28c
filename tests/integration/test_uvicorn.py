"""The happy path and auth over real HTTP against `reranker serve` (uvicorn) on loopback."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.uvicorn_server import serve

KEY = "http-test-key"


@pytest.fixture(scope="module")
def base_url(default_model_dir: Path) -> Iterator[str]:
    with serve(["--model", str(default_model_dir)], {"RERANK_API_KEYS": KEY}) as url:
        yield url


def test_rerank_over_http(base_url: str) -> None:
    response = httpx.post(
        f"{base_url}/v1/rerank",
        json={
            "model": "default",
            "query": "How do I deploy a model?",
            "documents": [
                {"id": "doc_1", "text": "Deployments let you run models behind an API endpoint."},
                {"id": "doc_2", "text": "Billing lets you add balance and view usage."},
                {"id": "doc_3", "text": "A GPU runtime is used to run training jobs."},
            ],
            "top_n": 2,
            "return_documents": True,
        },
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "default"
    assert len(body["results"]) == 2
    assert body["results"][0]["document"] == {
        "id": "doc_1",
        "text": "Deployments let you run models behind an API endpoint.",
    }
    assert response.headers["x-request-id"] == body["id"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_auth_over_http(base_url: str) -> None:
    body = {"model": "default", "query": "q", "documents": ["a"]}
    missing = httpx.post(f"{base_url}/v1/rerank", json=body, timeout=30)
    wrong = httpx.post(f"{base_url}/v1/rerank", json=body, headers={"Authorization": "Bearer no"}, timeout=30)
    assert missing.status_code == wrong.status_code == 401
    assert wrong.json()["error"]["type"] == "authentication_error"
    assert httpx.get(f"{base_url}/health", timeout=30).status_code == 200
    models = httpx.get(f"{base_url}/v1/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert [card["id"] for card in models.json()["data"]] == ["all-minilm-l6-v2"]


def test_a_pooled_connection_is_reused_after_an_idle_gap(base_url: str) -> None:
    """A pooled client (urllib3, httpx, a balancer) reuses its connection after an idle gap longer
    than the old 5 s keep-alive; the server must not have closed it (a POST would race the close)."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    body = json.dumps({"model": "default", "query": "deploy", "documents": ["deploy a model", "billing"]})
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    try:
        for gap in (0.0, 6.5):
            time.sleep(gap)
            connection.request("POST", "/v1/rerank", body=body, headers=headers)  # the same socket
            response = connection.getresponse()
            assert response.status == 200
            assert [r["index"] for r in json.loads(response.read())["results"]] == [0, 1]
            assert response.getheader("connection") != "close"
    finally:
        connection.close()
