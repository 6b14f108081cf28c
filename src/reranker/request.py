"""Interpreting a rerank request: the text each document scores, the chunking and fusion it asks
for, and the request id. Defined once, for the service, the admission estimate and the API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ulid import ULID

from reranker.config import Settings
from reranker.errors import InvalidRequest
from reranker.fusion import Fusion
from reranker.types import DocumentObject, RerankRequest


@dataclass(frozen=True)
class ChunkOptions:
    """How to window documents; `overlap=None` means the default overlap (scoring/chunking.py)."""

    max_chunks_per_doc: int
    overlap: int | None = None
    max_chunks_per_request: int = 2000


def new_request_id() -> str:
    """Return `rerank_` + a ULID: unique and ordered by creation time (the response id too)."""
    return f"rerank_{ULID()}"


def document_text(
    document: str | DocumentObject, rank_fields: Sequence[str] | None = None, index: int = 0
) -> str:
    """Return the text the model scores: an object's title, when present, goes first.

    With Cohere's `rank_fields`, an object's values under those keys are scored instead, joined
    in the given order (so ["title", "text"] scores exactly what the default does).
    """
    if isinstance(document, str):
        return document
    if rank_fields:
        return _ranked_fields_text(document, rank_fields, index)
    if document.title:
        return f"{document.title} {document.text}"
    return document.text


def _ranked_fields_text(document: DocumentObject, rank_fields: Sequence[str], index: int) -> str:
    payload = document_payload(document)
    values: list[str] = []
    for field in rank_fields:
        value = payload.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidRequest(
                f"documents[{index}].{field} must be a string to be ranked (it is named in rank_fields)",
                param=f"documents[{index}].{field}",
            )
        values.append(value)
    if not values:
        raise InvalidRequest(
            f"documents[{index}] has none of the rank_fields ({', '.join(rank_fields)}) as a string",
            param=f"documents[{index}]",
        )
    return " ".join(values)


def chunk_options(request: RerankRequest, settings: Settings) -> ChunkOptions | None:
    """Return the chunking the request asks for (Cohere's field or extra_body), or None."""
    extra = request.extra_body
    from_extra = extra.max_chunks_per_doc if extra else None
    if request.max_chunks_per_doc is not None and from_extra is not None:
        raise InvalidRequest(
            "send max_chunks_per_doc once: at the top level or in extra_body, not both",
            param="extra_body.max_chunks_per_doc",
        )
    max_chunks = request.max_chunks_per_doc or from_extra
    overlap = extra.chunk_overlap if extra else None
    if max_chunks is None:
        if overlap is not None:
            raise InvalidRequest(
                "extra_body.chunk_overlap needs max_chunks_per_doc (which turns chunking on)",
                param="extra_body.chunk_overlap",
            )
        return None
    return ChunkOptions(
        max_chunks_per_doc=max_chunks, overlap=overlap, max_chunks_per_request=settings.max_chunks_per_request
    )


def fusion_inputs(request: RerankRequest) -> tuple[Fusion, npt.NDArray[np.float64]] | None:
    """Return the fusion the request asks for and its first-stage scores, or None; checked before
    any scoring so a malformed request costs no model time."""
    extra = request.extra_body
    spec = extra.fusion if extra else None
    first_stage = extra.first_stage_scores if extra else None
    if spec is None and first_stage is None:
        return None
    if spec is None:
        raise InvalidRequest(
            'extra_body.first_stage_scores needs extra_body.fusion (e.g. {"method": "combsum"})',
            param="extra_body.fusion",
        )
    if first_stage is None:
        raise InvalidRequest(
            "extra_body.fusion needs extra_body.first_stage_scores: one number per document",
            param="extra_body.first_stage_scores",
        )
    if len(first_stage) != len(request.documents):
        raise InvalidRequest(
            f"extra_body.first_stage_scores has {len(first_stage)} numbers for "
            f"{len(request.documents)} documents; send one per document, in document order",
            param="extra_body.first_stage_scores",
        )
    # NaN and Infinity were refused with the other unsendable values (first_unsendable).
    return spec.to_fusion(), np.asarray(first_stage, dtype=np.float64)


def document_payload(document: str | DocumentObject) -> dict[str, object]:
    """Return the document as the client sent it; a string becomes {"text": ...}."""
    if isinstance(document, str):
        return {"text": document}
    return document.model_dump(exclude_unset=True)


def check_chunked_characters(request: RerankRequest, settings: Settings) -> None:
    """Raise InvalidRequest when chunking would tokenize more than `max_chunked_chars` characters.

    Chunking tokenizes documents whole (only the windows are capped), so a few large documents
    cost seconds of tokenizing that no window count shows; checked before admission.
    """
    if chunk_options(request, settings) is None:
        return
    total = sum(len(document_text(d, request.rank_fields, i)) for i, d in enumerate(request.documents))
    if total > settings.max_chunked_chars:
        raise InvalidRequest(
            f"with max_chunks_per_doc every document is tokenized whole: these hold {total} characters, "
            f"at most {settings.max_chunked_chars} are chunked per request; send fewer or shorter "
            "documents, or leave chunking off (documents are then cut before tokenizing)",
            param="documents",
        )
