"""Every error status of the spec, in the one error shape."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from reranker.api.app import create_app
from reranker.config import Settings
from reranker.errors import ConfigurationError
from reranker.manifest import FileEntry, Manifest
from reranker.registry import ModelRegistry
from reranker.scoring.types import RuntimeOptions, ScoreOptions, Scorer, ScoreResult
from tests.api.conftest import API_KEY, AUTH

GOOD = {"model": "default", "query": "q", "documents": ["a", "b"]}


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert set(body["error"]) <= {"type", "message", "param"}
    assert body["detail"] == body["error"]["message"]  # what the Jina integrations and Voyage read
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({**GOOD, "query": ""}, "query", "must contain a visible character"),
        ({**GOOD, "query": " \n\t"}, "query", "must contain a visible character"),
        ({**GOOD, "query": "\u200b"}, "query", "must contain a visible character"),
        ({**GOOD, "query": "\u0000"}, "query", "must contain a visible character"),
        ({**GOOD, "query": "\u00ad \u200d\ufeff"}, "query", "must contain a visible character"),
        ({**GOOD, "query": None}, "query", "must be a string"),
        ({**GOOD, "query": 5}, "query", "must be a string"),
        ({"model": "default", "documents": ["a"]}, "query", "required"),
        ({"query": "q", "documents": ["a"]}, "model", "required"),
        ({**GOOD, "documents": []}, "documents", "documents must not be empty: send at least one document"),
        ({**GOOD, "documents": "a"}, "documents", "array"),
        ({**GOOD, "documents": ["a", 5]}, "documents[1]", "string or an object"),
        ({**GOOD, "documents": ["a", None]}, "documents[1]", "string or an object"),
        ({**GOOD, "documents": [{"text": 5}]}, "documents[0].text", "must be a string"),
        ({**GOOD, "documents": [{"id": "x"}]}, "documents[0].text", "required"),
        ({**GOOD, "documents": [{"text": "a", "title": 1}]}, "documents[0].title", "must be a string"),
        ({**GOOD, "top_n": 0}, "top_n", "greater than or equal to 1"),
        ({**GOOD, "top_n": "2"}, "top_n", "integer"),
        ({**GOOD, "top_n": 1.5}, "top_n", "integer"),
        ({**GOOD, "return_documents": "yes"}, "return_documents", "boolean"),
        ({**GOOD, "truncate": "middle"}, "truncate", "'none', 'start' or 'end'"),
        ({**GOOD, "max_tokens_per_document": 0}, "max_tokens_per_document", "greater than or equal to 1"),
        ({**GOOD, "metadata": {str(i): i for i in range(17)}}, "metadata", "at most 16 keys"),
        ({**GOOD, "metadata": {"k": "v" * 513}}, "metadata", "at most 512"),
        ({**GOOD, "user": "u" * 257}, "user", "at most 256"),
        ({**GOOD, "extra_body": {"query": "other"}}, "extra_body", "core field(s) query"),
        ({**GOOD, "extra_body": {"documents": []}}, "extra_body", "core field(s) documents"),
        ({**GOOD, "extra_body": {"temperature": 1}}, "extra_body.temperature", "not a known field"),
        ({**GOOD, "surprise": 1}, "surprise", "not a known field"),
    ],
)
def test_invalid_requests_name_the_field(
    client: TestClient, body: dict[str, Any], param: str, fragment: str
) -> None:
    error = error_of(client.post("/v1/rerank", json=body, headers=AUTH), 400)
    assert error["type"] == "invalid_request"
    assert error["param"] == param
    assert fragment in error["message"]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", b'"text"'])
def test_bodies_that_are_not_a_json_object(client: TestClient, raw: bytes) -> None:
    response = client.post("/v1/rerank", content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert error_of(response, 400)["type"] == "invalid_request"


def test_wrong_content_type_is_415(client: TestClient) -> None:
    response = client.post(
        "/v1/rerank", content=b"model=default", headers={**AUTH, "Content-Type": "text/plain"}
    )
    assert error_of(response, 415)["type"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": API_KEY},
        {"Authorization": "Basic eDp5"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Bearer {API_KEY}x"},
    ],
)
def test_missing_or_wrong_key_is_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/v1/rerank", json=GOOD, headers=headers)
    error = error_of(response, 401)
    assert error["type"] == "authentication_error"
    assert response.headers["www-authenticate"] == "Bearer"
    assert API_KEY not in response.text
    assert error_of(client.get("/v1/models", headers=headers), 401)


def test_every_configured_key_is_accepted(client: TestClient) -> None:
    response = client.post("/v1/rerank", json=GOOD, headers={"Authorization": "bearer second-key"})
    assert response.status_code == 200


def test_unknown_model_is_404(client: TestClient) -> None:
    error = error_of(client.post("/v1/rerank", json={**GOOD, "model": "gpt-9"}, headers=AUTH), 404)
    assert error["type"] == "model_not_found"
    assert error["param"] == "model"


def test_unknown_route_and_method(client: TestClient) -> None:
    assert error_of(client.get("/v2/nothing"), 404)["type"] == "not_found"
    assert error_of(client.delete("/v1/rerank", headers=AUTH), 405)["type"] == "method_not_allowed"


def test_body_over_the_cap_is_413_before_parsing(api_settings: Settings) -> None:
    small = create_app(api_settings.model_copy(update={"max_body_bytes": 2048}))
    with TestClient(small) as client:
        big = {**GOOD, "documents": ["x" * 3000]}
        error = error_of(client.post("/v1/rerank", json=big, headers=AUTH), 413)
        assert error["type"] == "payload_too_large"
        # Also without a Content-Length header (chunked upload).
        chunks = iter([b'{"model": "default", "query": "q", "documents": ["', b"x" * 3000, b'"]}'])
        assert client.post("/v1/rerank", content=chunks, headers=AUTH).status_code == 413
        assert client.post("/v1/rerank", json=GOOD, headers=AUTH).status_code == 200


def test_unloadable_model_is_503_without_leaking_its_path(api_settings: Settings, tmp_path: Path) -> None:
    missing = tmp_path / "secret-folder"
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "model.json").write_text("{not json")
    settings = api_settings.model_copy(
        update={"models": {"gone": str(missing), "broken": str(broken)}, "aliases": {}, "default_model": None}
    )
    with TestClient(create_app(settings)) as client:
        for model in ("gone", "broken"):
            response = client.post("/v1/rerank", json={**GOOD, "model": model}, headers=AUTH)
            error = error_of(response, 503)
            assert error["type"] == "model_unavailable"
            assert str(tmp_path) not in response.text


PLACEHOLDER = FileEntry(sha256="0" * 64, size=0)
MANIFEST = Manifest(
    name="double",
    kind="cross-encoder",
    max_length=16,
    variants={"fp32": "m.onnx"},
    files={"m.onnx": PLACEHOLDER, "tokenizer.json": PLACEHOLDER},
)


class BlockingScorer:
    """A unit-test double: holds the worker thread until released, or fails like a bug would."""

    manifest = MANIFEST
    provider = "CPUExecutionProvider"
    variant = "fp32"

    def __init__(self, fail: bool = False) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail = fail

    def score(self, query: str, documents: Sequence[str], options: ScoreOptions) -> ScoreResult:
        if self.fail:
            raise RuntimeError("boom at /srv/secret/path key=abc")
        self.started.set()
        self.release.wait(10)
        return ScoreResult(scores=np.zeros(len(documents)), prompt_tokens=1)


def app_with(scorer: BlockingScorer, **overrides: object) -> Any:
    settings = Settings(
        models={"default": "/unused"},
        api_keys=[SecretStr(API_KEY)],
        **overrides,  # type: ignore[arg-type]
    )

    class Store:
        def fetch(self, uri: str, *, label: str, files: object = None) -> Any:
            from reranker.model_store.base import LocalModel

            return LocalModel(folder=Path(uri), manifest=MANIFEST)

    def loader(folder: Path, manifest: Manifest, _: RuntimeOptions) -> Scorer:
        return scorer

    registry = ModelRegistry(settings, stores={"file": Store()}, loader=loader)
    return create_app(settings, registry=registry)


@pytest.mark.anyio
async def test_overload_is_429_with_retry_after_and_health_stays_up() -> None:
    scorer = BlockingScorer()
    app = app_with(scorer, max_concurrency=1, max_queue=0)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        import asyncio

        first = asyncio.create_task(client.post("/v1/rerank", json=GOOD, headers=AUTH))
        while not scorer.started.is_set():
            await asyncio.sleep(0.01)
        second = await client.post("/v1/rerank", json=GOOD, headers=AUTH)
        assert error_of(second, 429)["type"] == "overloaded"
        assert second.headers["retry-after"] == "1"
        assert (await client.get("/health")).status_code == 200
        scorer.release.set()
        assert (await first).status_code == 200


# Every route that scores, each marked @scores (api/marks.py): the middleware's list is derived.
SCORING_PATHS = [
    "/v1/rerank",
    "/v2/rerank",
    "/rerank",
    "/voyage/v1/rerank",
    "/v1/reranking",
    "/vllm/rerank",
    "/vllm/v1/rerank",
    "/score",
    "/v1/score",
]


@pytest.mark.anyio
async def test_every_scoring_route_is_refused_429_before_its_body_is_parsed() -> None:
    scorer = BlockingScorer()
    app = app_with(scorer, max_concurrency=1, max_queue=0)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        import asyncio

        first = asyncio.create_task(client.post("/v1/rerank", json=GOOD, headers=AUTH))
        while not scorer.started.is_set():
            await asyncio.sleep(0.01)
        for path in SCORING_PATHS:
            # Not JSON: parsed, it would be a 400; refused first, it costs no parsing at all.
            refused = await client.post(
                path, content=b"{not json", headers={**AUTH, "Content-Type": "application/json"}
            )
            assert error_of(refused, 429)["type"] == "overloaded", path
        scorer.release.set()
        assert (await first).status_code == 200


def test_unexpected_error_is_500_with_a_fixed_message() -> None:
    with TestClient(app_with(BlockingScorer(fail=True)), raise_server_exceptions=False) as client:
        response = client.post("/v1/rerank", json=GOOD, headers=AUTH)
    error = error_of(response, 500)
    assert error["type"] == "internal_error"
    assert "secret" not in response.text and "boom" not in response.text and "Traceback" not in response.text
    assert response.headers["x-request-id"].startswith("rerank_")


def test_no_keys_and_not_open_fails_fast() -> None:
    with pytest.raises(ConfigurationError, match="RERANK_API_KEYS"):
        create_app(Settings(models={}))
    open_app = create_app(Settings(allow_anonymous=True))
    with TestClient(open_app) as client:
        assert client.get("/v1/models").status_code == 200
