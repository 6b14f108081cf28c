"""The one place errors become HTTP responses, in the spec's shape.

`{"error": {"type", "message", "param"}, "detail": message}`. `detail` repeats the message as a
plain string because the Jina integrations of LangChain, LlamaIndex and Haystack, and the Voyage
SDK, read an error's text from it (FastAPI's own convention). Nothing here echoes a traceback, a key, a path
or a bucket: unexpected errors are logged with their traceback and answered generically.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from reranker.api.auth import check_request_key
from reranker.api.headers import SECURITY_HEADERS
from reranker.api.marks import cached, documents_fields, public_paths
from reranker.errors import InvalidFields, RerankError, Unauthorized
from reranker.request import new_request_id

logger = logging.getLogger(__name__)

_MESSAGES: dict[str, str] = {
    "missing": "is required",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "bool_type": "must be a boolean (true or false)",
    "dict_type": "must be an object",
    "list_type": "must be an array",
    "model_type": "must be an object",
    "extra_forbidden": "is not a known field",
}
_DOCUMENT_ITEM = re.compile(r"^documents\[\d+\]$")
_STATUS_TYPES = {404: "not_found", 405: "method_not_allowed", 415: "unsupported_media_type"}
# FastAPI answers a body that json.loads cannot take (bad UTF-8, nesting past the recursion
# limit, an integer over 4300 digits) with this fixed detail; it gets a message that says what to fix.
_FASTAPI_PARSE_ERROR = "There was an error parsing the body"
UNPARSABLE_BODY = (
    "the body is not valid JSON: send UTF-8 text, nested less than 1000 levels deep, "
    "integers under 4300 digits"
)


def error_payload(
    type_: str, message: str, param: str | None = None, kind: str | None = None
) -> dict[str, Any]:
    """Return the spec's error body: {"error": {"type", "message"[, "param"]}, "detail"}.

    A message or param quoting what the client sent is made UTF-8-safe (an unpaired surrogate
    becomes its escape), so rendering an error can never fail in turn. With `kind` (a 422,
    `InvalidFields`), `detail` is FastAPI's list `[{loc, msg, type}]` instead of the message.
    """
    body: dict[str, Any] = {"type": type_, "message": _sendable(message)}
    if param is not None:
        body["param"] = _sendable(param)
    if kind is not None:
        loc = ["body", *loc_from_param(body.get("param", ""))]
        return {"error": body, "detail": [{"loc": loc, "msg": body["message"], "type": kind}]}
    # `detail` repeats the message for clients that read FastAPI's field (the Jina integrations).
    return {"error": body, "detail": body["message"]}


def loc_from_param(param: str) -> list[int | str]:
    """Return ["documents", 3, "text"] for `documents[3].text`: FastAPI's location of a field."""
    return [int(part) if part.isdigit() else part for part in re.findall(r"[^.\[\]]+", param)]


def _sendable(text: str) -> str:
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def error_response(
    status: int,
    type_: str,
    message: str,
    param: str | None = None,
    headers: dict[str, str] | None = None,
    kind: str | None = None,
) -> JSONResponse:
    return JSONResponse(error_payload(type_, message, param, kind), status_code=status, headers=headers)


def rerank_error_response(exc: RerankError) -> JSONResponse:
    """Return the answer to a RerankError, with Retry-After or WWW-Authenticate when it calls for one."""
    headers: dict[str, str] = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    kind = exc.kind if isinstance(exc, InvalidFields) else None
    return error_response(exc.status, exc.type, exc.message, exc.param, headers, kind)


def internal_error_response(request_id: str) -> JSONResponse:
    """Return the fixed 500 answer; the details go to the log only."""
    return error_response(
        500, "internal_error", f"internal error; quote request id {request_id} when reporting it"
    )


def raw_error(
    status: int, reason: str, type_: str, message: str, extra: Sequence[tuple[bytes, bytes]] = ()
) -> bytes:
    """Return a whole HTTP/1.1 error response as bytes, for answers written below the ASGI app.

    The connection closes after it; it carries the security headers of every other answer.
    """
    body = json.dumps(error_payload(type_, message)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        (b"x-request-id", new_request_id().encode()),
        *SECURITY_HEADERS,
        *extra,
    ]
    head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    return f"HTTP/1.1 {status} {reason}\r\n".encode() + head + b"\r\n" + body


def param_from_loc(loc: Sequence[int | str]) -> str:
    """Return `documents[3].text` from a pydantic location, dropping union-member tags."""
    param = ""
    for part in loc:
        if part == "body":
            continue
        if isinstance(part, int):
            param += f"[{part}]"
        elif part in ("str", "DocumentObject") or "[" in part or part.startswith("function-"):
            continue
        else:
            param += f".{part}" if param else part
    return param


def describe_validation(request: Request, errors: Sequence[Any]) -> tuple[str, str | None, str]:
    """Return (message, param, pydantic's error type) for the most specific of pydantic's errors.

    Unions report one error per member; the deepest location names the real culprit.
    """
    best = max(errors, key=lambda e: len(e["loc"])) if errors else {"loc": (), "type": "", "msg": ""}
    item, kind = param_from_loc(best["loc"]), str(best["type"])
    if _DOCUMENT_ITEM.match(item):
        return f"{item} must be a string or an object with a string text", item, kind
    # The documents' fields are named by the routes' marks (`texts` on TEI, `input` on Mixedbread).
    fields = cached(request.app.state, "documents_fields", request.app.routes, documents_fields)
    message, param = _describe(best, fields)
    return message, param, kind


def _describe(error: dict[str, Any], documents: frozenset[str] = frozenset()) -> tuple[str, str | None]:
    """Return (message, param) for one of pydantic's errors; `documents` names the documents' fields."""
    param = param_from_loc(error["loc"])
    kind = error["type"]
    if kind == "json_invalid":
        return "the body is not valid JSON", None
    if kind in ("model_attributes_type", "missing") and not param:
        return "the body must be a JSON object", None
    if kind == "model_attributes_type":
        return f"{param} must be an object", param
    if kind == "too_short" and param in documents and error.get("ctx", {}).get("actual_length") == 0:
        return f"{param} must not be empty: send at least one document", param
    detail = _MESSAGES.get(kind) or _plain(str(error["msg"]))
    if kind.startswith("string_") and error.get("ctx", {}).get("max_length"):
        detail = f"must be at most {error['ctx']['max_length']} characters"
    return f"{param} {detail}" if param else detail, param or None


def _plain(pydantic_message: str) -> str:
    """Turn "Input should be greater than 1" into "must be greater than 1"."""
    message = pydantic_message.removeprefix("Value error, ")
    for prefix, replacement in (
        ("Input should", "must"),
        ("List should", "must"),
        ("Dictionary should", "must"),
        ("String should", "must"),
    ):
        if message.startswith(prefix):
            return replacement + message[len(prefix) :]
    return message


def refused_key(request: Request) -> JSONResponse | None:
    """Return the 401 for a request to a guarded route without a valid key, else None.

    FastAPI parses and validates the body before it runs the key check, so a malformed body
    would otherwise be judged (400, 415) before its sender's key.
    """
    state = request.app.state
    # Routes that need no key: none of their dependencies is require_api_key (api/marks.py).
    if request.url.path in cached(state, "public_paths", request.app.routes, public_paths):
        return None
    try:
        check_request_key(request.headers, state.settings, state.api_keys)
    except Unauthorized as exc:
        return rerank_error_response(exc)
    return None


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    refused = refused_key(request)
    if refused is not None:
        return refused
    content_type = request.headers.get("content-type", "")
    errors = list(exc.errors())
    # FastAPI hands the raw bytes on, unparsed, when the Content-Type is missing or not JSON.
    unparsed = any(isinstance(error.get("input"), bytes) for error in errors)
    if unparsed or (content_type and not content_type.lower().startswith("application/json")):
        return error_response(
            415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json"
        )
    message, param, _ = describe_validation(request, errors)
    return error_response(400, "invalid_request", message, param)


async def _rerank_error(request: Request, exc: RerankError) -> JSONResponse:
    if exc.status >= 500 and exc.type == "internal_error":
        logger.error("request failed", exc_info=exc, extra={"error_type": exc.type})
    elif exc.status >= 500:
        # Expected unavailability (store down, deadline): the reason, without a traceback.
        logger.warning("request not served", extra={"error_type": exc.type, "error": exc.message})
    return rerank_error_response(exc)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and exc.detail == _FASTAPI_PARSE_ERROR:
        refused = refused_key(request)
        if refused is not None:
            return refused
    type_ = _STATUS_TYPES.get(exc.status_code, "invalid_request")
    message = {404: f"no route {request.url.path}", 405: f"{request.method} is not allowed here"}
    detail = UNPARSABLE_BODY if exc.detail == _FASTAPI_PARSE_ERROR else str(exc.detail)
    return error_response(
        exc.status_code, type_, message.get(exc.status_code, detail), headers=dict(exc.headers or {})
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Only reached for a failure inside the request middleware itself (which answers every
    # other one, with its headers); Starlette answers this outside it, so the id is added here.
    request_id = getattr(request.state, "request_id", "")
    logger.error("unexpected error", exc_info=exc, extra={"request_id": request_id})
    response = internal_error_response(request_id)
    response.headers["X-Request-Id"] = request_id
    return response


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(RerankError, _rerank_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
