"""Bearer-key check: constant-time, every configured key compared, nothing logged."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers

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


def check_request_key(headers: Headers, settings: Settings, keys: list[bytes]) -> None:
    """Raise Unauthorized unless the request's one Authorization header carries one of `keys`.

    Two or more Authorization headers are refused: which one a proxy or a framework reads
    differs, so the key checked might not be the key meant.
    """
    values = headers.getlist("authorization")
    if len(values) > 1 and not settings.allow_anonymous:
        raise Unauthorized(
            f"the request has {len(values)} Authorization headers; send one: Authorization: Bearer <API key>"
        )
    check_bearer(values[0] if values else None, settings, keys)


# Declares the bearer scheme in the OpenAPI document (clients and fuzzers see that auth is needed);
# it raises nothing itself, so every failure comes from check_bearer in the one error shape.
_BEARER = HTTPBearer(auto_error=False, description="An API key of this deployment.")


async def require_api_key(
    request: Request, _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
) -> None:
    """FastAPI dependency guarding every /v1 route."""
    state = request.app.state
    check_request_key(request.headers, state.settings, state.api_keys)
