"""The bi-encoder embedding cache: bounded LRU, exact keys, and unchanged scores on the real model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reranker.config import Settings
from reranker.model_store.local import LocalModelStore
from reranker.registry import runtime_options
from reranker.scoring.bi_encoder import BiEncoderScorer
from reranker.scoring.embedding_cache import EmbeddingCache, cache_key
from reranker.scoring.loader import load_scorer
from reranker.scoring.tokenize import Encoded
from reranker.scoring.types import ScoreOptions


def row(*ids: int) -> Encoded:
    return Encoded(ids=list(ids), type_ids=[0] * len(ids))


def vectors(*values: float) -> np.ndarray:
    return np.array([[v, v] for v in values], dtype=np.float32)


def test_least_recently_used_is_evicted_first() -> None:
    cache = EmbeddingCache(capacity=2)
    a, b, c = cache_key(row(1)), cache_key(row(2)), cache_key(row(3))
    cache.put_many([a, b], vectors(1.0, 2.0))
    assert cache.get_many([a])[0] is not None  # a is now the most recently used
    cache.put_many([c], vectors(3.0))
    hits = cache.get_many([a, b, c])
    assert [h is not None for h in hits] == [True, False, True]
    assert len(cache) == 2
    np.testing.assert_array_equal(hits[2], [3.0, 3.0])


def test_capacity_zero_keeps_nothing() -> None:
    cache = EmbeddingCache(capacity=0)
    cache.put_many([cache_key(row(1))], vectors(1.0))
    assert cache.get_many([cache_key(row(1))]) == [None]


def test_keys_are_the_exact_input() -> None:
    assert cache_key(row(1, 2)) == cache_key(row(1, 2))
    assert cache_key(row(1, 2)) != cache_key(row(2, 1))
    assert cache_key(row(1, 2)) != cache_key(Encoded(ids=[1, 2], type_ids=[0, 1]))


def test_cached_scores_equal_uncached_and_repeats_are_not_encoded(default_model_dir: Path) -> None:
    local = LocalModelStore().fetch(str(default_model_dir), label="default")
    cached = load_scorer(local.folder, local.manifest, runtime_options(Settings(precision="fp32")))
    plain = load_scorer(
        local.folder, local.manifest, runtime_options(Settings(precision="fp32", embedding_cache_size=0))
    )
    assert isinstance(cached, BiEncoderScorer)
    docs = ["deploy a model behind an API", "billing and invoices", "GPU training jobs"] * 2
    options = ScoreOptions()
    first = cached.score("how to deploy", docs, options)
    assert len(cached._cache) == 1 + 3  # the query and three distinct documents
    again = cached.score("how to deploy", docs[:3], options)
    assert len(cached._cache) == 4
    np.testing.assert_allclose(again.scores, first.scores[:3], rtol=0, atol=1e-12)
    assert again.prompt_tokens == plain.score("how to deploy", docs[:3], options).prompt_tokens
    np.testing.assert_allclose(first.scores, plain.score("how to deploy", docs, options).scores, atol=1e-6)
    cut = cached.score("how to deploy", docs[:1], ScoreOptions(max_tokens_per_document=2))
    assert len(cached._cache) == 5  # a different truncation is a different input
    assert cut.scores[0] != first.scores[0]
