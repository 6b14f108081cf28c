"""vLLM's rerank API under its own base URL: POST /vllm/rerank and /vllm/v1/rerank.

litellm's `hosted_vllm/` and `infinity/` providers send byte-identical requests (the same path
`<api_base>/rerank`, headers and keys, `return_documents: true` included) but read different
answers: vLLM's `document: {"text": ...}` and Infinity's plain string. Nothing in the request
tells them apart, so vLLM's format has a base URL of its own, `<ours>/vllm`, as Voyage's has.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from reranker.api.auth import require_api_key
from reranker.api.compat.common import default_model, rerank_request, run_rerank
from reranker.api.marks import scores
from reranker.api.schemas import ERRORS
from reranker.types import VISIBLE_PATTERN, NonNegativeJsonInt, PositiveJsonInt, RerankResponse

RENAMES = {"max_tokens_per_document": "max_tokens_per_doc"}

router = APIRouter(tags=["compatibility"])


class VllmRerankRequest(BaseModel):
    """Unknown keys (`truncate_prompt_tokens`, `priority`, ...) are ignored, as vLLM ignores extras."""

    model_config = ConfigDict(extra="ignore")

    query: StrictStr = Field(json_schema_extra={"pattern": VISIBLE_PATTERN})
    documents: list[StrictStr] = Field(min_length=1)
    model: StrictStr | None = Field(None, description="Omitted: the deployment's default model.")
    top_n: NonNegativeJsonInt = Field(0, description="0 (vLLM's default): every document.")
    max_tokens_per_doc: PositiveJsonInt | None = Field(
        None, description="Tokens of each document considered; never more than fit the model."
    )
    return_documents: StrictBool = Field(
        True, description="false: results carry no document (vLLM always sends one; litellm may ask not to)."
    )


class VllmDocument(BaseModel):
    text: str


class VllmRerankResult(BaseModel):
    index: int
    document: VllmDocument | None
    relevance_score: float


class VllmUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class VllmRerankResponse(BaseModel):
    id: str
    model: str
    usage: VllmUsage
    results: list[VllmRerankResult]
    created: int


def to_rerank_request(body: VllmRerankRequest, model: str) -> dict[str, Any]:
    """Return the /v1/rerank fields that mean what the vLLM request asks for."""
    return {
        "model": model,
        "query": body.query,
        "documents": body.documents,
        "top_n": body.top_n or None,
        "max_tokens_per_document": body.max_tokens_per_doc,
    }


def from_rerank_response(response: RerankResponse, body: VllmRerankRequest) -> dict[str, Any]:
    """Return vLLM's answer: id, model, usage, results (best first, each with `document: {text}`)."""
    results = [
        VllmRerankResult(
            index=r.index,
            document=VllmDocument(text=body.documents[r.index]) if body.return_documents else None,
            relevance_score=r.relevance_score,
        )
        for r in response.results
    ]
    usage = VllmUsage(prompt_tokens=response.usage.prompt_tokens, total_tokens=response.usage.total_tokens)
    return VllmRerankResponse(
        id=response.id, model=response.model, usage=usage, results=results, created=int(time.time())
    ).model_dump()


@router.post(
    "/vllm/rerank",
    response_model=VllmRerankResponse,
    responses=ERRORS,
    dependencies=[Depends(require_api_key)],
)
@router.post(
    "/vllm/v1/rerank",
    response_model=VllmRerankResponse,
    responses=ERRORS,
    dependencies=[Depends(require_api_key)],
)
@scores({VllmRerankRequest: "documents"})
async def vllm_rerank(body: VllmRerankRequest, request: Request) -> JSONResponse:
    """vLLM rerank: the same ranking as /v1/rerank, in vLLM's response shape."""
    rerank = rerank_request(to_rerank_request(body, body.model or default_model(request)), RENAMES)
    response = await run_rerank(request, rerank, "vllm", RENAMES)
    return JSONResponse(from_rerank_response(response, body))
