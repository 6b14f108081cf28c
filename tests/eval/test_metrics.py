"""ranx metrics on hand-made qrels and runs with exact values, and agreement with trec_eval."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from reranker.eval.datasets import load_dataset
from reranker.eval.errors import EvalError
from reranker.eval.first_stage import Bm25Config, bm25_run
from reranker.eval.metrics import DEFAULT_METRICS, check_metrics, compare, evaluate, per_query
from reranker.eval.runs import Run, cut

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
