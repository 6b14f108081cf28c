"""Every field of POST /v1/rerank through the real app and real ONNX models."""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from reranker.api.app import create_app
from reranker.config import Settings
from tests.api.conftest import AUTH

QUERY = "How do I deploy a model behind an API?"
DOCS = [
    "Deployments let you run models behind an API endpoint with autoscaling.",
    "Billing lets you add balance and view usage by month.",
    "A GPU runtime is used to run training jobs on large datasets.",
    "To deploy, upload the model, create an endpoint and call it over HTTPS.",
]
LONG = "the quick brown fox jumps over the lazy dog " * 60


def rerank(client: TestClient, **fields: Any) -> Any:
    response = client.post("/v1/rerank", json={"model": "default", "query": QUERY, **fields}, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("model", ["default", "all-minilm-l6-v2", "tiny-ce", "deployment-42"])
def test_response_shape(client: TestClient, model: str) -> None:
    response = client.post(
        "/v1/rerank", json={"model": model, "query": QUERY, "documents": DOCS}, headers=AUTH
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "object", "model", "results", "usage"}
    assert re.fullmatch(r"rerank_[0-9A-HJKMNP-TV-Z]{26}", body["id"])
    assert response.headers["x-request-id"] == body["id"]
    assert body["object"] == "list"
    assert body["model"] == model
    assert sorted(r["index"] for r in body["results"]) == [0, 1, 2, 3]
    scores = [r["relevance_score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert all(set(r) == {"index", "relevance_score"} for r in body["results"])
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0


def test_default_model_ranks_the_relevant_documents_first(client: TestClient) -> None:
    body = rerank(client, documents=DOCS)
    assert {r["index"] for r in body["results"][:2]} == {0, 3}


@pytest.mark.parametrize("model", ["default", "tiny-ce"])
def test_same_request_same_answer(api_settings: Settings, model: str) -> None:
    # Every answer compared here is computed, none recalled: the bi-encoder's embedding cache is
    # off, and two fresh apps each load their own copy of the model (a session-wide client would
    # answer a repeat from the embedding cache, which proves nothing about determinism).
    uncached = api_settings.model_copy(update={"embedding_cache_size": 0})
    answers = []
    for _ in range(2):
        with TestClient(create_app(uncached)) as fresh:
            answers += [rerank(fresh, model=model, documents=DOCS) for _ in range(2)]
    first = [(r["index"], r["relevance_score"].hex()) for r in answers[0]["results"]]
    assert sorted(index for index, _ in first) == [0, 1, 2, 3]
    for answer in answers[1:]:
        assert [(r["index"], r["relevance_score"].hex()) for r in answer["results"]] == first
    assert len({answer["id"] for answer in answers}) == len(answers)


def test_identical_documents_tie_in_input_order(client: TestClient) -> None:
    body = rerank(client, documents=[DOCS[1], DOCS[0], DOCS[1], DOCS[1]])
    tied = [r["index"] for r in body["results"] if r["index"] != 1]
    assert tied == [0, 2, 3]
    assert len({r["relevance_score"] for r in body["results"] if r["index"] != 1}) == 1


def test_top_n(client: TestClient) -> None:
    full = rerank(client, documents=DOCS)["results"]
    assert rerank(client, documents=DOCS, top_n=2)["results"] == full[:2]
    assert rerank(client, documents=DOCS, top_n=100)["results"] == full


def test_return_documents_gives_back_the_payload_as_sent(client: TestClient) -> None:
    sent: list[Any] = [
        {"id": "doc_1", "text": DOCS[0], "metadata": {"lang": "en", "tags": [1, None]}},
        DOCS[1],
        {"id": 3, "title": "GPUs", "text": DOCS[2], "extra": None},
    ]
    results = rerank(client, documents=sent, return_documents=True)["results"]
    by_index = {r["index"]: r["document"] for r in results}
    assert by_index == {0: sent[0], 1: {"text": DOCS[1]}, 2: sent[2]}
    assert all("document" not in r for r in rerank(client, documents=sent)["results"])


def test_title_is_scored_together_with_the_text(client: TestClient) -> None:
    with_title = rerank(client, documents=[{"title": "Deploying", "text": DOCS[1]}])
    joined = rerank(client, documents=[f"Deploying {DOCS[1]}"])
    plain = rerank(client, documents=[DOCS[1]])
    assert with_title["results"] == joined["results"]
    assert with_title["results"] != plain["results"]


def test_usage_counts_every_fed_token(client: TestClient) -> None:
    # The tiny cross-encoder has max_length 128: a long document fills the pair exactly.
    body = client.post(
        "/v1/rerank", json={"model": "tiny-ce", "query": "fox", "documents": [LONG, LONG]}, headers=AUTH
    ).json()
    assert body["usage"]["prompt_tokens"] == 2 * 128
    capped = client.post(
        "/v1/rerank",
        json={"model": "tiny-ce", "query": "fox", "documents": [LONG], "max_tokens_per_document": 10},
        headers=AUTH,
    ).json()
    assert capped["usage"]["prompt_tokens"] == 3 + 1 + 10  # [CLS] fox [SEP] doc[:10] [SEP]


def test_truncation_sides_score_different_parts(client: TestClient) -> None:
    text = "deploy a model behind an API endpoint. " + "billing and invoices every month. " * 80
    end = rerank(client, documents=[text], truncate="end")["results"][0]["relevance_score"]
    start = rerank(client, documents=[text], truncate="start")["results"][0]["relevance_score"]
    assert end > start


def test_truncate_none_rejects_naming_the_document(client: TestClient) -> None:
    response = client.post(
        "/v1/rerank",
        json={"model": "default", "query": QUERY, "documents": [DOCS[0], LONG], "truncate": "none"},
        headers=AUTH,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert error["param"] == "documents[1]"
    assert "documents[1]" in error["message"]


def test_a_long_query_is_cut_or_rejected_under_none(client: TestClient) -> None:
    query = "deploy " * 400
    assert rerank(client, query=query, documents=DOCS)["usage"]["prompt_tokens"] > 0
    response = client.post(
        "/v1/rerank",
        json={"model": "tiny-ce", "query": query, "documents": DOCS, "truncate": "none"},
        headers=AUTH,
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "query"


def test_raw_scores_through_extra_body(client: TestClient) -> None:
    payload = {"model": "tiny-ce", "query": QUERY, "documents": DOCS}
    probs = client.post("/v1/rerank", json=payload, headers=AUTH).json()["results"]
    raw = client.post(
        "/v1/rerank", json={**payload, "extra_body": {"raw_scores": True}}, headers=AUTH
    ).json()["results"]
    assert [r["index"] for r in raw] == [r["index"] for r in probs]
    for p, r in zip(probs, raw, strict=True):
        assert p["relevance_score"] == pytest.approx(1 / (1 + math.exp(-r["relevance_score"])), abs=1e-12)


def test_metadata_and_user_are_logged_not_echoed(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("reranker")
    logger.addHandler(caplog.handler)
    try:
        body = rerank(
            client, documents=DOCS[:1], metadata={"team": "search", "n": 3}, user="alice@example.com"
        )
    finally:
        logger.removeHandler(caplog.handler)
    assert "metadata" not in body and "user" not in body
    (record,) = [r for r in caplog.records if r.getMessage() == "rerank"]
    assert record.__dict__["metadata"] == {"team": "search", "n": 3}
    user = record.__dict__["user"]
    assert user != "alice@example.com" and re.fullmatch(r"[0-9a-f]{16}", user)
    assert "alice" not in caplog.text


def test_models_lists_models_and_aliases(client: TestClient) -> None:
    rerank(client, documents=DOCS[:1])
    response = client.get("/v1/models", headers=AUTH)
    assert response.status_code == 200
    cards = {card["id"]: card for card in response.json()["data"]}
    assert cards["all-minilm-l6-v2"]["aliases"] == ["default"]
    assert cards["tiny-ce"]["aliases"] == ["deployment-42"]
    assert cards["all-minilm-l6-v2"]["loaded"] is True
    assert cards["all-minilm-l6-v2"]["kind"] == "bi-encoder"
    # RERANK_RUNTIME=auto serves fp32 on onnxruntime even where OpenVINO is installed ([dev] has it).
    card = cards["all-minilm-l6-v2"]
    assert (card["provider"], card["variant"]) == ("CPUExecutionProvider", "fp32")


def test_health_needs_no_key_and_openapi_documents_the_route(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    schema = client.get("/openapi.json").json()
    rerank_op = schema["paths"]["/v1/rerank"]["post"]
    assert {"200", "400", "401", "404", "413", "429", "500", "503"} <= set(rerank_op["responses"])
    assert client.get("/docs").status_code == 200
