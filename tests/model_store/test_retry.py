"""Which S3 failures are retried, how long the pauses are, and that retries are bounded."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ResponseStreamingError,
)
from s3transfer.exceptions import RetriesExceededError

from reranker.model_store.retry import MAX_DELAY_SECONDS, backoff_seconds, classify, with_retries


def client_error(code: str, status: int) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "GetObject")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (client_error("NoSuchKey", 404), "missing"),
        (client_error("404", 404), "missing"),
        (client_error("NoSuchBucket", 404), "missing"),
        (client_error("AccessDenied", 403), "denied"),
        (NoCredentialsError(), "denied"),
        (client_error("SlowDown", 503), "transient"),
        (client_error("InternalError", 500), "transient"),
        (client_error("Throttling", 400), "transient"),
        (client_error("RequestTimeout", 400), "transient"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "transient"),
        (ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"), "transient"),
        (ResponseStreamingError(error="cut"), "transient"),
        (RetriesExceededError(ResponseStreamingError(error="cut")), "transient"),
        (ConnectionResetError(), "transient"),
        (client_error("InvalidArgument", 400), "other"),
        (ValueError("bad"), "other"),
        (FileNotFoundError(), "other"),
    ],
)
def test_classify(exc: Exception, kind: str) -> None:
    assert classify(exc) == kind


def test_backoff_doubles_from_the_base_and_is_capped() -> None:
    top = [backoff_seconds(attempt, 0.25, rand=lambda: 1.0) for attempt in range(1, 8)]
    assert top == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, MAX_DELAY_SECONDS]
    assert backoff_seconds(3, 0.25, rand=lambda: 0.5) == 0.5
    assert backoff_seconds(3, 0.0) == 0.0


def test_transient_failures_are_retried_then_succeed() -> None:
    pauses: list[float] = []
    failures = [client_error("SlowDown", 503), EndpointConnectionError(endpoint_url="x")]

    def action() -> str:
        if failures:
            raise failures.pop(0)
        return "done"

    assert with_retries(action, attempts=3, base_seconds=0.1, what="m/f", sleep=pauses.append) == "done"
    assert len(pauses) == 2
    assert 0.0 <= pauses[0] <= 0.1 and 0.0 <= pauses[1] <= 0.2


def test_retries_stop_at_the_bound_and_reraise_the_last_failure() -> None:
    calls: list[int] = []

    def action() -> None:
        calls.append(1)
        raise client_error("InternalError", 500)

    with pytest.raises(ClientError, match="InternalError"):
        with_retries(action, attempts=4, base_seconds=0.0, what="m/f", sleep=lambda _: None)
    assert len(calls) == 4


def test_permanent_failures_are_not_retried() -> None:
    calls: list[int] = []

    def action() -> None:
        calls.append(1)
        raise client_error("NoSuchKey", 404)

    with pytest.raises(ClientError):
        with_retries(action, attempts=4, base_seconds=0.0, what="m/f", sleep=lambda _: None)
    assert len(calls) == 1


def test_a_wrapped_error_is_classified_by_what_it_wraps() -> None:
    from boto3.exceptions import S3UploadFailedError

    # boto3's upload_file raises S3UploadFailedError inside `except ClientError`, as here.
    try:
        try:
            raise client_error("NoSuchBucket", 404)
        except ClientError:
            raise S3UploadFailedError("Failed to upload") from None
    except S3UploadFailedError as hidden:
        assert classify(hidden) == "other"  # `from None` says the context does not matter
    try:
        try:
            raise client_error("NoSuchBucket", 404)
        except ClientError:
            raise S3UploadFailedError("Failed to upload")  # noqa: B904
    except S3UploadFailedError as wrapped:
        assert classify(wrapped) == "missing"
