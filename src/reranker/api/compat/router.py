"""The compatibility routes: Cohere's /v2/rerank, Voyage's /voyage/v1/rerank, Mixedbread's
/v1/reranking, vLLM's /vllm/rerank, /rerank shared by TEI, Infinity and vLLM, and Infinity's GET /models.

TEI and Infinity both serve POST /rerank; their bodies differ in the documents' key
(`texts` for TEI, `documents` for Infinity and vLLM), which picks the format.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from reranker.api.auth import require_api_key
from reranker.api.compat import cohere, infinity, mixedbread, tei, vllm, voyage
from reranker.api.compat.common import (
    default_model,
    invalid_fields_as_422,
    json_object,
    rerank_request,
    run_rerank,
    scored_answer,
    validated,
)
from reranker.api.marks import scores
from reranker.api.schemas import ERRORS, FIELD_ERRORS
from reranker.errors import InvalidRequest

router = APIRouter()
router.include_router(cohere.router)
router.include_router(voyage.router)
router.include_router(mixedbread.router)
router.include_router(vllm.router)
_STARTED = int(time.time())

# Schemas written into the OpenAPI document by hand (this route reads its body itself), with
# their nested models as components, so every $ref resolves in the document.
COMPONENTS: dict[str, Any] = {}


def _component(model: type[BaseModel]) -> dict[str, Any]:
    """Return a $ref to `model`'s schema, registering it and its nested models in COMPONENTS."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    COMPONENTS.update(schema.pop("$defs", {}))
    COMPONENTS[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


_BODY_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"anyOf": [_component(tei.TeiRequest), _component(infinity.InfinityRequest)]}
            }
        },
    }
}
_RESPONSE_SCHEMA: dict[str, Any] = {
    "oneOf": [{"type": "array", "items": _component(tei.TeiRank)}, _component(infinity.InfinityResponse)]
}


@router.post(
    "/rerank",
    responses={
        **ERRORS,
        **FIELD_ERRORS,
        200: {
            "description": "TEI: a list of {index, score[, text]}; "
            "Infinity: {object, results, model, usage, id, created}",
            "content": {"application/json": {"schema": _RESPONSE_SCHEMA}},
        },
    },
    dependencies=[Depends(require_api_key)],
    tags=["compatibility"],
    openapi_extra=_BODY_SCHEMA,
)
@scores({tei.TeiRequest: "texts", infinity.InfinityRequest: "documents"})
async def rerank_root(request: Request) -> JSONResponse:
    """TEI's or Infinity's rerank, picked by the body: `texts` (TEI) or `documents` (Infinity)."""
    payload = await json_object(request)
    if "texts" in payload:
        return await _tei(request, payload)
    if "documents" in payload:
        return await _infinity(request, payload)
    raise InvalidRequest("send `texts` (TEI's format) or `documents` (Infinity's format)", param="texts")


async def _tei(request: Request, payload: dict[str, Any]) -> JSONResponse:
    body = validated(tei.TeiRequest, payload)
    rerank = rerank_request(tei.to_rerank_request(body, default_model(request)), tei.RENAMES)
    response = await run_rerank(request, rerank, "tei", tei.RENAMES)
    return scored_answer(request, tei.from_rerank_response(response, body), rerank.model)


async def _infinity(request: Request, payload: dict[str, Any]) -> JSONResponse:
    # Infinity's generated client reads request errors only as FastAPI's 422.
    with invalid_fields_as_422(request):
        body = validated(infinity.InfinityRequest, payload)
        unspecified = body.model == infinity.UNSPECIFIED_MODEL
        model = default_model(request) if unspecified else body.model
        rerank = rerank_request(infinity.to_rerank_request(body, model))
        response = await run_rerank(request, rerank, "infinity")
    return scored_answer(request, infinity.from_rerank_response(response, body), rerank.model)


@router.get(
    "/models",
    response_model=infinity.InfinityModelList,
    responses=ERRORS,
    dependencies=[Depends(require_api_key)],
    tags=["compatibility"],
)
async def infinity_models(request: Request) -> infinity.InfinityModelList:
    """Infinity's model list: every served name and alias (our own list is GET /v1/models)."""
    served = [(model.name, list(model.aliases)) for model in request.app.state.service.registry.served()]
    return infinity.model_list(served, _STARTED)
