"""GET /metrics over real HTTP against `reranker serve`, and its off / open / key settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from reranker.api.app import create_app
from reranker.config import Settings
from tests.fixtures.uvicorn_server import serve

KEY = "metrics-test-key"
HEADERS = {"Authorization": f"Bearer {KEY}"}
DOCS = ["Deploy a model behind an API endpoint.", "Billing and invoices.", "GPU training jobs."]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Return {(sample name, sorted labels): value} of a Prometheus text page."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture(scope="module")
def base_url(default_model_dir: Path) -> Iterator[str]:
    with serve(["--model", str(default_model_dir)], {"RERANK_API_KEYS": KEY}) as url:
        yield url


def test_scrape_counts_requests_pairs_tokens_and_model_load(base_url: str) -> None:
    body = {"model": "default", "query": "deploy a model", "documents": DOCS}
    answer = httpx.post(f"{base_url}/v1/rerank", json=body, headers=HEADERS, timeout=60).json()
    assert httpx.post(f"{base_url}/v1/rerank", json={**body, "top_n": 0}, headers=HEADERS).status_code == 400
    assert httpx.get(f"{base_url}/no/such/route?x=1", headers=HEADERS).status_code == 404
    assert httpx.post(f"{base_url}/v1/rerank", content=b"x" * 7_000_000, headers=HEADERS).status_code == 413

    response = httpx.get(f"{base_url}/metrics", headers=HEADERS, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    found = samples(response.text)
    rerank = (("method", "POST"), ("route", "/v1/rerank"))
    assert found[("reranker_requests_total", (*rerank, ("status", "200")))] == 1
    assert found[("reranker_requests_total", (*rerank, ("status", "400")))] == 1
    assert found[("reranker_requests_total", (*rerank, ("status", "413")))] == 1
    # Unknown paths share one label, so a scanner cannot grow the label set.
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert found[("reranker_requests_total", unmatched)] == 1
    assert found[("reranker_request_duration_seconds_count", rerank)] == 3
    assert 0 < found[("reranker_request_duration_seconds_sum", rerank)] < 60
    assert found[("reranker_pairs_scored_total", (("model", "default"),))] == len(DOCS)
    assert (
        found[("reranker_tokens_scored_total", (("model", "default"),))] == answer["usage"]["prompt_tokens"]
    )
    assert found[("reranker_scoring_in_flight", ())] == 0
    assert found[("reranker_scoring_queue_depth", ())] == 0
    assert found[("reranker_model_loaded", (("model", "all-minilm-l6-v2"),))] == 1
    for phase in ("fetch", "session", "warm"):
        assert found[("reranker_model_load_seconds", (("model", "all-minilm-l6-v2"), ("phase", phase)))] > 0
    assert found[("process_resident_memory_bytes", ())] > 0


def test_metrics_need_the_key_by_default(base_url: str) -> None:
    response = httpx.get(f"{base_url}/metrics", timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(("setting", "status"), [("open", 200), ("off", 404)])
def test_open_and_off(tiny_cross_encoder_dir: Path, setting: str, status: int) -> None:
    settings = Settings(
        models={"tiny-ce": str(tiny_cross_encoder_dir)}, api_keys=[SecretStr(KEY)], metrics=setting
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/metrics")  # no key
        assert response.status_code == status
        if status == 200:
            assert ("reranker_model_loaded", (("model", "tiny-ce"),)) in samples(response.text)
        else:
            assert response.json()["error"]["type"] == "not_found"
