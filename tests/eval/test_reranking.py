"""Reranking through RerankService: requests as the API gets them, scores saved per query, resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reranker.eval.datasets import Document, load_dataset
from reranker.eval.errors import EvalError
from reranker.eval.first_stage import Bm25Config, bm25_run
from reranker.eval.pipeline import EvalOptions, run_eval
from reranker.eval.reranking import ScoreLog, build_request, rerank_run
from reranker.eval.targets import InProcessTarget
from reranker.types import RerankRequest, RerankResponse
from tests.eval.conftest import MakeDataset


class Killed(Exception):
    """Stands in for a kill: raised by the target after a number of requests."""


class CrashingTarget:
    """The real in-process target, dying after `after` requests."""

    def __init__(self, inner: InProcessTarget, after: int) -> None:
        self.inner = inner
        self.after = after
        self.calls = 0
        self.concurrency = 1

    def rerank(self, request: RerankRequest) -> RerankResponse:
        if self.calls == self.after:
            raise Killed
        self.calls += 1
        return self.inner.rerank(request)

    def describe(self, model: str) -> dict[str, Any]:
        return self.inner.describe(model)

    def close(self) -> None:
        self.inner.close()


def test_build_request_sends_objects_with_title_first_rule() -> None:
    request = build_request(
        "m", "q", [("7", Document(title="T", text="body")), ("8", Document(title="", text="only"))]
    )

    assert request.model_dump(mode="json", exclude_unset=True) == {
        "model": "m",
        "query": "q",
        "documents": [{"id": "7", "title": "T", "text": "body"}, {"id": "8", "text": "only"}],
    }


def _options(dataset: Path, out: Path, cache: Path, model: Path) -> EvalOptions:
    return EvalOptions(dataset=dataset, model=str(model), out=out, cache_dir=cache, progress=False)


def test_killed_run_resumes_to_the_uninterrupted_result(
    make_dataset: MakeDataset, tmp_path: Path, tiny_cross_encoder_dir: Path
) -> None:
    folder = make_dataset()
    target, model = InProcessTarget.for_model(str(tiny_cross_encoder_dir))
    whole = run_eval(_options(folder, tmp_path / "whole", tmp_path / "c", tiny_cross_encoder_dir))

    with pytest.raises(Killed):
        run_eval(
            _options(folder, tmp_path / "resumed", tmp_path / "c", tiny_cross_encoder_dir),
            target=CrashingTarget(target, after=1),
            model=model,
        )
    assert len((tmp_path / "resumed" / "scores.jsonl").read_text().splitlines()) == 2  # header + 1 query
    resumed = run_eval(_options(folder, tmp_path / "resumed", tmp_path / "c", tiny_cross_encoder_dir))

    assert resumed["reranker"]["queries_resumed"] == 1 and resumed["reranker"]["queries_scored_now"] == 1
    assert resumed["metrics"] == whole["metrics"]
    for name in ("reranked.trec", "first_stage.trec"):
        assert (tmp_path / "resumed" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()


def test_a_line_cut_short_by_a_kill_is_redone(
    make_dataset: MakeDataset, tmp_path: Path, tiny_cross_encoder_dir: Path
) -> None:
    dataset = load_dataset(make_dataset(), "test")
    candidates = bm25_run(dataset, 10, Bm25Config(), tmp_path / "cache")
    target, model = InProcessTarget.for_model(str(tiny_cross_encoder_dir))
    path = tmp_path / "scores.jsonl"
    whole = rerank_run(dataset, candidates, target, model, ScoreLog(path, {"h": 1}), progress=False)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2]) + lines[2][:15])  # the last query's line, half written

    again = rerank_run(dataset, candidates, target, model, ScoreLog(path, {"h": 1}), progress=False)

    assert again.run == whole.run
    assert again.resumed == 1 and again.scored_now == 1
    assert path.read_bytes() == b"".join(lines)  # the half line was replaced, nothing duplicated
    stored = json.loads(lines[1])
    assert stored["scores"] == whole.run[stored["query_id"]]  # full float precision on disk


def test_scores_of_another_run_are_refused(
    make_dataset: MakeDataset, tmp_path: Path, tiny_cross_encoder_dir: Path
) -> None:
    dataset = load_dataset(make_dataset(), "test")
    candidates = bm25_run(dataset, 10, Bm25Config(), tmp_path / "cache")
    target, model = InProcessTarget.for_model(str(tiny_cross_encoder_dir))
    path = tmp_path / "scores.jsonl"
    rerank_run(dataset, candidates, target, model, ScoreLog(path, {"top_k": 10}), progress=False)

    with pytest.raises(EvalError, match=r"another run \(differs in: top_k\)"):
        rerank_run(dataset, candidates, target, model, ScoreLog(path, {"top_k": 5}), progress=False)

    fewer = {query: dict(list(scores.items())[:1]) for query, scores in candidates.items()}
    with pytest.raises(EvalError, match="scored on other candidates"):
        rerank_run(dataset, fewer, target, model, ScoreLog(path, {"top_k": 10}), progress=False)
