"""GET /ready (readiness) beside GET /health (liveness), against `reranker serve` over loopback.

/ready answers 200 only once the default model is loaded and warmed; a model whose graph cannot
be loaded leaves it 503 in the error shape while /health stays 200.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import pytest

from reranker.manifest import MANIFEST_NAME, sha256_file
from tests.fixtures.uvicorn_server import serve_process

KEY = "ready-test-key"


@pytest.fixture
def unloadable_model(tiny_cross_encoder_dir: Path, tmp_path: Path) -> Path:
    """A copy of the tiny model whose graphs are not ONNX, listed with their true sha256 and size,
    so the files pass verification and the runtime then fails to build a session."""
    folder = tmp_path / "tiny-ce"
    shutil.copytree(tiny_cross_encoder_dir, folder)
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    for graph in manifest["variants"].values():
        (folder / graph).write_bytes(b"this is not an ONNX graph")
        manifest["files"][graph] = {"sha256": sha256_file(folder / graph), "size": 25}
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    return folder


def wait_for_ready(url: str, seconds: float) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        response = httpx.get(f"{url}/ready", timeout=2.0)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def test_ready_is_503_while_the_default_model_cannot_load_and_health_is_200(unloadable_model: Path) -> None:
    env = {"RERANK_API_KEYS": KEY, "RERANK_VARIANT": "fp32", "RERANK_MODEL_RETRY_SECONDS": "0.2"}
    with serve_process(["--model", str(unloadable_model)], env) as served:
        time.sleep(1.0)  # the background warm-up has failed by now; /ready retries it meanwhile
        for _ in range(3):
            assert httpx.get(f"{served.url}/health", timeout=2.0).status_code == 200
            response = wait_for_ready(served.url, 0.5)
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "1"
            assert response.headers["x-content-type-options"] == "nosniff"
            error = response.json()["error"]
            assert error["type"] == "model_unavailable"
            assert "the default model 'tiny-ce' is not loaded and warmed yet" in error["message"]
            assert "graph could not be" in error["message"]
            assert str(unloadable_model) not in response.text


def test_ready_is_200_once_the_default_model_is_warmed(tiny_cross_encoder_dir: Path) -> None:
    with serve_process(["--model", str(tiny_cross_encoder_dir)], {"RERANK_API_KEYS": KEY}) as served:
        response = wait_for_ready(served.url, 30.0)
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "ready"}
        assert httpx.get(f"{served.url}/health", timeout=2.0).json() == {"status": "ok"}
