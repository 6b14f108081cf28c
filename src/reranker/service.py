"""RerankService: the one code path from a validated request to ranked results and usage.

The HTTP routes, the Lambda handler and the eval harness all come through `rerank`, so what
is measured offline is what is served.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence

import numpy as np

from reranker.config import Settings
from reranker.errors import InvalidRequest, ModelUnavailable, RerankError
from reranker.fusion import fuse
from reranker.registry import ModelRegistry
from reranker.request import (
    check_chunked_characters,
    chunk_options,
    document_payload,
    document_text,
    fusion_inputs,
    new_request_id,
)
from reranker.scoring.types import ScoreOptions
from reranker.types import RerankRequest, RerankResponse, RerankResult, Usage

logger = logging.getLogger(__name__)


class RerankService:
    def __init__(self, registry: ModelRegistry, settings: Settings) -> None:
        self.registry = registry
        self._settings = settings
        self._warming = threading.Lock()

    def rerank(self, request: RerankRequest, request_id: str | None = None) -> RerankResponse:
        """Return the request's documents ranked by relevance, highest first, ties in input order."""
        self.check_limits(request)
        scorer = self.registry.get(request.model)
        texts = [document_text(d, request.rank_fields, i) for i, d in enumerate(request.documents)]
        options = ScoreOptions(
            truncate=request.truncate or self._settings.default_truncate,
            max_tokens_per_document=request.max_tokens_per_document,
            raw_scores=bool(request.extra_body and request.extra_body.raw_scores),
            chunking=chunk_options(request, self._settings),
            instruction=request.extra_body.instruction if request.extra_body else None,
        )
        fusion = fusion_inputs(request)
        result = scorer.score(request.query, texts, options)
        if not np.all(np.isfinite(result.scores)):
            raise RerankError("the model produced a non-finite score")
        scores = result.scores if fusion is None else fuse(result.scores, fusion[1], fusion[0])
        order = np.argsort(-scores, kind="stable")[: request.top_n]
        results = [
            RerankResult(
                index=int(i),
                relevance_score=float(scores[i]),
                model_score=None if fusion is None else float(result.scores[i]),
                document=document_payload(request.documents[i]) if request.return_documents else None,
            )
            for i in order
        ]
        return RerankResponse(
            id=request_id or new_request_id(),
            model=request.model,
            results=results,
            usage=Usage(prompt_tokens=result.prompt_tokens, total_tokens=result.prompt_tokens),
        )

    def rerank_all(
        self, requests: Sequence[RerankRequest], request_id: str | None = None
    ) -> list[RerankResponse]:
        """Return each request's answer: one client request of several queries (vLLM's N:N score).

        The caller checks the limits on all their documents together first (`check_limits`).
        """
        return [self.rerank(request, request_id) for request in requests]

    def warm(self, model: str) -> None:
        """Load `model` and score one pair, so the first real request pays no start-up cost."""
        scorer = self.registry.get(model)
        started = time.perf_counter()
        scorer.score("warm up", ["the first run allocates the session's buffers"], ScoreOptions())
        self.registry.record_warm(model, time.perf_counter() - started)

    def warm_in_background(self, model: str) -> None:
        """Warm `model` in a thread, unless a warm-up is already running (at most one at a time).

        Used at start (`reranker serve`) and by the readiness check, so a pod whose warm-up
        failed retries it (after the registry's retry window) without a request routed to it.
        """
        if not self._warming.acquire(blocking=False):
            return
        threading.Thread(target=self._warm_quietly, args=(model,), name="warm-up", daemon=True).start()

    def _warm_quietly(self, model: str) -> None:
        try:
            self.warm(model)
            logger.info("default model ready", extra={"model": model})
        except ModelUnavailable as exc:
            # The registry retries the load after its backoff, when a request or /ready asks again.
            logger.error(
                "default model not ready; requests will retry it",
                extra={"model": model, "error": exc.message},
            )
        finally:
            self._warming.release()

    def check_limits(self, request: RerankRequest) -> None:
        """Raise InvalidRequest when `request` passes a limit that is a setting (counts, sizes)."""
        settings = self._settings
        # First: the messages below quote the request, and must be sendable themselves.
        unsendable = first_unsendable(request.model_dump(exclude_unset=True))
        if unsendable is not None:
            param, problem = unsendable
            raise InvalidRequest(f"{param} {problem}", param=param)
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
            text = document_text(document, request.rank_fields, index)
            if len(text) > settings.max_document_chars:
                param = f"documents[{index}]" if isinstance(document, str) else f"documents[{index}].text"
                raise InvalidRequest(
                    f"{param} is {len(text)} characters; at most {settings.max_document_chars} are accepted",
                    param=param,
                )
        check_chunked_characters(request, settings)


# Deeper values cannot be echoed: the response encoder recurses once per level, beside the stack
# the server already uses, under the interpreter's limit of 1000 frames.
MAX_JSON_DEPTH = 512


def _scalar_problem(item: object) -> str | None:
    """Return why a string or number cannot be sent back as JSON, or None."""
    if isinstance(item, str) and not item.isascii() and not _utf8_encodable(item):
        return "holds an unpaired UTF-16 surrogate (\\ud800-\\udfff): send valid Unicode"
    if isinstance(item, float) and not math.isfinite(item):
        return "must be a finite number (NaN and Infinity are not JSON)"
    return None


def first_unsendable(value: object, where: str = "") -> tuple[str, str] | None:
    """Return (param, problem) for the first value JSON cannot carry back out, else None.

    Python's JSON decoder accepts NaN, Infinity and unpaired UTF-16 surrogate escapes
    ("\\ud800"); the tokenizer, the UTF-8 response encoder and the log lines cannot take
    them, so they are refused up front as a 400 rather than failing later as a 500.
    Iterative, so deeply nested document extras cannot exhaust the stack; values nested more
    than MAX_JSON_DEPTH levels are refused too, since the response encoder (which recurses)
    could not echo them back with `return_documents`.
    """
    # (param, value, depth, the param named if too deep: the value's path, at most 3 levels down)
    stack: list[tuple[str, object, int, str]] = [(where, value, 0, where)]
    while stack:
        param, item, depth, anchor = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return anchor, f"is nested more than {MAX_JSON_DEPTH} levels deep: send flatter values"
        if depth <= 3:
            anchor = param
        if (problem := _scalar_problem(item)) is not None:
            return param, problem
        if isinstance(item, dict):
            for key, child in reversed(item.items()):
                child_param = f"{param}.{key}" if param else str(key)
                if isinstance(key, str) and not key.isascii() and not _utf8_encodable(key):
                    return param or "body", "has a key with an unpaired UTF-16 surrogate: send valid Unicode"
                stack.append((child_param, child, depth + 1, anchor))
        elif isinstance(item, list):
            stack.extend(
                (f"{param}[{index}]", child, depth + 1, anchor)
                for index, child in reversed(list(enumerate(item)))
            )
    return None


def _utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
