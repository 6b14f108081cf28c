"""The real `voyageai` SDK against `reranker serve` on loopback (base URL `<ours>/voyage/v1`)."""

from __future__ import annotations

import httpx
import pytest
import voyageai.error
from voyageai.client import Client

from tests.api.compat.conftest import HEADERS, KEY, ours, ranking
from tests.api.compat.test_cohere import DOCS, QUERY
from tests.fixtures.long_documents import LONG, LONG_QUERY


@pytest.fixture(scope="module")
def client(base_url: str) -> Client:
    return Client(api_key=KEY, base_url=f"{base_url}/voyage/v1", max_retries=0, timeout=60)


@pytest.mark.parametrize("model", ["default", "tiny-ce"])
def test_sdk_gets_our_ranking_and_tokens(client: Client, base_url: str, model: str) -> None:
    response = client.rerank(QUERY, DOCS, model=model, top_k=3)
    expected = ours(base_url, model=model, query=QUERY, documents=DOCS, top_n=3)
    assert [(r.index, r.relevance_score) for r in response.results] == ranking(expected)
    # The SDK fills `document` from its own list, by our index.
    assert [r.document for r in response.results] == [DOCS[i] for i, _ in ranking(expected)]
    assert response.total_tokens == expected["usage"]["total_tokens"]


def test_top_k_omitted_returns_every_document(client: Client, base_url: str) -> None:
    response = client.rerank(QUERY, DOCS, model="default")
    assert [(r.index, r.relevance_score) for r in response.results] == ranking(
        ours(base_url, model="default", query=QUERY, documents=DOCS)
    )


def test_truncation_false_rejects_a_document_too_long(client: Client) -> None:
    assert client.rerank(LONG_QUERY, [LONG], model="default", truncation=True).results
    with pytest.raises(voyageai.error.InvalidRequestError) as rejected:
        client.rerank(LONG_QUERY, [LONG], model="default", truncation=False)
    # The SDK's message is our `detail`: it names the document.
    assert "documents[0]" in str(rejected.value)


def test_sdk_errors_carry_our_messages(client: Client, base_url: str) -> None:
    with pytest.raises(voyageai.error.InvalidRequestError) as bad:
        client.rerank(QUERY, DOCS, model="default", top_k=0)
    assert "top_k must be greater than or equal to 1" in str(bad.value)
    wrong_key = Client(api_key="not-the-key", base_url=f"{base_url}/voyage/v1", max_retries=0)
    with pytest.raises(voyageai.error.AuthenticationError):
        wrong_key.rerank(QUERY, DOCS, model="default")


def test_return_documents_and_unknown_fields(base_url: str) -> None:
    url = f"{base_url}/voyage/v1/rerank"
    body = {"query": QUERY, "documents": DOCS, "model": "default", "top_k": 1, "return_documents": True}
    (best,) = httpx.post(url, json=body, headers=HEADERS, timeout=60).json()["data"]
    assert best["document"] == DOCS[best["index"]]
    unknown = httpx.post(url, json={**body, "rerank_fields": ["x"]}, headers=HEADERS, timeout=60)
    assert unknown.status_code == 400
    assert unknown.json()["error"]["param"] == "rerank_fields"
