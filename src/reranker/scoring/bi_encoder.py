"""Bi-encoders (embedding checkpoints): the query once, each document once, cosine between.

Cosine in [-1, 1] is mapped to (cos + 1) / 2 so scores share the [0, 1] range of the API;
`raw_scores` returns the cosine itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from reranker.model_store.manifest import Manifest
from reranker.scoring.chunking import ChunkOptions, max_pool
from reranker.scoring.session import OnnxModel
from reranker.scoring.tokenize import TextEncoder
from reranker.scoring.types import ScoreOptions, ScoreResult


def _unit_rows(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    wide = vectors.astype(np.float64)
    norms: npt.NDArray[np.float64] = np.linalg.norm(wide, axis=-1, keepdims=True)
    return wide / np.maximum(norms, 1e-12)


class BiEncoderScorer:
    def __init__(self, manifest: Manifest, encoder: TextEncoder, model: OnnxModel) -> None:
        self.manifest = manifest
        self.provider = model.provider
        self.variant = model.variant
        self._encoder = encoder
        self._model = model

    def score(self, query: str, documents: Sequence[str], options: ScoreOptions) -> ScoreResult:
        """Return the similarity of each document to the query, in input order."""
        if options.chunking is not None:
            return self._score_windows(query, documents, options, options.chunking)
        query_row = self._encoder.encode_query(query, options.truncate)
        doc_rows = self._encoder.encode_documents(
            documents, options.truncate, options.max_tokens_per_document
        )
        embeddings = _unit_rows(self._model.run([query_row, *doc_rows]))
        cosine = np.clip(embeddings[1:] @ embeddings[0], -1.0, 1.0)
        scores = cosine if options.raw_scores else (cosine + 1.0) / 2.0
        tokens = len(query_row) + sum(len(row) for row in doc_rows)
        return ScoreResult(scores=scores, prompt_tokens=tokens)

    def _score_windows(
        self, query: str, documents: Sequence[str], options: ScoreOptions, chunking: ChunkOptions
    ) -> ScoreResult:
        query_row = self._encoder.encode_query(query, options.truncate)
        doc_rows, owners = self._encoder.encode_document_windows(
            documents, options.truncate, options.max_tokens_per_document, chunking
        )
        embeddings = _unit_rows(self._model.run([query_row, *doc_rows]))
        cosine = max_pool(np.clip(embeddings[1:] @ embeddings[0], -1.0, 1.0), owners, len(documents))
        scores = cosine if options.raw_scores else (cosine + 1.0) / 2.0
        tokens = len(query_row) + sum(len(row) for row in doc_rows)
        return ScoreResult(scores=scores, prompt_tokens=tokens)
