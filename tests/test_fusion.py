"""Fusion against ranx, the library the eval harness reports with: same numbers on the same runs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from reranker.fusion import Fusion, fuse, min_max, ranks


def ranx_fused(
    model: np.ndarray, first_stage: np.ndarray, method: str, params: dict[str, object]
) -> np.ndarray:
    import ranx

    docs = [f"d{i}" for i in range(len(model))]
    runs = [
        ranx.Run({"q": dict(zip(docs, map(float, first_stage), strict=True))}),
        ranx.Run({"q": dict(zip(docs, map(float, model), strict=True))}),
    ]
    norm = None if method == "rrf" else "min-max"
    fused = ranx.fuse(runs=runs, norm=norm, method=method, params=params).to_dict()["q"]
    return np.array([fused[doc] for doc in docs])


@pytest.fixture
def scores() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=30), rng.gamma(2.0, 5.0, size=30)  # model log-odds, BM25-like scores


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.5, 1.0])
def test_combsum_is_ranx_weighted_sum_of_min_max_scores(
    scores: tuple[np.ndarray, np.ndarray], weight: float
) -> None:
    model, first_stage = scores
    expected = ranx_fused(model, first_stage, "wsum", {"weights": [1 - weight, weight]})
    np.testing.assert_allclose(
        fuse(model, first_stage, Fusion("combsum", weight=weight)), expected, atol=1e-12
    )


@pytest.mark.parametrize("k", [1, 60])
def test_rrf_is_ranx_rrf(scores: tuple[np.ndarray, np.ndarray], k: int) -> None:
    model, first_stage = scores
    expected = ranx_fused(model, first_stage, "rrf", {"k": k})
    np.testing.assert_allclose(fuse(model, first_stage, Fusion("rrf", k=k)), expected, atol=1e-12)


def test_equal_scores_leave_the_decision_to_the_other_side() -> None:
    np.testing.assert_array_equal(min_max(np.array([2.0, 2.0, 2.0])), [0.0, 0.0, 0.0])
    fused = fuse(np.array([0.1, 0.9, 0.5]), np.array([7.0, 7.0, 7.0]), Fusion("combsum"))
    np.testing.assert_allclose(fused, [0.0, 0.5, 0.25])


def test_ties_are_ranked_in_input_order() -> None:
    np.testing.assert_array_equal(ranks(np.array([0.5, 0.9, 0.5, 0.1])), [2.0, 1.0, 3.0, 4.0])


def test_min_max_of_scores_near_the_float_limit_is_finite_and_exact() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning either
        np.testing.assert_array_equal(min_max(np.array([1.7e308, -1.7e308])), [1.0, 0.0])
        np.testing.assert_array_equal(min_max(np.array([1.7e308, 0.0, -1.7e308])), [1.0, 0.5, 0.0])
        extremes = np.array([np.finfo(np.float64).max, -np.finfo(np.float64).max, 0.0])
        np.testing.assert_array_equal(min_max(extremes), [1.0, 0.0, 0.5])
        fused = fuse(np.array([0.0, 1.0]), np.array([1.7e308, -1.7e308]), Fusion("combsum"))
        np.testing.assert_array_equal(fused, [0.5, 0.5])


def test_min_max_of_ordinary_scores_is_the_plain_formula() -> None:
    scores = np.array([3.0, 9.5, 1.0, 2.0])
    np.testing.assert_array_equal(min_max(scores), (scores - 1.0) / 8.5)
