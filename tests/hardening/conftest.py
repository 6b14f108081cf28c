"""The real app over the real exported models, for the hostile-input, security and fuzz tests.

Both test models are served: the tiny cross-encoder as the default (fast to score, so every
fuzzed request that validates is really scored) and the MiniLM bi-encoder beside it.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from reranker.api.app import create_app
from reranker.config import Settings
from reranker.logs import JsonFormatter
from tests.fixtures.moto_server import DUMMY_AWS_ENV, free_port

API_KEY = "hardening-key-5f0c9a7e41d2"
SECOND_KEY = "hardening-second-key-77b1"
SALT = "hardening-salt-0d4e"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
JSON_AUTH = {**AUTH, "Content-Type": "application/json"}


# "remote" is served from an S3 store on a loopback port where nothing listens: its bucket and
# endpoint must never show in an answer.
PRIVATE_BUCKET = "hardening-private-bucket"
DEAD_ENDPOINT = f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def hardened_settings(
    tiny_cross_encoder_dir: Path, default_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return Settings(
        models={
            "tiny-ce": str(tiny_cross_encoder_dir),
            "all-minilm-l6-v2": str(default_model_dir),
            "remote": f"s3://{PRIVATE_BUCKET}/models/remote/1",
        },
        aliases={"default": "tiny-ce", "minilm": "all-minilm-l6-v2"},
        default_model="default",
        api_keys=[SecretStr(API_KEY), SecretStr(SECOND_KEY)],
        user_hash_salt=SecretStr(SALT),
        precision="fp32",
        cache_dir=tmp_path_factory.mktemp("hardening-cache"),
        s3_endpoint_url=DEAD_ENDPOINT,
        s3_region="us-east-1",
        s3_max_attempts=1,
        s3_retry_base_seconds=0.0,
        s3_timeout_seconds=2.0,
    )


@pytest.fixture
def dummy_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy AWS credentials and no metadata service, so nothing here can reach real AWS."""
    for name, value in DUMMY_AWS_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def hardened_app(hardened_settings: Settings) -> FastAPI:
    return create_app(hardened_settings)


@pytest.fixture(scope="session")
def hardened_client(hardened_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(hardened_app, raise_server_exceptions=False) as client:
        yield client


class CapturedLogs:
    """Every line the service logs while attached, as the JSON formatter writes it."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(JsonFormatter())

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def attach(self) -> None:
        """(Re)attach to the `reranker` logger: create_app's configure_logging replaces its handlers."""
        root = logging.getLogger("reranker")
        if self.handler not in root.handlers:
            root.addHandler(self.handler)


@pytest.fixture
def service_logs() -> Iterator[CapturedLogs]:
    """Capture the `reranker` logger's output (it does not propagate, so caplog cannot see it)."""
    captured = CapturedLogs()
    captured.attach()
    try:
        yield captured
    finally:
        logging.getLogger("reranker").removeHandler(captured.handler)
