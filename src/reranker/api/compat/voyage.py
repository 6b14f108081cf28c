"""Voyage AI's rerank (`voyageai.Client.rerank`): POST /voyage/v1/rerank.

The SDK posts to `<base_url>/rerank`, so `base_url="<ours>/voyage/v1"` points it here. It needs
a path of its own: it sends the same path as Jina's and Cohere's /v1/rerank but other fields
(`top_k`, `truncation`) and reads another answer (`data`, not `results`).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from reranker.api.auth import require_api_key
from reranker.api.compat.common import rerank_request, run_rerank, scored_answer
from reranker.api.marks import scores
from reranker.api.schemas import ERRORS
from reranker.types import VISIBLE_PATTERN, PositiveJsonInt, RerankResponse

RENAMES = {"top_n": "top_k"}

router = APIRouter(tags=["compatibility"])


class VoyageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: StrictStr = Field(json_schema_extra={"pattern": VISIBLE_PATTERN})
    documents: list[StrictStr] = Field(min_length=1)
    model: StrictStr = Field(
        min_length=1, max_length=128, description="Model name or alias (Voyage's names are not served)."
    )
    top_k: PositiveJsonInt | None = Field(None, description="Omitted: every document.")
    truncation: StrictBool = Field(
        True, description="false: a document too long for the model is a 400 instead of being cut."
    )
    return_documents: StrictBool = False


class VoyageResult(BaseModel):
    index: int
    relevance_score: float
    document: str | None = Field(None, description="Only with return_documents.")


class VoyageUsage(BaseModel):
    total_tokens: int


class VoyageResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[VoyageResult]
    model: str
    usage: VoyageUsage


def to_rerank_request(body: VoyageRequest) -> dict[str, Any]:
    """Return the /v1/rerank fields that mean what the Voyage request asks for."""
    return {
        "model": body.model,
        "query": body.query,
        "documents": body.documents,
        "top_n": body.top_k,
        "truncate": "end" if body.truncation else "none",
    }


def from_rerank_response(response: RerankResponse, body: VoyageRequest) -> dict[str, Any]:
    """Return Voyage's answer: object, data (best first), model, usage.total_tokens."""
    data = [
        {
            "index": r.index,
            "relevance_score": r.relevance_score,
            **({"document": body.documents[r.index]} if body.return_documents else {}),
        }
        for r in response.results
    ]
    usage = {"total_tokens": response.usage.total_tokens}
    return {"object": "list", "data": data, "model": response.model, "usage": usage}


@router.post(
    "/voyage/v1/rerank",
    response_model=VoyageResponse,
    responses=ERRORS,
    dependencies=[Depends(require_api_key)],
)
@scores({VoyageRequest: "documents"})
async def voyage_rerank(body: VoyageRequest, request: Request) -> JSONResponse:
    """Voyage AI rerank: the same ranking as /v1/rerank, in Voyage's request and response shape."""
    rerank = rerank_request(to_rerank_request(body), RENAMES)
    response = await run_rerank(request, rerank, "voyage", RENAMES)
    return scored_answer(request, from_rerank_response(response, body), rerank.model)
