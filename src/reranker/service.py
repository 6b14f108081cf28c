"""RerankService: the one code path from a validated request to ranked results and usage.

The HTTP routes, the Lambda handler and the eval harness all come through `rerank`, so what
is measured offline is what is served.
"""

from __future__ import annotations

import numpy as np
from ulid import ULID

from reranker.api.schemas import DocumentObject, RerankRequest, RerankResponse, RerankResult, Usage
from reranker.config import Settings
from reranker.errors import InvalidRequest, RerankError
from reranker.model_store.registry import ModelRegistry
from reranker.scoring.types import ScoreOptions


def new_request_id() -> str:
    """Return `rerank_` + a ULID: unique and ordered by creation time."""
    return f"rerank_{ULID()}"


def document_text(document: str | DocumentObject) -> str:
    """Return the text the model scores: an object's title, when present, goes first."""
    if isinstance(document, str):
        return document
    if document.title:
        return f"{document.title} {document.text}"
    return document.text


def document_payload(document: str | DocumentObject) -> dict[str, object]:
    """Return the document as the client sent it; a string becomes {"text": ...}."""
    if isinstance(document, str):
        return {"text": document}
    return document.model_dump(exclude_unset=True)


class RerankService:
    def __init__(self, registry: ModelRegistry, settings: Settings) -> None:
        self.registry = registry
        self._settings = settings

    def rerank(self, request: RerankRequest, request_id: str | None = None) -> RerankResponse:
        """Return the request's documents ranked by relevance, highest first, ties in input order."""
        self._check_limits(request)
        scorer = self.registry.get(request.model)
        texts = [document_text(document) for document in request.documents]
        options = ScoreOptions(
            truncate=request.truncate or self._settings.default_truncate,
            max_tokens_per_document=request.max_tokens_per_document,
            raw_scores=bool(request.extra_body and request.extra_body.raw_scores),
        )
        result = scorer.score(request.query, texts, options)
        if not np.all(np.isfinite(result.scores)):
            raise RerankError("the model produced a non-finite score")
        order = np.argsort(-result.scores, kind="stable")[: request.top_n]
        results = [
            RerankResult(index=int(i), relevance_score=float(result.scores[i]))
            if not request.return_documents
            else RerankResult(
                index=int(i),
                relevance_score=float(result.scores[i]),
                document=document_payload(request.documents[i]),
            )
            for i in order
        ]
        return RerankResponse(
            id=request_id or new_request_id(),
            model=request.model,
            results=results,
            usage=Usage(prompt_tokens=result.prompt_tokens, total_tokens=result.prompt_tokens),
        )

    def warm(self, model: str) -> None:
        """Load `model` and score one pair, so the first real request pays no start-up cost."""
        scorer = self.registry.get(model)
        scorer.score("warm up", ["the first run allocates the session's buffers"], ScoreOptions())

    def _check_limits(self, request: RerankRequest) -> None:
        settings = self._settings
        if len(request.documents) > settings.max_documents:
            raise InvalidRequest(
                f"documents has {len(request.documents)} items; at most "
                f"{settings.max_documents} are accepted",
                param="documents",
            )
        if len(request.query) > settings.max_query_chars:
            raise InvalidRequest(
                f"query is {len(request.query)} characters; at most {settings.max_query_chars} are accepted",
                param="query",
            )
        for index, document in enumerate(request.documents):
            text = document_text(document)
            if len(text) > settings.max_document_chars:
                param = f"documents[{index}]" if isinstance(document, str) else f"documents[{index}].text"
                raise InvalidRequest(
                    f"{param} is {len(text)} characters; at most {settings.max_document_chars} are accepted",
                    param=param,
                )
