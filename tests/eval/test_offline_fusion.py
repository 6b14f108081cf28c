"""Offline ranx fusion: every method runs, options are validated with the valid choices named,
and the fused scores are the formulas the docs give."""

from __future__ import annotations

import random

import pytest

from reranker.eval.errors import EvalError
from reranker.eval.offline_fusion import FOLDS, METHODS, PARAMETERS, SUPERVISED, WEIGHTED, fuse, parse
from reranker.eval.runs import Run

random.seed(7)
QRELS = {f"q{i}": {f"d{j}": random.randint(0, 2) for j in range(0, 12, 2)} for i in range(10)}
FIRST: Run = {q: {f"d{j}": random.uniform(1, 20) for j in range(12)} for q in QRELS}
RERANKED: Run = {q: {f"d{j}": random.random() for j in range(12)} for q in QRELS}
RUNS = {"first_stage": FIRST, "reranked": RERANKED}
REQUIRED = {"gmnz": ["gamma=0.5"], "rbc": ["phi=0.8"], "probfuse": ["n_segments=3"], "slidefuse": ["w=2"]}


def _min_max(scores: dict[str, float]) -> dict[str, float]:
    low, high = min(scores.values()), max(scores.values())
    return {doc: (value - low) / (high - low) for doc, value in scores.items()}


@pytest.mark.slow  # compiles every ranx fusion kernel: minutes on a cold numba cache
def test_every_ranx_method_fuses_every_query() -> None:
    assert len(METHODS) == 25
    for method in METHODS:
        fusion = parse(method, [0.3, 0.7] if method in WEIGHTED else None, REQUIRED.get(method), "min-max")
        fused = fuse(fusion, QRELS, RUNS)
        assert set(fused) == set(QRELS), method
        assert all(set(docs) == set(FIRST[q]) for q, docs in fused.items()), method


def test_wsum_is_the_weighted_sum_of_min_max_scores() -> None:
    fused = fuse(parse("wsum", [0.3, 0.7], None, "min-max"), QRELS, RUNS)

    for query in QRELS:
        first, second = _min_max(FIRST[query]), _min_max(RERANKED[query])
        for doc, value in fused[query].items():
            assert value == pytest.approx(0.3 * first[doc] + 0.7 * second[doc], abs=1e-12)


def test_rrf_uses_the_given_k() -> None:
    fused = fuse(parse("rrf", None, ["k=10"], "min-max"), QRELS, RUNS)

    query = "q3"
    rank_first = {d: r for r, d in enumerate(sorted(FIRST[query], key=lambda d: -FIRST[query][d]), start=1)}
    rank_second = {
        d: r for r, d in enumerate(sorted(RERANKED[query], key=lambda d: -RERANKED[query][d]), start=1)
    }
    for doc, value in fused[query].items():
        assert value == pytest.approx(1 / (10 + rank_first[doc]) + 1 / (10 + rank_second[doc]), abs=1e-12)


def test_queries_without_candidates_stay_empty() -> None:
    runs = {"first_stage": {**FIRST, "q0": {}}, "reranked": {**RERANKED, "q0": {}}}

    fused = fuse(parse("sum", None, None, "min-max"), QRELS, runs)

    assert fused["q0"] == {} and fused["q1"]


def test_supervised_methods_are_trained_across_folds() -> None:
    fusion = parse("probfuse", None, ["n_segments=3"], "min-max")

    assert fusion.describe()["training"] == f"{FOLDS}-fold cross-validation over the evaluated queries"
    assert all(fuse(fusion, QRELS, RUNS)[q] for q in QRELS)


@pytest.mark.parametrize(
    ("method", "weights", "params", "norm", "message"),
    [
        (
            "combsum",
            None,
            None,
            "min-max",
            "'combsum' is not a ranx fusion method; use one of anz, bayesfuse",
        ),
        ("wsum", None, None, "min-max", "wsum needs two weights, first stage then reranked"),
        ("wsum", [1.0], None, "min-max", "wsum needs two weights"),
        ("rrf", [0.5, 0.5], None, "min-max", "--fuse-offline-weights applies to the weighted methods"),
        ("rrf", None, ["phi=3"], "min-max", "rrf takes k=VALUE"),
        ("rrf", None, ["k=1.5"], "min-max", "rrf needs a positive integer"),
        ("rbc", None, None, "min-max", "rbc needs --fuse-offline-param phi=VALUE"),
        ("gmnz", None, ["gamma=x"], "min-max", "gmnz needs a number"),
        ("sum", None, ["k=3"], "min-max", "sum takes none"),
        ("sum", None, None, "minmax", "--fuse-offline-norm 'minmax' is unknown; use one of min-max, max"),
    ],
)
def test_bad_options_name_the_valid_choices(
    method: str, weights: list[float] | None, params: list[str] | None, norm: str, message: str
) -> None:
    with pytest.raises(EvalError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(method, weights, params, norm)


def test_defaults_and_descriptions() -> None:
    assert parse("rrf", None, None, "min-max").params == {"k": 60}
    assert parse("logn_isr", None, None, "none").params == {"sigma": 0.01}
    wsum = parse("wsum", [0.25, 0.75], None, "min-max")
    assert wsum.run_name == "offline_wsum"
    assert wsum.describe() == {
        "method": "wsum",
        "norm": "min-max",
        "served": False,
        "weights": {"first_stage": 0.25, "reranked": 0.75},
    }
    assert set(PARAMETERS) | set(SUPERVISED) | set(WEIGHTED) < set(METHODS)
