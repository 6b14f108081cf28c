"""Cross-encoders: each (query, document) pair through the model, one logit row per pair."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from reranker.manifest import Activation, Manifest
from reranker.request import ChunkOptions
from reranker.scoring.chunking import max_pool
from reranker.scoring.prompt import PromptEncoder
from reranker.scoring.runner import GraphRunner
from reranker.scoring.tokenize import Encoded, TextEncoder
from reranker.scoring.types import ScoreOptions, ScoreResult, refuse_instruction

Float64 = npt.NDArray[np.float64]


def sigmoid(logits: Float64) -> Float64:
    """Return 1 / (1 + e^-x) without overflow, in float64 so near-certain scores do not tie."""
    return np.exp(-np.logaddexp(0.0, -logits))


def logits_to_scores(logits: npt.NDArray[np.float32], activation: Activation, raw: bool) -> Float64:
    """Return one score per row: a probability, or the positive-class log-odds when `raw`.

    Two-logit heads: softmax of class 1 equals sigmoid(l1 - l0), which keeps float64 precision.
    """
    wide = logits.astype(np.float64)
    positive = wide[:, 0] if wide.shape[1] == 1 else wide[:, 1] - wide[:, 0]
    if raw or activation == "identity":
        return positive
    return sigmoid(positive)


class CrossEncoderScorer:
    """Cross-encoders, and decoder-only yes/no rerankers (a PromptEncoder frames their pairs)."""

    def __init__(self, manifest: Manifest, encoder: TextEncoder | PromptEncoder, model: GraphRunner) -> None:
        self.manifest = manifest
        self.provider = model.provider
        self.variant = model.variant
        self._encoder = encoder
        self._model = model

    def score(self, query: str, documents: Sequence[str], options: ScoreOptions) -> ScoreResult:
        """Return the relevance of each document to the query, in input order."""
        refuse_instruction(self.manifest, options)
        if options.chunking is not None:
            return self._score_windows(query, documents, options, options.chunking)
        if isinstance(self._encoder, PromptEncoder):
            pairs = self._encoder.encode_pairs(
                query, documents, options.truncate, options.max_tokens_per_document, options.instruction
            )
        else:
            pairs = self._encoder.encode_pairs(
                query, documents, options.truncate, options.max_tokens_per_document
            )
        logits = self._run_distinct(pairs)
        scores = logits_to_scores(logits, self.manifest.activation, options.raw_scores)
        return ScoreResult(scores=scores, prompt_tokens=sum(len(pair) for pair in pairs))

    def _score_windows(
        self, query: str, documents: Sequence[str], options: ScoreOptions, chunking: ChunkOptions
    ) -> ScoreResult:
        if isinstance(self._encoder, PromptEncoder):
            pairs, owners = self._encoder.encode_pair_windows(
                query,
                documents,
                options.truncate,
                options.max_tokens_per_document,
                chunking,
                options.instruction,
            )
        else:
            pairs, owners = self._encoder.encode_pair_windows(
                query, documents, options.truncate, options.max_tokens_per_document, chunking
            )
        logits = self._run_distinct(pairs)
        scores = logits_to_scores(logits, self.manifest.activation, options.raw_scores)
        return ScoreResult(
            scores=max_pool(scores, owners, len(documents)), prompt_tokens=sum(len(pair) for pair in pairs)
        )

    def _run_distinct(self, pairs: Sequence[Encoded]) -> npt.NDArray[np.float32]:
        """Return the logits of every pair, running the model once per distinct pair.

        Requests repeat documents (duplicates in a candidate list, windows of repeated text);
        rows are scored alone (docs/scores.md), so a copy's logits are exactly the original's.
        """
        first_of: dict[tuple[int, ...], int] = {}
        slots = [first_of.setdefault((*pair.ids, -1, *pair.type_ids), len(first_of)) for pair in pairs]
        if len(first_of) == len(pairs):
            return self._model.run(pairs)
        distinct = list({slot: pair for slot, pair in zip(slots, pairs, strict=True)}.values())
        return self._model.run(distinct)[np.asarray(slots, dtype=np.intp)]
