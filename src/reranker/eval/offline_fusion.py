"""Offline fusion with ranx: any of its methods over the first-stage and reranked runs, NOT served.

The fusion the API serves (`--fuse combsum|rrf`, reranker.fusion) is what the gate measures.
This is the exploration tool beside it: fuse the two runs with any ranx method to see whether
another one is worth serving. Its run is labelled offline everywhere, so nobody mistakes it for
what the service returns.

Methods fall in four kinds:
- no parameters: anz, bordafuse, condorcet, isr, log_isr, max, med, min, mnz, sum;
- parameters (`--fuse-offline-param NAME=VALUE`): gmnz (gamma, required), logn_isr (sigma, 0.01),
  rbc (phi, required), rrf (k, 60);
- weighted, one weight per run, first stage then reranked (`--fuse-offline-weights`): mixed,
  w_bordafuse, w_condorcet, wmnz, wsum;
- supervised, trained on judged queries: bayesfuse, mapfuse, posfuse, probfuse (n_segments,
  required), segfuse, slidefuse (w, required). They are trained by 5-fold cross-validation over
  the evaluated queries (by query id order), so no query is fused with parameters learnt from
  its own judgements.

Scores are normalised per query first (`--fuse-offline-norm`, ranx's default min-max).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reranker.eval.errors import EvalError
from reranker.eval.metrics import quiet_numba
from reranker.eval.runs import Run

PLAIN = ("anz", "bordafuse", "condorcet", "isr", "log_isr", "max", "med", "min", "mnz", "sum")
PARAMETERS: dict[str, dict[str, float | None]] = {
    "gmnz": {"gamma": None},
    "logn_isr": {"sigma": 0.01},
    "rbc": {"phi": None},
    "rrf": {"k": 60},
}
WEIGHTED = ("mixed", "w_bordafuse", "w_condorcet", "wmnz", "wsum")
SUPERVISED: dict[str, dict[str, float | None]] = {
    "bayesfuse": {},
    "mapfuse": {},
    "posfuse": {},
    "probfuse": {"n_segments": None},
    "segfuse": {},
    "slidefuse": {"w": None},
}
METHODS = tuple(sorted((*PLAIN, *PARAMETERS, *WEIGHTED, *SUPERVISED)))
NORMS = ("min-max", "max", "sum", "zmuv", "rank", "borda", "none")
INTEGER_PARAMS = frozenset({"k", "n_segments", "w"})
FOLDS = 5
RUN_ORDER = ("first_stage", "reranked")


@dataclass(frozen=True)
class OfflineFusion:
    method: str
    weights: tuple[float, ...] = ()
    params: dict[str, float] = field(default_factory=dict)
    norm: str = "min-max"

    @property
    def run_name(self) -> str:
        """Return the run's name in reports and its file name stem."""
        return f"offline_{self.method}"

    def describe(self) -> dict[str, Any]:
        """Return the settings, for reports."""
        out: dict[str, Any] = {"method": self.method, "norm": self.norm, "served": False}
        if self.weights:
            out["weights"] = dict(zip(RUN_ORDER, self.weights, strict=True))
        if self.params:
            out["params"] = dict(self.params)
        if self.method in SUPERVISED:
            out["training"] = f"{FOLDS}-fold cross-validation over the evaluated queries"
        return out


def _param(method: str, name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise EvalError(f"--fuse-offline-param {name}={text!r}: {method} needs a number") from None
    if name in INTEGER_PARAMS and (not value.is_integer() or value < 1):
        raise EvalError(f"--fuse-offline-param {name}={text!r}: {method} needs a positive integer")
    return int(value) if name in INTEGER_PARAMS else value


def parse(method: str, weights: list[float] | None, params: list[str] | None, norm: str) -> OfflineFusion:
    """Return the offline fusion the options ask for; EvalError naming the valid choices otherwise."""
    if method not in METHODS:
        raise EvalError(
            f"--fuse-offline {method!r} is not a ranx fusion method; use one of {', '.join(METHODS)}"
        )
    if norm not in NORMS:
        raise EvalError(f"--fuse-offline-norm {norm!r} is unknown; use one of {', '.join(NORMS)}")
    if method in WEIGHTED:
        if weights is None or len(weights) != len(RUN_ORDER):
            raise EvalError(
                f"--fuse-offline {method} needs two weights, first stage then reranked, "
                "e.g. --fuse-offline-weights 0.3 0.7"
            )
    elif weights is not None:
        raise EvalError(
            f"--fuse-offline-weights applies to the weighted methods ({', '.join(WEIGHTED)}), not {method}"
        )
    allowed = {**PARAMETERS, **SUPERVISED}.get(method, {})
    given: dict[str, float] = {}
    for item in params or []:
        name, sep, text = item.partition("=")
        if not sep or name not in allowed:
            names = ", ".join(f"{p}=VALUE" for p in allowed) or "none"
            raise EvalError(f"--fuse-offline-param {item!r}: {method} takes {names}")
        given[name] = _param(method, name, text)
    missing = [name for name, default in allowed.items() if default is None and name not in given]
    if missing:
        raise EvalError(f"--fuse-offline {method} needs --fuse-offline-param {missing[0]}=VALUE")
    defaults = {name: float(default) for name, default in allowed.items() if default is not None}
    return OfflineFusion(method, tuple(weights or ()), {**defaults, **given}, norm)


def _ranx_run(run: Mapping[str, Mapping[str, float]], name: str) -> Any:
    from ranx import Run as RanxRun

    return RanxRun({q: dict(docs) for q, docs in run.items()}, name=name)


def _ranx_params(fusion: OfflineFusion) -> dict[str, Any]:
    params: dict[str, Any] = {k: int(v) if k in INTEGER_PARAMS else v for k, v in fusion.params.items()}
    if fusion.weights:
        params["weights"] = list(fusion.weights)
    return params


def _fuse(runs: list[Any], fusion: OfflineFusion, params: dict[str, Any]) -> Run:
    import ranx

    norm = None if fusion.norm == "none" else fusion.norm
    with quiet_numba():
        fused = ranx.fuse(runs, norm=norm, method=fusion.method, params=params)
    return {q: {d: float(s) for d, s in docs.items()} for q, docs in fused.to_dict().items()}


TRAINED_AS = {
    "bayesfuse": "log_odds",
    "mapfuse": "map_scores",
    "posfuse": "probs",
    "probfuse": "probs",
    "segfuse": "probs",
    "slidefuse": "probs",
}


def _train(fusion: OfflineFusion, qrels: Any, runs: list[Any]) -> dict[str, Any]:
    """Return the parameters ranx's `<method>_train` learns from judged runs (normalised as fused)."""
    import ranx
    import ranx.fusion

    if fusion.norm not in ("none", "borda"):
        runs = [ranx.normalize(run, fusion.norm) for run in runs]
    train = getattr(ranx.fusion, f"{fusion.method}_train")
    args = [int(fusion.params["n_segments"])] if fusion.method == "probfuse" else []
    params: dict[str, Any] = {TRAINED_AS[fusion.method]: train(qrels, runs, *args)}
    if fusion.method == "slidefuse":
        params["w"] = int(fusion.params["w"])
    return params


def _supervised(
    fusion: OfflineFusion, qrels: Mapping[str, Mapping[str, int]], runs: Mapping[str, Run], queries: list[str]
) -> Run:
    import ranx

    out: Run = {}
    for fold in range(FOLDS):
        test = [q for i, q in enumerate(queries) if i % FOLDS == fold]
        train = [q for i, q in enumerate(queries) if i % FOLDS != fold]
        if not test or not train:
            continue
        train_runs = [_ranx_run({q: runs[n][q] for q in train}, n) for n in RUN_ORDER]
        params = _train(fusion, ranx.Qrels({q: dict(qrels[q]) for q in train}), train_runs)
        out.update(_fuse([_ranx_run({q: runs[n][q] for q in test}, n) for n in RUN_ORDER], fusion, params))
    return out


def fuse(fusion: OfflineFusion, qrels: Mapping[str, Mapping[str, int]], runs: Mapping[str, Run]) -> Run:
    """Return the fused run of the first-stage and reranked runs; queries without candidates stay empty."""
    queries = sorted(q for q in qrels if runs["first_stage"].get(q) and runs["reranked"].get(q))
    if fusion.method in SUPERVISED:
        fused = _supervised(fusion, qrels, runs, queries)
    elif queries:
        inputs = [_ranx_run({q: runs[n][q] for q in queries}, n) for n in RUN_ORDER]
        fused = _fuse(inputs, fusion, _ranx_params(fusion))
    else:
        fused = {}
    return {q: fused.get(q, {}) for q in qrels}
