"""The real Secrets Manager API: the suite's moto server (tests/fixtures/moto_server.py) on loopback.

moto in server mode answers every AWS service on one endpoint; these fixtures point Secrets
Manager clients at it, through `endpoint_url` or, for code that builds its own client,
AWS_ENDPOINT_URL_SECRETS_MANAGER. Dummy credentials only, so nothing can reach real AWS.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.moto_server import DUMMY_AWS_ENV, moto_endpoint

__all__ = ["DUMMY_AWS_ENV", "REGION", "aws_env", "moto_endpoint", "secrets_client"]

REGION = DUMMY_AWS_ENV["AWS_DEFAULT_REGION"]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> str:
    """Point every Secrets Manager client built in this test at moto; return its URL."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in DUMMY_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_endpoint)
    return moto_endpoint


@pytest.fixture
def secrets_client(aws_env: str) -> Any:
    """Return a boto3 Secrets Manager client for the moto server."""
    import boto3

    return boto3.client("secretsmanager", region_name=REGION, endpoint_url=aws_env)
