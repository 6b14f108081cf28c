"""Server-side fusion with the caller's first stage: the fused ranking, the model's own score, and
clear 400s for malformed fusion requests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from reranker.fusion import Fusion, fuse
from tests.api.conftest import AUTH

DOCUMENTS = [
    "Deployments let you run models behind an API endpoint.",
    "Billing lets you add balance and view usage.",
    "A GPU runtime is used to run training jobs.",
    "Models are deployed with one command and scale to zero.",
]
QUERY = "How do I deploy a model?"
BM25 = [3.0, 9.5, 1.0, 2.0]  # the first stage prefers the billing page


def post(client: TestClient, **fields: Any) -> Any:
    body = {"model": "tiny-ce", "query": QUERY, "documents": DOCUMENTS, **fields}
    return client.post("/v1/rerank", json=body, headers=AUTH)


def by_index(results: list[dict[str, Any]], key: str) -> np.ndarray:
    values = np.empty(len(results))
    for result in results:
        values[result["index"]] = result[key]
    return values


@pytest.mark.parametrize(
    ("spec", "fusion"),
    [
        ({"method": "combsum"}, Fusion("combsum", weight=0.5)),
        ({"method": "combsum", "weight": 0.8}, Fusion("combsum", weight=0.8)),
        ({"method": "rrf", "k": 10}, Fusion("rrf", k=10)),
    ],
)
def test_fused_score_is_served_beside_the_model_score(
    client: TestClient, spec: dict[str, Any], fusion: Fusion
) -> None:
    plain = post(client).json()["results"]
    response = post(client, extra_body={"first_stage_scores": BM25, "fusion": spec})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    model = by_index(results, "model_score")
    np.testing.assert_array_equal(model, by_index(plain, "relevance_score"))  # the model's score, unchanged
    expected = fuse(model, np.array(BM25), fusion)
    np.testing.assert_allclose(by_index(results, "relevance_score"), expected, atol=1e-12)
    assert [r["index"] for r in results] == list(np.argsort(-expected, kind="stable"))
    assert all("model_score" not in r for r in plain)  # only fused answers carry it


def test_weight_zero_is_the_first_stage_order_and_one_the_model_order(client: TestClient) -> None:
    model_order = [r["index"] for r in post(client).json()["results"]]
    only_model = post(
        client, extra_body={"first_stage_scores": BM25, "fusion": {"method": "combsum", "weight": 1}}
    )
    only_bm25 = post(
        client, extra_body={"first_stage_scores": BM25, "fusion": {"method": "combsum", "weight": 0}}
    )
    assert [r["index"] for r in only_model.json()["results"]] == model_order
    assert [r["index"] for r in only_bm25.json()["results"]] == [1, 0, 3, 2]


def test_raw_scores_are_fused_when_asked_for(client: TestClient) -> None:
    extra = {"first_stage_scores": BM25, "fusion": {"method": "combsum"}, "raw_scores": True}
    results = post(client, extra_body=extra).json()["results"]
    raw = by_index(post(client, extra_body={"raw_scores": True}).json()["results"], "relevance_score")
    np.testing.assert_array_equal(by_index(results, "model_score"), raw)


@pytest.mark.parametrize(
    ("extra", "param", "words"),
    [
        ({"first_stage_scores": BM25}, "extra_body.fusion", "needs extra_body.fusion"),
        ({"fusion": {"method": "rrf"}}, "extra_body.first_stage_scores", "one number per document"),
        (
            {"first_stage_scores": [1.0, 2.0], "fusion": {"method": "rrf"}},
            "extra_body.first_stage_scores",
            "2 numbers for 4",
        ),
        (
            {"first_stage_scores": [1, 2, "3", 4], "fusion": {"method": "rrf"}},
            "extra_body.first_stage_scores[2]",
            "",
        ),
        ({"first_stage_scores": BM25, "fusion": {"method": "wsum"}}, "extra_body.fusion.method", "combsum"),
        (
            {"first_stage_scores": BM25, "fusion": {"method": "rrf", "weight": 0.5}},
            "extra_body.fusion",
            "rrf takes k",
        ),
        (
            {"first_stage_scores": BM25, "fusion": {"method": "combsum", "weight": 1.5}},
            "extra_body.fusion.weight",
            "",
        ),
        ({"first_stage_scores": BM25, "fusion": {"method": "rrf", "k": 0}}, "extra_body.fusion.k", ""),
    ],
)
def test_malformed_fusion_is_a_400_naming_the_field(
    client: TestClient, extra: dict[str, Any], param: str, words: str
) -> None:
    response = post(client, extra_body=extra)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert error["param"] == param
    assert words in error["message"]


def test_non_finite_first_stage_score_is_a_400_naming_it(client: TestClient) -> None:
    body = (
        '{"model": "tiny-ce", "query": "q", "documents": ["a", "b"], '
        '"extra_body": {"first_stage_scores": [1.0, NaN], "fusion": {"method": "combsum"}}}'
    )
    response = client.post("/v1/rerank", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "extra_body.first_stage_scores[1]"


def test_first_stage_scores_near_the_float_limit_fuse_to_finite_scores(client: TestClient) -> None:
    extremes = [1.7e308, -1.7e308, 0.0, 1.0]
    response = post(client, extra_body={"first_stage_scores": extremes, "fusion": {"method": "combsum"}})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    fused = by_index(results, "relevance_score")
    assert np.all(np.isfinite(fused))
    expected = fuse(by_index(results, "model_score"), np.array(extremes), Fusion("combsum"))
    np.testing.assert_array_equal(fused, expected)
