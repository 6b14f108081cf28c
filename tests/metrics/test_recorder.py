"""The in-process metrics store: exact counts, histogram buckets, events for EMF."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from reranker.api.limiter import ScoringLimiter
from reranker.api.metering import MeteredLimiter
from reranker.config import Settings
from reranker.metrics.recorder import LATENCY_BUCKETS, Histogram, MetricsRecorder
from reranker.registry import ModelRegistry
from reranker.types import RerankRequest, RerankResponse, RerankResult, Usage


def test_histogram_counts_each_value_in_the_first_bucket_it_fits() -> None:
    histogram = Histogram()
    for value in (0.001, 0.005, 0.006, 0.3, 100.0):
        histogram.observe(value)
    cumulative = dict(histogram.cumulative())
    assert cumulative["0.005"] == 2  # 0.001 and the bound itself (Prometheus' le is inclusive)
    assert cumulative["0.01"] == 3
    assert cumulative["0.25"] == 3
    assert cumulative["0.5"] == 4
    assert cumulative[repr(LATENCY_BUCKETS[-1])] == 4
    assert cumulative["+Inf"] == 5
    assert histogram.total == 0.001 + 0.005 + 0.006 + 0.3 + 100.0


def test_requests_and_scoring_add_up_and_events_are_kept_only_when_asked() -> None:
    recorder = MetricsRecorder()
    recorder.record_request("POST", "/v1/rerank", 200, 0.02)
    recorder.record_request("POST", "/v1/rerank", 200, 0.04)
    recorder.record_request("POST", "/v1/rerank", 400, 0.001)
    recorder.record_scoring("default", pairs=3, tokens=40, queue_depth=0)
    recorder.record_scoring("default", pairs=2, tokens=10, queue_depth=1)
    snapshot = recorder.snapshot()
    assert snapshot.requests == {("POST", "/v1/rerank", "200"): 2, ("POST", "/v1/rerank", "400"): 1}
    assert dict(snapshot.latency[("POST", "/v1/rerank")].cumulative())["+Inf"] == 3
    assert (snapshot.pairs, snapshot.tokens) == ({"default": 5}, {"default": 50})
    assert recorder.drain_events() == []
    recorder.keep_events = True
    recorder.record_scoring("default", pairs=1, tokens=7, queue_depth=2)
    assert recorder.drain_events() == [
        {"kind": "scoring", "model": "default", "pairs": 1, "tokens": 7, "queue_depth": 2}
    ]
    assert recorder.drain_events() == []


def _response(model: str, tokens: int) -> RerankResponse:
    return RerankResponse(
        id="rerank_x",
        model=model,
        results=[RerankResult(index=0, relevance_score=0.5)],
        usage=Usage(prompt_tokens=tokens, total_tokens=tokens),
    )


def test_metered_limiter_counts_pairs_tokens_and_the_queue(tiny_cross_encoder_dir: Path) -> None:
    recorder = MetricsRecorder(keep_events=True)
    settings = Settings(models={"m": str(tiny_cross_encoder_dir)}, max_concurrency=1, max_queue=4)
    limiter = MeteredLimiter(ScoringLimiter(settings, ModelRegistry(settings)), recorder, max_concurrency=1)
    release = threading.Event()
    request = RerankRequest(model="m", query="q", documents=["a", "b", "c"])

    def slow(body: RerankRequest, request_id: str) -> RerankResponse:
        assert release.wait(10)
        return _response(body.model, 30)

    async def scenario() -> list[int]:
        first = asyncio.create_task(limiter.run(slow, request, "r1"))
        second = asyncio.create_task(limiter.run(slow, request, "r2"))
        depths = []
        for _ in range(200):  # at most 2 s for both jobs to be admitted
            await asyncio.sleep(0.01)
            if limiter.admitted == 2:
                break
        depths.append(limiter.queue_depth)
        release.set()
        await asyncio.gather(first, second)
        depths.append(limiter.queue_depth)
        return depths

    assert asyncio.run(scenario()) == [1, 0]
    snapshot = recorder.snapshot()
    assert (snapshot.pairs, snapshot.tokens) == ({"m": 6}, {"m": 60})
    # Each job records the queue it found on arrival: the second found the first running, none waiting.
    assert sorted(event["queue_depth"] for event in recorder.drain_events()) == [0, 0]
