"""Cross-encoder scores: activations in float64, and identical pairs run once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reranker.config import Settings
from reranker.model_store.local import LocalModelStore
from reranker.registry import runtime_options
from reranker.scoring.cross_encoder import logits_to_scores, sigmoid
from reranker.scoring.loader import load_scorer
from reranker.scoring.types import ScoreOptions


def test_sigmoid_is_exact_and_stable_at_the_extremes() -> None:
    values = sigmoid(np.array([0.0, 2.0, -2.0, 800.0, -800.0]))
    np.testing.assert_allclose(values[:3], [0.5, 1 / (1 + np.exp(-2.0)), 1 / (1 + np.exp(2.0))], rtol=1e-15)
    assert values[3] == 1.0
    assert values[4] == 0.0


def test_near_certain_scores_do_not_tie_in_float64() -> None:
    logits = np.array([[17.0], [18.0]], dtype=np.float32)
    assert np.float32(1 / (1 + np.exp(np.float32(-17)))) == np.float32(1 / (1 + np.exp(np.float32(-18))))
    scores = logits_to_scores(logits, "sigmoid", raw=False)
    assert scores.dtype == np.float64
    assert scores[1] > scores[0]


def test_two_logit_heads_take_the_softmax_of_the_positive_class() -> None:
    logits = np.array([[1.0, 3.0], [2.0, -1.0]], dtype=np.float32)
    expected = np.exp(logits[:, 1]) / np.exp(logits).sum(axis=1)
    np.testing.assert_allclose(logits_to_scores(logits, "softmax", raw=False), expected, rtol=1e-6)


def test_raw_scores_are_the_positive_log_odds() -> None:
    one = np.array([[1.5], [-0.25]], dtype=np.float32)
    two = np.array([[1.0, 3.0]], dtype=np.float32)
    np.testing.assert_array_equal(logits_to_scores(one, "sigmoid", raw=True), [1.5, -0.25])
    np.testing.assert_array_equal(logits_to_scores(two, "softmax", raw=True), [2.0])
    np.testing.assert_array_equal(logits_to_scores(one, "identity", raw=False), [1.5, -0.25])


class CountingModel:
    """The real OnnxModel, counting the rows it is asked to run."""

    def __init__(self, model: Any) -> None:
        self.model, self.rows = model, 0

    def run(self, rows: Sequence[Any]) -> Any:
        self.rows += len(rows)
        return self.model.run(rows)


def test_identical_pairs_are_run_once_and_score_alike(tiny_cross_encoder_dir: Path) -> None:
    local = LocalModelStore().fetch(str(tiny_cross_encoder_dir), label="tiny-ce")
    scorer = load_scorer(local.folder, local.manifest, runtime_options(Settings()))
    documents = ["apple river music", "ocean planet", "apple river music", "winter coffee", "ocean planet"]
    alone = [scorer.score("apple music", [d], ScoreOptions()).scores[0] for d in documents]
    counting = CountingModel(scorer._model)  # type: ignore[attr-defined]
    scorer._model = counting  # type: ignore[attr-defined]
    result = scorer.score("apple music", documents, ScoreOptions())
    assert counting.rows == 3
    np.testing.assert_array_equal(result.scores, alone)
    assert result.prompt_tokens == sum(
        scorer.score("apple music", [d], ScoreOptions()).prompt_tokens for d in documents
    )
