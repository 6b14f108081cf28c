"""The Jina rerankers of LangChain, LlamaIndex and Haystack against `reranker serve`.

They post Jina's body to /v1/rerank (our own shape) and, on an error, raise with the body's
`detail`, which our errors carry beside `error`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from haystack import Document as HaystackDocument
from haystack.utils import Secret
from haystack_integrations.components.rankers.jina import JinaRanker
from langchain_core.documents import Document
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.postprocessor.jinaai_rerank import JinaRerank as LlamaJinaRerank

from tests.api.compat.conftest import KEY, ours, ranking
from tests.api.compat.test_cohere import DOCS, QUERY

with warnings.catch_warnings():  # langchain-community announces its sunset on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from langchain_community.document_compressors import jina_rerank


@pytest.fixture
def langchain_url(base_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # LangChain's JinaRerank has no base-URL option: its module constant is the documented way.
    monkeypatch.setattr(jina_rerank, "JINA_API_URL", f"{base_url}/v1/rerank")
    yield


@pytest.mark.usefixtures("langchain_url")
def test_langchain_jina_rerank(base_url: str) -> None:
    reranker = jina_rerank.JinaRerank(model="default", jina_api_key=KEY, top_n=2)
    documents = [Document(page_content=text, metadata={"i": i}) for i, text in enumerate(DOCS)]
    compressed = reranker.compress_documents(documents, QUERY)
    expected = ranking(ours(base_url, model="default", query=QUERY, documents=DOCS, top_n=2))
    assert [(d.metadata["i"], d.metadata["relevance_score"]) for d in compressed] == expected
    with pytest.raises(RuntimeError, match="model 'jina-reranker-v2' is not served here"):
        jina_rerank.JinaRerank(model="jina-reranker-v2", jina_api_key=KEY).rerank(DOCS, QUERY)
    with pytest.raises(RuntimeError, match="invalid API key"):
        jina_rerank.JinaRerank(model="default", jina_api_key="wrong").rerank(DOCS, QUERY)


def test_llama_index_jina_rerank(base_url: str) -> None:
    nodes = [NodeWithScore(node=TextNode(text=text, id_=f"n{i}")) for i, text in enumerate(DOCS)]
    reranker = LlamaJinaRerank(api_key=KEY, base_url=f"{base_url}/v1", model="tiny-ce", top_n=3)
    ranked = reranker.postprocess_nodes(nodes, QueryBundle(QUERY))
    expected = ranking(ours(base_url, model="tiny-ce", query=QUERY, documents=DOCS, top_n=3))
    assert [(n.node.node_id, n.score) for n in ranked] == [(f"n{i}", score) for i, score in expected]
    unknown = LlamaJinaRerank(api_key=KEY, base_url=f"{base_url}/v1", model="nope", top_n=3)
    with pytest.raises(RuntimeError, match="model 'nope' is not served here"):
        unknown.postprocess_nodes(nodes, QueryBundle(QUERY))


def test_haystack_jina_ranker(base_url: str) -> None:
    ranker = JinaRanker(
        model="default", api_key=Secret.from_token(KEY), base_url=f"{base_url}/v1/rerank", top_k=2
    )
    documents = [HaystackDocument(content=text, id=f"d{i}") for i, text in enumerate(DOCS)]
    result = ranker.run(query=QUERY, documents=documents)
    expected = ranking(ours(base_url, model="default", query=QUERY, documents=DOCS, top_n=2))
    assert [(d.id, d.score) for d in result["documents"]] == [(f"d{i}", score) for i, score in expected]
    assert result["meta"]["usage"] == ours(base_url, model="default", query=QUERY, documents=DOCS)["usage"]
    with pytest.raises(RuntimeError, match="query must contain a visible character"):
        ranker.run(query="   ", documents=documents)
