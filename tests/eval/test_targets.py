"""In process and over HTTP give the same reranked run; the HTTP client retries what is transient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reranker.eval.datasets import Document
from reranker.eval.errors import EvalError
from reranker.eval.pipeline import EvalOptions, run_eval
from reranker.eval.reranking import build_request
from reranker.eval.targets import RemoteTarget
from reranker.fusion import Fusion
from tests.fixtures.uvicorn_server import serve

KEY = "eval-http-key"
ANSWER = {
    "id": "rerank_01",
    "object": "list",
    "model": "m",
    "results": [{"index": 1, "relevance_score": 0.75}, {"index": 0, "relevance_score": 0.25}],
    "usage": {"prompt_tokens": 9, "total_tokens": 9},
}
REQUEST = build_request("m", "q", [("a", Document("", "x")), ("b", Document("T", "y"))])


@pytest.fixture(scope="module")
def base_url(default_model_dir: Path) -> Iterator[str]:
    with serve(["--model", str(default_model_dir)], {"RERANK_API_KEYS": KEY}) as url:
        yield url


@pytest.mark.data
@pytest.mark.slow
def test_http_run_equals_in_process_run(
    adi_dir: Path, default_model_dir: Path, base_url: str, tmp_path: Path, bm25_cache: Path
) -> None:
    def options(out: str, **extra: object) -> EvalOptions:
        common = {"top_k": 10, "max_queries": 6, "cache_dir": bm25_cache, "progress": False}
        fusion = Fusion("combsum", weight=0.5)
        return EvalOptions(dataset=adi_dir, out=tmp_path / out, fusion=fusion, **common, **extra)  # type: ignore[arg-type]

    local = run_eval(options("local", model=str(default_model_dir)))
    # Four requests in flight over HTTP, one at a time in process: scores do not depend on the
    # order or the company they are computed in (docs/scores.md), so the runs are byte-identical.
    remote = run_eval(options("http", model="default", api_url=base_url, api_key=KEY, concurrency=4))

    assert remote["reranker"]["mode"] == "http" and remote["reranker"]["model"] == "all-minilm-l6-v2"
    assert remote["reranker"]["variant"] == local["reranker"]["variant"]
    assert remote["reranker"]["model_fingerprint"] == local["reranker"]["model_fingerprint"] is not None
    for trec in ("reranked.trec", "fused.trec"):
        assert (tmp_path / "http" / trec).read_bytes() == (tmp_path / "local" / trec).read_bytes()
    assert remote["metrics"] == local["metrics"]
    assert remote["reranker"]["prompt_tokens"] == local["reranker"]["prompt_tokens"] > 0
    assert local["metrics"]["reranked"] != local["metrics"]["first_stage"]
    assert local["metrics"]["fused"] not in (local["metrics"]["first_stage"], local["metrics"]["reranked"])


def _target(handler: object, retries: int = 3) -> RemoteTarget:
    transport = httpx.MockTransport(handler)  # type: ignore[arg-type]
    return RemoteTarget("http://api.test", "k", retries=retries, backoff=0.0, transport=transport)


def test_retries_429_5xx_and_connection_errors_then_succeeds() -> None:
    seen: list[httpx.Request] = []
    replies: list[httpx.Response | Exception] = [
        httpx.Response(503, json={"error": {"type": "model_unavailable", "message": "loading"}}),
        httpx.Response(429, headers={"Retry-After": "0"}, json={"error": {"message": "busy"}}),
        httpx.ConnectError("refused"),
        httpx.Response(200, json=ANSWER),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        reply = replies[len(seen) - 1]
        if isinstance(reply, Exception):
            raise reply
        return reply

    response = _target(handler).rerank(REQUEST)

    assert [r.index for r in response.results] == [1, 0] and len(seen) == 4
    assert seen[0].headers["Authorization"] == "Bearer k" and seen[0].url.path == "/v1/rerank"
    assert httpx.Response(200, content=seen[0].content).json() == {
        "model": "m",
        "query": "q",
        "documents": [{"id": "a", "text": "x"}, {"id": "b", "title": "T", "text": "y"}],
    }


def test_client_errors_are_not_retried_and_keep_the_api_message() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        error = {"type": "model_not_found", "message": "model 'm' is not served"}
        return httpx.Response(404, json={"error": error})

    with pytest.raises(EvalError, match=r"rejected a request \(HTTP 404: model 'm' is not served\)"):
        _target(handler).rerank(REQUEST)
    assert len(calls) == 1


def test_gives_up_after_the_retries() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow")

    with pytest.raises(EvalError, match=r"did not answer after 3 attempts \(last: ReadTimeout\)"):
        _target(handler, retries=2).rerank(REQUEST)
