"""A request's cost before it queues: an estimate of the tokens its scoring feeds the model.

Estimated from characters, before tokenizing (tokenizing is itself part of the cost being
bounded): CHARS_PER_TOKEN characters per token, each (query, document) row capped at the
model's `max_length` and the request's `max_tokens_per_document`, one row per window when
chunking is asked for. English text runs at about 4-5 characters per WordPiece token, so the
estimate is close for prose and low for text of many short tokens (digits, symbols, CJK).
"""

from __future__ import annotations

import math

from reranker.config import Settings
from reranker.service import chunk_options, document_text
from reranker.types import RerankRequest

CHARS_PER_TOKEN = 4
# [CLS] q [SEP] d [SEP] and the like: the few special tokens framing each row.
FRAME_TOKENS = 4


def estimate_tokens(request: RerankRequest, max_length: int, settings: Settings) -> int:
    """Return the estimated tokens fed to score `request` (rows x tokens after truncation)."""
    query_budget = settings.max_query_tokens or max_length // 2
    query = min(query_budget, math.ceil(len(request.query) / CHARS_PER_TOKEN))
    room = max(1, max_length - FRAME_TOKENS - query)
    chunking = chunk_options(request, settings)
    total = 0
    for index, document in enumerate(request.documents):
        text = document_text(document, request.rank_fields, index)
        tokens = math.ceil(len(text) / CHARS_PER_TOKEN)
        if request.max_tokens_per_document:
            tokens = min(tokens, request.max_tokens_per_document)
        windows = 1
        if chunking is not None:
            windows = min(chunking.max_chunks_per_doc, max(1, math.ceil(tokens / room)))
        total += windows * (FRAME_TOKENS + query + min(tokens, room))
    return total
