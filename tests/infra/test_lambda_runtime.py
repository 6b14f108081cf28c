"""The handler under the real Lambda runtime client (awslambdaric), driven over the Runtime API.

awslambdaric runs in a subprocess as on Lambda (`python -m awslambdaric reranker.handler.handler`)
and long-polls a loopback Runtime API (tests/infra/runtime_api.py) that hands it API Gateway HTTP
API v2 events. With `AWS_LAMBDA_INITIALIZATION_TYPE=snap-start` it runs the SnapStart sequence:
init, the before-snapshot hooks, `restore/next`, the after-restore hooks, then invocations. The
models come from moto S3: the default one is fetched before the "snapshot", a second one only
after the "restore", through the S3 client that the hooks closed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.events.test_handler import make_event
from tests.fixtures.moto_server import DUMMY_AWS_ENV, s3_client
from tests.infra.cfn import REPO
from tests.infra.runtime_api import Result, RuntimeApi

pytestmark = pytest.mark.slow

KEY = "rk_runtime_5d1e9b"
BODY: dict[str, Any] = {
    "model": "prod",
    "query": "apple river",
    "documents": ["coffee market school", "apple river music doctor", "apple garden history"],
    "return_documents": True,
}


def v2(method: str, path: str, body: dict[str, Any] | None, key: str | None = KEY) -> dict[str, Any]:
    headers = {"content-type": "application/json"} | ({"authorization": f"Bearer {key}"} if key else {})
    return make_event("apigw-http-v2", method, path, json.dumps(body).encode() if body else None, headers)


def answer(result: Result) -> tuple[int, Any]:
    assert result.kind == "response", result.body
    return int(result.body["statusCode"]), json.loads(result.body["body"])


def publish(folder: Path, root: str, endpoint: str) -> str:
    """Return the URI of `folder` published under `root` with the real CLI."""
    env = {**os.environ, **DUMMY_AWS_ENV, "RERANK_S3_ENDPOINT_URL": endpoint, "RERANK_S3_REGION": "us-east-1"}
    subprocess.run(
        [sys.executable, "-m", "reranker.cli", "models", "publish", str(folder), root],
        check=True,
        env=env,
        capture_output=True,
        timeout=120,
    )
    manifest = json.loads((folder / "model.json").read_text())
    return f"{root}/{manifest['name']}/{manifest['version']}/"


@pytest.fixture
def runtime_env(tiny_cross_encoder_dir: Path, moto_endpoint: str, tmp_path: Path) -> dict[str, str]:
    """Return the function's environment: two S3 models (the default one warmed at init), a key."""
    bucket = f"runtime-{tmp_path.name[-12:].lower().replace('_', '-')}"
    s3_client(moto_endpoint).create_bucket(Bucket=bucket)
    first = publish(tiny_cross_encoder_dir, f"s3://{bucket}/models", moto_endpoint)
    later = publish(tiny_cross_encoder_dir, f"s3://{bucket}/later", moto_endpoint)
    return {
        **DUMMY_AWS_ENV,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO / "src"),
        "RERANK_MODELS": json.dumps({"tiny-ce": first, "after-restore": later}),
        "RERANK_ALIASES": json.dumps({"prod": "tiny-ce"}),
        "RERANK_DEFAULT_MODEL": "prod",
        "RERANK_DEVICE": "cpu",
        "RERANK_API_KEYS": KEY,
        "RERANK_S3_ENDPOINT_URL": moto_endpoint,
        "RERANK_S3_REGION": "us-east-1",
        "RERANK_CACHE_DIR": str(tmp_path / "cache"),
    }


@pytest.fixture
def lambda_runtime(tmp_path: Path) -> Iterator[tuple[RuntimeApi, Any]]:
    """Yield the Runtime API and a function that starts awslambdaric against it with an env."""
    pytest.importorskip("awslambdaric", reason="awslambdaric is in the [dev] extra")
    processes: list[subprocess.Popen[bytes]] = []
    log = tmp_path / "runtime.log"

    def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "awslambdaric", "reranker.handler.handler"],
            env={**env, "AWS_LAMBDA_RUNTIME_API": api.address},
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        processes.append(process)
        return process

    with RuntimeApi() as api:
        try:
            yield api, start
        finally:
            for process in processes:
                process.kill()
                process.wait(timeout=10)


def test_snapstart_sequence_fetches_before_the_snapshot_and_reopens_s3_after_restore(
    lambda_runtime: tuple[RuntimeApi, Any], runtime_env: dict[str, str], tmp_path: Path
) -> None:
    api, start = lambda_runtime
    start({**runtime_env, "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"})
    assert api.wait_init(60), "init did not finish in 60 s"
    assert api.init_error is None, api.init_error
    assert api.restore_next_at is not None, "the runtime never asked restore/next: no SnapStart hooks"
    assert api.first_next_at is not None and api.first_next_at >= api.restore_next_at
    assert api.restore_error is None, api.restore_error
    # The default model was fetched and its session made before the snapshot.
    cached = list((tmp_path / "cache").iterdir())
    assert len(cached) == 1, cached

    status, body = answer(api.invoke(v2("GET", "/health", None, None), timeout=30))
    assert (status, body) == (200, {"status": "ok"})
    status, body = answer(api.invoke(v2("POST", "/v1/rerank", BODY), timeout=30))
    assert status == 200
    assert body["model"] == "prod"
    assert sorted(r["index"] for r in body["results"]) == [0, 1, 2]
    # Fetched after the restore, through the client closed before the snapshot and again after.
    status, later = answer(
        api.invoke(v2("POST", "/v1/rerank", {**BODY, "model": "after-restore"}), timeout=60)
    )
    assert status == 200, later
    assert [(r["index"], r["relevance_score"]) for r in later["results"]] == [
        (r["index"], r["relevance_score"]) for r in body["results"]
    ]
    assert len(list((tmp_path / "cache").iterdir())) == 2

    status, error = answer(api.invoke(v2("POST", "/v1/rerank", BODY, key="wrong"), timeout=30))
    assert (status, error["error"]["type"]) == (401, "authentication_error")
    status, error = answer(api.invoke(v2("POST", "/v1/rerank", {**BODY, "documents": []}), timeout=30))
    assert (status, error["error"]["type"], error["error"]["param"]) == (400, "invalid_request", "documents")

    log = (tmp_path / "runtime.log").read_text()
    assert "restored from snapshot" in log
    assert log.index("cold start") < log.index("restored from snapshot")


def test_plain_init_skips_the_restore_step(
    lambda_runtime: tuple[RuntimeApi, Any], runtime_env: dict[str, str]
) -> None:
    api, start = lambda_runtime
    start(runtime_env)
    assert api.wait_init(60) and api.init_error is None, api.init_error
    assert api.restore_next_at is None
    status, body = answer(api.invoke(v2("POST", "/v1/rerank", BODY), timeout=30))
    assert status == 200 and body["results"][0]["document"]["text"] in BODY["documents"]


def test_bad_settings_fail_init_through_the_runtime_api(
    lambda_runtime: tuple[RuntimeApi, Any], runtime_env: dict[str, str]
) -> None:
    api, start = lambda_runtime
    process = start({**runtime_env, "RERANK_DEFAULT_MODEL": "not-served"})
    assert api.wait_init(60)
    assert api.first_next_at is None
    # The settings' one-line error, as Lambda would record it for the failed init.
    assert api.init_error_type == "ConfigurationError"
    assert api.init_error["errorType"] == "ConfigurationError"
    message = "RERANK_DEFAULT_MODEL 'not-served' is not a served model or alias"
    assert api.init_error["errorMessage"] == message
    assert process.wait(timeout=30) != 0
