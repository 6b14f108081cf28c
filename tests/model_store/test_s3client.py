"""The S3 client carries the settings: endpoint, region, timeouts, pool size and retry policy."""

from __future__ import annotations

from typing import Any

from reranker.config import Settings
from reranker.model_store.s3client import build_s3_client


def test_the_store_client_has_botocore_retries_off_and_the_settings_applied() -> None:
    settings = Settings(
        s3_endpoint_url="http://127.0.0.1:9000",
        s3_region="eu-west-1",
        s3_timeout_seconds=3.5,
        s3_download_concurrency=20,
    )
    client = build_s3_client(settings)
    config: Any = client.meta.config  # the stubs do not declare every Config attribute
    assert client.meta.endpoint_url == "http://127.0.0.1:9000"
    assert client.meta.region_name == "eu-west-1"
    assert (config.connect_timeout, config.read_timeout) == (3.5, 3.5)
    assert config.max_pool_connections == 22
    assert config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert config.s3 == {"addressing_style": "path"}


def test_the_cli_client_lets_botocore_retry() -> None:
    client = build_s3_client(Settings(s3_region="us-east-1"), max_attempts=4)
    config: Any = client.meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert config.s3 == {"addressing_style": "auto"}
    assert client.meta.endpoint_url == "https://s3.us-east-1.amazonaws.com"
