"""A request's cost before it queues: an estimate of the tokens its scoring feeds the model.

Estimated from characters, before tokenizing (tokenizing is itself part of the cost being
bounded): CHARS_PER_TOKEN characters per token, each (query, document) row capped at the
model's `max_length` and the request's `max_tokens_per_document`, one row per window when
chunking is asked for. English text runs at about 4-5 characters per WordPiece token, so the
estimate is close for prose and low for text of many short tokens (digits, symbols, CJK).

Chunking tokenizes documents whole, so a chunked request also costs one token per
TOKENIZE_CHARS_PER_TOKEN characters it tokenizes, and is refused (400) before admission past
`max_chunked_chars` (`service.check_chunked_characters`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from reranker.config import Settings
from reranker.request import check_chunked_characters, chunk_options, document_payload
from reranker.types import DocumentObject, RerankRequest

CHARS_PER_TOKEN = 4
# [CLS] q [SEP] d [SEP] and the like: the few special tokens framing each row.
FRAME_TOKENS = 4
# Tokenizing, in scored tokens: the tokenizer read ~4.2M characters/s on one core here, while
# MiniLM scores ~10k tokens/s, i.e. ~400 characters per scored token; 100 leaves room for
# slower tokenizers and faster models.
TOKENIZE_CHARS_PER_TOKEN = 100


def estimate_tokens(request: RerankRequest, max_length: int, settings: Settings) -> int:
    """Return the estimated tokens fed to score `request` (rows x tokens after truncation)."""
    query_budget = settings.max_query_tokens or max_length // 2
    query = min(query_budget, math.ceil(len(request.query) / CHARS_PER_TOKEN))
    room = max(1, max_length - FRAME_TOKENS - query)
    chunking = chunk_options(request, settings)
    if chunking is not None:
        check_chunked_characters(request, settings)  # before the cost: a refusal costs nothing
    total = 0
    tokenized = 0
    for document in request.documents:
        characters = _characters(document, request.rank_fields)
        tokens = math.ceil(characters / CHARS_PER_TOKEN)
        if request.max_tokens_per_document:
            tokens = min(tokens, request.max_tokens_per_document)
        windows = 1
        if chunking is not None:
            windows = min(chunking.max_chunks_per_doc, max(1, math.ceil(tokens / room)))
            tokenized += characters
        total += windows * (FRAME_TOKENS + query + min(tokens, room))
    return total + math.ceil(tokenized / TOKENIZE_CHARS_PER_TOKEN)


def _characters(document: str | DocumentObject, rank_fields: Sequence[str] | None) -> int:
    """Return the characters scored for a document, as `document_text` would join them.

    Never raises: a request the service will refuse is still given a cost.
    """
    if isinstance(document, str):
        return len(document)
    if rank_fields:
        payload = document_payload(document)
        return sum(len(value) + 1 for field in rank_fields if isinstance(value := payload.get(field), str))
    return len(document.text) + (len(document.title) + 1 if document.title else 0)
