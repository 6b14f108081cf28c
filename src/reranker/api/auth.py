"""Bearer-key check: constant-time, every configured key compared, nothing logged."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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


# Declares the bearer scheme in the OpenAPI document (clients and fuzzers see that auth is needed);
# it raises nothing itself, so every failure comes from check_bearer in the one error shape.
_BEARER = HTTPBearer(auto_error=False, description="An API key of this deployment.")


async def require_api_key(
    request: Request, _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
) -> None:
    """FastAPI dependency guarding every /v1 route."""
    state = request.app.state
    check_bearer(request.headers.get("authorization"), state.settings, state.api_keys)
