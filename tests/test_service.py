"""RerankService with a scorer double: ordering, ties, top_n, payloads, limits.

The same behaviour on real models is covered through the API in tests/api.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from reranker.config import Settings
from reranker.errors import InvalidRequest, ModelNotFound, RerankError
from reranker.manifest import FileEntry, Manifest
from reranker.registry import ModelRegistry
from reranker.request import document_text
from reranker.scoring.types import RuntimeOptions, ScoreOptions, Scorer, ScoreResult
from reranker.service import RerankService
from reranker.types import RerankRequest

MANIFEST = Manifest(
    name="double",
    kind="cross-encoder",
    max_length=128,
    variants={"fp32": "model.onnx"},
    files={name: FileEntry(sha256="0" * 64, size=1) for name in ("model.onnx", "tokenizer.json")},
)


class TableScorer:
    """Scores each document by a fixed table and records what it was asked."""

    manifest = MANIFEST
    provider = "CPUExecutionProvider"
    variant = "fp32"

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table
        self.calls: list[tuple[str, list[str], ScoreOptions]] = []

    def score(self, query: str, documents: Sequence[str], options: ScoreOptions) -> ScoreResult:
        self.calls.append((query, list(documents), options))
        return ScoreResult(
            scores=np.array([self.table[d] for d in documents], dtype=np.float64),
            prompt_tokens=7 * len(documents),
        )


def make_service(scorer: TableScorer, **overrides: object) -> RerankService:
    settings = Settings(
        models={"double": "/nonexistent"},
        aliases={"alias": "double"},
        **overrides,  # type: ignore[arg-type]
    )

    def loader(folder: Path, manifest: Manifest, _: RuntimeOptions) -> Scorer:
        return scorer

    class Store:
        def fetch(self, uri: str, *, label: str, files: object = None) -> object:
            from reranker.model_store.base import LocalModel

            return LocalModel(folder=Path(uri), manifest=MANIFEST)

    registry = ModelRegistry(settings, stores={"file": Store()}, loader=loader)  # type: ignore[dict-item]
    return RerankService(registry, settings)


def request(**fields: object) -> RerankRequest:
    return RerankRequest.model_validate({"model": "double", "query": "q", **fields})


def test_results_are_sorted_highest_first_with_ties_in_input_order() -> None:
    scorer = TableScorer({"a": 0.2, "b": 0.9, "c": 0.2, "d": 0.5})
    response = make_service(scorer).rerank(request(documents=["a", "b", "c", "d"]))
    assert [r.index for r in response.results] == [1, 3, 0, 2]
    assert [r.relevance_score for r in response.results] == [0.9, 0.5, 0.2, 0.2]
    assert response.usage.prompt_tokens == response.usage.total_tokens == 28
    assert response.object == "list"
    assert response.id.startswith("rerank_") and len(response.id) == 7 + 26


def test_top_n_cuts_and_a_large_top_n_returns_all() -> None:
    scorer = TableScorer({"a": 0.1, "b": 0.3, "c": 0.2})
    service = make_service(scorer)
    assert [r.index for r in service.rerank(request(documents=["a", "b", "c"], top_n=2)).results] == [1, 2]
    assert len(service.rerank(request(documents=["a", "b", "c"], top_n=50)).results) == 3


def test_alias_is_echoed_as_requested() -> None:
    scorer = TableScorer({"a": 0.1})
    response = make_service(scorer).rerank(request(model="alias", documents=["a"]))
    assert response.model == "alias"


def test_documents_are_returned_exactly_as_sent() -> None:
    scorer = TableScorer({"T body": 0.9, "plain": 0.1})
    sent = {"id": 7, "title": "T", "text": "body", "metadata": {"k": [1, None]}}
    response = make_service(scorer).rerank(request(documents=["plain", sent], return_documents=True))
    assert response.results[0].document == sent
    assert response.results[1].document == {"text": "plain"}


def test_title_is_scored_before_the_text() -> None:
    scorer = TableScorer({"Title body": 0.5})
    make_service(scorer).rerank(request(documents=[{"title": "Title", "text": "body"}]))
    assert scorer.calls[0][1] == ["Title body"]
    assert document_text("plain") == "plain"


def test_options_reach_the_scorer_with_server_default_truncation() -> None:
    scorer = TableScorer({"a": 0.1})
    service = make_service(scorer, default_truncate="start")
    service.rerank(request(documents=["a"], max_tokens_per_document=5, extra_body={"raw_scores": True}))
    assert scorer.calls[0][2] == ScoreOptions(truncate="start", max_tokens_per_document=5, raw_scores=True)
    service.rerank(request(documents=["a"], truncate="none"))
    assert scorer.calls[1][2].truncate == "none"


@pytest.mark.parametrize(
    ("fields", "overrides", "param"),
    [
        ({"documents": ["a"] * 4}, {"max_documents": 3}, "documents"),
        ({"documents": ["a"], "query": "x" * 11}, {"max_query_chars": 10}, "query"),
        ({"documents": ["a", "b" * 11]}, {"max_document_chars": 10}, "documents[1]"),
        ({"documents": [{"text": "b" * 11}]}, {"max_document_chars": 10}, "documents[0].text"),
    ],
)
def test_limits_from_settings_are_enforced_before_scoring(
    fields: dict[str, object], overrides: dict[str, object], param: str
) -> None:
    scorer = TableScorer({"a": 0.1})
    with pytest.raises(InvalidRequest) as caught:
        make_service(scorer, **overrides).rerank(request(**fields))
    assert caught.value.param == param
    assert scorer.calls == []


def test_unknown_model_is_not_found() -> None:
    with pytest.raises(ModelNotFound):
        make_service(TableScorer({})).rerank(request(model="other", documents=["a"]))


def test_a_non_finite_score_is_an_error_not_a_ranking() -> None:
    scorer = TableScorer({"a": float("nan")})
    with pytest.raises(RerankError, match="non-finite"):
        make_service(scorer).rerank(request(documents=["a"]))
