"""ranx metrics on hand-made qrels and runs with exact values, and agreement with trec_eval."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest

from reranker.eval.datasets import load_dataset
from reranker.eval.errors import EvalError
from reranker.eval.first_stage import Bm25Config, bm25_run
from reranker.eval.metrics import (
    DEFAULT_METRICS,
    check_metrics,
    compare,
    evaluate,
    numba_cache,
    per_query,
    per_query_scores,
)
from reranker.eval.runs import Run, cut, rank_scores

QRELS = {"q1": {"d1": 2, "d3": 1, "d4": 0}, "q2": {"d2": 1}, "q3": {"d9": 1}}
# q1: d1 and d4 tie; by doc id descending d4 comes first: d3, d4, d1, d2.
# q2: d1 and d2 tie; d2 (relevant) comes first. q3: no candidates at all.
RUN = {"q1": {"d3": 0.9, "d1": 0.5, "d4": 0.5, "d2": 0.1}, "q2": {"d1": 0.7, "d2": 0.7}, "q3": {}}
NDCG_Q1 = (1 / math.log2(2) + 2 / math.log2(4)) / (2 / math.log2(2) + 1 / math.log2(3))


def test_default_metrics_on_a_hand_made_run() -> None:
    result = evaluate(QRELS, {"run": RUN}, list(DEFAULT_METRICS))["run"]

    assert result["ndcg@10"] == pytest.approx((NDCG_Q1 + 1.0 + 0.0) / 3, abs=1e-12)
    assert result["mrr@10"] == pytest.approx((1.0 + 1.0 + 0.0) / 3, abs=1e-12)
    # d4 is judged 0: not relevant, so q1 has two relevant documents.
    assert result["recall@100"] == pytest.approx((1.0 + 1.0 + 0.0) / 3, abs=1e-12)
    assert result["map"] == pytest.approx(((1 / 1 + 2 / 3) / 2 + 1.0 + 0.0) / 3, abs=1e-12)


def test_per_query_values_follow_the_tie_rule() -> None:
    assert per_query(QRELS, RUN, "mrr@10") == {"q1": 1.0, "q2": 1.0, "q3": 0.0}
    assert per_query(QRELS, RUN, "ndcg@10")["q1"] == pytest.approx(NDCG_Q1, abs=1e-12)


def test_cutoffs_are_respected() -> None:
    qrels = {"q": {"rel": 1}}
    run = {"q": {f"d{i:03d}": 1000.0 - i for i in range(120)}}
    at_11 = {"q": {**run["q"], "rel": 1000.0 - 9.5}}  # 11th
    at_101 = {"q": {**run["q"], "rel": 1000.0 - 99.5}}  # 101st

    assert evaluate(qrels, {"a": at_11}, ["mrr@10", "recall@100", "mrr"])["a"] == {
        "mrr@10": 0.0,
        "recall@100": 1.0,
        "mrr": pytest.approx(1 / 11),
    }
    assert evaluate(qrels, {"a": at_101}, ["recall@100"])["a"]["recall@100"] == 0.0


def test_compare_gives_p_values_and_win_tie_loss() -> None:
    better: Run = {"q1": {"d1": 3.0, "d3": 2.0}, "q2": {"d2": 1.0}, "q3": {"d9": 1.0}}

    result = compare(QRELS, {"first_stage": RUN, "reranked": better}, ["mrr@10"], baseline="first_stage")

    pair = result["runs"]["reranked"]["mrr@10"]
    assert pair["win_tie_loss"] == {"W": 1, "T": 2, "L": 0}
    assert 0.0 < pair["p_value"] < 1.0
    assert result["baseline"] == "first_stage" and result["stat_test"] == "student"


def test_unknown_metric_is_named() -> None:
    with pytest.raises(EvalError, match="unknown metric 'ndgc@10'"):
        check_metrics(["ndcg@10", "ndgc@10"])


def _trec_eval(qrels: dict[str, dict[str, int]], run: Run) -> dict[str, float]:
    """Mean nDCG@10, MRR@10, Recall@100 and MAP by trec_eval (pytrec_eval), 0 for missing queries."""
    import pytrec_eval

    full = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100", "map"}).evaluate(run)
    top10 = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut(run, 10))
    names = {
        "ndcg@10": (full, "ndcg_cut_10"),
        "mrr@10": (top10, "recip_rank"),
        "recall@100": (full, "recall_100"),
        "map": (full, "map"),
    }
    return {
        metric: sum(table.get(query, {}).get(key, 0.0) for query in qrels) / len(qrels)
        for metric, (table, key) in names.items()
    }


@pytest.mark.data
def test_ranx_agrees_with_trec_eval_on_real_runs(cranfield_dir: Path, bm25_cache: Path) -> None:
    # Cranfield: graded qrels with score-0 rows, shared query/doc ids, BM25 ties; rounding adds many ties.
    dataset = load_dataset(cranfield_dir, "test")
    bm25 = bm25_run(dataset, 100, Bm25Config(), bm25_cache)
    rounded = {
        query: {doc: float(round(score)) for doc, score in docs.items()} for query, docs in bm25.items()
    }
    tied = sum(1 for scores in rounded.values() if len(set(scores.values())) < len(scores))
    assert tied > 50

    for run in (bm25, rounded):
        ours = evaluate(dataset.qrels, {"run": run}, list(DEFAULT_METRICS))["run"]
        theirs = _trec_eval(dataset.qrels, run)
        for metric in DEFAULT_METRICS:
            assert ours[metric] == pytest.approx(theirs[metric], abs=1e-6), metric


@pytest.mark.slow  # ranx's own Run/Qrels, the reference, compile numba typed dicts: ~20 s
def test_paired_tests_and_win_tie_loss_equal_ranx_compare() -> None:
    import ranx

    qrels = {f"q{i}": {f"d{i % 7}": 1, f"d{(i + 3) % 7}": 2} for i in range(12)}
    first: Run = {q: {f"d{j}": float((j * 5 + i) % 7) for j in range(7)} for i, q in enumerate(qrels)}
    second: Run = {
        q: {f"d{j}": float((j * 3 + 2 * i) % 7) + j / 10 for j in range(7)} for i, q in enumerate(qrels)
    }
    metrics = ["ndcg@5", "mrr@10"]

    ours = compare(qrels, {"first_stage": first, "reranked": second}, metrics, baseline="first_stage")
    for test in ("student", "fisher"):
        theirs = ranx.compare(
            ranx.Qrels(qrels),
            [
                ranx.Run(rank_scores(first), name="first_stage"),
                ranx.Run(rank_scores(second), name="reranked"),
            ],
            metrics,
            stat_test=test,
            max_p=0.05,
            rounding_digits=12,
        ).to_dict()
        mine = compare(
            qrels, {"first_stage": first, "reranked": second}, metrics, baseline="first_stage", stat_test=test
        )["runs"]["reranked"]
        for metric in metrics:
            # ranx draws Fisher's permutations in parallel threads: its p moves a little run to run.
            tolerance = 1e-9 if test == "student" else 0.1
            assert mine[metric]["p_value"] == pytest.approx(
                theirs["reranked"]["comparisons"]["first_stage"][metric], abs=tolerance
            )
            assert mine[metric]["win_tie_loss"] == theirs["reranked"]["win_tie_loss"]["first_stage"][metric]
            assert evaluate(qrels, {"r": second}, metrics)["r"][metric] == pytest.approx(
                theirs["reranked"]["scores"][metric], abs=1e-12
            )
    assert ours["runs"]["reranked"]["ndcg@5"]["p_value"] is not None


def test_per_query_scores_follow_the_qrels_order_and_score_missing_queries_zero() -> None:
    query_ids, scores = per_query_scores(QRELS, {"run": RUN, "empty": {}}, ["mrr@10", "ndcg@10"])

    assert query_ids == ["q1", "q2", "q3"]
    assert scores["run"]["mrr@10"].tolist() == [1.0, 1.0, 0.0]
    assert scores["empty"]["ndcg@10"].tolist() == [0.0, 0.0, 0.0]


def test_unknown_statistical_test_is_named() -> None:
    with pytest.raises(EvalError, match="statistical test 'bogus' is unknown; use one of student, fisher"):
        compare(
            QRELS,
            {"first_stage": RUN, "reranked": RUN},
            ["mrr@10"],
            baseline="first_stage",
            stat_test="bogus",
        )


def test_numba_cache_goes_under_the_cache_dir_unless_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numba

    config: Any = numba.config
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(config, "CACHE_DIR", config.CACHE_DIR)
    numba_cache(tmp_path)
    assert config.CACHE_DIR == str(tmp_path / "numba")
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "numba")

    monkeypatch.setenv("NUMBA_CACHE_DIR", "/somewhere/else")
    numba_cache(tmp_path / "other")
    assert os.environ["NUMBA_CACHE_DIR"] == "/somewhere/else"
