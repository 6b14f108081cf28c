"""API keys from Secrets Manager (moto server on loopback): the three formats, and failing fast.

A failure at start must name the setting and never show the secret's value; the app built
with RERANK_API_KEYS_SECRET_ID must accept exactly the stored keys and never log them.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from reranker.api.app import create_app
from reranker.config import Settings
from reranker.errors import ConfigurationError
from reranker.keystore import SETTING, load_api_keys, parse_keys
from tests.fixtures.moto_server import free_port
from tests.keystore.conftest import DUMMY_AWS_ENV, REGION

KEY_A = "rk_live_5b1f0c7e9a2d4c8e"
KEY_B = "rk_live_0a9e8d7c6b5a4f3e"


def put_secret(client: Any, **value: Any) -> str:
    """Return the ARN of a new secret holding `value` (SecretString= or SecretBinary=)."""
    response = client.create_secret(Name=f"reranker/keys-{uuid.uuid4().hex[:12]}", **value)
    arn: str = response["ARN"]
    return arn


def plain(keys: list[SecretStr]) -> list[str]:
    return [key.get_secret_value() for key in keys]


def test_setting_name_is_the_settings_field() -> None:
    assert SETTING == f"{Settings.model_config.get('env_prefix')}API_KEYS_SECRET_ID"
    assert "api_keys_secret_id" in Settings.model_fields


@pytest.mark.parametrize(
    "stored",
    [
        json.dumps([KEY_A, KEY_B]),
        json.dumps({"keys": [KEY_A, KEY_B]}),
        f"{KEY_A},{KEY_B}",
        f"  {KEY_A} ,\n {KEY_B} , ",
        json.dumps([KEY_A, "", KEY_B]),
    ],
    ids=["json-list", "json-object", "csv", "csv-with-spaces", "json-list-with-empty"],
)
def test_reads_each_documented_format(secrets_client: Any, stored: str) -> None:
    arn = put_secret(secrets_client, SecretString=stored)
    assert plain(load_api_keys(arn, client=secrets_client)) == [KEY_A, KEY_B]


def test_reads_by_name_and_a_binary_secret(secrets_client: Any) -> None:
    name = f"reranker/binary-{uuid.uuid4().hex[:12]}"
    secrets_client.create_secret(Name=name, SecretBinary=json.dumps([KEY_A]).encode())
    assert plain(load_api_keys(name, client=secrets_client)) == [KEY_A]


def test_reads_the_current_version_after_rotation(secrets_client: Any) -> None:
    arn = put_secret(secrets_client, SecretString=json.dumps([KEY_A]))
    secrets_client.put_secret_value(SecretId=arn, SecretString=json.dumps([KEY_A, KEY_B]))
    assert plain(load_api_keys(arn, client=secrets_client)) == [KEY_A, KEY_B]


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("[]", "holds no API keys"),
        ("", "holds no API keys"),
        (" , ,", "holds no API keys"),
        ('{"keys": []}', "holds no API keys"),
        (json.dumps({"key": KEY_A}), "must be a JSON list of strings"),
        (json.dumps([KEY_A, 7]), "must be a JSON list of strings"),
        (f'["{KEY_A}", ', "not valid JSON"),
    ],
    ids=["empty-list", "empty", "only-commas", "empty-keys", "wrong-object", "non-string", "broken-json"],
)
def test_unusable_contents_fail_without_showing_them(stored: str, expected: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_keys(stored)
    message = caught.value.message
    assert expected in message and SETTING in message
    assert KEY_A not in message and KEY_A not in str(caught.getrepr())


def test_missing_secret_fails_naming_the_setting_and_the_aws_error(secrets_client: Any) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_api_keys("reranker/does-not-exist", client=secrets_client)
    assert SETTING in caught.value.message
    assert "ResourceNotFoundException" in caught.value.message
    assert "does-not-exist" not in caught.value.message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_unreachable_service_fails_fast_with_a_clear_message(aws_env: str) -> None:
    import boto3
    from botocore.config import Config

    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    client = boto3.client(
        "secretsmanager",
        region_name=REGION,
        endpoint_url=closed,
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(ConfigurationError) as caught:
        load_api_keys("reranker/keys", client=client)
    assert "cannot reach Secrets Manager" in caught.value.message
    assert SETTING in caught.value.message
    assert "EndpointConnectionError" in caught.value.message


def test_app_accepts_exactly_the_stored_keys_and_never_logs_them(
    secrets_client: Any, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = put_secret(secrets_client, SecretString=json.dumps([KEY_A, KEY_B]))
    # The app builds its own client: it reaches moto through AWS_ENDPOINT_URL_SECRETS_MANAGER.
    settings = Settings(api_keys_secret_id=arn, api_keys=[SecretStr("env-key-1234")], log_level="DEBUG")
    with caplog.at_level(logging.DEBUG):
        app = create_app(settings)
    with TestClient(app) as client:
        for key in (KEY_A, KEY_B, "env-key-1234"):
            response = client.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
            assert response.status_code == 200, key
            assert response.json() == {"object": "list", "data": []}
        wrong = client.get("/v1/models", headers={"Authorization": f"Bearer {KEY_A}x"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["type"] == "authentication_error"
    # The service's own JSON lines (stderr), and everything else at DEBUG, botocore's included.
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    loaded = [line for line in lines if line["message"] == "API keys loaded from Secrets Manager"]
    assert [line["key_count"] for line in loaded] == [2]
    assert any(record.name.startswith("botocore") for record in caplog.records)
    logged = json.dumps(lines) + "".join(
        record.getMessage() + json.dumps(record.__dict__, default=str) for record in caplog.records
    )
    assert KEY_A not in logged and KEY_B not in logged


def test_app_start_fails_fast_when_the_secret_cannot_be_read(aws_env: str) -> None:
    settings = Settings(api_keys_secret_id="reranker/not-there")
    with pytest.raises(ConfigurationError) as caught:
        create_app(settings)
    assert SETTING in caught.value.message


def test_lambda_init_fails_naming_the_setting_not_the_value(secrets_client: Any, aws_env: str) -> None:
    """The handler module (Lambda init) stops at import with the message, in a fresh interpreter."""
    arn = put_secret(secrets_client, SecretString=f'["{KEY_A}", oops')
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RERANK_")},
        **DUMMY_AWS_ENV,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": aws_env,
        "RERANK_API_KEYS_SECRET_ID": arn,
    }
    result = subprocess.run(
        [sys.executable, "-c", "import reranker.handler"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "ConfigurationError" in output
    assert f"the secret named by {SETTING} starts like JSON but is not valid JSON" in output
    assert KEY_A not in output
