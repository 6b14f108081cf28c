"""Infinity's POST /rerank wire format, over HTTP against `reranker serve`."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.api.compat.conftest import HEADERS, ours, ranking
from tests.api.compat.test_cohere import DOCS, QUERY


def infinity(base_url: str, **fields: Any) -> httpx.Response:
    payload = {"query": QUERY, "documents": DOCS, **fields}
    return httpx.post(f"{base_url}/rerank", json=payload, headers=HEADERS, timeout=60)


def test_answer_has_infinitys_shape_and_our_ranking(base_url: str) -> None:
    before = int(time.time())
    # Infinity's client always sends return_documents (default false); without it, vLLM's shape.
    response = infinity(base_url, model="tiny-ce", top_n=2, return_documents=False)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"object", "results", "model", "usage", "id", "created"}
    assert body["object"] == "rerank"
    assert body["model"] == "tiny-ce"
    assert before <= body["created"] <= int(time.time())
    assert response.headers["x-request-id"] == body["id"]
    expected = ours(base_url, model="tiny-ce", query=QUERY, documents=DOCS, top_n=2)
    assert [(r["index"], r["relevance_score"]) for r in body["results"]] == ranking(expected)
    assert all(r["document"] is None for r in body["results"])
    assert body["usage"] == expected["usage"]


def test_model_omitted_uses_the_default_and_documents_come_back_as_strings(base_url: str) -> None:
    for fields in ({}, {"model": "default/not-specified"}):
        body = infinity(base_url, return_documents=True, **fields).json()
        expected = ours(base_url, model="default", query=QUERY, documents=DOCS)
        assert [(r["index"], r["relevance_score"]) for r in body["results"]] == ranking(expected)
        assert [r["document"] for r in body["results"]] == [DOCS[r["index"]] for r in body["results"]]


def test_raw_scores(base_url: str) -> None:
    body = infinity(base_url, model="tiny-ce", raw_scores=True).json()
    raw = ours(base_url, model="tiny-ce", query=QUERY, documents=DOCS, extra_body={"raw_scores": True})
    assert [(r["index"], r["relevance_score"]) for r in body["results"]] == ranking(raw)


def test_unknown_model_is_a_404_in_our_shape(base_url: str) -> None:
    response = infinity(base_url, model="no-such-model")
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "model"


@pytest.mark.parametrize(
    ("fields", "loc", "kind", "message"),
    [
        ({"top_n": 0}, ["body", "top_n"], "greater_than_equal", "top_n must be greater than or equal to 1"),
        (
            {"documents": []},
            ["body", "documents"],
            "too_short",
            "documents must not be empty: send at least one document",
        ),
        ({"documents": ["a", 5]}, ["body", "documents", 1], "string_type", "documents[1] must be"),
        ({"query": ""}, ["body", "query"], "value_error", "query must contain a visible character"),
        (
            {"documents": ["x" * 100_001]},
            ["body", "documents", 0],
            "value_error",
            "documents[0] is 100001 characters; at most 100000",
        ),
    ],
)
def test_invalid_requests_are_fastapis_422_with_our_error(
    base_url: str, fields: dict[str, Any], loc: list[Any], kind: str, message: str
) -> None:
    """Infinity's generated client parses only 200 and 422 (`HTTPValidationError`)."""
    response = infinity(base_url, model="tiny-ce", **fields)
    assert response.status_code == 422
    body = response.json()
    assert [(e["loc"], e["type"]) for e in body["detail"]] == [(loc, kind)]
    assert body["detail"][0]["msg"].startswith(message)
    assert body["error"]["type"] == "invalid_request"
    assert body["error"]["message"] == body["detail"][0]["msg"]
    assert body["error"]["param"] == "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc[1:]
    ).lstrip(".")


def test_tei_keeps_its_400(base_url: str) -> None:
    payload = {"query": QUERY, "texts": []}
    response = httpx.post(f"{base_url}/rerank", json=payload, headers=HEADERS, timeout=60)
    assert response.status_code == 400
    assert response.json()["detail"] == "texts must not be empty: send at least one document"


def test_vllm_style_requests_get_document_objects(base_url: str) -> None:
    """No `return_documents` (vLLM's API has none): every result carries `document: {text}`."""
    payload = {"model": "tiny-ce", "query": QUERY, "documents": DOCS, "top_n": 2}
    body = httpx.post(f"{base_url}/rerank", json=payload, headers=HEADERS, timeout=60).json()
    expected = ours(base_url, model="tiny-ce", query=QUERY, documents=DOCS, top_n=2)
    assert [(r["index"], r["relevance_score"]) for r in body["results"]] == ranking(expected)
    assert [r["document"] for r in body["results"]] == [{"text": DOCS[r["index"]]} for r in body["results"]]
    assert body["usage"]["total_tokens"] == expected["usage"]["total_tokens"]
    assert body["id"].startswith("rerank_") and body["model"] == "tiny-ce"


def test_models_lists_every_name_and_alias_in_infinitys_shape(base_url: str) -> None:
    response = httpx.get(f"{base_url}/models", headers=HEADERS, timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert sorted(m["id"] for m in body["data"]) == ["all-minilm-l6-v2", "default", "tiny-ce"]
    for model in body["data"]:
        assert model["object"] == "model" and model["owned_by"] == "infinity"
        assert model["capabilities"] == ["rerank"]
        assert 0 < model["created"] <= int(time.time())
    unauthorised = httpx.get(f"{base_url}/models", timeout=10)
    assert unauthorised.status_code == 401
