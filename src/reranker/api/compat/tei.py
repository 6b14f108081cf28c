"""Hugging Face Text Embeddings Inference (TEI): POST /rerank with `texts`, answered by a bare list.

TEI serves one model per server, so its requests name none: the deployment's default model
scores them. `truncate: false` maps to our "none" (too long -> 400), `truncation_direction`
to the side that is cut; `truncate` omitted keeps the server default, as TEI does.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from reranker.types import VISIBLE_PATTERN, RerankResponse

RENAMES = {"documents": "texts"}


class TeiRequest(BaseModel):
    """Unknown keys are ignored, as TEI's own server does."""

    model_config = ConfigDict(extra="ignore")

    query: StrictStr = Field(json_schema_extra={"pattern": VISIBLE_PATTERN})
    texts: list[StrictStr] = Field(min_length=1, description="The candidate documents.")
    truncate: StrictBool | None = Field(
        None, description="false: reject a text too long for the model. Omitted: the server default."
    )
    truncation_direction: Literal["right", "left", "Right", "Left"] = Field(
        "right", description="right cuts the end of a text (keeps its start), left cuts its start."
    )
    raw_scores: StrictBool = Field(
        False, description="The model's raw score instead of the [0, 1] probability."
    )
    return_text: StrictBool = Field(False, description="Each result carries its `text`.")


class TeiRank(BaseModel):
    index: int
    score: float
    text: str | None = Field(None, description="Only with return_text.")


def _truncate(body: TeiRequest) -> str | None:
    if body.truncate is False:
        return "none"
    if "truncation_direction" in body.model_fields_set or body.truncate:
        return "start" if body.truncation_direction.lower() == "left" else "end"
    return None


def to_rerank_request(body: TeiRequest, model: str) -> dict[str, Any]:
    """Return the /v1/rerank fields that mean what the TEI request asks for."""
    return {
        "model": model,
        "query": body.query,
        "documents": body.texts,
        "truncate": _truncate(body),
        "extra_body": {"raw_scores": True} if body.raw_scores else None,
    }


def from_rerank_response(response: RerankResponse, body: TeiRequest) -> list[dict[str, Any]]:
    """Return TEI's answer: [{index, score[, text]}], best first."""
    return [
        {
            "index": r.index,
            "score": r.relevance_score,
            **({"text": body.texts[r.index]} if body.return_text else {}),
        }
        for r in response.results
    ]
