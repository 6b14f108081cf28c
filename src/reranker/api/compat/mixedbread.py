"""Mixedbread's rerank (`mixedbread.Mixedbread.rerank`): POST /v1/reranking.

Mixedbread names the documents `input` (strings or objects, scored by `rank_fields` like
Cohere's) and the count `top_k`, and answers `data[{index, score, input?}]` with the request's
`top_k` and `return_input` echoed. `model` may be omitted: the deployment's default model scores.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator

from reranker.api.auth import require_api_key
from reranker.api.compat.common import default_model, rerank_request, run_rerank, scored_answer
from reranker.api.marks import scores
from reranker.api.schemas import ERRORS
from reranker.types import MAX_RANK_FIELDS, VISIBLE_PATTERN, PositiveJsonInt, RerankResponse

RENAMES = {"documents": "input", "top_n": "top_k"}

router = APIRouter(tags=["compatibility"])


class MixedbreadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: StrictStr | None = Field(None, description="Omitted: the deployment's default model.")
    query: StrictStr = Field(json_schema_extra={"pattern": VISIBLE_PATTERN})
    # Objects need `text` unless rank_fields names other keys: the schema states the common case
    # (as /v1/rerank's DocumentObject does), the validation takes both.
    input: list[StrictStr | dict[str, Any]] = Field(
        min_length=1,
        description="Strings, or objects (with `text`, or the keys rank_fields names).",
        json_schema_extra={
            "items": {
                "anyOf": [
                    {"type": "string"},
                    {
                        "type": "object",
                        "required": ["text"],
                        "properties": {"text": {"type": "string"}},
                    },
                ]
            }
        },
    )
    rank_fields: Annotated[list[StrictStr], Field(min_length=1, max_length=MAX_RANK_FIELDS)] | None = None
    top_k: PositiveJsonInt | None = Field(None, description="Omitted: every document.")
    return_input: StrictBool = False
    rewrite_query: StrictBool = Field(
        False, description="Only false: queries are scored as sent.", json_schema_extra={"enum": [False]}
    )

    @field_validator("rewrite_query")
    @classmethod
    def _no_rewrite(cls, rewrite: bool) -> bool:
        if rewrite:
            raise ValueError("true is not served: queries are scored as sent; send false or leave it out")
        return rewrite


class MixedbreadResult(BaseModel):
    index: int
    score: float
    input: Any = Field(None, description="The document as sent; only with return_input.")
    object: Literal["rank_result"] = "rank_result"


class MixedbreadUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class MixedbreadResponse(BaseModel):
    object: Literal["list"] = "list"
    model: str
    data: list[MixedbreadResult]
    usage: MixedbreadUsage
    top_k: int
    return_input: bool


def to_rerank_request(body: MixedbreadRequest, model: str) -> dict[str, Any]:
    """Return the /v1/rerank fields that mean what the Mixedbread request asks for."""
    return {
        "model": model,
        "query": body.query,
        "documents": body.input,
        "rank_fields": body.rank_fields,
        "top_n": body.top_k,
    }


def from_rerank_response(response: RerankResponse, body: MixedbreadRequest) -> dict[str, Any]:
    """Return Mixedbread's answer: data (best first), usage, model, top_k and return_input."""
    data = [
        {
            "index": r.index,
            "score": r.relevance_score,
            "input": body.input[r.index] if body.return_input else None,
            "object": "rank_result",
        }
        for r in response.results
    ]
    return {
        "object": "list",
        "model": response.model,
        "data": data,
        "usage": response.usage.model_dump(),
        "top_k": body.top_k or len(body.input),
        "return_input": body.return_input,
    }


@router.post(
    "/v1/reranking",
    response_model=MixedbreadResponse,
    responses=ERRORS,
    dependencies=[Depends(require_api_key)],
)
@scores({MixedbreadRequest: "input"})
async def mixedbread_rerank(body: MixedbreadRequest, request: Request) -> JSONResponse:
    """Mixedbread rerank: the same ranking as /v1/rerank, in Mixedbread's request and response shape."""
    model = body.model or default_model(request)
    rerank = rerank_request(to_rerank_request(body, model), RENAMES)
    response = await run_rerank(request, rerank, "mixedbread", RENAMES)
    return scored_answer(request, from_rerank_response(response, body), rerank.model)
