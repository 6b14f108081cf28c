"""ranx metrics over our runs: per-query values, means, and a paired significance test.

Runs reach ranx with rank scores (see `runs.rank_scores`), so metrics follow our tie-breaking
rule rather than ranx's arbitrary order among equal scores. Queries a run lacks score 0, and only
queries with a relevant judgement are in the qrels at all. ranx treats a judgement >= 1 as
relevant and uses linear gains in nDCG, as trec_eval does.

Why not `ranx.Run`/`ranx.Qrels`: building them from Python dicts and comparing their keys runs
numba's typed-dict code from the interpreter, which numba compiles again in every process (15-20 s
of a run that had nothing else to do). ranx's `evaluate` also takes the documented typed-list
form (per query, rows of [document, score] best first), which we build once per report with
document ids numbered by us; its metric kernels are compiled once and cached on disk (see
`numba_cache`).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from reranker.eval.errors import EvalError
from reranker.eval.runs import Run, rank_scores

DEFAULT_METRICS = ("ndcg@10", "mrr@10", "recall@100", "map")
STAT_TESTS = ("student", "fisher")
NUMBA_CACHE_ENV = "NUMBA_CACHE_DIR"
PerQuery = dict[str, dict[str, npt.NDArray[np.float64]]]


def numba_cache(cache_dir: Path) -> None:
    """Point numba's on-disk cache at `cache_dir`/numba unless the user chose one.

    ranx's metric kernels are compiled with cache=True; by default numba writes beside the
    installed package, which a container or CI image may not let it do, and then compiles them
    again in every process.
    """
    folder = str(cache_dir / "numba")
    if NUMBA_CACHE_ENV in os.environ:
        return
    os.environ[NUMBA_CACHE_ENV] = folder
    import sys

    if "numba" in sys.modules:  # imported already (bm25s may do so): tell its config too
        sys.modules["numba"].config.CACHE_DIR = folder


@contextmanager
def quiet_numba() -> Iterator[None]:
    """Silence numba's type-safety warnings inside ranx (an index cast ranx makes in its parallel
    loops: "unsafe cast from uint64 to int64"), which said nothing about the run on every run."""
    from numba.core.errors import NumbaTypeSafetyWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaTypeSafetyWarning)
        yield


def check_metrics(metrics: Sequence[str]) -> list[str]:
    """Return the metric names, after checking that ranx knows each one (nothing is compiled)."""
    from ranx.metrics import metric_switch

    for metric in metrics:
        name = metric.split("-l")[0].split("@")[0].split(".")[0]
        try:
            metric_switch(name)
            if "@" in metric and not metric.split("-l")[0].split("@")[1].isdigit():
                raise ValueError(metric)
        except (ValueError, IndexError) as exc:
            raise EvalError(
                f"unknown metric {metric!r}; use ranx names such as ndcg@10, mrr@10, recall@100, map, "
                "precision@5, hit_rate@10"
            ) from exc
    return list(metrics)


def _typed(rows: list[npt.NDArray[np.float64]]) -> Any:
    from numba.typed import List as TypedList

    return TypedList(rows)


def per_query_scores(
    qrels: Mapping[str, Mapping[str, int]], runs: Mapping[str, Run], metrics: Sequence[str]
) -> tuple[list[str], PerQuery]:
    """Return the judged query ids (sorted) and {run: {metric: value of each of those queries}}."""
    import ranx

    query_ids = sorted(qrels)
    numbers: dict[str, float] = {}

    def number(doc: str) -> float:
        return numbers.setdefault(doc, float(len(numbers)))

    empty = np.zeros((0, 2), dtype=np.float64)
    judged = []
    for query in query_ids:
        pairs = sorted(((number(d), float(g)) for d, g in qrels[query].items()), key=lambda r: -r[1])
        judged.append(np.array(pairs, dtype=np.float64) if pairs else empty)
    ranx_qrels = _typed(judged)
    out: PerQuery = {}
    for name, run in runs.items():
        ranked = rank_scores({q: run.get(q, {}) for q in query_ids})
        rows = [
            np.array([(number(d), s) for d, s in ranked[q].items()], dtype=np.float64) if ranked[q] else empty
            for q in query_ids
        ]
        # Two names at least: ranx returns a lone metric's values under a mangled key.
        asked = list(metrics) if len(metrics) > 1 else [metrics[0], metrics[0]]
        with quiet_numba():
            values = ranx.evaluate(ranx_qrels, _typed(rows), asked, return_mean=False)
        out[name] = {metric: np.asarray(values[metric], dtype=np.float64) for metric in metrics}
    return query_ids, out


def means(scores: PerQuery) -> dict[str, dict[str, float]]:
    """Return {run: {metric: mean over the judged queries}} at full precision."""
    return {
        run: {metric: float(np.mean(values)) if len(values) else 0.0 for metric, values in per.items()}
        for run, per in scores.items()
    }


def evaluate(
    qrels: Mapping[str, Mapping[str, int]], runs: Mapping[str, Run], metrics: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Return {run name: {metric: mean over the judged queries}} at full precision."""
    return means(per_query_scores(qrels, runs, metrics)[1])


def per_query(qrels: Mapping[str, Mapping[str, int]], run: Run, metric: str) -> dict[str, float]:
    """Return {query: metric} for one run, every judged query included."""
    query_ids, scores = per_query_scores(qrels, {"run": run}, [metric])
    return {query: float(value) for query, value in zip(query_ids, scores["run"][metric], strict=True)}


def paired_test(
    treatment: npt.NDArray[np.float64],
    control: npt.NDArray[np.float64],
    stat_test: str = "student",
    max_p: float = 0.05,
) -> dict[str, Any]:
    """Return the two-sided paired test of treatment against control, with wins/ties/losses.

    ranx's own tests: Student's paired t-test (scipy's ttest_rel) or Fisher's randomization test
    (1,000 permutations, seed 42). p is None when it is undefined (every difference equal).
    """
    from ranx.statistical_tests import fisher_randomization_test, paired_student_t_test

    if stat_test not in STAT_TESTS:
        raise EvalError(f"statistical test {stat_test!r} is unknown; use one of {', '.join(STAT_TESTS)}")
    if stat_test == "student":
        p_value = float(paired_student_t_test(control, treatment, max_p)[0])
    else:
        p_value = float(fisher_randomization_test(control, treatment, 1000, max_p, 42)[0])
    defined = not math.isnan(p_value)
    return {
        "p_value": p_value if defined else None,
        "significant": defined and p_value < max_p,
        "win_tie_loss": {
            "W": int(np.sum(treatment > control)),
            "T": int(np.sum(treatment == control)),
            "L": int(np.sum(treatment < control)),
        },
    }


def compare_scores(
    scores: PerQuery,
    metrics: Sequence[str],
    *,
    baseline: str,
    stat_test: str = "student",
    max_p: float = 0.05,
) -> dict[str, Any]:
    """Return, for each run against `baseline`, each metric's p-value, verdict and wins/ties/losses."""
    pairs = {
        name: {
            metric: paired_test(per[metric], scores[baseline][metric], stat_test, max_p) for metric in metrics
        }
        for name, per in scores.items()
        if name != baseline
    }
    return {"baseline": baseline, "stat_test": stat_test, "max_p": max_p, "runs": pairs}


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
    scores = per_query_scores(qrels, runs, metrics)[1]
    return compare_scores(scores, metrics, baseline=baseline, stat_test=stat_test, max_p=max_p)
