"""Fixtures for the S3 store tests: moto on loopback, a published tiny model, a call log."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from reranker.config import Settings
from reranker.model_store import cache
from reranker.model_store.base import FileSelector
from reranker.model_store.publish import publish_model
from reranker.registry import graph_files, runtime_options
from tests.fixtures.moto_server import bucket, moto_client, moto_endpoint

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["bucket", "moto_client", "moto_endpoint"]

ROOT = "models"


class CallLog:
    """Every S3 call some real clients make, as (operation, key), via botocore's own event hooks."""

    def __init__(self, *clients: S3Client) -> None:
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        for client in clients:
            client.meta.events.register("before-parameter-build.s3", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        with self._lock:
            self.calls.append((model.name, str(params.get("Key", ""))))

    def count(self, operation: str, key_suffix: str = "") -> int:
        return sum(1 for op, key in self.calls if op == operation and key.endswith(key_suffix))


def store_settings(cache_dir: Path, endpoint: str, **overrides: object) -> Settings:
    """Return settings for a store on moto: no pause between retries, three tries per object.

    onnxruntime unless overridden, so the fetched files are the same whether or not openvino is
    installed (test_s3.py checks what each backend fetches).
    """
    values: dict[str, object] = {
        "runtime": "onnxruntime",
        "cache_dir": cache_dir,
        "s3_endpoint_url": endpoint,
        "s3_region": "us-east-1",
        "s3_retry_base_seconds": 0.0,
        "s3_max_attempts": 3,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def copy_model(model_dir: Path, target: Path, **manifest_changes: object) -> Path:
    """Return a copy of the model folder at `target`, its model.json's top-level fields changed."""
    shutil.copytree(model_dir, target)
    manifest = json.loads((target / "model.json").read_text())
    manifest.update(manifest_changes)
    (target / "model.json").write_text(json.dumps(manifest))
    return target


def serving(settings: Settings) -> FileSelector:
    """Return the files the registry asks a store for when serving under `settings`."""
    return graph_files(runtime_options(settings))


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    """Each test starts like a new process: nothing verified in memory yet."""
    cache.forget_all()
    yield
    cache.forget_all()


@pytest.fixture
def model_dir(tiny_cross_encoder_dir: Path) -> Path:
    return tiny_cross_encoder_dir


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def published_uri(bucket: str, moto_client: S3Client, model_dir: Path) -> str:
    """Return the s3:// URI of the tiny cross-encoder, published with the real publish code."""
    return publish_model(model_dir, f"s3://{bucket}/{ROOT}", moto_client).uri
