"""Long documents: split into overlapping windows, score each, keep the best window's score.

A document longer than what fits beside the query is otherwise cut (truncate "end"/"start"),
so a relevant passage past the first window is never seen. Chunking trades compute (one row
per window) for that recall; `max_chunks_per_doc` and the per-request bound keep it finite.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from reranker.choices import Truncate
from reranker.errors import InvalidRequest
from reranker.request import ChunkOptions

DEFAULT_OVERLAP = 32


def effective_overlap(window: int, overlap: int | None) -> int:
    """Return the overlap actually used: the request's (or the default), at most half a window.

    The window size depends on the model and the query, which the client does not see, so a
    too-large overlap is capped rather than rejected; windows always advance.
    """
    wanted = DEFAULT_OVERLAP if overlap is None else overlap
    return max(0, min(wanted, window // 2))


def window_starts(length: int, window: int, overlap: int) -> list[int]:
    """Return the start of each window covering `length` tokens, every window full-sized.

    Windows step by `window - overlap`; the last one is aligned to the end, so no window is a
    short tail scored on a few tokens.
    """
    if length <= window:
        return [0]
    stride = window - overlap
    starts = list(range(0, length - window, stride))
    starts.append(length - window)
    return starts


def _starts(length: int, window: int, options: ChunkOptions, truncate: Truncate, index: int) -> list[int]:
    """Return the window starts of one document, at most `max_chunks_per_doc` of them.

    Past that cap, truncate "end" keeps the first windows and "start" the last ones;
    "none" rejects the request naming the document.
    """
    starts = window_starts(length, window, effective_overlap(window, options.overlap))
    cap = options.max_chunks_per_doc
    if len(starts) <= cap:
        return starts
    if truncate == "none":
        raise InvalidRequest(
            f"documents[{index}] is {length} tokens and needs {len(starts)} windows of {window}; "
            f'max_chunks_per_doc is {cap} (raise it, or send truncate "end" or "start")',
            param=f"documents[{index}]",
        )
    return starts[-cap:] if truncate == "start" else starts[:cap]


def chunk_documents(
    documents: Sequence[Sequence[int]], window: int, options: ChunkOptions, truncate: Truncate
) -> tuple[list[list[int]], list[int]]:
    """Return (windows, owners): every document's windows in order, and the document of each.

    Raises InvalidRequest when the request as a whole needs more windows than the bound,
    before any window is built.
    """
    plans = [_starts(len(ids), window, options, truncate, i) for i, ids in enumerate(documents)]
    total = sum(len(starts) for starts in plans)
    if total > options.max_chunks_per_request:
        raise InvalidRequest(
            f"the documents split into {total} windows; at most {options.max_chunks_per_request} "
            "are scored per request (lower max_chunks_per_doc, or send fewer or shorter documents)",
            param="max_chunks_per_doc",
        )
    windows: list[list[int]] = []
    owners: list[int] = []
    for index, (ids, starts) in enumerate(zip(documents, plans, strict=True)):
        windows += [list(ids[start : start + window]) for start in starts]
        owners += [index] * len(starts)
    return windows, owners


def max_pool(scores: npt.NDArray[np.float64], owners: Sequence[int], count: int) -> npt.NDArray[np.float64]:
    """Return each document's best window score, in document order."""
    pooled = np.full(count, -np.inf, dtype=np.float64)
    np.maximum.at(pooled, np.asarray(owners, dtype=np.intp), scores)
    return pooled
