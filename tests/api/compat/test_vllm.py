"""vLLM's wire formats over HTTP against `reranker serve`: /vllm/rerank."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.compat.conftest import HEADERS, ours, ranking
from tests.api.compat.test_cohere import DOCS, QUERY


def post(base_url: str, path: str, payload: dict[str, Any], status: int = 200) -> Any:
    response = httpx.post(f"{base_url}{path}", json=payload, headers=HEADERS, timeout=60)
    assert response.status_code == status, response.text
    return response.json()


@pytest.mark.parametrize("path", ["/vllm/rerank", "/vllm/v1/rerank"])
def test_vllm_rerank_has_vllms_shape_and_our_ranking(base_url: str, path: str) -> None:
    body = post(base_url, path, {"model": "tiny-ce", "query": QUERY, "documents": DOCS, "top_n": 2})
    expected = ours(base_url, model="tiny-ce", query=QUERY, documents=DOCS, top_n=2)
    assert set(body) == {"id", "model", "usage", "results", "created"}
    assert [(r["index"], r["relevance_score"]) for r in body["results"]] == ranking(expected)
    assert [r["document"] for r in body["results"]] == [{"text": DOCS[i]} for i, _ in ranking(expected)]
    assert body["usage"] == expected["usage"] and body["model"] == "tiny-ce"


def test_vllm_rerank_top_n_zero_is_every_document_and_model_may_be_omitted(base_url: str) -> None:
    body = post(base_url, "/vllm/rerank", {"query": QUERY, "documents": DOCS, "top_n": 0})
    expected = ours(base_url, model="default", query=QUERY, documents=DOCS)
    assert [(r["index"], r["relevance_score"]) for r in body["results"]] == ranking(expected)


@pytest.mark.parametrize("path", ["/vllm/rerank", "/vllm/v1/rerank"])
def test_vllm_routes_need_the_key(base_url: str, path: str) -> None:
    payload = {"query": QUERY, "documents": DOCS}
    for headers in ({}, {"Authorization": "Bearer nope"}):
        response = httpx.post(f"{base_url}{path}", json=payload, headers=headers, timeout=60)
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"
