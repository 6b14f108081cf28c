"""ranx metrics over our runs: mean scores and a paired significance test.

Runs reach ranx with rank scores (see `runs.rank_scores`), so metrics follow our tie-breaking
rule rather than ranx's arbitrary order among equal scores. Queries a run lacks score 0
(`make_comparable`), and only queries with a relevant judgement are in the qrels at all.
ranx treats a judgement >= 1 as relevant and uses linear gains in nDCG, as trec_eval does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from reranker.eval.errors import EvalError
from reranker.eval.runs import Run, rank_scores

DEFAULT_METRICS = ("ndcg@10", "mrr@10", "recall@100", "map")


def _ranx_qrels(qrels: Mapping[str, Mapping[str, int]]) -> Any:
    from ranx import Qrels

    return Qrels({query: dict(judged) for query, judged in qrels.items()})


def _ranx_run(run: Mapping[str, Mapping[str, float]], name: str) -> Any:
    from ranx import Run as RanxRun

    return RanxRun(rank_scores(run), name=name)


def check_metrics(metrics: Sequence[str]) -> list[str]:
    """Return the metric names, after checking that ranx knows each one."""
    import ranx

    for metric in metrics:
        try:
            ranx.evaluate({"q": {"d": 1}}, {"q": {"d": 1.0}}, [metric])
        except Exception as exc:
            raise EvalError(
                f"unknown metric {metric!r}; use ranx names such as ndcg@10, mrr@10, recall@100, map, "
                "precision@5, hit_rate@10"
            ) from exc
    return list(metrics)


def evaluate(
    qrels: Mapping[str, Mapping[str, int]], runs: Mapping[str, Run], metrics: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Return {run name: {metric: mean over the judged queries}} at full precision."""
    import ranx

    ranx_qrels = _ranx_qrels(qrels)
    out: dict[str, dict[str, float]] = {}
    for name, run in runs.items():
        scores = ranx.evaluate(ranx_qrels, _ranx_run(run, name), list(metrics), make_comparable=True)
        if not isinstance(scores, dict):
            scores = {metrics[0]: scores}
        out[name] = {metric: float(scores[metric]) for metric in metrics}
    return out


def per_query(qrels: Mapping[str, Mapping[str, int]], run: Run, metric: str) -> dict[str, float]:
    """Return {query: metric} for one run, every judged query included."""
    import ranx

    ranx_run = _ranx_run(run, "run")
    ranx.evaluate(_ranx_qrels(qrels), ranx_run, [metric], make_comparable=True)
    return {query: float(value) for query, value in ranx_run.scores[metric].items()}


def compare(
    qrels: Mapping[str, Mapping[str, int]],
    runs: Mapping[str, Run],
    metrics: Sequence[str],
    *,
    baseline: str,
    stat_test: str = "student",
    max_p: float = 0.05,
) -> dict[str, Any]:
    """Return, for each run against `baseline`, each metric's p-value, verdict and wins/ties/losses."""
    import ranx

    names = list(runs)
    report = ranx.compare(
        _ranx_qrels(qrels),
        [_ranx_run(runs[name], name) for name in names],
        list(metrics),
        stat_test=stat_test,
        max_p=max_p,
        make_comparable=True,
        rounding_digits=12,
    ).to_dict()
    pairs: dict[str, Any] = {}
    for name in names:
        if name == baseline:
            continue
        pairs[name] = {}
        for metric in metrics:
            p_value = float(report[name]["comparisons"][baseline][metric])
            pairs[name][metric] = {
                "p_value": None if math.isnan(p_value) else p_value,
                "significant": (not math.isnan(p_value)) and p_value < max_p,
                "win_tie_loss": dict(report[name]["win_tie_loss"][baseline][metric]),
            }
    return {"baseline": baseline, "stat_test": stat_test, "max_p": max_p, "runs": pairs}
