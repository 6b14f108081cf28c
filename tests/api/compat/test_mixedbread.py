"""The real `mixedbread` SDK against `reranker serve` on loopback (POST /v1/reranking)."""

from __future__ import annotations

import mixedbread
import pytest

from tests.api.compat.conftest import KEY, ours, ranking
from tests.api.compat.test_cohere import DOCS, QUERY


@pytest.fixture(scope="module")
def client(base_url: str) -> mixedbread.Mixedbread:
    return mixedbread.Mixedbread(api_key=KEY, base_url=base_url, max_retries=0, timeout=60)


def test_sdk_gets_our_ranking(client: mixedbread.Mixedbread, base_url: str) -> None:
    response = client.rerank(model="tiny-ce", query=QUERY, input=DOCS, top_k=2, return_input=True)
    expected = ours(base_url, model="tiny-ce", query=QUERY, documents=DOCS, top_n=2)
    assert [(d.index, d.score) for d in response.data] == ranking(expected)
    assert [d.input for d in response.data] == [DOCS[i] for i, _ in ranking(expected)]
    assert (response.top_k, response.return_input, response.model) == (2, True, "tiny-ce")
    assert response.usage.prompt_tokens == expected["usage"]["prompt_tokens"]


def test_model_omitted_uses_the_default_and_input_is_not_echoed(
    client: mixedbread.Mixedbread, base_url: str
) -> None:
    response = client.rerank(query=QUERY, input=DOCS)
    assert [(d.index, d.score) for d in response.data] == ranking(
        ours(base_url, model="default", query=QUERY, documents=DOCS)
    )
    assert all(d.input is None for d in response.data)
    assert response.top_k == len(DOCS)


def test_rank_fields_score_object_inputs(client: mixedbread.Mixedbread, base_url: str) -> None:
    objects = [{"name": f"Doc {i}", "body": text} for i, text in enumerate(DOCS)]
    response = client.rerank(query=QUERY, input=objects, rank_fields=["name", "body"], return_input=True)
    joined = [f"Doc {i} {text}" for i, text in enumerate(DOCS)]
    assert [(d.index, d.score) for d in response.data] == ranking(
        ours(base_url, model="default", query=QUERY, documents=joined)
    )
    assert response.data[0].input == objects[response.data[0].index]


def test_errors_name_mixedbreads_fields(client: mixedbread.Mixedbread) -> None:
    with pytest.raises(mixedbread.BadRequestError) as bad:
        client.rerank(query=QUERY, input=["a", 5])
    assert bad.value.body["error"]["param"] == "input[1]"  # type: ignore[index]
    with pytest.raises(mixedbread.BadRequestError) as rewrite:
        client.rerank(query=QUERY, input=DOCS, rewrite_query=True)
    assert rewrite.value.body["error"]["param"] == "rewrite_query"  # type: ignore[index]
    with pytest.raises(mixedbread.NotFoundError):
        client.rerank(model="mixedbread-ai/mxbai-rerank-large-v2", query=QUERY, input=DOCS)
