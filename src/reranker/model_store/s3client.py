"""The boto3 S3 client the store and the CLI use: endpoint, region, timeouts and retries from settings.

boto3 is imported inside `build_s3_client` only, so importing this module costs nothing.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from reranker.config import Settings

if TYPE_CHECKING:
    from boto3.session import Session
    from mypy_boto3_s3 import S3Client

_SESSION: Session | None = None
_SESSION_LOCK = threading.Lock()


def build_s3_client(settings: Settings, *, max_attempts: int = 1) -> S3Client:
    """Return an S3 client with the settings' endpoint, region and timeouts.

    `max_attempts=1` turns botocore's retries off for the store, which retries itself; the
    CLI passes more so a publish survives a blip.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=settings.s3_region,
        connect_timeout=settings.s3_timeout_seconds,
        read_timeout=settings.s3_timeout_seconds,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        max_pool_connections=max(10, settings.s3_download_concurrency + 2),
        s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
    )
    global _SESSION
    with _SESSION_LOCK:  # boto3 sessions are not thread-safe; one shared session loads its data once
        _SESSION = _SESSION or boto3.session.Session()
        return _SESSION.client("s3", endpoint_url=settings.s3_endpoint_url, config=config)
