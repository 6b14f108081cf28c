"""vLLM's wire formats over HTTP against `reranker serve`: /vllm/rerank and the score API."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.api.compat.conftest import HEADERS, ours, ranking
from tests.api.compat.test_cohere import DOCS, QUERY

OTHER = "what does a cross-encoder score"


def post(base_url: str, path: str, payload: dict[str, Any], status: int = 200) -> Any:
    response = httpx.post(f"{base_url}{path}", json=payload, headers=HEADERS, timeout=60)
    assert response.status_code == status, response.text
    return response.json()


def pair_score(base_url: str, query: str, document: str) -> float:
    """Return /v1/rerank's score of one (query, document) pair."""
    score: float = ours(base_url, model="tiny-ce", query=query, documents=[document])["results"][0][
        "relevance_score"
    ]
    return score


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


@pytest.mark.parametrize("path", ["/score", "/v1/score"])
def test_score_one_to_n_in_input_order(base_url: str, path: str) -> None:
    before = int(time.time())
    body = post(base_url, path, {"model": "tiny-ce", "text_1": QUERY, "text_2": DOCS})
    assert set(body) == {"id", "object", "created", "model", "data", "usage"}
    assert body["object"] == "list" and body["model"] == "tiny-ce"
    assert before <= body["created"] <= int(time.time())
    assert [(d["index"], d["object"]) for d in body["data"]] == [(i, "score") for i in range(len(DOCS))]
    expected = ours(base_url, model="tiny-ce", query=QUERY, documents=DOCS)
    by_index = dict(ranking(expected))
    assert [d["score"] for d in body["data"]] == [by_index[i] for i in range(len(DOCS))]
    assert body["usage"] == {**expected["usage"], "completion_tokens": 0}


def test_score_n_to_n_pairs_each_text_1_with_its_text_2(base_url: str) -> None:
    queries = [QUERY, OTHER, QUERY, OTHER]
    documents = [DOCS[0], DOCS[1], DOCS[2], DOCS[0]]
    body = post(base_url, "/score", {"model": "tiny-ce", "text_1": queries, "text_2": documents})
    expected = [pair_score(base_url, q, d) for q, d in zip(queries, documents, strict=True)]
    assert [d["index"] for d in body["data"]] == [0, 1, 2, 3]
    assert [d["score"] for d in body["data"]] == expected


def test_score_one_to_one_and_a_one_item_text_1(base_url: str) -> None:
    single = post(base_url, "/score", {"model": "tiny-ce", "text_1": QUERY, "text_2": DOCS[1]})
    assert [d["score"] for d in single["data"]] == [pair_score(base_url, QUERY, DOCS[1])]
    listed = post(base_url, "/score", {"model": "tiny-ce", "text_1": [QUERY], "text_2": DOCS})
    plain = post(base_url, "/score", {"model": "tiny-ce", "text_1": QUERY, "text_2": DOCS})
    assert listed["data"] == plain["data"]


@pytest.mark.parametrize(
    ("fields", "param", "message"),
    [
        (
            {"text_1": [QUERY, OTHER, QUERY], "text_2": DOCS[:2]},
            "text_1",
            "text_1 has 3 items and text_2 has 2: send one text_1 (1:N) or as many as text_2",
        ),
        ({"text_1": [QUERY, OTHER], "text_2": DOCS[0]}, "text_1", "text_1 has 2 items and text_2 has 1"),
        ({"text_1": [], "text_2": DOCS}, "text_1", "text_1 must not be empty"),
        ({"text_1": QUERY, "text_2": []}, "text_2", "text_2 must not be empty: send at least one document"),
        ({"text_1": QUERY, "text_2": ["a", 5]}, "text_2[1]", "text_2[1] must be a string"),
        ({"text_1": 5, "text_2": DOCS}, "text_1", "text_1 must be a string"),
        ({"text_2": DOCS}, "text_1", "text_1 is required"),
        ({"text_1": [QUERY, " "], "text_2": DOCS[:2]}, "text_1[1]", "text_1[1] must contain a visible"),
        (
            {"text_1": [QUERY, OTHER], "text_2": ["a", "x" * 100_001]},
            "text_2[1]",
            "text_2[1] is 100001 characters",
        ),
        ({"model": "no-such-model", "text_1": QUERY, "text_2": DOCS}, "model", "is not served here"),
    ],
)
def test_score_errors_name_the_field(base_url: str, fields: dict[str, Any], param: str, message: str) -> None:
    status = 404 if fields.get("model") else 400
    error = post(base_url, "/score", {"model": "tiny-ce", **fields}, status)["error"]
    assert error["param"] == param
    assert message in error["message"]


def test_score_too_many_pairs_counts_them_all(base_url: str) -> None:
    """N:N pairs are held to max_documents together, not per distinct text_1."""
    many = 1001
    texts = [f"q{i}" for i in range(many)]
    error = post(base_url, "/score", {"model": "tiny-ce", "text_1": texts, "text_2": texts}, 400)["error"]
    assert error["param"] == "text_2"
    assert error["message"] == "text_2 has 1001 items; at most 1000 are accepted"


@pytest.mark.parametrize("path", ["/score", "/v1/score", "/vllm/rerank", "/vllm/v1/rerank"])
def test_vllm_routes_need_the_key(base_url: str, path: str) -> None:
    payload = {"text_1": QUERY, "text_2": DOCS, "query": QUERY, "documents": DOCS}
    for headers in ({}, {"Authorization": "Bearer nope"}):
        response = httpx.post(f"{base_url}{path}", json=payload, headers=headers, timeout=60)
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"
