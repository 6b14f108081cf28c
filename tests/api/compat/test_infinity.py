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
    response = infinity(base_url, model="tiny-ce", top_n=2)
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


@pytest.mark.parametrize(
    ("fields", "status", "param"),
    [
        ({"model": "no-such-model"}, 404, "model"),
        ({"top_n": 0}, 400, "top_n"),
        ({"documents": []}, 400, "documents"),
        ({"query": ""}, 400, "query"),
    ],
)
def test_errors_in_our_shape(base_url: str, fields: dict[str, Any], status: int, param: str) -> None:
    response = infinity(base_url, **fields)
    assert response.status_code == status
    assert response.json()["error"]["param"] == param
