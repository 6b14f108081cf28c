"""vLLM's APIs: rerank under its own base URL (POST /vllm/rerank, /vllm/v1/rerank) and score
(POST /score, /v1/score).

litellm's `hosted_vllm/` and `infinity/` providers send byte-identical requests (the same path
`<api_base>/rerank`, headers and keys, `return_documents: true` included) but read different
answers: vLLM's `document: {"text": ...}` and Infinity's plain string. Nothing in the request
tells them apart, so vLLM's format has a base URL of its own, `<ours>/vllm`, as Voyage's has.

vLLM's score API pairs `text_1` with `text_2`: one text_1 against a list is 1:N, two lists of
one length are N:N pairwise; scores come back in input order. Each distinct text_1 is one
`RerankRequest` (so a pair scores exactly as on /v1/rerank), and all of them are admitted as
one request: their summed cost, one slot, one deadline, and the limits checked on all the
pairs' documents together.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, WithJsonSchema

from reranker.api.auth import require_api_key
from reranker.api.compat.common import (
    default_model,
    rename_fields,
    rerank_request,
    run_rerank,
    run_rerank_all,
    scored_answer,
)
from reranker.api.marks import scores
from reranker.api.schemas import ERRORS
from reranker.errors import InvalidRequest, RerankError
from reranker.service import RerankService
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
    return scored_answer(request, from_rerank_response(response, body), rerank.model)


SCORE_RENAMES = {"query": "text_1", "documents": "text_2"}


def _texts(text: dict[str, Any]) -> WithJsonSchema:
    """Return the schema of a text or a non-empty list of texts.

    The validation lets an empty list through to RerankRequest, so its message is every route's.
    """
    return WithJsonSchema({"anyOf": [text, {"type": "array", "items": text, "minItems": 1}]})


# Queries must hold a visible character, as /v1/rerank's `query` (checked by RerankRequest).
Queries = Annotated[StrictStr | list[StrictStr], _texts({"type": "string", "pattern": VISIBLE_PATTERN})]
Texts = Annotated[StrictStr | list[StrictStr], _texts({"type": "string"})]


class VllmScoreRequest(BaseModel):
    """Unknown keys (`truncate_prompt_tokens`, `encoding_format`, ...) are ignored, as vLLM ignores extras."""

    model_config = ConfigDict(extra="ignore")

    model: StrictStr | None = Field(None, description="Omitted: the deployment's default model.")
    text_1: Queries = Field(description="The query (1:N), or one query per text_2 item (N:N, pairwise).")
    text_2: Texts = Field(description="The documents scored against text_1.")


class VllmScoreData(BaseModel):
    index: int
    object: Literal["score"] = "score"
    score: float


class VllmScoreUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int
    completion_tokens: int = 0


class VllmScoreResponse(BaseModel):
    id: str
    object: Literal["list"] = "list"
    created: int
    model: str
    data: list[VllmScoreData] = Field(description="One score per pair, in input order (not sorted).")
    usage: VllmScoreUsage


def pairs(body: VllmScoreRequest) -> tuple[list[str], list[str]]:
    """Return the query and the document of each pair, in input order: 1:1, 1:N or N:N pairwise."""
    queries = [body.text_1] if isinstance(body.text_1, str) else body.text_1
    documents = [body.text_2] if isinstance(body.text_2, str) else body.text_2
    if not queries:
        message = "text_1 must not be empty: send one query, or one per text_2 item"
        raise InvalidRequest(message, param="text_1")
    if len(queries) == 1:
        return queries * len(documents), documents
    if len(queries) != len(documents):
        raise InvalidRequest(
            f"text_1 has {len(queries)} items and text_2 has {len(documents)}: send one text_1 (1:N) "
            "or as many as text_2 (N:N, pairwise)",
            param="text_1",
        )
    return queries, documents


def by_query(queries: list[str]) -> dict[str, list[int]]:
    """Return the pairs' positions under each distinct query, queries in order of first use."""
    positions: dict[str, list[int]] = {}
    for index, query in enumerate(queries):
        positions.setdefault(query, []).append(index)
    return positions


def _query_param(body: VllmScoreRequest, position: int) -> str:
    return "text_1" if isinstance(body.text_1, str) else f"text_1[{position}]"


async def _score(request: Request, body: VllmScoreRequest) -> tuple[list[float], list[RerankResponse]]:
    """Return each pair's score in input order, and the service's answers they came from."""
    model = body.model or default_model(request)
    queries, documents = pairs(body)
    first = body.text_1 if isinstance(body.text_1, str) else body.text_1[0]
    # All the pairs' documents as one request: field errors and limits name text_2[i] as sent.
    renames = {"query": _query_param(body, 0), "documents": "text_2"}
    whole = rerank_request({"model": model, "query": first, "documents": documents}, renames)
    service: RerankService = request.app.state.service
    try:
        service.check_limits(whole)
    except RerankError as exc:
        rename_fields(exc, renames)
        raise
    groups = by_query(queries)
    bodies = [
        rerank_request(
            {"model": model, "query": query, "documents": [documents[i] for i in positions]},
            {"query": _query_param(body, positions[0]), "documents": "text_2"},
        )
        for query, positions in groups.items()
    ]
    responses = await run_rerank_all(request, bodies, "vllm-score", SCORE_RENAMES)
    scores = [0.0] * len(documents)
    for positions, response in zip(groups.values(), responses, strict=True):
        for result in response.results:
            scores[positions[result.index]] = result.relevance_score
    return scores, responses


@router.post(
    "/score",
    response_model=VllmScoreResponse,
    responses=ERRORS,
    dependencies=[Depends(require_api_key)],
)
@router.post(
    "/v1/score",
    response_model=VllmScoreResponse,
    responses=ERRORS,
    dependencies=[Depends(require_api_key)],
)
@scores({VllmScoreRequest: "text_2"})
async def vllm_score(body: VllmScoreRequest, request: Request) -> JSONResponse:
    """vLLM score: each (text_1, text_2) pair's score as /v1/rerank gives it, in input order."""
    scored, responses = await _score(request, body)
    tokens = sum(response.usage.prompt_tokens for response in responses)
    answer = VllmScoreResponse(
        id=responses[0].id,
        created=int(time.time()),
        model=responses[0].model,
        data=[VllmScoreData(index=i, score=score) for i, score in enumerate(scored)],
        usage=VllmScoreUsage(prompt_tokens=tokens, total_tokens=tokens),
    )
    return scored_answer(request, answer.model_dump(), answer.model)
