"""Publish -> fetch -> serve, end to end through the API and the Lambda handler, on the real S3 API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from reranker.api.app import create_app
from reranker.config import Settings
from reranker.model_store.publish import publish_model
from reranker.s3uri import cache_folder_name, parse_s3_uri
from tests.events.test_handler import make_event
from tests.fixtures.model_cache import tiny_cross_encoder_export
from tests.fixtures.moto_server import DUMMY_AWS_ENV
from tests.model_store.conftest import ROOT, copy_model
from tests.model_store.tcp_proxy import CuttableProxy

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

KEY = "s3-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
QUERY = "apple river"
DOCUMENTS = ["doctor engine garden history", "apple river music ocean", "planet apple winter coffee"]


# RERANK_RUNTIME=auto serves onnxruntime's dynamic int8, also where openvino is installed ([dev] has it).
AUTO_INT8 = ("CPUExecutionProvider", "int8")


def app_client(endpoint: str, cache_dir: Path, models: dict[str, str], **overrides: Any) -> TestClient:
    settings = Settings(
        models=models,
        api_keys=[SecretStr(KEY)],
        cache_dir=cache_dir,
        s3_endpoint_url=endpoint,
        s3_region="us-east-1",
        s3_retry_base_seconds=0.0,
        s3_max_attempts=2,
        **overrides,
    )
    return TestClient(create_app(settings))


def rerank(client: TestClient, model: str) -> Any:
    return client.post(
        "/v1/rerank", json={"model": model, "query": QUERY, "documents": DOCUMENTS}, headers=AUTH
    )


def cache_entries(cache_dir: Path) -> list[str]:
    return sorted(p.name for p in cache_dir.iterdir()) if cache_dir.exists() else []


def test_publish_fetch_and_serve_gives_the_scores_of_the_local_folder(
    published_uri: str, model_dir: Path, cache_dir: Path, moto_endpoint: str
) -> None:
    with app_client(
        moto_endpoint, cache_dir, {"tiny-ce": published_uri}, aliases={"prod": "tiny-ce"}
    ) as client:
        before = client.get("/v1/models", headers=AUTH).json()["data"]
        assert before[0]["loaded"] is False and before[0]["cold_start"] is None
        response = rerank(client, "prod")
        models = client.get("/v1/models", headers=AUTH).json()["data"]
    assert response.status_code == 200, response.text
    body = response.json()
    scores = [r["relevance_score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True) and all(0.0 < s < 1.0 for s in scores)
    assert body["model"] == "prod" and body["usage"]["prompt_tokens"] > 0

    with app_client(moto_endpoint, cache_dir / "unused", {"tiny-ce": str(model_dir)}) as local:
        expected = rerank(local, "tiny-ce").json()
    assert body["results"] == expected["results"]

    (card,) = models
    assert card["loaded"] is True and card["aliases"] == ["prod"]
    assert (card["provider"], card["variant"]) == AUTO_INT8
    cold = card["cold_start"]
    assert cold["fetch_seconds"] > 0 and cold["session_seconds"] > 0 and cold["warm_seconds"] is None
    assert cache_entries(cache_dir) == [cache_folder_name(parse_s3_uri(published_uri), "int8")]


def served_as(response: Any) -> tuple[str, str, list[tuple[int, str]]]:
    """Return (version, fingerprint, [(index, score as hex)]) of a 200 answer."""
    assert response.status_code == 200, response.text
    ranked = [(r["index"], r["relevance_score"].hex()) for r in response.json()["results"]]
    return response.headers["X-Model-Version"], response.headers["X-Model-Fingerprint"], ranked


def test_an_alias_points_a_deployment_at_a_version_and_rolls_by_configuration(
    bucket: str, moto_client: S3Client, model_dir: Path, cache_dir: Path, moto_endpoint: str, tmp_path: Path
) -> None:
    # Version 2 is another checkpoint (seed 2, not 0; seed 1's int8-static graph fails the
    # exporter's parity check): a server that kept the old version after a roll would answer
    # with its scores and fingerprint, which differ from the new version's.
    second = copy_model(tiny_cross_encoder_export(seed=2), tmp_path / "v2", version="2")
    v1 = publish_model(model_dir, f"s3://{bucket}/{ROOT}", moto_client).uri
    v2 = publish_model(second, f"s3://{bucket}/{ROOT}", moto_client).uri
    versions = {"tiny-ce-1": v1, "tiny-ce-2": v2}
    expected = {}
    for version, folder in (("1", model_dir), ("2", second)):  # each version served from its folder
        with app_client(moto_endpoint, tmp_path / "local", {"local": str(folder)}) as local:
            expected[version] = served_as(rerank(local, "local"))
    assert [expected[v][0] for v in ("1", "2")] == ["1", "2"]
    assert expected["1"][1] != expected["2"][1]  # other weights, other fingerprint
    assert {s for _, s in expected["1"][2]}.isdisjoint(s for _, s in expected["2"][2])  # other scores

    with app_client(moto_endpoint, cache_dir, versions, aliases={"deploy-7": "tiny-ce-2"}) as client:
        assert served_as(rerank(client, "deploy-7")) == expected["2"]
    assert [name.rsplit("-", 2)[1:] for name in cache_entries(cache_dir)] == [["ce", "2"]]

    with app_client(moto_endpoint, cache_dir, versions, aliases={"deploy-7": "tiny-ce-1"}) as client:
        assert served_as(rerank(client, "deploy-7")) == expected["1"]
        cards = {c["id"]: c for c in client.get("/v1/models", headers=AUTH).json()["data"]}
    assert cards["tiny-ce-1"]["aliases"] == ["deploy-7"] and cards["tiny-ce-1"]["loaded"] is True
    assert cards["tiny-ce-1"]["fingerprint"] == expected["1"][1]
    assert cards["tiny-ce-2"]["aliases"] == [] and cards["tiny-ce-2"]["loaded"] is False
    assert sorted(name.rsplit("-", 1)[1] for name in cache_entries(cache_dir)) == ["1", "2"]


def error_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] == "model_unavailable"
    return error


def test_a_corrupted_object_is_503_then_a_fixed_one_serves(
    published_uri: str,
    bucket: str,
    moto_client: S3Client,
    model_dir: Path,
    cache_dir: Path,
    moto_endpoint: str,
) -> None:
    key = f"{published_uri.split('/', 3)[3]}/tokenizer.json"
    moto_client.put_object(Bucket=bucket, Key=key, Body=b'{"tampered": true}')
    # No retry window (the registry's backoff after a failure, tested in tests/hardening).
    with app_client(moto_endpoint, cache_dir, {"tiny-ce": published_uri}, model_retry_seconds=0.0) as client:
        error = error_of(rerank(client, "tiny-ce"))
        assert error["message"] == "model 'tiny-ce' file 'tokenizer.json' fails its sha256 check"
        assert cache_entries(cache_dir) == []
        # Once the object is right again, the next request loads it.
        publish_model(model_dir, f"s3://{bucket}/{ROOT}", moto_client, force=True)
        assert rerank(client, "tiny-ce").status_code == 200


def test_a_missing_manifest_is_503(bucket: str, cache_dir: Path, moto_endpoint: str) -> None:
    with app_client(moto_endpoint, cache_dir, {"ghost": f"s3://{bucket}/{ROOT}/ghost/1"}) as client:
        error = error_of(rerank(client, "ghost"))
    assert error["message"] == "model 'ghost' is not published at its configured S3 location"
    assert bucket not in error["message"]


def test_an_unreachable_store_is_503_after_the_retries(
    published_uri: str, bucket: str, cache_dir: Path, moto_endpoint: str
) -> None:
    with CuttableProxy(int(moto_endpoint.rsplit(":", 1)[1]), cut_after=0, cuts=0) as proxy:
        gone = proxy.endpoint
    with app_client(gone, cache_dir, {"tiny-ce": published_uri}) as client:
        response = rerank(client, "tiny-ce")
    error = error_of(response)
    assert "did not answer reliably" in error["message"]
    assert bucket not in response.text and gone not in response.text and "Traceback" not in response.text
    assert cache_entries(cache_dir) == []


def test_lambda_init_fetches_from_s3_with_the_same_store_and_serves(
    published_uri: str, cache_dir: Path, moto_endpoint: str
) -> None:
    """A fresh interpreter imports reranker.handler as Lambda's init does, then gets one event."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RERANK_", "AWS_"))},
        **DUMMY_AWS_ENV,
        "RERANK_MODELS": json.dumps({"tiny-ce": published_uri}),
        "RERANK_ALIASES": json.dumps({"default": "tiny-ce"}),
        "RERANK_DEFAULT_MODEL": "default",
        "RERANK_API_KEYS": KEY,
        "RERANK_CACHE_DIR": str(cache_dir),
        "RERANK_S3_ENDPOINT_URL": moto_endpoint,
    }
    headers = {**AUTH, "Content-Type": "application/json"}
    body = json.dumps({"model": "default", "query": QUERY, "documents": DOCUMENTS}).encode()
    events = [
        make_event("apigw-http-v2", "POST", "/v1/rerank", body, headers),
        make_event("apigw-http-v2", "GET", "/v1/models", None, AUTH),
    ]
    script = (
        "import json, os, pathlib, sys, types\n"
        "import reranker.handler as lambda_entry\n"
        "cache = pathlib.Path(os.environ['RERANK_CACHE_DIR'])\n"
        "filled = sorted(p.name for p in cache.iterdir())\n"
        "context = types.SimpleNamespace(aws_request_id='r-1', get_remaining_time_in_millis=lambda: 30000)\n"
        "answers = [lambda_entry.handler(event, context) for event in json.load(sys.stdin)]\n"
        "print(json.dumps({'filled': filled, 'answers': answers}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(events),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    # The cache was filled during init, into the folder S3ModelStore computes for this URI.
    assert out["filled"] == [cache_folder_name(parse_s3_uri(published_uri), "int8")]
    rerank_answer, models_answer = out["answers"]
    assert rerank_answer["statusCode"] == 200, rerank_answer["body"]
    assert len(json.loads(rerank_answer["body"])["results"]) == len(DOCUMENTS)
    (card,) = json.loads(models_answer["body"])["data"]
    assert card["loaded"] is True and card["provider"] == AUTO_INT8[0]
    cold = card["cold_start"]
    assert cold["import_seconds"] > 0 and cold["fetch_seconds"] > 0
    assert cold["session_seconds"] > 0 and cold["warm_seconds"] > 0

    logs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    by_message = {line["message"]: line for line in logs}
    assert by_message["model fetched from S3"]["model"] == "tiny-ce"
    assert by_message["model loaded"]["provider"] == AUTO_INT8[0]
    assert by_message["cold start"]["import_seconds"] == cold["import_seconds"]


@pytest.mark.parametrize("variant", ["int8", "fp32"])
def test_the_cache_folder_follows_the_variant(
    variant: str, published_uri: str, cache_dir: Path, moto_endpoint: str
) -> None:
    with app_client(moto_endpoint, cache_dir, {"tiny-ce": published_uri}, precision=variant) as client:
        assert rerank(client, "tiny-ce").status_code == 200
    assert cache_entries(cache_dir) == [cache_folder_name(parse_s3_uri(published_uri), variant)]


def test_a_deployment_with_only_local_models_never_imports_boto3(model_dir: Path) -> None:
    """boto3 costs about a second of cold start; only an s3:// model may pay it."""
    script = (
        "import json, sys\n"
        "import reranker.handler\n"
        "reranker.handler.app.state.service.warm('tiny-ce')\n"
        "print(json.dumps(sorted(m for m in ('boto3', 'botocore', 's3transfer') if m in sys.modules)))\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RERANK_")},
        "RERANK_MODELS": json.dumps({"tiny-ce": str(model_dir)}),
        "RERANK_DEFAULT_MODEL": "tiny-ce",
        "RERANK_API_KEYS": KEY,
    }
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
