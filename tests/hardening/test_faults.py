"""Faults the service must survive: nothing crashes, nothing half-written stays, others succeed.

- the model store is down when a Lambda environment starts;
- a model folder's files are corrupt (sha256 mismatch, truncated, missing);
- a client disconnects while its batch scores, or halfway through sending its body;
- SIGTERM arrives while `reranker serve` scores a batch.
"""

from __future__ import annotations

import importlib
import json
import shutil
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from reranker.api.app import create_app
from reranker.config import Settings, get_settings
from reranker.logs import configure_logging
from reranker.manifest import MANIFEST_NAME, parse_manifest
from reranker.model_store.publish import publish_model
from tests.events.test_handler import context, make_event
from tests.fixtures.moto_server import DUMMY_AWS_ENV, free_port, s3_client
from tests.fixtures.uvicorn_server import serve_process
from tests.hardening.conftest import API_KEY, AUTH, JSON_AUTH, CapturedLogs
from tests.hardening.servers import ONE_SLOT, SLOW_BATCH, SMALL, batch_in_flight, uvicorn_thread

BUCKET = "hardening-models"


def answered(settings: Settings, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the results a fresh app over `settings` gives `body`: what must survive each fault."""
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/rerank", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


@pytest.fixture(scope="module")
def small_results(hardened_settings: Settings) -> list[dict[str, Any]]:
    """Return SMALL's results from an app that met no fault: "immune cells" above "billing"."""
    results = answered(hardened_settings, SMALL)
    assert [r["index"] for r in results] == [0, 1]
    return results


def snapshot(folder: Path) -> dict[str, bytes]:
    """Return every file under `folder` with its bytes, to prove nothing was written."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- The model store is down at start -------------------------------------------------------


@pytest.fixture
def handler_env(
    tiny_cross_encoder_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Path]]:
    """Set Lambda's environment for a default model on S3 at an endpoint where nothing listens yet."""
    manifest = parse_manifest((tiny_cross_encoder_dir / MANIFEST_NAME).read_bytes(), origin="tiny-ce")
    endpoint = f"http://127.0.0.1:{free_port()}"
    cache_dir = tmp_path / "cache"
    for name, value in {
        **DUMMY_AWS_ENV,
        "RERANK_MODELS": json.dumps({"tiny-ce": f"s3://{BUCKET}/models/{manifest.name}/{manifest.version}"}),
        "RERANK_ALIASES": json.dumps({"default": "tiny-ce"}),
        "RERANK_DEFAULT_MODEL": "default",
        "RERANK_API_KEYS": API_KEY,
        "RERANK_CACHE_DIR": str(cache_dir),
        "RERANK_S3_ENDPOINT_URL": endpoint,
        "RERANK_S3_REGION": "us-east-1",
        "RERANK_S3_MAX_ATTEMPTS": "2",
        "RERANK_S3_RETRY_BASE_SECONDS": "0",
        "RERANK_S3_TIMEOUT_SECONDS": "2",
        "RERANK_MODEL_RETRY_SECONDS": "0",  # no backoff: the request after the store is back loads
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    sys.modules.pop("reranker.handler", None)
    yield endpoint, cache_dir
    get_settings.cache_clear()
    sys.modules.pop("reranker.handler", None)
    configure_logging("INFO")  # the import bound the log handler to this test's captured stderr


def invoke(module: ModuleType, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    raw = json.dumps(body).encode() if body is not None else None
    headers = JSON_AUTH if body is not None else AUTH
    response = module.handler(make_event("apigw-http-v2", method, path, raw, headers), context())
    return response["statusCode"], json.loads(response["body"])


def test_lambda_init_survives_a_store_that_is_down_and_a_later_request_loads_the_model(
    handler_env: tuple[str, Path], tiny_cross_encoder_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint, cache_dir = handler_env
    # What the handler must answer once the store is back: the same model and precision, local.
    expected = answered(
        Settings(models={"tiny-ce": str(tiny_cross_encoder_dir)}, api_keys=[SecretStr(API_KEY)]), SMALL
    )
    module = importlib.import_module("reranker.handler")  # Lambda's init: must not raise
    init_log = capsys.readouterr().err
    assert "default model not ready at init; requests will retry it" in init_log
    assert "Traceback" not in init_log

    assert invoke(module, "GET", "/health") == (200, {"status": "ok"})
    status, answer = invoke(module, "POST", "/v1/rerank", SMALL)
    assert status == 503
    assert answer["error"]["type"] == "model_unavailable"
    assert "did not answer reliably" in answer["error"]["message"]
    for leak in (BUCKET, endpoint.removeprefix("http://"), str(cache_dir), "Traceback"):
        assert leak not in json.dumps(answer)
    leftovers = list(cache_dir.rglob("*")) if cache_dir.exists() else []
    assert leftovers == []  # no half-downloaded model

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(endpoint.rsplit(":", 1)[1]), verbose=False)
    server.start()
    try:
        client = s3_client(endpoint)
        client.create_bucket(Bucket=BUCKET)
        publish_model(tiny_cross_encoder_dir, f"s3://{BUCKET}/models", client)
        status, answer = invoke(module, "POST", "/v1/rerank", SMALL)  # the store is back: this one loads it
        assert status == 200, answer
        assert answer["results"] == expected
        assert answer["usage"]["prompt_tokens"] == 11  # [CLS] immune [SEP] immune cells [SEP], billing
        assert len(list(cache_dir.iterdir())) == 1
    finally:
        server.stop()


# --- Corrupt model files --------------------------------------------------------------------


@pytest.fixture
def model_copy(tiny_cross_encoder_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "private-models" / "tiny-ce"
    shutil.copytree(tiny_cross_encoder_dir, folder)
    return folder


def corrupt_flip(folder: Path, name: str) -> None:
    data = bytearray((folder / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / name).write_bytes(bytes(data))


def corrupt_truncate(folder: Path, name: str) -> None:
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[: len(data) // 2])


def corrupt_delete(folder: Path, name: str) -> None:
    (folder / name).unlink()


@pytest.mark.parametrize(
    ("corrupt", "fragment"),
    [
        (corrupt_flip, "fails its sha256 check"),
        (corrupt_truncate, "fails its sha256 check"),
        (corrupt_delete, "is missing its file"),
    ],
)
def test_corrupt_model_files_are_503_leave_the_folder_alone_and_heal(
    model_copy: Path,
    default_model_dir: Path,
    hardened_settings: Settings,
    small_results: list[dict[str, Any]],
    corrupt: Any,
    fragment: str,
) -> None:
    manifest = parse_manifest((model_copy / MANIFEST_NAME).read_bytes(), origin="tiny-ce")
    graph = manifest.variants["fp32"]
    pristine = (model_copy / graph).read_bytes()
    corrupt(model_copy, graph)
    before = snapshot(model_copy)
    settings = hardened_settings.model_copy(
        update={
            "models": {"tiny-ce": str(model_copy), "minilm": str(default_model_dir)},
            "aliases": {},
            "model_retry_seconds": 0.5,
        }
    )
    with TestClient(create_app(settings)) as client:
        for _ in range(2):  # the second is answered from the failure, within its retry window
            response = client.post("/v1/rerank", json={**SMALL, "model": "tiny-ce"}, headers=AUTH)
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "1"
            error = response.json()["error"]
            assert error["type"] == "model_unavailable" and fragment in error["message"]
            assert str(model_copy.parent) not in response.text
        assert snapshot(model_copy) == before  # nothing written, nothing half-loaded
        minilm = client.post("/v1/rerank", json={**SMALL, "model": "minilm"}, headers=AUTH)
        assert minilm.status_code == 200, minilm.text
        assert minilm.json()["results"] == answered(hardened_settings, {**SMALL, "model": "all-minilm-l6-v2"})
        (model_copy / graph).write_bytes(pristine)
        time.sleep(0.6)  # past the retry window: the next request loads the model again
        healed = client.post("/v1/rerank", json={**SMALL, "model": "tiny-ce"}, headers=AUTH)
        assert healed.status_code == 200, healed.text
        assert healed.json()["results"] == small_results  # the model as it was before the fault


def test_serve_refuses_a_corrupt_folder_with_a_message_not_a_traceback(model_copy: Path) -> None:
    import subprocess

    corrupt_flip(model_copy, "tokenizer.json")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "reranker.cli",
            "serve",
            "--model",
            str(model_copy),
            "--port",
            str(free_port()),
        ],
        env={"PATH": "/usr/bin:/bin", "RERANK_API_KEYS": API_KEY},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "model 'tiny-ce' file 'tokenizer.json' fails its sha256 check" in result.stderr
    assert "Traceback" not in result.stderr


# --- Clients that go away -------------------------------------------------------------------


def raw_request(url: str, body: bytes, declared_length: int | None = None) -> socket.socket:
    """Return a socket that has sent a POST /v1/rerank with `body` (and maybe a bigger length)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    head = (
        f"POST /v1/rerank HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {declared_length or len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def wait_until(condition: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


@pytest.fixture
def served_app(hardened_settings: Settings) -> FastAPI:
    return create_app(hardened_settings)


def test_a_client_that_disconnects_mid_batch_leaks_no_slot_and_others_are_served(
    served_app: FastAPI, service_logs: CapturedLogs, small_results: list[dict[str, Any]]
) -> None:
    service_logs.attach()
    limiter = served_app.state.limiter
    with uvicorn_thread(served_app) as url:
        sock = raw_request(url, json.dumps(SLOW_BATCH).encode())
        wait_until(lambda: limiter.admitted == 1)  # the batch is scoring in a worker thread
        sock.close()  # the client gives up
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200  # the loop is free meanwhile
        other = httpx.post(f"{url}/v1/rerank", json=SMALL, headers=AUTH, timeout=300)
        assert other.status_code == 200, other.text
        assert other.json()["results"] == small_results
        wait_until(lambda: limiter.admitted == 0)  # the abandoned batch released its slot
        again = httpx.post(f"{url}/v1/rerank", json=SMALL, headers=AUTH, timeout=60)
        assert again.status_code == 200, again.text
        assert again.json()["results"] == small_results
    assert "unexpected error" not in service_logs.text and "Traceback" not in service_logs.text


def test_a_client_that_disconnects_mid_upload_takes_no_slot(
    served_app: FastAPI, small_results: list[dict[str, Any]]
) -> None:
    limiter = served_app.state.limiter
    with uvicorn_thread(served_app) as url:
        half = json.dumps(SLOW_BATCH).encode()
        for _ in range(5):
            sock = raw_request(url, half[: len(half) // 2], declared_length=len(half))
            sock.close()
        response = httpx.post(f"{url}/v1/rerank", json=SMALL, headers=AUTH, timeout=60)
        assert response.status_code == 200, response.text
        assert response.json()["results"] == small_results
        assert limiter.admitted == 0


# --- SIGTERM during a batch -----------------------------------------------------------------


@pytest.mark.slow
def test_sigterm_during_a_batch_finishes_it_then_exits_0(tiny_cross_encoder_dir: Path) -> None:
    env = {"RERANK_API_KEYS": API_KEY, **ONE_SLOT}
    # What the batch must still answer: `reranker serve`'s settings (int8, one thread), in process.
    expected = answered(
        Settings(models={"tiny-ce": str(tiny_cross_encoder_dir)}, api_keys=[SecretStr(API_KEY)], threads=1),
        SLOW_BATCH,
    )
    with serve_process(["--model", str(tiny_cross_encoder_dir)], env) as served:
        batch = batch_in_flight(served.url)
        served.process.send_signal(signal.SIGTERM)
        response = batch.wait(300)
        assert response.status_code == 200, response.text
        assert response.json()["results"] == expected  # finished whole: every document, same scores
        assert served.finish(timeout=120) == 0
    output = "".join(served.output)
    assert "stopped on SIGTERM after finishing the requests in flight" in output
    assert "Traceback" not in output
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{served.url}/health", timeout=2)
