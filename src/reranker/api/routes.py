"""Thin routes: parse, authorise, hand to RerankService, shape the answer."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from reranker.api.auth import require_api_key
from reranker.api.headers import model_headers
from reranker.api.marks import scores
from reranker.api.schemas import ERRORS, ColdStartTimes, ErrorResponse, ModelCard, ModelList
from reranker.coldstart import import_seconds
from reranker.errors import ModelUnavailable
from reranker.logs import hash_user
from reranker.service import RerankService
from reranker.types import RerankRequest, RerankResponse

logger = logging.getLogger(__name__)

router = APIRouter()


@router.get("/health", tags=["ops"])
async def health() -> dict[str, str]:
    """Liveness: answers without auth and without loading a model."""
    return {"status": "ok"}


NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorResponse,
        "description": "Not ready: the default model is not loaded and warmed yet (model_unavailable)",
        "headers": {
            "Retry-After": {"description": "seconds to wait", "required": True, "schema": {"type": "integer"}}
        },
    }
}


@router.get("/ready", tags=["ops"], responses=NOT_READY)
async def ready(request: Request) -> dict[str, str]:
    """Readiness: 200 once the default model (RERANK_DEFAULT_MODEL) is loaded and warmed, else 503.

    Answers without auth. While not ready it starts a warm-up if none is running, so a failed
    one is retried (after the model's retry window) without traffic being routed here.
    """
    service: RerankService = request.app.state.service
    model = request.app.state.settings.default_model
    if model is None or service.registry.warmed(model):
        return {"status": "ready"}
    service.warm_in_background(model)
    failure = service.registry.last_failure(model)
    reason = f": {failure}" if failure else "; retry shortly"
    raise ModelUnavailable(f"the default model {model!r} is not loaded and warmed yet{reason}", retry_after=1)


@router.post(
    "/v1/rerank",
    response_model=RerankResponse,
    responses=ERRORS,
    dependencies=[Depends(require_api_key)],
    tags=["rerank"],
)
@scores({RerankRequest: "documents"})
async def rerank(body: RerankRequest, request: Request) -> JSONResponse:
    """Rerank documents by relevance to the query, highest first."""
    service: RerankService = request.app.state.service
    request_id: str = request.state.request_id
    started = time.perf_counter()
    response = await request.app.state.limiter.run(service.rerank, body, request_id)
    fused = body.extra_body is not None and body.extra_body.fusion is not None
    hidden = {
        name for name, shown in (("document", body.return_documents), ("model_score", fused)) if not shown
    }
    exclude = {"results": {"__all__": hidden}} if hidden else None
    logger.info(
        "rerank",
        extra={
            "request_id": request_id,
            "model": body.model,
            "documents": len(body.documents),
            "top_n": body.top_n,
            "prompt_tokens": response.usage.prompt_tokens,
            "seconds": round(time.perf_counter() - started, 4),
            "metadata": body.metadata,
            "user": hash_user(body.user, request.app.state.user_salt) if body.user else None,
        },
    )
    return JSONResponse(response.model_dump(exclude=exclude), headers=model_headers(service, body.model))


@router.get(
    "/v1/models",
    response_model=ModelList,
    responses=ERRORS,
    dependencies=[Depends(require_api_key)],
    tags=["rerank"],
)
async def models(request: Request) -> ModelList:
    """The models and aliases this deployment serves; details appear once a model is loaded."""
    service: RerankService = request.app.state.service
    cards = []
    for served in service.registry.served():
        scorer = served.scorer
        cards.append(
            ModelCard(
                id=served.name,
                aliases=list(served.aliases),
                loaded=scorer is not None,
                kind=scorer.manifest.kind if scorer else None,
                max_length=scorer.manifest.max_length if scorer else None,
                family=scorer.manifest.family if scorer else None,
                instructions=scorer.manifest.takes_instruction if scorer else None,
                variant=scorer.variant if scorer else None,
                provider=scorer.provider if scorer else None,
                fingerprint=scorer.manifest.fingerprint(scorer.variant) if scorer else None,
                version=scorer.manifest.version if scorer else None,
                store_alias=served.resolved.alias if served.resolved else None,
                cold_start=ColdStartTimes(
                    import_seconds=import_seconds(),
                    fetch_seconds=served.cold_start.fetch_seconds,
                    session_seconds=served.cold_start.session_seconds,
                    warm_seconds=served.cold_start.warm_seconds,
                )
                if served.cold_start
                else None,
            )
        )
    return ModelList(data=cards)
