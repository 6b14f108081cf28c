"""The Lambda handler behind a local API Gateway emulator, over real HTTP.

serverless-offline turns each HTTP request into an API Gateway HTTP API (payload 2.0) event and
calls `reranker.handler.handler` in a long-lived Python process, as a warm Lambda environment
would: init (API keys from Secrets Manager on the moto server, the default model warmed) runs
once, then requests only score. Answers must equal the in-process app's for the same request.
Skips with the reason when node, npm or the npm packages are unavailable.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from reranker.api.app import create_app
from reranker.config import Settings
from tests.fixtures.moto_server import DUMMY_AWS_ENV
from tests.infra import emulator

pytestmark = pytest.mark.slow

KEY = "rk_emulator_3f9a1c7d2b8e"
BODY: dict[str, Any] = {
    "model": "tiny-ce",
    "query": "apple river",
    "documents": [
        "coffee market school",
        {"id": "d1", "text": "apple river music doctor"},
        "apple garden history",
        {"id": "d3", "title": "river", "text": "ocean planet winter"},
    ],
    "return_documents": True,
}


@pytest.fixture(scope="module")
def installed() -> Path:
    try:
        return emulator.install()
    except emulator.EmulatorUnavailable as exc:
        pytest.skip(f"local API Gateway emulator unavailable: {exc}")


@pytest.fixture(scope="module")
def served(
    installed: Path,
    tiny_cross_encoder_dir: Path,
    moto_endpoint: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Path]]:
    """Yield the base URL and the work folder (with the emulator's log) of the emulated deployment."""
    import boto3

    secrets = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=moto_endpoint)
    arn = secrets.create_secret(
        Name=f"reranker/emulator-{uuid.uuid4().hex[:8]}", SecretString=json.dumps([KEY])
    )["ARN"]
    env = {
        **DUMMY_AWS_ENV,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_endpoint,
        # What infra/template.yaml sets, with a local model folder instead of S3.
        "RERANK_MODELS": json.dumps({"tiny-ce": str(tiny_cross_encoder_dir)}),
        "RERANK_ALIASES": json.dumps({"prod": "tiny-ce"}),
        "RERANK_DEFAULT_MODEL": "prod",
        "RERANK_PRECISION": "fp32",
        "RERANK_DEVICE": "cpu",
        "RERANK_API_KEYS_SECRET_ID": arn,
        "RERANK_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
    }
    workdir = tmp_path_factory.mktemp("emulator")
    with emulator.run(installed, workdir, env) as base_url:
        yield base_url, workdir


def in_process(tiny_cross_encoder_dir: Path) -> TestClient:
    settings = Settings(
        models={"tiny-ce": str(tiny_cross_encoder_dir)},
        aliases={"prod": "tiny-ce"},
        default_model="prod",
        precision="fp32",
        device="cpu",
        api_keys=[SecretStr(KEY)],
    )
    return TestClient(create_app(settings))


def test_rerank_through_api_gateway_events_matches_the_app(
    served: tuple[str, Path], tiny_cross_encoder_dir: Path
) -> None:
    base_url, workdir = served
    auth = {"Authorization": f"Bearer {KEY}"}
    response = httpx.post(f"{base_url}/v1/rerank", json=BODY, headers=auth, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"].startswith("rerank_") and response.headers["x-request-id"] == body["id"]
    assert body["model"] == "tiny-ce"
    assert sorted(result["index"] for result in body["results"]) == [0, 1, 2, 3]
    scores = [result["relevance_score"] for result in body["results"]]
    assert scores == sorted(scores, reverse=True)
    by_index = {result["index"]: result for result in body["results"]}
    assert by_index[1]["document"] == {"id": "d1", "text": "apple river music doctor"}
    assert by_index[0]["document"] == {"text": "coffee market school"}
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0

    with in_process(tiny_cross_encoder_dir) as client:
        expected = client.post("/v1/rerank", json=BODY, headers=auth).json()
    assert [r["index"] for r in body["results"]] == [r["index"] for r in expected["results"]]
    for got, want in zip(body["results"], expected["results"], strict=True):
        assert got["relevance_score"] == pytest.approx(want["relevance_score"], abs=1e-9)
    assert body["usage"] == expected["usage"]
    # Through the emulator: each request became an HTTP API event handled by the Lambda handler.
    assert "ANY /v1/rerank (λ: api)" in emulator.log_text(workdir)


def test_init_read_the_secret_and_warmed_the_default_model(served: tuple[str, Path]) -> None:
    base_url, workdir = served
    response = httpx.get(f"{base_url}/v1/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert response.status_code == 200
    (card,) = response.json()["data"]
    assert card["id"] == "tiny-ce" and card["aliases"] == ["prod"]
    assert card["loaded"] is True  # warmed at init, before any rerank request named it
    assert card["provider"] is not None and "CPU" in card["provider"].upper()
    log = emulator.log_text(workdir)
    assert "API keys loaded from Secrets Manager" in log
    assert KEY not in log


@pytest.mark.parametrize(
    ("headers", "body", "status", "error_type"),
    [
        ({}, BODY, 401, "authentication_error"),
        ({"Authorization": "Bearer wrong-key"}, BODY, 401, "authentication_error"),
        ({"Authorization": f"Bearer {KEY}"}, {**BODY, "model": "nope"}, 404, "model_not_found"),
        ({"Authorization": f"Bearer {KEY}"}, {**BODY, "query": "  "}, 400, "invalid_request"),
    ],
    ids=["no-key", "wrong-key", "unknown-model", "blank-query"],
)
def test_errors_keep_their_status_and_shape_through_the_gateway(
    served: tuple[str, Path], headers: dict[str, str], body: dict[str, Any], status: int, error_type: str
) -> None:
    base_url, _ = served
    response = httpx.post(f"{base_url}/v1/rerank", json=body, headers=headers, timeout=30)
    assert response.status_code == status
    assert response.json()["error"]["type"] == error_type


def test_health_needs_no_key_and_unknown_routes_are_404(served: tuple[str, Path]) -> None:
    base_url, _ = served
    assert httpx.get(f"{base_url}/health", timeout=30).json() == {"status": "ok"}
    missing = httpx.get(f"{base_url}/v2/nothing", timeout=30)
    assert missing.status_code == 404
