"""What saved scores belong to: the model's fingerprint (over HTTP too), never the fusion; and a
request that ran out of time on the server is retried in halves, not whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from reranker.eval.datasets import Document
from reranker.eval.errors import EvalError
from reranker.eval.pipeline import SCORES_FILE, EvalOptions, run_eval
from reranker.eval.reranking import build_request
from reranker.eval.targets import FINGERPRINT_HEADER, RemoteTarget
from reranker.fusion import Fusion, fuse
from tests.eval.conftest import MakeDataset


class FakeApi:
    """The wire format of /v1/models and /v1/rerank, scoring by text length; its model can change."""

    def __init__(self, fingerprint: str, deadline_above: int | None = None) -> None:
        self.fingerprint = fingerprint
        self.deadline_above = deadline_above
        self.sizes: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            card = {"id": "m", "aliases": [], "fingerprint": self.fingerprint, "loaded": True}
            return httpx.Response(200, json={"object": "list", "data": [card]})
        body = json.loads(request.content)
        documents = body["documents"]
        self.sizes.append(len(documents))
        if self.deadline_above is not None and len(documents) > self.deadline_above:
            error = {"type": "deadline_exceeded", "message": "the request's deadline passed"}
            return httpx.Response(503, headers={"Retry-After": "0"}, json={"error": error})
        texts = [d if isinstance(d, str) else d.get("title", "") + d["text"] for d in documents]
        model = np.array([len(t) / 100.0 for t in texts], dtype=np.float64)
        extra = body.get("extra_body") or {}
        scores = model
        if "fusion" in extra:
            spec = extra["fusion"]
            fusion = Fusion(spec["method"], weight=spec.get("weight", 0.5), k=spec.get("k", 60))
            scores = fuse(model, np.array(extra["first_stage_scores"], dtype=np.float64), fusion)
        order = np.argsort(-scores, kind="stable")
        results = [
            {
                "index": int(i),
                "relevance_score": float(scores[i]),
                **({"model_score": float(model[i])} if "fusion" in extra else {}),
            }
            for i in order
        ]
        answer: dict[str, Any] = {"id": "rerank_1", "object": "list", "model": "m", "results": results}
        answer["usage"] = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
        return httpx.Response(200, headers={FINGERPRINT_HEADER: self.fingerprint}, json=answer)


def _target(api: FakeApi) -> RemoteTarget:
    return RemoteTarget("http://api.test", None, retries=2, backoff=0.0, transport=httpx.MockTransport(api))


def _options(dataset: Path, out: Path, cache: Path, **extra: Any) -> EvalOptions:
    return EvalOptions(dataset=dataset, model="m", out=out, cache_dir=cache, progress=False, top_k=5, **extra)


def _header(out: Path) -> dict[str, Any]:
    header: dict[str, Any] = json.loads((out / SCORES_FILE).read_text().splitlines()[0])["header"]
    return header


def test_http_scores_are_filed_under_the_served_fingerprint_and_a_resume_refuses_another(
    make_dataset: MakeDataset, tmp_path: Path, bm25_cache: Path
) -> None:
    dataset, out = make_dataset(), tmp_path / "run"
    api = FakeApi("a" * 64)
    run_eval(_options(dataset, out, bm25_cache), target=_target(api), model="m")
    assert _header(out)["model_fingerprint"] == "a" * 64

    api.fingerprint = "b" * 64  # the deployment now serves other weights under the same name
    with pytest.raises(EvalError, match=r"holds scores of another run \(differs in: model_fingerprint\)"):
        run_eval(_options(dataset, out, bm25_cache), target=_target(api), model="m")


def test_a_model_that_changes_during_the_run_fails_the_run(
    make_dataset: MakeDataset, tmp_path: Path, bm25_cache: Path
) -> None:
    api = FakeApi("a" * 64)
    target = _target(api)
    first = target.rerank
    calls: list[int] = []

    def switching(request: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            api.fingerprint = "c" * 64
        return first(request)

    target.rerank = switching  # type: ignore[method-assign]
    with pytest.raises(EvalError, match="the model changed during the run"):
        run_eval(_options(make_dataset(), tmp_path / "run", bm25_cache), target=target, model="m")


def test_changing_only_the_fusion_rescores_nothing_and_fuses_as_the_service(
    make_dataset: MakeDataset, tmp_path: Path, bm25_cache: Path
) -> None:
    dataset = make_dataset()
    combsum, rrf = Fusion("combsum", weight=0.3), Fusion("rrf", k=10)
    api = FakeApi("a" * 64)
    run_eval(_options(dataset, tmp_path / "run", bm25_cache, fusion=combsum), target=_target(api), model="m")
    scored = len(api.sizes)

    again = run_eval(
        _options(dataset, tmp_path / "run", bm25_cache, fusion=rrf), target=_target(api), model="m"
    )
    fresh = run_eval(
        _options(dataset, tmp_path / "fresh", bm25_cache, fusion=rrf), target=_target(api), model="m"
    )

    assert scored > 0 and len(api.sizes) == 2 * scored  # the resumed run sent nothing (the fresh one did)
    assert again["reranker"]["documents_scored_now"] == 0 and again["reranker"]["queries_resumed"] > 0
    assert (tmp_path / "run" / "fused.trec").read_bytes() == (tmp_path / "fresh" / "fused.trec").read_bytes()
    assert again["metrics"] == fresh["metrics"]


@pytest.mark.parametrize("fusion", [None, Fusion("combsum", weight=0.5)])
def test_a_deadline_exceeded_request_is_retried_in_halves_with_the_same_answer(fusion: Fusion | None) -> None:
    documents = [(str(i), Document("", "x" * (i * 7 % 5 + 1))) for i in range(6)]
    request = build_request("m", "q", documents, first_stage=[6.0, 5.0, 4.0, 3.0, 2.0, 1.0], fusion=fusion)
    whole = _target(FakeApi("a" * 64)).rerank(request)
    api = FakeApi("a" * 64, deadline_above=3)

    split = _target(api).rerank(request)

    assert api.sizes == [6, 3, 3]  # one failed whole request, then each half once
    assert [(r.index, r.relevance_score, r.model_score) for r in split.results] == [
        (r.index, r.relevance_score, r.model_score) for r in whole.results
    ]
    assert split.usage.prompt_tokens == whole.usage.prompt_tokens
