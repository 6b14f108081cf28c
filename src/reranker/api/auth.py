"""Bearer-key check: constant-time, every configured key compared, nothing logged."""

from __future__ import annotations

import hmac

from fastapi import Request

from reranker.config import Settings
from reranker.errors import Unauthorized


def check_bearer(authorization: str | None, settings: Settings, keys: list[bytes]) -> None:
    """Raise Unauthorized unless the header carries one of `keys` (or the deployment is open)."""
    if settings.allow_anonymous:
        return
    if not authorization:
        raise Unauthorized("missing header: send Authorization: Bearer <API key>")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be: Bearer <API key>")
    presented = token.strip().encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(presented, key)
    if not matched:
        raise Unauthorized("invalid API key")


async def require_api_key(request: Request) -> None:
    """FastAPI dependency guarding every /v1 route."""
    state = request.app.state
    check_bearer(request.headers.get("authorization"), state.settings, state.api_keys)
