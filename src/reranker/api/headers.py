"""Headers every answer carries, from the app or from the connection layer below it."""

from __future__ import annotations

from ulid import ULID

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


def new_request_id() -> str:
    """Return `rerank_` + a ULID: unique and ordered by creation time (the response id too)."""
    return f"rerank_{ULID()}"
