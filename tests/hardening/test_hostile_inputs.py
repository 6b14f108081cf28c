"""Hostile inputs through the real app: each gets the right status and the spec's error shape.

The table lives in hostile.py. Beside status, type, param and message, every answer is checked
for what must never leak: keys, the salt, model folders, the bucket and endpoint of the S3
store, interpreter paths and tracebacks. After the table, ordinary requests still succeed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from reranker.api.app import create_app
from reranker.config import Settings
from reranker.model_store.base import FileSelector, LocalModel
from reranker.model_store.local import LocalModelStore
from reranker.registry import ModelRegistry
from tests.hardening.conftest import (
    API_KEY,
    DEAD_ENDPOINT,
    JSON_AUTH,
    PRIVATE_BUCKET,
    SALT,
    SECOND_KEY,
)
from tests.hardening.hostile import GOOD, ROWS, Hostile, body

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def secrets_and_paths(settings: Settings) -> list[str]:
    """Return every string an answer must never contain."""
    folders = [uri for uri in settings.models.values() if not uri.startswith("s3://")]
    return [
        API_KEY,
        SECOND_KEY,
        SALT,
        PRIVATE_BUCKET,
        DEAD_ENDPOINT.removeprefix("http://"),
        str(settings.cache_dir),
        *folders,
        *{str(Path(folder).parent) for folder in folders},
        sys.prefix,
        "site-packages",
        "Traceback",
        'File "',
    ]


def assert_clean(text: str, settings: Settings) -> None:
    for secret in secrets_and_paths(settings):
        assert secret not in text, f"answer leaks {secret!r}"


def send(client: TestClient, row: Hostile) -> Any:
    headers = [(k.encode(), v if isinstance(v, bytes) else v.encode()) for k, v in row.headers.items()]
    return client.post(row.path, content=row.raw, headers=headers)


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
@pytest.mark.usefixtures("dummy_aws")
def test_hostile_input(hardened_client: TestClient, hardened_settings: Settings, row: Hostile) -> None:
    response = send(hardened_client, row)
    assert response.status_code == row.status, response.text[:500]
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"].startswith("rerank_")
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert_clean(response.text, hardened_settings)
    answer = response.json()
    if row.status == 200:
        assert row.results is not None
        results = answer["results"] if isinstance(answer, dict) else answer
        assert len(results) == row.results
        assert all(0.0 <= r["relevance_score"] <= 1.0 for r in results)
        if row.same_as is not None:  # the same answer, index for index and score for score
            plain = hardened_client.post("/v1/rerank", content=body(**row.same_as), headers=JSON_AUTH)
            assert plain.status_code == 200, plain.text
            assert results == plain.json()["results"]
        return
    assert row.fragment, "every refusal in the table names the message it must give"
    assert set(answer) == {"error", "detail"}
    error = answer["error"]
    assert answer["detail"] == error["message"]
    assert set(error) <= {"type", "message", "param"}
    assert error["type"] == row.type
    assert error.get("param") == row.param
    assert row.fragment in error["message"]


def test_a_document_over_500_levels_deep_is_echoed_intact(hardened_client: TestClient) -> None:
    (row,) = [row for row in ROWS if row.id == "deep-500-document-extra"]
    sent = json.loads(row.raw)["documents"][0]
    answer = send(hardened_client, row).json()
    assert answer["results"][0]["document"] == sent


@pytest.mark.usefixtures("dummy_aws")
def test_every_other_request_still_succeeds(hardened_client: TestClient, hardened_app: FastAPI) -> None:
    def answers() -> dict[str, Any]:
        found = {}
        for model in ("default", "tiny-ce", "minilm"):
            response = hardened_client.post("/v1/rerank", json={**GOOD, "model": model}, headers=JSON_AUTH)
            assert response.status_code == 200, response.text
            found[model] = response.json()["results"]
        return found

    before = answers()
    for row in ROWS:
        send(hardened_client, row)
    after = answers()
    # The same ranking and scores as before the table; MiniLM ranks "deploy" above "a cat".
    assert after == before
    assert [r["index"] for r in after["minilm"]] == [1, 0]
    assert after["default"] == after["tiny-ce"]  # an alias of the same model
    assert hardened_app.state.limiter.admitted == 0


def test_10000_documents_work_under_a_raised_limit(hardened_settings: Settings) -> None:
    settings = hardened_settings.model_copy(update={"max_documents": 10_000})
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/v1/rerank",
            content=body(documents=[f"document {i}" for i in range(10_000)], top_n=3),
            headers=JSON_AUTH,
        )
    assert response.status_code == 200, response.text[:300]
    answer = response.json()
    assert len(answer["results"]) == 3
    assert answer["usage"]["prompt_tokens"] > 10_000 * 3


class RecordingStore:
    """Wraps a real store and records every fetch, to prove a name never reached a store."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.fetched: list[str] = []

    def fetch(self, uri: str, *, label: str, files: FileSelector | None = None) -> LocalModel:
        self.fetched.append(uri)
        result: LocalModel = self.inner.fetch(uri, label=label, files=files)
        return result


PATH_LIKE = [row for row in ROWS if row.group == "unknown / path-like model"]
_opened: list[str] = []
_watching: list[str] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Audit hooks cannot be removed; this one only looks while a test has put markers in _watching.
    if _watching and event in ("open", "os.listdir", "os.scandir") and args:
        target = str(args[0])
        if any(marker in target for marker in _watching):
            _opened.append(target)


sys.addaudithook(_audit)


@pytest.fixture
def watch_filesystem() -> Iterator[list[str]]:
    _watching[:] = ["passwd", "other-bucket", "id_rsa", "win.ini", "%2e"]
    _opened.clear()
    try:
        yield _opened
    finally:
        _watching.clear()


def test_path_like_model_names_touch_no_store_and_no_file(
    hardened_settings: Settings, watch_filesystem: list[str]
) -> None:
    local, remote = RecordingStore(LocalModelStore()), RecordingStore(LocalModelStore())
    registry = ModelRegistry(hardened_settings, stores={"file": local, "s3": remote})
    with TestClient(create_app(hardened_settings, registry=registry)) as client:
        for row in PATH_LIKE:
            response = send(client, row)
            assert response.status_code == 404, response.text
    assert local.fetched == [] and remote.fetched == []
    assert watch_filesystem == []
