"""What every wire format shares: validation in our error shape, the default model, the limiter.

Each format's request is mapped onto `RerankRequest` and goes through the same limiter and
`RerankService.rerank` as /v1/rerank, so limits, truncation and scores are the same everywhere.
Errors name the client's own fields (TEI's `texts`, Cohere's `max_tokens_per_doc`).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from reranker.api.error_renderer import UNPARSABLE_BODY, describe_validation, loc_from_param
from reranker.api.headers import model_headers
from reranker.errors import InvalidFields, InvalidRequest, ModelUnavailable, RerankError
from reranker.service import RerankService
from reranker.types import RerankRequest, RerankResponse

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class UnsupportedMediaType(RerankError):
    status = 415
    type = "unsupported_media_type"


def _rename_loc(loc: Sequence[int | str], renames: Mapping[str, str]) -> tuple[int | str, ...]:
    if loc and isinstance(loc[0], str) and loc[0] in renames:
        return (*loc_from_param(renames[loc[0]]), *loc[1:])  # "text_1[2]" -> ("text_1", 2)
    return tuple(loc)


def validated(model: type[M], payload: object, renames: Mapping[str, str] | None = None) -> M:
    """Return `payload` validated as `model`; errors are raised in our shape, fields renamed.

    `renames` maps our field names to the client's (e.g. documents -> texts), so that a
    message names what the client actually sent.
    """
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = [
            {**error, "loc": ("body", *_rename_loc(error["loc"], renames or {}))} for error in exc.errors()
        ]
        raise RequestValidationError(errors) from None


@contextmanager
def invalid_fields_as_422(request: Request) -> Iterator[None]:
    """Raise any invalid request inside as InvalidFields: 422 with FastAPI's `detail` list.

    For formats whose generated clients parse only 200 and 422 (Infinity's): our 400 would reach
    them as `None`. The message and param are the ones every other route gives.
    """
    try:
        yield
    except RequestValidationError as exc:
        message, param, kind = describe_validation(request, exc.errors())
        raise InvalidFields(message, param=param, kind=kind) from None
    except InvalidRequest as exc:
        if isinstance(exc, InvalidFields):
            raise
        raise InvalidFields(exc.message, param=exc.param) from None


def rerank_request(fields: Mapping[str, Any], renames: Mapping[str, str] | None = None) -> RerankRequest:
    """Return a RerankRequest from mapped fields; fields set to None are left to their defaults."""
    return validated(RerankRequest, {k: v for k, v in fields.items() if v is not None}, renames)


async def json_object(request: Request) -> dict[str, Any]:
    """Return the body parsed as a JSON object, for routes that pick a format from its keys."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("application/json"):
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    try:
        payload = json.loads(await request.body())
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the interpreter's limit
        raise InvalidRequest(UNPARSABLE_BODY) from None
    if not isinstance(payload, dict):
        raise InvalidRequest("the body must be a JSON object")
    return payload


def default_model(request: Request) -> str:
    """Return the deployment's default model, for formats whose requests name none (TEI)."""
    model: str | None = request.app.state.settings.default_model
    if not model:
        raise ModelUnavailable(
            "this route uses the deployment's default model and none is set: "
            "the operator must set RERANK_DEFAULT_MODEL"
        )
    return model


def rename_fields(exc: RerankError, renames: Mapping[str, str]) -> None:
    """Replace our field name in the error's param and message by the client's, in place."""
    for ours, theirs in renames.items():
        if exc.param and re.match(rf"{re.escape(ours)}\b", exc.param):
            pattern = rf"\b{re.escape(ours)}\b"
            exc.param = re.sub(pattern, theirs, exc.param)
            exc.message = re.sub(pattern, theirs, exc.message)
            exc.args = (exc.message,)
            return


async def run_rerank(
    request: Request, body: RerankRequest, api: str, renames: Mapping[str, str] | None = None
) -> RerankResponse:
    """Return the service's answer to `body`, computed through the app's scoring limiter."""
    (response,) = await run_rerank_all(request, [body], api, renames)
    return response


async def run_rerank_all(
    request: Request, bodies: Sequence[RerankRequest], api: str, renames: Mapping[str, str] | None = None
) -> list[RerankResponse]:
    """Return the service's answer to each of `bodies` (one model), admitted as one request.

    One body goes through the limiter's `run` (as /v1/rerank does), several through `run_all`;
    an error names the format's own fields (`renames`), and one log line says what was scored.
    """
    service: RerankService = request.app.state.service
    limiter = request.app.state.limiter
    request_id: str = request.state.request_id
    started = time.perf_counter()
    try:
        if len(bodies) == 1:
            responses = [await limiter.run(service.rerank, bodies[0], request_id)]
        else:
            responses = await limiter.run_all(service.rerank_all, bodies, request_id)
    except RerankError as exc:
        rename_fields(exc, renames or {})
        raise
    fields: dict[str, Any] = {"documents": sum(len(body.documents) for body in bodies)}
    if len(bodies) == 1:
        fields["top_n"] = bodies[0].top_n
    else:
        fields["queries"] = len(bodies)
    logger.info(
        "rerank",
        extra={
            "request_id": request_id,
            "api": api,
            "model": bodies[0].model,
            **fields,
            "prompt_tokens": sum(response.usage.prompt_tokens for response in responses),
            "seconds": round(time.perf_counter() - started, 4),
        },
    )
    return responses


def scored_answer(request: Request, content: Any, model: str) -> JSONResponse:
    """Return a format's answer with X-Model-Version and X-Model-Fingerprint, as /v1/rerank sends.

    Headers, so no client's parsing of the body changes.
    """
    return JSONResponse(content, headers=model_headers(request.app.state.service, model))
