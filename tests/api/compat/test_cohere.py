"""The real `cohere` SDK (v1 `Client` and `ClientV2`) against `reranker serve` on loopback."""

from __future__ import annotations

from typing import Any

import cohere
import httpx
import pytest
from cohere.core.api_error import ApiError

from tests.api.compat.conftest import HEADERS, KEY, ours, ranking
from tests.fixtures.long_documents import DISTRACTOR, LONG, LONG_QUERY

QUERY = "How do I deploy a model behind an API?"
DOCS = [
    "Billing lets you add balance and view usage by month.",
    "Deployments let you run models behind an API endpoint with autoscaling.",
    "A GPU runtime is used to run training jobs on large datasets.",
    "To deploy, upload the model, create an endpoint and call it over HTTPS.",
]


@pytest.fixture(scope="module")
def v1(base_url: str) -> cohere.Client:
    return cohere.Client(api_key=KEY, base_url=base_url, timeout=60)


@pytest.fixture(scope="module")
def v2(base_url: str) -> cohere.ClientV2:
    return cohere.ClientV2(api_key=KEY, base_url=base_url, timeout=60)


def sdk_ranking(response: Any) -> list[tuple[int, float]]:
    return [(r.index, r.relevance_score) for r in response.results]


@pytest.mark.parametrize("model", ["default", "tiny-ce"])
def test_v1_client_gets_our_ranking(v1: cohere.Client, base_url: str, model: str) -> None:
    response = v1.rerank(model=model, query=QUERY, documents=DOCS, top_n=3, return_documents=True)
    expected = ours(base_url, model=model, query=QUERY, documents=DOCS, top_n=3)
    assert sdk_ranking(response) == ranking(expected)
    assert response.id is not None and response.id.startswith("rerank_")
    assert [r.document.text for r in response.results if r.document] == [
        DOCS[i] for i, _ in ranking(expected)
    ]


def test_v1_rank_fields_score_the_named_keys_in_order(v1: cohere.Client, base_url: str) -> None:
    structured = [{"title": f"Doc {i}", "body": text, "lang": "en"} for i, text in enumerate(DOCS)]
    response = v1.rerank(
        model="default",
        query=QUERY,
        documents=structured,
        rank_fields=["title", "body"],
        return_documents=True,
    )
    joined = [f"Doc {i} {text}" for i, text in enumerate(DOCS)]
    assert sdk_ranking(response) == ranking(ours(base_url, model="default", query=QUERY, documents=joined))
    # The object comes back as sent: no `text` key was added to score it.
    best = response.results[0]
    assert best.document is not None
    assert best.document.dict() == structured[best.index]


def test_v1_max_chunks_per_doc_finds_a_passage_past_the_first_window(v1: cohere.Client) -> None:
    cut = v1.rerank(model="default", query=LONG_QUERY, documents=[LONG, DISTRACTOR])
    chunked = v1.rerank(
        model="default", query=LONG_QUERY, documents=[LONG, DISTRACTOR], max_chunks_per_doc=10
    )
    assert [r.index for r in cut.results] == [1, 0]
    assert [r.index for r in chunked.results] == [0, 1]


def test_v2_client_gets_our_ranking(v2: cohere.ClientV2, base_url: str) -> None:
    response = v2.rerank(model="default", query=QUERY, documents=DOCS, top_n=2, max_tokens_per_doc=8)
    expected = ours(
        base_url, model="default", query=QUERY, documents=DOCS, top_n=2, max_tokens_per_document=8
    )
    assert sdk_ranking(response) == ranking(expected)
    assert response.id is not None and response.id.startswith("rerank_")
    assert response.meta is not None and response.meta.tokens is not None
    assert response.meta.tokens.input_tokens == expected["usage"]["prompt_tokens"]
    assert response.meta.api_version is not None and response.meta.api_version.version == "2"


def test_v2_accepts_what_older_sdks_sent(base_url: str) -> None:
    body = {
        "model": "default",
        "query": QUERY,
        "documents": [{"title": "t", "body": DOCS[1]}],
        "rank_fields": ["body"],
        "return_documents": True,
        "priority": 3,
    }
    response = httpx.post(f"{base_url}/v2/rerank", json=body, headers=HEADERS, timeout=60)
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert result["document"] == {"title": "t", "body": DOCS[1]}
    assert (
        result["relevance_score"]
        == ours(base_url, model="default", query=QUERY, documents=[DOCS[1]])["results"][0]["relevance_score"]
    )


@pytest.mark.parametrize("client_kind", ["v1", "v2"])
def test_sdk_errors_carry_our_error_body(client_kind: str, base_url: str) -> None:
    client: Any = (cohere.Client if client_kind == "v1" else cohere.ClientV2)(
        api_key=KEY, base_url=base_url, timeout=60
    )
    with pytest.raises(ApiError) as bad:
        client.rerank(model="default", query=" ", documents=DOCS)
    assert bad.value.status_code == 400
    assert bad.value.body["error"]["param"] == "query"
    with pytest.raises(ApiError) as unknown:
        client.rerank(model="rerank-v3.5", query=QUERY, documents=DOCS)
    assert unknown.value.status_code == 404
    assert unknown.value.body["error"]["type"] == "model_not_found"
    wrong_key: Any = type(client)(api_key="not-the-key", base_url=base_url, timeout=60)
    with pytest.raises(ApiError) as unauthorised:
        wrong_key.rerank(model="default", query=QUERY, documents=DOCS)
    assert unauthorised.value.status_code == 401


def test_v2_error_names_cohere_fields(base_url: str) -> None:
    body = {"model": "default", "query": QUERY, "documents": DOCS, "max_tokens_per_doc": 0}
    response = httpx.post(f"{base_url}/v2/rerank", json=body, headers=HEADERS, timeout=60)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "max_tokens_per_doc"
    unknown = httpx.post(
        f"{base_url}/v2/rerank", json={**body, "max_tokens_per_doc": 5, "x": 1}, headers=HEADERS
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"] == {
        "type": "invalid_request",
        "message": "x is not a known field",
        "param": "x",
    }


def test_v2_relevant_spans_disabled_is_accepted_and_enabled_is_refused(base_url: str) -> None:
    """Cohere SDK 7.x sends `relevant_spans`; this is its body (cohere 7.3.1, v2/raw_client.py)."""
    body = {"model": "default", "query": QUERY, "documents": DOCS, "top_n": 2}
    plain = httpx.post(f"{base_url}/v2/rerank", json=body, headers=HEADERS, timeout=60).json()
    disabled = httpx.post(
        f"{base_url}/v2/rerank",
        json={**body, "relevant_spans": {"mode": "disabled"}},
        headers=HEADERS,
        timeout=60,
    )
    assert disabled.status_code == 200
    assert disabled.json()["results"] == plain["results"]
    enabled = httpx.post(
        f"{base_url}/v2/rerank",
        json={**body, "relevant_spans": {"mode": "enabled", "threshold": 0.2, "max_spans": 3}},
        headers=HEADERS,
        timeout=60,
    )
    assert enabled.status_code == 400
    error = enabled.json()["error"]
    assert error["param"] == "relevant_spans.mode"
    assert '"enabled" is not served' in error["message"] and '{"mode": "disabled"}' in error["message"]
    assert enabled.json()["detail"] == error["message"]


@pytest.mark.parametrize(
    ("rank_fields", "param"),
    [([], "rank_fields"), ([""], "rank_fields[0]")],
    ids=["empty-list", "empty-name"],
)
def test_v2_rank_fields_the_schema_refuses_are_refused_and_declared(
    base_url: str, rank_fields: list[str], param: str
) -> None:
    body = {"model": "tiny-ce", "query": "q", "documents": [{"text": "a"}], "rank_fields": rank_fields}
    response = httpx.post(f"{base_url}/v2/rerank", json=body, headers=HEADERS, timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    schema = httpx.get(f"{base_url}/openapi.json", timeout=30).json()["components"]["schemas"]
    declared = next(
        s["properties"]["rank_fields"] for name, s in schema.items() if name.startswith("CohereV2")
    )
    array = next(option for option in declared["anyOf"] if option.get("type") == "array")
    assert array["minItems"] == 1 and array["items"]["minLength"] == 1
