"""Bounded retries with exponential backoff and full jitter, for S3 calls.

The S3 store is the one retry layer: clients it builds have botocore's own retries off, so
`RERANK_S3_MAX_ATTEMPTS` is exactly how many times an object is tried.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Literal, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
Failure = Literal["transient", "missing", "denied", "other"]

MAX_DELAY_SECONDS = 10.0
_THROTTLING = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
}
_MISSING = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
_DENIED = {"AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}


def classify(exc: BaseException) -> Failure:
    """Return what kind of failure `exc` is: worth retrying, a missing object, no access, or other."""
    from boto3.exceptions import RetriesExceededError as Boto3RetriesExceeded
    from botocore.exceptions import (
        ClientError,
        HTTPClientError,
        IncompleteReadError,
        NoCredentialsError,
    )
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from s3transfer.exceptions import RetriesExceededError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _MISSING or status == 404:
            return "missing"
        if code in _DENIED or status == 403:
            return "denied"
        if code in _THROTTLING or status >= 500 or status == 429:
            return "transient"
        return "other"
    if isinstance(exc, NoCredentialsError):
        return "denied"
    # Builtin ConnectionError and TimeoutError are the socket failures botocore does not wrap.
    transient = (
        BotoConnectionError,
        HTTPClientError,
        IncompleteReadError,
        RetriesExceededError,
        Boto3RetriesExceeded,
    )
    if isinstance(exc, transient) or isinstance(exc, ConnectionError | TimeoutError):
        return "transient"
    # Wrappers such as boto3's S3UploadFailedError keep the real error as their context.
    nested = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return classify(nested) if nested is not None else "other"


def backoff_seconds(attempt: int, base: float, rand: Callable[[], float] = random.random) -> float:
    """Return the pause after failed attempt `attempt` (1-based): uniform in [0, base * 2^(attempt-1)]."""
    ceiling: float = min(MAX_DELAY_SECONDS, base * 2.0 ** (attempt - 1))
    return ceiling * rand()


def with_retries(
    action: Callable[[], T],
    *,
    attempts: int,
    base_seconds: float,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Return `action()`, retrying transient failures up to `attempts` tries in all; re-raise the last.

    `what` names the call in the log (a model name and file, never a bucket or key).
    """
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            if attempt == attempts or classify(exc) != "transient":
                raise
            delay = backoff_seconds(attempt, base_seconds)
            logger.warning(
                "model store call failed; retrying",
                extra={
                    "call": what,
                    "attempt": attempt,
                    "error": type(exc).__name__,
                    "delay": round(delay, 3),
                },
            )
            sleep(delay)
    raise AssertionError("unreachable: attempts >= 1")
