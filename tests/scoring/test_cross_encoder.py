"""Cross-encoder scores: activations in float64, and identical pairs run once."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal, localcontext
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


def exact_sigmoid(x: float) -> float:
    """Return 1 / (1 + e^-x) from 50-digit decimal arithmetic, rounded once to a float."""
    with localcontext() as context:
        context.prec = 50
        return float(1 / (1 + Decimal(-x).exp()))


def test_near_certain_scores_do_not_tie_in_float64() -> None:
    logits = [18.0, 19.0, 20.0, 22.0]
    # float32's step below 1 is 6e-8: 1 - 1.5e-8 and everything nearer 1 round to 1.0, by the
    # plain formula and by the overflow-safe one alike, so a float32 sigmoid ties all four.
    wide32 = np.array(logits, dtype=np.float32)
    assert (1 / (1 + np.exp(-wide32)) == 1).all()
    assert (np.exp(-np.logaddexp(np.float32(0), -wide32)) == 1).all()
    expected = [exact_sigmoid(x) for x in logits]
    assert expected == sorted(set(expected)) and expected[-1] < 1.0  # distinct in float64
    one_logit = np.array([[x] for x in logits], dtype=np.float32)
    two_logits = np.array([[-x / 2, x / 2] for x in logits], dtype=np.float32)  # l1 - l0 == x exactly
    for head, scores in (
        ("one logit", logits_to_scores(one_logit, "sigmoid", raw=False)),
        ("two logits", logits_to_scores(two_logits, "softmax", raw=False)),
    ):
        assert scores.dtype == np.float64
        for score, want in zip(scores.tolist(), expected, strict=True):
            assert abs(score - want) <= math.ulp(want), (head, score, want)  # float64 to within 1 ulp
        assert scores.tolist() == sorted(set(scores.tolist())), head  # strictly increasing


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
