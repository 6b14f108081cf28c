"""Bi-encoders (embedding checkpoints): the query once, each document once, cosine between.

Cosine in [-1, 1] is mapped to (cos + 1) / 2 so scores share the [0, 1] range of the API;
`raw_scores` returns the cosine itself. Embeddings are cached by their exact input ids, so a
document seen before (same text, same truncation) is not encoded again.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from reranker.manifest import Manifest
from reranker.scoring.chunking import max_pool
from reranker.scoring.embedding_cache import EmbeddingCache, Vector, cache_key
from reranker.scoring.runner import GraphRunner
from reranker.scoring.tokenize import Encoded, TextEncoder
from reranker.scoring.types import ScoreOptions, ScoreResult, refuse_instruction


def _unit_rows(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    wide = vectors.astype(np.float64)
    norms: npt.NDArray[np.float64] = np.linalg.norm(wide, axis=-1, keepdims=True)
    return wide / np.maximum(norms, 1e-12)


class BiEncoderScorer:
    def __init__(
        self, manifest: Manifest, encoder: TextEncoder, model: GraphRunner, cache: EmbeddingCache
    ) -> None:
        self.manifest = manifest
        self.provider = model.provider
        self.variant = model.variant
        self._encoder = encoder
        self._model = model
        self._cache = cache

    def score(self, query: str, documents: Sequence[str], options: ScoreOptions) -> ScoreResult:
        """Return the similarity of each document to the query, in input order."""
        refuse_instruction(self.manifest, options)
        query_row = self._encoder.encode_query(query, options.truncate)
        owners: list[int] | None = None
        if options.chunking is None:
            doc_rows = self._encoder.encode_documents(
                documents, options.truncate, options.max_tokens_per_document
            )
        else:
            doc_rows, owners = self._encoder.encode_document_windows(
                documents, options.truncate, options.max_tokens_per_document, options.chunking
            )
        embeddings = _unit_rows(self._embed([query_row, *doc_rows]))
        # A row-wise product and sum, not a matrix product: BLAS kernels sum a row differently
        # by its position in the matrix, which would tie a score to the documents beside it.
        cosine = np.clip(np.sum(embeddings[1:] * embeddings[0], axis=1), -1.0, 1.0)
        if owners is not None:
            cosine = max_pool(cosine, owners, len(documents))
        scores = cosine if options.raw_scores else (cosine + 1.0) / 2.0
        tokens = len(query_row) + sum(len(row) for row in doc_rows)
        return ScoreResult(scores=scores, prompt_tokens=tokens)

    def _embed(self, rows: list[Encoded]) -> npt.NDArray[np.float32]:
        """Return the model's embedding of each row, running the model once per distinct miss."""
        keys = [cache_key(row) for row in rows]
        cached = self._cache.get_many(keys)
        misses: dict[bytes, Encoded] = {}
        for key, row, vector in zip(keys, rows, cached, strict=True):
            if vector is None and key not in misses:
                misses[key] = row
        computed: dict[bytes, Vector] = {}
        if misses:
            vectors = self._model.run(list(misses.values()))
            computed = dict(zip(misses, vectors, strict=True))
            self._cache.put_many(list(misses), vectors)
        return np.stack(
            [computed[key] if vector is None else vector for key, vector in zip(keys, cached, strict=True)]
        )
