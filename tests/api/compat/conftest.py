"""One `reranker serve` (uvicorn, loopback) for the client SDK tests, with both test models.

The default bi-encoder is served first, so it is the deployment's default (TEI, Infinity).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.uvicorn_server import serve

KEY = "compat-test-key"
HEADERS = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="session")
def base_url(default_model_dir: Path, tiny_cross_encoder_dir: Path) -> Iterator[str]:
    args = ["--model", str(default_model_dir), "--model", str(tiny_cross_encoder_dir)]
    with serve(args, {"RERANK_API_KEYS": KEY, "RERANK_PRECISION": "fp32"}) as url:
        yield url


def ours(base_url: str, **fields: Any) -> dict[str, Any]:
    """Return our own /v1/rerank answer, the reference every other format must match."""
    response = httpx.post(f"{base_url}/v1/rerank", json=fields, headers=HEADERS, timeout=60)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ranking(body: dict[str, Any]) -> list[tuple[int, float]]:
    """Return (index, score) pairs of a /v1/rerank answer, best first."""
    return [(r["index"], r["relevance_score"]) for r in body["results"]]
