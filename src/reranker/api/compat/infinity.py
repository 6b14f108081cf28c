"""Infinity (infinity_emb) and vLLM: POST /rerank with `documents` (strings); GET /models.

Infinity's requests may omit `model` (its placeholder is "default/not-specified"): the
deployment's default model scores those. The two differ in each result's `document`: Infinity's
client always sends `return_documents` and reads the plain string (or null); vLLM's API has no
such field and always answers `{"text": ...}`. So a request without `return_documents` gets
vLLM's document objects, and one with it gets Infinity's strings.
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
    return_documents: StrictBool | None = Field(
        None, description="Infinity: true/false, documents as strings. Omitted (vLLM): {text} objects."
    )
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
    document: str | dict[str, str] | None = Field(
        None, description="With return_documents: the string; without the field (vLLM): {text}."
    )


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
        InfinityResult(relevance_score=r.relevance_score, index=r.index, document=_document(body, r.index))
        for r in response.results
    ]
    return InfinityResponse(
        results=results, model=response.model, usage=response.usage, id=response.id, created=int(time.time())
    ).model_dump()


def _document(body: InfinityRequest, index: int) -> str | dict[str, str] | None:
    if body.return_documents is None:  # vLLM's convention
        return {"text": body.documents[index]}
    return body.documents[index] if body.return_documents else None


class InfinityModel(BaseModel):
    """One entry of Infinity's GET /models; its client accepts only `owned_by: "infinity"`."""

    id: str
    object: Literal["model"] = "model"
    owned_by: Literal["infinity"] = "infinity"
    created: int
    backend: str = "onnxruntime"
    capabilities: list[str] = Field(default_factory=lambda: ["rerank"])
    stats: dict[str, Any] = Field(default_factory=dict)


class InfinityModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[InfinityModel]


def model_list(served: list[tuple[str, list[str]]], created: int) -> InfinityModelList:
    """Return every name and alias a request may use, each as one of Infinity's model entries."""
    ids = [name for name, _ in served] + [alias for _, aliases in served for alias in aliases]
    return InfinityModelList(data=[InfinityModel(id=model_id, created=created) for model_id in ids])
