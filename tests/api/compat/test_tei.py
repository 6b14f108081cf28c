"""Hugging Face TEI's POST /rerank wire format, over HTTP against `reranker serve`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.compat.conftest import HEADERS, ours, ranking
from tests.api.compat.test_cohere import DOCS, QUERY


def tei(base_url: str, **fields: Any) -> httpx.Response:
    return httpx.post(
        f"{base_url}/rerank", json={"query": QUERY, "texts": DOCS, **fields}, headers=HEADERS, timeout=60
    )


def test_answer_is_a_list_best_first_with_our_scores(base_url: str) -> None:
    response = tei(base_url)
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list)
    assert all(set(rank) == {"index", "score"} for rank in body)
    # No model in TEI's request: the deployment's default model answers.
    expected = ranking(ours(base_url, model="default", query=QUERY, documents=DOCS))
    assert [(r["index"], r["score"]) for r in body] == expected


def test_return_text_and_raw_scores(base_url: str) -> None:
    body = tei(base_url, return_text=True, raw_scores=True).json()
    assert [r["text"] for r in body] == [DOCS[r["index"]] for r in body]
    raw = ours(base_url, model="default", query=QUERY, documents=DOCS, extra_body={"raw_scores": True})
    assert [(r["index"], r["score"]) for r in body] == ranking(raw)
    assert min(r["score"] for r in body) < 0.5  # cosine, not (cosine + 1) / 2


@pytest.mark.parametrize(
    ("fields", "truncate"),
    [
        ({"truncate": True}, "end"),
        ({"truncate": True, "truncation_direction": "Right"}, "end"),
        ({"truncate": True, "truncation_direction": "left"}, "start"),
        ({"truncation_direction": "Left"}, "start"),
    ],
)
def test_truncation_maps_onto_our_sides(base_url: str, fields: dict[str, Any], truncate: str) -> None:
    long = "deploy a model behind an API endpoint. " + "billing and invoices every month. " * 80
    body = tei(base_url, texts=[long, DOCS[0]], **fields).json()
    expected = ours(base_url, model="default", query=QUERY, documents=[long, DOCS[0]], truncate=truncate)
    assert [(r["index"], r["score"]) for r in body] == ranking(expected)


def test_truncate_false_rejects_a_long_text_naming_it(base_url: str) -> None:
    response = tei(base_url, texts=[DOCS[0], "word " * 600], truncate=False)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert error["param"] == "texts[1]"
    assert error["message"].startswith("texts[1] is 600 tokens")


def test_invalid_requests_name_teis_fields(base_url: str) -> None:
    empty = tei(base_url, texts=[])
    assert empty.status_code == 400
    assert empty.json()["error"]["param"] == "texts"
    wrong = tei(base_url, texts=["a", 5])
    assert wrong.status_code == 400
    assert wrong.json()["error"]["param"] == "texts[1]"
    direction = tei(base_url, truncation_direction="middle")
    assert direction.status_code == 400
    assert direction.json()["error"]["param"] == "truncation_direction"
