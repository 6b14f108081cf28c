"""Per-request plumbing as plain ASGI: request id, body cap and read deadline, early 429,
security headers, one log line per request, and an answer in the spec's shape for anything
that escapes the routes (a bug: 500; server shutdown past its grace period: 503).

The body cap and deadline are enforced while the body streams in, before any parsing, so an
oversized or trickled request costs at most `max_body_bytes` of memory and
`body_timeout_seconds` of a connection, and gets 413 or 408.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reranker.api.compat.loading import include_compat_routes
from reranker.api.error_renderer import (
    error_response,
    internal_error_response,
    refused_key,
    rerank_error_response,
)
from reranker.api.headers import SECURITY_HEADERS
from reranker.api.limiter import ScoringLimiter
from reranker.api.marks import cached, scoring_paths
from reranker.config import Settings
from reranker.errors import Overloaded, RequestTimeout, ShuttingDown
from reranker.request import new_request_id

logger = logging.getLogger(__name__)

_CLOSE = {"Connection": "close"}


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, limiter: ScoringLimiter) -> None:
        self.app = app
        self.max_body_bytes = settings.max_body_bytes
        self.body_timeout = settings.body_timeout_seconds
        self.max_header_bytes = settings.max_header_bytes
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        id_header = (b"x-request-id", request_id.encode())
        started = time.perf_counter()
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), id_header, *SECURITY_HEADERS]
            await send(message)

        try:
            await self._handle(scope, receive, send_with_headers)
        except asyncio.CancelledError:
            # uvicorn cancels what is still running when its graceful shutdown period ends.
            if status:
                raise
            state = scope["app"].state if "app" in scope else None
            if state is not None:
                state.cut_off = getattr(state, "cut_off", 0) + 1
            error = ShuttingDown("the server shut down before it could answer; retry the request")
            response = rerank_error_response(error)
            response.headers.update(_CLOSE)
            await response(scope, receive, send_with_headers)
        except Exception as exc:
            logger.error("unexpected error", exc_info=exc, extra={"request_id": request_id})
            if status:
                raise  # the answer has begun: the connection is closed instead
            await internal_error_response(request_id)(scope, receive, send_with_headers)
        finally:
            logger.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status or None,
                    "seconds": round(time.perf_counter() - started, 4),
                },
            )

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _head_bytes(scope) > self.max_header_bytes:
            # h11 caps only a head that arrives in pieces; one that came whole is measured here.
            too_big = f"the request line and headers are larger than {self.max_header_bytes} bytes"
            await error_response(431, "invalid_request", too_big, headers=_CLOSE)(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._too_large()(scope, receive, send)
            return
        scoring = scope["method"] == "POST" and scope["path"] in _scoring_paths(scope)
        held = _Held()
        try:
            if scoring:
                try:
                    # Under overload a refusal is decided from the head alone: nothing of the body
                    # is read or held (uvicorn discards the rest and keeps the connection).
                    self.limiter.check_room()
                    held.count = self.limiter.hold_body(0, declared or 0)
                except Overloaded as full:
                    await self._refuse(full, scope, receive, send)
                    return
            body = await self._read(scope, receive, send, held if scoring else None)
            if body is None:
                return  # answered already (413, 408, 429, 400) or the client left

            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send)
        finally:
            self.limiter.release_body(held.count)

    async def _read(self, scope: Scope, receive: Receive, send: Send, held: _Held | None) -> bytes | None:
        """Return the body, read within its cap, deadline and (for scoring) the limiter's budget.

        Returns None once it has answered instead (413, 408, 429, a 400 for UTF-16/32) or the
        client left. The app is run by the caller, so a request's parse adds no frame here (a
        body nested 955 levels deep still parses within the interpreter's recursion limit).
        """
        chunks: list[bytes] = []  # joined once at the end: `body +=` would copy O(n^2) bytes
        size = 0
        more = True
        try:
            async with asyncio.timeout(self.body_timeout):
                while more:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk = message.get("body", b"")
                    chunks.append(chunk)
                    size += len(chunk)
                    more = message.get("more_body", False)
                    if size > self.max_body_bytes:
                        await self._too_large()(scope, receive, send)
                        return None
                    if held is not None and size > held.count:  # no Content-Length, or more than it said
                        try:
                            held.count = self.limiter.hold_body(held.count, size)
                        except Overloaded as full:
                            await self._refuse(full, scope, receive, send)
                            return None
        except TimeoutError:
            timeout = RequestTimeout(
                f"the request body did not arrive within {self.body_timeout:g} s; send it faster"
            )
            late = rerank_error_response(timeout)
            late.headers.update(_CLOSE)
            await late(scope, receive, send)
            return None
        body = b"".join(chunks)
        del chunks
        encoding = json.detect_encoding(body) if body else "utf-8"
        if encoding not in ("utf-8", "utf-8-sig"):
            # Python's JSON decoder reads UTF-16 and UTF-32 too; the API takes UTF-8 only (RFC 8259).
            # A guarded route without a valid key is answered 401 first, as for any bad body.
            refused = refused_key(Request(scope)) if "app" in scope else None
            problem = f"the body is {encoding.upper()} text: send the JSON as UTF-8"
            await (refused or error_response(400, "invalid_request", problem))(scope, receive, send)
            return None
        return body

    async def _refuse(self, full: Overloaded, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 429 (or 401 first, to a request without a valid key) without reading the body."""
        refused = refused_key(Request(scope)) if "app" in scope else None
        await (refused or rerank_error_response(full))(scope, receive, send)

    def _too_large(self) -> Response:
        return error_response(
            413,
            "payload_too_large",
            f"request body is larger than {self.max_body_bytes} bytes",
        )


class _Held:
    """The body bytes one request has counted toward the limiter's budget (given back at its end)."""

    count = 0


def _scoring_paths(scope: Scope) -> frozenset[str]:
    """Return the app's scoring paths (its routes marked `@scores`), read once from its routes.

    A path that no loaded route scores may be another API's (api/compat/loading.py): those
    routes are loaded first, so their requests get the early 429 from the first one on.
    """
    app = scope.get("app")
    if app is None:
        return frozenset()
    paths: frozenset[str] = cached(app.state, "scoring_paths", app.routes, scoring_paths)
    if scope["path"] not in paths and include_compat_routes(app):
        paths = cached(app.state, "scoring_paths", app.routes, scoring_paths)
    return paths


def _head_bytes(scope: Scope) -> int:
    """Return about how many bytes the request line and headers took on the wire."""
    line = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") + 16
    return line + sum(len(name) + len(value) + 4 for name, value in scope.get("headers", []))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
