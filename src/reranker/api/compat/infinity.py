"""Infinity (infinity_emb): POST /rerank with `documents` (strings), Cohere-like response.

Infinity's requests may omit `model` (its placeholder is "default/not-specified"): the
deployment's default model scores those. Its `document` in results is the plain string.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from reranker.types import VISIBLE_PATTERN, PositiveJsonInt, RerankResponse, Usage

UNSPECIFIED_MODEL = "default/not-specified"


class InfinityRequest(BaseModel):
    """Unknown keys are ignored, as Infinity's own server does."""

    model_config = ConfigDict(extra="ignore")

    query: StrictStr = Field(json_schema_extra={"pattern": VISIBLE_PATTERN})
    documents: list[StrictStr] = Field(min_length=1)
    return_documents: StrictBool = False
    raw_scores: StrictBool = Field(
        False, description="The model's raw score instead of the [0, 1] probability."
    )
    model: StrictStr = Field(
        UNSPECIFIED_MODEL,
        min_length=1,
        max_length=128,
        description="Omitted: the deployment's default model.",
    )
    top_n: PositiveJsonInt | None = None


class InfinityResult(BaseModel):
    relevance_score: float
    index: int
    document: str | None = None


class InfinityResponse(BaseModel):
    object: Literal["rerank"] = "rerank"
    results: list[InfinityResult]
    model: str
    usage: Usage
    id: str
    created: int


def to_rerank_request(body: InfinityRequest, model: str) -> dict[str, Any]:
    """Return the /v1/rerank fields that mean what the Infinity request asks for."""
    return {
        "model": model,
        "query": body.query,
        "documents": body.documents,
        "top_n": body.top_n,
        "extra_body": {"raw_scores": True} if body.raw_scores else None,
    }


def from_rerank_response(response: RerankResponse, body: InfinityRequest) -> dict[str, Any]:
    """Return Infinity's answer: object, results (best first), model, usage, id, created."""
    results = [
        InfinityResult(
            relevance_score=r.relevance_score,
            index=r.index,
            document=body.documents[r.index] if body.return_documents else None,
        )
        for r in response.results
    ]
    return InfinityResponse(
        results=results, model=response.model, usage=response.usage, id=response.id, created=int(time.time())
    ).model_dump()
