"""Chunk-and-max-pool: window arithmetic by hand, then the real scorers on the real models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reranker.config import Settings
from reranker.errors import InvalidRequest
from reranker.model_store.local import LocalModelStore
from reranker.registry import runtime_options
from reranker.request import ChunkOptions
from reranker.scoring.chunking import (
    chunk_documents,
    effective_overlap,
    max_pool,
    window_starts,
)
from reranker.scoring.loader import load_scorer
from reranker.scoring.types import ScoreOptions, Scorer
from tests.fixtures.long_documents import DISTRACTOR, LONG, LONG_QUERY

QUERY = LONG_QUERY


# --- window arithmetic --------------------------------------------------------------------


def test_window_starts_step_by_stride_and_end_aligned() -> None:
    assert window_starts(5, 10, 2) == [0]
    assert window_starts(10, 10, 2) == [0]
    assert window_starts(11, 10, 2) == [0, 1]
    assert window_starts(30, 10, 2) == [0, 8, 16, 20]
    assert window_starts(26, 10, 0) == [0, 10, 16]


def test_overlap_defaults_to_32_and_is_capped_at_half_a_window() -> None:
    assert effective_overlap(254, None) == 32
    assert effective_overlap(254, 0) == 0
    assert effective_overlap(254, 200) == 127
    assert effective_overlap(40, None) == 20


def test_chunk_documents_lists_windows_and_their_owners() -> None:
    docs = [list(range(30)), [100, 101], list(range(200, 212))]
    windows, owners = chunk_documents(docs, 10, ChunkOptions(max_chunks_per_doc=10, overlap=2), "end")
    assert owners == [0, 0, 0, 0, 1, 2, 2]
    assert windows[0] == list(range(10))
    assert windows[1] == list(range(8, 18))
    assert windows[3] == list(range(20, 30))
    assert windows[4] == [100, 101]
    assert windows[5:] == [list(range(200, 210)), list(range(202, 212))]


def test_max_chunks_per_doc_keeps_the_side_truncate_names() -> None:
    ids = list(range(30))
    options = ChunkOptions(max_chunks_per_doc=2, overlap=2)
    end, _ = chunk_documents([ids], 10, options, "end")
    start, _ = chunk_documents([ids], 10, options, "start")
    assert end == [list(range(10)), list(range(8, 18))]
    assert start == [list(range(16, 26)), list(range(20, 30))]
    with pytest.raises(InvalidRequest) as caught:
        chunk_documents([[1], ids], 10, options, "none")
    assert caught.value.param == "documents[1]"
    assert "needs 4 windows" in caught.value.message


def test_the_request_bound_counts_windows_of_all_documents() -> None:
    options = ChunkOptions(max_chunks_per_doc=10, overlap=0, max_chunks_per_request=5)
    chunk_documents([list(range(30)), list(range(20))], 10, options, "end")  # 3 + 2 windows fit
    with pytest.raises(InvalidRequest) as caught:
        chunk_documents([list(range(30)), list(range(21))], 10, options, "end")
    assert caught.value.param == "max_chunks_per_doc"
    assert "6 windows; at most 5" in caught.value.message


def test_max_pool_takes_each_documents_best_window() -> None:
    scores = np.array([0.1, 0.7, 0.3, -2.0, 0.5])
    np.testing.assert_array_equal(max_pool(scores, [0, 0, 0, 1, 2], 3), [0.7, -2.0, 0.5])


# --- the real scorers -----------------------------------------------------------------------


def _scorer(folder: Path) -> Scorer:
    local = LocalModelStore().fetch(str(folder), label=folder.name)
    return load_scorer(local.folder, local.manifest, runtime_options(Settings(precision="fp32")))


@pytest.fixture(scope="module")
def bi_encoder(default_model_dir: Path) -> Scorer:
    return _scorer(default_model_dir)


@pytest.fixture(scope="module")
def cross_encoder(tiny_cross_encoder_dir: Path) -> Scorer:
    return _scorer(tiny_cross_encoder_dir)


CHUNKED = ScoreOptions(chunking=ChunkOptions(max_chunks_per_doc=10))


@pytest.mark.parametrize("kind", ["bi_encoder", "cross_encoder"])
def test_documents_that_fit_score_exactly_as_without_chunking(
    kind: str, request: pytest.FixtureRequest
) -> None:
    scorer: Scorer = request.getfixturevalue(kind)
    docs = [DISTRACTOR, "Deploy a model behind an endpoint.", "Billing and invoices."]
    plain = scorer.score(QUERY, docs, ScoreOptions())
    chunked = scorer.score(QUERY, docs, CHUNKED)
    np.testing.assert_array_equal(plain.scores, chunked.scores)
    assert plain.prompt_tokens == chunked.prompt_tokens


def test_a_relevant_passage_past_the_first_window_ranks_the_document_higher(bi_encoder: Scorer) -> None:
    truncated = bi_encoder.score(QUERY, [LONG, DISTRACTOR], ScoreOptions())
    chunked = bi_encoder.score(QUERY, [LONG, DISTRACTOR], CHUNKED)
    assert chunked.scores[0] > truncated.scores[0] + 0.1
    assert chunked.scores[1] == truncated.scores[1]
    assert truncated.scores[0] < truncated.scores[1]  # cut to its first window, it loses...
    assert chunked.scores[0] > chunked.scores[1]  # ...scored by its best window, it wins


def test_usage_counts_every_window(cross_encoder: Scorer) -> None:
    # tiny-ce: max_length 128; "fox" is one token, so each window holds 128 - 3 - 1 = 124 tokens.
    text = "the quick brown fox jumps over the lazy dog " * 60  # 540 tokens
    options = ScoreOptions(chunking=ChunkOptions(max_chunks_per_doc=10, overlap=24))
    result = cross_encoder.score("fox", [text], options)
    assert len(window_starts(540, 124, 24)) == 6
    assert result.prompt_tokens == 6 * 128
    capped = cross_encoder.score("fox", [text], ScoreOptions(chunking=ChunkOptions(max_chunks_per_doc=2)))
    assert capped.prompt_tokens == 2 * 128


def test_max_tokens_per_document_caps_the_document_before_it_is_split(cross_encoder: Scorer) -> None:
    text = "the quick brown fox jumps over the lazy dog " * 60
    options = ScoreOptions(
        max_tokens_per_document=200, chunking=ChunkOptions(max_chunks_per_doc=10, overlap=0)
    )
    # 200 tokens in windows of 124: two windows, the second end-aligned.
    assert cross_encoder.score("fox", [text], options).prompt_tokens == 2 * 128


def test_the_request_bound_is_enforced_by_the_scorer(bi_encoder: Scorer) -> None:
    options = ScoreOptions(chunking=ChunkOptions(max_chunks_per_doc=10, max_chunks_per_request=3))
    with pytest.raises(InvalidRequest, match="at most 3 are scored per request"):
        bi_encoder.score(QUERY, [LONG, LONG], options)
