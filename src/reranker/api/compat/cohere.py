"""Cohere's POST /v2/rerank (`cohere.ClientV2.rerank`, LangChain's CohereRerank).

Cohere's v1 shape needs no route of its own: /v1/rerank already takes what `cohere.Client.rerank`
sends (`rank_fields` and `max_chunks_per_doc` are fields of RerankRequest). v2 differs in
`max_tokens_per_doc`, `priority` and in its response (`meta`, no `model` or `usage`). Older SDKs
sent `return_documents`, `rank_fields` and `max_chunks_per_doc` on v2 too, so those are kept.
SDK 7.x adds `relevant_spans` (context compression): no model here finds spans, so it is accepted
only as `{"mode": "disabled"}` and `"enabled"` is a 400 that says so.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
)

from reranker.api.auth import require_api_key
from reranker.api.compat.common import rerank_request, run_rerank, scored_answer
from reranker.api.marks import scores
from reranker.api.schemas import ERRORS
from reranker.types import (
    MAX_RANK_FIELDS,
    VISIBLE_PATTERN,
    ChunksPerDoc,
    FieldName,
    JsonInt,
    PositiveJsonInt,
    RerankResponse,
)

RENAMES = {"max_tokens_per_document": "max_tokens_per_doc"}

router = APIRouter(tags=["compatibility"])


class RelevantSpans(BaseModel):
    """Cohere 7.x context compression; only `disabled` is served (no model here returns spans)."""

    model_config = ConfigDict(extra="forbid")

    # The enum is declared for clients and fuzzers; the validator answers "enabled" with a clearer message.
    mode: StrictStr = Field(
        description='"disabled" (the only mode served) or "enabled" (400).',
        json_schema_extra={"enum": ["disabled"]},
    )
    threshold: StrictFloat | StrictInt | None = None
    max_spans: StrictInt | None = None

    @field_validator("mode")
    @classmethod
    def _disabled_only(cls, mode: str) -> str:
        if mode != "disabled":
            raise ValueError(
                f'"{mode}" is not served: no model here returns relevant spans; '
                'send {"mode": "disabled"} or leave relevant_spans out'
            )
        return mode


class CohereV2Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: StrictStr = Field(
        min_length=1,
        max_length=128,
        description="Model name, alias or deployment id (Cohere's names are not served).",
    )
    query: StrictStr = Field(json_schema_extra={"pattern": VISIBLE_PATTERN})
    documents: list[StrictStr | dict[str, Any]] = Field(
        min_length=1,
        description="Strings (v2). Objects are accepted as on /v1/rerank, for older SDKs.",
    )
    top_n: PositiveJsonInt | None = None
    max_tokens_per_doc: PositiveJsonInt | None = Field(
        None, description="Tokens of each document considered; never more than fit the model."
    )
    priority: JsonInt | None = Field(None, description="Accepted and ignored: requests run in arrival order.")
    return_documents: StrictBool | None = Field(None, description="Older SDKs: echo each document.")
    rank_fields: list[FieldName] | None = Field(
        None,
        min_length=1,
        max_length=MAX_RANK_FIELDS,
        description="Older SDKs: keys of object documents to score (at least one, none empty).",
    )
    max_chunks_per_doc: ChunksPerDoc | None = Field(
        None, description="Older SDKs: long-document chunking, as on /v1/rerank."
    )
    relevant_spans: RelevantSpans | None = Field(
        None, description='SDK 7.x: accepted as {"mode": "disabled"}; "enabled" is a 400.'
    )


class CohereApiVersion(BaseModel):
    version: str = "2"


class CohereTokens(BaseModel):
    input_tokens: int
    output_tokens: int = 0


class CohereMeta(BaseModel):
    api_version: CohereApiVersion = Field(default_factory=CohereApiVersion)
    tokens: CohereTokens


class CohereV2Result(BaseModel):
    index: int
    relevance_score: float
    document: dict[str, Any] | None = Field(None, description="Only with return_documents.")


class CohereV2Response(BaseModel):
    id: str
    results: list[CohereV2Result]
    meta: CohereMeta


def to_rerank_request(body: CohereV2Request) -> dict[str, Any]:
    """Return the /v1/rerank fields that mean what the Cohere v2 request asks for."""
    return {
        "model": body.model,
        "query": body.query,
        "documents": body.documents,
        "top_n": body.top_n,
        "max_tokens_per_document": body.max_tokens_per_doc,
        "return_documents": body.return_documents,
        "rank_fields": body.rank_fields,
        "max_chunks_per_doc": body.max_chunks_per_doc,
    }


def from_rerank_response(response: RerankResponse, return_documents: bool) -> dict[str, Any]:
    """Return the Cohere v2 body: id, results (index, relevance_score[, document]) and meta."""
    results = [
        {
            "index": r.index,
            "relevance_score": r.relevance_score,
            **({"document": r.document} if return_documents else {}),
        }
        for r in response.results
    ]
    meta = CohereMeta(tokens=CohereTokens(input_tokens=response.usage.prompt_tokens))
    return {"id": response.id, "results": results, "meta": meta.model_dump()}


@router.post(
    "/v2/rerank",
    response_model=CohereV2Response,
    responses=ERRORS,
    dependencies=[Depends(require_api_key)],
)
@scores({CohereV2Request: "documents"})
async def cohere_v2_rerank(body: CohereV2Request, request: Request) -> JSONResponse:
    """Cohere v2 rerank: the same ranking as /v1/rerank, in Cohere's response shape."""
    rerank = rerank_request(to_rerank_request(body), RENAMES)
    response = await run_rerank(request, rerank, "cohere-v2", RENAMES)
    return scored_answer(request, from_rerank_response(response, bool(body.return_documents)), rerank.model)
