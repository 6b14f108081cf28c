"""LangChain's CohereRerank (langchain-cohere) configured with our URL and key."""

from __future__ import annotations

import pytest
from langchain_cohere import CohereRerank
from langchain_core.documents import Document

from tests.api.compat.conftest import KEY, ours, ranking
from tests.api.compat.test_cohere import DOCS, QUERY


@pytest.fixture(scope="module")
def reranker(base_url: str) -> CohereRerank:
    return CohereRerank(model="default", cohere_api_key=KEY, base_url=base_url, top_n=3)


def test_compress_documents_keeps_our_order_and_scores(reranker: CohereRerank, base_url: str) -> None:
    documents = [Document(page_content=text, metadata={"source": f"doc-{i}"}) for i, text in enumerate(DOCS)]
    compressed = reranker.compress_documents(documents, QUERY)
    expected = ranking(ours(base_url, model="default", query=QUERY, documents=DOCS, top_n=3))
    assert [(d.page_content, d.metadata["relevance_score"]) for d in compressed] == [
        (DOCS[index], score) for index, score in expected
    ]
    assert [d.metadata["source"] for d in compressed] == [f"doc-{index}" for index, _ in expected]


def test_rerank_of_all_documents(reranker: CohereRerank, base_url: str) -> None:
    results = reranker.rerank(DOCS, QUERY, top_n=None)
    expected = ranking(ours(base_url, model="default", query=QUERY, documents=DOCS))
    assert [(r["index"], r["relevance_score"]) for r in results] == expected
