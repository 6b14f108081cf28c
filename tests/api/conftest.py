"""The real app over the real exported models: the tiny cross-encoder and the default bi-encoder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from reranker.api.app import create_app
from reranker.config import Settings

API_KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="session")
def api_settings(tiny_cross_encoder_dir: Path, default_model_dir: Path) -> Settings:
    return Settings(
        models={"tiny-ce": str(tiny_cross_encoder_dir), "all-minilm-l6-v2": str(default_model_dir)},
        aliases={"default": "all-minilm-l6-v2", "deployment-42": "tiny-ce"},
        default_model="default",
        api_keys=[SecretStr(API_KEY), SecretStr("second-key")],
        precision="fp32",
    )


@pytest.fixture(scope="session")
def app(api_settings: Settings) -> FastAPI:
    return create_app(api_settings)


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client
