"""litellm's `infinity/` and `hosted_vllm/` rerank providers (the real `litellm.rerank`) against
`reranker serve`.

The two providers send the same request to `<api_base>/rerank`; each reads its own document
shape, so `hosted_vllm/` is pointed at `<ours>/vllm` and `infinity/` at `<ours>`.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

# litellm fetches its model cost map from GitHub at import unless told to use its bundled copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm

from tests.api.compat.conftest import KEY, ours, ranking
from tests.api.compat.test_cohere import DOCS, QUERY

# pydantic warns, at litellm's first call, that litellm's own TypedDicts use ReadOnly: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning")


def rerank(provider: str, api_base: str, **fields: Any) -> Any:
    return litellm.rerank(
        model=f"{provider}/tiny-ce", query=QUERY, documents=DOCS, api_base=api_base, api_key=KEY, **fields
    )


def pairs(response: Any) -> list[tuple[int, float]]:
    return [(r["index"], r["relevance_score"]) for r in response.results]


@pytest.mark.parametrize("top_n", [None, 2])
def test_hosted_vllm_reads_vllm_documents_with_our_ranking(base_url: str, top_n: int | None) -> None:
    response = rerank("hosted_vllm", f"{base_url}/vllm", top_n=top_n)
    expected = ours(base_url, model="tiny-ce", query=QUERY, documents=DOCS, top_n=top_n)
    assert pairs(response) == ranking(expected)
    assert [r["document"] for r in response.results] == [{"text": DOCS[i]} for i, _ in ranking(expected)]
    assert response.meta["tokens"]["input_tokens"] == expected["usage"]["total_tokens"]


def test_hosted_vllm_passes_max_tokens_per_doc(base_url: str) -> None:
    response = rerank("hosted_vllm", f"{base_url}/vllm", max_tokens_per_doc=3)
    expected = ours(base_url, model="tiny-ce", query=QUERY, documents=DOCS, max_tokens_per_document=3)
    assert pairs(response) == ranking(expected)
    assert ranking(expected) != ranking(ours(base_url, model="tiny-ce", query=QUERY, documents=DOCS))


def test_hosted_vllm_cannot_read_infinitys_answer_on_the_plain_base_url(base_url: str) -> None:
    """Why hosted_vllm/ has a base URL of its own: its request is infinity/'s, byte for byte."""
    with pytest.raises(Exception, match="has no attribute 'get'"):
        rerank("hosted_vllm", base_url)


def test_hosted_vllm_accepts_vllms_own_v1_base_url(base_url: str) -> None:
    response = rerank("hosted_vllm", f"{base_url}/vllm/v1", return_documents=False)
    expected = ours(base_url, model="tiny-ce", query=QUERY, documents=DOCS)
    assert pairs(response) == ranking(expected)
    assert all("document" not in r for r in response.results)


@pytest.mark.parametrize("top_n", [None, 2])
def test_infinity_reads_string_documents_with_our_ranking(base_url: str, top_n: int | None) -> None:
    response = rerank("infinity", base_url, top_n=top_n)
    expected = ours(base_url, model="tiny-ce", query=QUERY, documents=DOCS, top_n=top_n)
    assert pairs(response) == ranking(expected)
    assert [r["document"] for r in response.results] == [{"text": DOCS[i]} for i, _ in ranking(expected)]
    assert response.meta["tokens"]["input_tokens"] == expected["usage"]["prompt_tokens"]


def test_provider_errors_carry_our_message(base_url: str) -> None:
    for provider, api_base in (("hosted_vllm", f"{base_url}/vllm"), ("infinity", base_url)):
        with pytest.raises(litellm.exceptions.NotFoundError, match="is not served here"):
            litellm.rerank(
                model=f"{provider}/no-such-model",
                query=QUERY,
                documents=DOCS,
                api_base=api_base,
                api_key=KEY,
            )
