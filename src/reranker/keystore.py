"""API keys from AWS Secrets Manager, read once when the app is built (Lambda init, server start).

The secret named by `RERANK_API_KEYS_SECRET_ID` (a name or an ARN) holds the keys as its
`SecretString`, in any of three forms:

- a JSON list of strings: `["key-1", "key-2"]` (recommended: rotation keeps old and new side by side);
- a JSON object with a `keys` list: `{"keys": ["key-1", "key-2"]}`;
- a plain comma-separated string: `key-1,key-2` (a single generated key is this form).

Keys are read only at start, so a rotated secret reaches new execution environments only;
any failure to read or parse it stops the start with a message naming the setting, never
the secret's value.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import SecretStr

from reranker.errors import ConfigurationError

SETTING = "RERANK_API_KEYS_SECRET_ID"
# botocore logs whole response bodies at DEBUG: for GetSecretValue, the keys themselves.
_WIRE_LOGGERS = ("botocore", "botocore.parsers", "botocore.endpoint", "boto3")


@contextmanager
def _wire_logs_quiet() -> Iterator[None]:
    """Keep botocore's request/response logging at WARNING while the secret is read, then restore."""
    loggers = [logging.getLogger(name) for name in _WIRE_LOGGERS]
    saved = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, saved, strict=True):
            logger.setLevel(level)


def secrets_client() -> Any:
    """Return a Secrets Manager client with short timeouts, so a bad network fails a start fast."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=3, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})
    return boto3.client("secretsmanager", config=config)


def load_api_keys(secret_id: str, client: Any = None) -> list[SecretStr]:
    """Return the API keys stored in the secret `secret_id`; raise ConfigurationError when unusable.

    `client` is a boto3 Secrets Manager client (injected by tests, pointed at a local server);
    by default one is built from the usual AWS environment (the Lambda role's credentials).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    client = client if client is not None else secrets_client()
    try:
        with _wire_logs_quiet():
            response = client.get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "unknown")
        raise ConfigurationError(
            f"cannot read the API keys secret named by {SETTING} (AWS error {code}): check that it "
            "exists in this region and that the function's role may call secretsmanager:GetSecretValue"
        ) from None
    except BotoCoreError as exc:
        raise ConfigurationError(
            f"cannot reach Secrets Manager to read the API keys secret named by {SETTING} "
            f"({type(exc).__name__}): check the network and the AWS credentials"
        ) from None
    text = response.get("SecretString")
    if text is None:
        binary = response.get("SecretBinary")
        try:
            text = binary.decode("utf-8") if isinstance(binary, bytes | bytearray) else None
        except UnicodeDecodeError:
            text = None
    if not isinstance(text, str):
        raise ConfigurationError(f"the secret named by {SETTING} must hold text (a SecretString)")
    return [SecretStr(key) for key in parse_keys(text)]


def parse_keys(text: str) -> list[str]:
    """Return the keys in a secret's text (JSON list, JSON object with `keys`, or comma-separated)."""
    stripped = text.strip()
    items: object
    if stripped.startswith(("[", "{")):
        try:
            items = json.loads(stripped)
        except ValueError:
            # The decoder's message can quote the secret; say only where the problem is.
            raise ConfigurationError(
                f"the secret named by {SETTING} starts like JSON but is not valid JSON"
            ) from None
        if isinstance(items, dict):
            items = items.get("keys")
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise ConfigurationError(
                f"the secret named by {SETTING} must be a JSON list of strings, "
                'a JSON object {"keys": [...]}, or a comma-separated string'
            )
    else:
        items = stripped.split(",")
    keys = [item.strip() for item in items if item.strip()]
    if not keys:
        raise ConfigurationError(f"the secret named by {SETTING} holds no API keys")
    return keys
