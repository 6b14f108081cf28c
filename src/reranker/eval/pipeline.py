"""One eval run end to end: dataset -> first stage -> rerank -> metrics -> run files and report.

Output folder layout: scores.jsonl (the resumable scores), first_stage.trec, reranked.trec,
fused.trec (with served fusion), offline_<method>.trec (with offline ranx fusion), per_query.tsv,
report.json and report.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reranker.eval import offline_fusion, per_query
from reranker.eval import report as report_module
from reranker.eval.datasets import Dataset, load_dataset
from reranker.eval.errors import EvalError
from reranker.eval.first_stage import Bm25Config, bm25_run, default_cache_dir
from reranker.eval.metrics import (
    DEFAULT_METRICS,
    check_metrics,
    compare_scores,
    means,
    numba_cache,
    per_query_scores,
)
from reranker.eval.offline_fusion import OfflineFusion
from reranker.eval.reranking import RerankOutcome, ScoreLog, rerank_run
from reranker.eval.runs import Run, read_trec, write_trec
from reranker.eval.targets import InProcessTarget, RemoteTarget, Target
from reranker.eval.timing import Stopwatch
from reranker.fusion import Fusion

logger = logging.getLogger(__name__)

SCORES_FILE = "scores.jsonl"


@dataclass
class EvalOptions:
    dataset: Path
    split: str = "test"
    model: str = "default"
    out: Path | None = None
    api_url: str | None = None
    api_key: str | None = None
    run_file: Path | None = None
    top_k: int = 100
    bm25: Bm25Config = field(default_factory=Bm25Config)
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    # Fused by the service, as the API fuses: what is gated is what is served.
    fusion: Fusion | None = None
    # Any ranx method over the first-stage and reranked runs, computed here: explored, not served.
    offline_fusion: OfflineFusion | None = None
    cache_dir: Path = field(default_factory=default_cache_dir)
    concurrency: int = 4
    timeout: float = 120.0
    retries: int = 5
    restart: bool = False
    progress: bool = True
    max_queries: int | None = None
    stat_test: str = "student"
    max_p: float = 0.05


def default_out(options: EvalOptions) -> Path:
    """Return eval-runs/<dataset>-<split>-<model> under the current folder."""
    model = Path(options.model).name if options.api_url is None else options.model
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in model)
    return Path("eval-runs") / f"{options.dataset.resolve().name}-{options.split}-{safe}"


def _limit(dataset: Dataset, max_queries: int | None) -> Dataset:
    if max_queries is None:
        return dataset
    keep = dataset.query_ids[:max_queries]
    return dataclasses.replace(dataset, qrels={q: dataset.qrels[q] for q in keep})


def _first_stage(options: EvalOptions, dataset: Dataset) -> tuple[Run, dict[str, Any]]:
    if options.run_file is not None:
        digest = (
            hashlib.sha256(options.run_file.read_bytes()).hexdigest() if options.run_file.is_file() else ""
        )
        run = read_trec(options.run_file, dataset, options.top_k)
        return run, {"name": "run file", "file": options.run_file.name, "sha256": digest}
    run = bm25_run(dataset, options.top_k, options.bm25, options.cache_dir)
    return run, options.bm25.describe()


def _target(options: EvalOptions) -> tuple[Target, str]:
    if options.api_url:
        target = RemoteTarget(
            options.api_url,
            options.api_key,
            concurrency=options.concurrency,
            timeout=options.timeout,
            retries=options.retries,
        )
        return target, options.model
    return InProcessTarget.for_model(options.model)


@dataclass(frozen=True)
class _Reranked:
    outcome: RerankOutcome
    described: dict[str, Any]
    model: str
    load_seconds: float
    seconds: float


def _rerank_stage(
    options: EvalOptions,
    dataset: Dataset,
    candidates: Run,
    header: dict[str, Any],
    out: Path,
    target: Target | None,
    model: str | None,
) -> _Reranked:
    owned = target is None
    if target is None:
        target, model = _target(options)
    model = model or options.model
    try:
        clock = time.perf_counter()
        # In process this loads the model, timed apart from scoring; over HTTP the API loads it.
        before = target.describe_loaded(model) if isinstance(target, RemoteTarget) else target.describe(model)
        load_seconds = time.perf_counter() - clock
        scores_path = out / SCORES_FILE
        if options.restart:
            scores_path.unlink(missing_ok=True)
        # What the scores belong to: the model's fingerprint (weights + variant; over HTTP the
        # API's model card), and in process the files' too. A resume under another one is refused.
        fingerprint = before.get("model_fingerprint")
        log = ScoreLog(
            scores_path,
            {**header, "model": model, "model_fingerprint": fingerprint, "files": before.get("fingerprint")},
        )
        clock = time.perf_counter()
        outcome = rerank_run(
            dataset, candidates, target, model, log, fusion=options.fusion, progress=options.progress
        )
        seconds = time.perf_counter() - clock
        after = target.describe(model)
        _check_same_model(fingerprint, after)
        return _Reranked(outcome, after, model, load_seconds, seconds)
    finally:
        if owned:
            target.close()


def _check_same_model(fingerprint: str | None, after: dict[str, Any]) -> None:
    """Refuse a run whose scores came from more than one model (a deployment changed mid-run)."""
    seen = {after.get("model_fingerprint"), *after.get("served_fingerprints", [])} - {None}
    if fingerprint is not None and seen - {fingerprint}:
        raise EvalError(
            f"the model changed during the run: scores began with fingerprint {fingerprint[:12]} "
            f"and the target now serves {', '.join(sorted(f[:12] for f in seen - {fingerprint}))}; "
            "run again with --restart"
        )


def _dataset_summary(dataset: Dataset, max_queries: int | None) -> dict[str, Any]:
    counts = dataset.query_counts
    return {
        "name": dataset.name,
        "split": dataset.split,
        "fingerprint": dataset.fingerprint,
        "documents": len(dataset.corpus),
        "queries_evaluated": len(dataset.qrels),
        "queries": dataclasses.asdict(counts) if counts else None,
        "max_queries": max_queries,
        "warnings": dataset.warnings,
    }


def _query_changes(
    dataset: Dataset, query_ids: list[str], scores: dict[str, Any], metric: str
) -> dict[str, Any]:
    """Return, per run, the queries that gained and lost most against the first stage on `metric`."""
    changes: dict[str, Any] = {"metric": metric, "baseline": "first_stage", "runs": {}}
    for run, per in scores.items():
        if run == "first_stage":
            continue
        moved = per_query.movers(query_ids, per[metric], scores["first_stage"][metric])
        for rows in moved.values():
            for row in rows:
                row["query"] = dataset.queries[row["query_id"]][:120]
        changes["runs"][run] = moved
    return changes


def run_eval(
    options: EvalOptions,
    target: Target | None = None,
    model: str | None = None,
    watch: Stopwatch | None = None,
) -> dict[str, Any]:
    """Return the report of the run (also written to the output folder, with the run files).

    `target` and `model` default to what the options name (in process, or the API at api_url).
    Every option is checked before anything is loaded or scored. `watch` times the stages (the
    CLI starts it first thing, with the process's own start-up time).
    """
    watch = watch or Stopwatch()
    metrics, dataset, out = _prepare(options, watch)
    candidates, first_stage, header = _run_first_stage(options, dataset, out, watch)
    first_seconds = watch.stages[-1]["seconds"]
    reranked = _timed_rerank(options, dataset, candidates, header, out, target, model, watch)
    runs = _runs(options, dataset, candidates, reranked.outcome, out, watch)
    with watch.stage("metrics (ranx)", f"{len(runs)} runs x {len(metrics)} metrics, paired tests"):
        query_ids, scores = per_query_scores(dataset.qrels, runs, metrics)
        comparison = compare_scores(
            scores, metrics, baseline="first_stage", stat_test=options.stat_test, max_p=options.max_p
        )
    with watch.stage("write per_query.tsv"):
        per_query.write(out / per_query.FILE, query_ids, scores, metrics)
    first = _FirstStage(candidates, first_stage, first_seconds)
    report = _report(options, dataset, first, reranked, runs, metrics, (query_ids, scores, comparison))
    timings = watch.summary()
    report["timings"] = timings
    report["wall_seconds"] = timings["wall_seconds"]
    report_module.write(out, report)
    logger.info("eval finished in %.1f s; run files and report in %s", report["wall_seconds"], out)
    return report


def _prepare(options: EvalOptions, watch: Stopwatch) -> tuple[list[str], Dataset, Path]:
    """Check every option, load the dataset and make the output folder: (metrics, dataset, out)."""
    if options.top_k < 1 or (options.max_queries is not None and options.max_queries < 1):
        raise EvalError("top_k and max_queries must be at least 1")
    with watch.stage("check options, import ranx and numba"):
        numba_cache(options.cache_dir)
        if options.run_file is None:
            options.bm25.check()
        metrics = check_metrics(options.metrics)
    with watch.stage("load dataset") as stage:
        dataset = _limit(load_dataset(options.dataset, options.split), options.max_queries)
        stage["detail"] = f"{len(dataset.corpus)} documents, {len(dataset.qrels)} queries"
    out = options.out or default_out(options)
    out.mkdir(parents=True, exist_ok=True)
    return metrics, dataset, out


def _run_first_stage(
    options: EvalOptions, dataset: Dataset, out: Path, watch: Stopwatch
) -> tuple[Run, dict[str, Any], dict[str, Any]]:
    """Return the candidates (also written as first_stage.trec), their description and the header
    of the score log (what a resumed run must match)."""
    with watch.stage("first stage") as stage:
        candidates, first_stage = _first_stage(options, dataset)
        write_trec(out / "first_stage.trec", candidates, "first_stage")
        stage["detail"] = f"{sum(len(c) for c in candidates.values())} candidates"
    header = {
        "format": 2,
        "dataset": dataset.name,
        "split": dataset.split,
        "fingerprint": dataset.fingerprint,
        "first_stage": first_stage,
        "top_k": options.top_k,
    }
    # No fusion here: model scores do not depend on it (each line says the fusion of its fused
    # scores, and reranking.py fuses again from the model scores when it differs).
    return candidates, first_stage, header


def _timed_rerank(
    options: EvalOptions,
    dataset: Dataset,
    candidates: Run,
    header: dict[str, Any],
    out: Path,
    target: Target | None,
    model: str | None,
    watch: Stopwatch,
) -> _Reranked:
    """Rerank the candidates (reranked.trec), timing the model load apart from the scoring."""
    clock = time.perf_counter()
    reranked = _rerank_stage(options, dataset, candidates, header, out, target, model)
    outcome = reranked.outcome
    write_trec(out / "reranked.trec", outcome.run, "reranked")
    watch.add("model load", reranked.load_seconds, str(reranked.described.get("model", reranked.model)))
    watch.add(
        "rerank",
        time.perf_counter() - clock - reranked.load_seconds,
        f"{outcome.documents_scored_now} documents scored now, {outcome.resumed} queries resumed",
    )
    return reranked


def _runs(
    options: EvalOptions,
    dataset: Dataset,
    candidates: Run,
    outcome: RerankOutcome,
    out: Path,
    watch: Stopwatch,
) -> dict[str, Run]:
    """Return the runs the report compares: first stage, reranked, fused (served) and offline fusion."""
    runs: dict[str, Run] = {"first_stage": candidates, "reranked": outcome.run}
    if outcome.fused_run is not None:
        runs["fused"] = outcome.fused_run
        write_trec(out / "fused.trec", runs["fused"], "fused")
    offline = options.offline_fusion
    if offline is not None:
        with watch.stage("offline ranx fusion", f"{offline.method}, not served"):
            runs[offline.run_name] = offline_fusion.fuse(offline, dataset.qrels, runs)
            write_trec(out / f"{offline.run_name}.trec", runs[offline.run_name], offline.run_name)
    return runs


@dataclass(frozen=True)
class _FirstStage:
    candidates: Run
    described: dict[str, Any]
    seconds: float


def _report(
    options: EvalOptions,
    dataset: Dataset,
    first: _FirstStage,
    reranked: _Reranked,
    runs: dict[str, Run],
    metrics: list[str],
    scored: tuple[list[str], dict[str, Any], dict[str, Any]],
) -> dict[str, Any]:
    """Return the report but its timings, which the caller adds last."""
    query_ids, scores, comparison = scored
    candidates = first.candidates
    outcome = reranked.outcome
    offline = options.offline_fusion
    report: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": _dataset_summary(dataset, options.max_queries),
        "first_stage": {
            **first.described,
            "top_k": options.top_k,
            "seconds": first.seconds,
            "candidates": sum(len(c) for c in candidates.values()),
            "queries_without_candidates": sum(1 for q in dataset.query_ids if not candidates.get(q)),
        },
        "reranker": {
            **reranked.described,
            "requested": reranked.model,
            "load_seconds": reranked.load_seconds,
            "seconds": reranked.seconds,
            "queries_scored_now": outcome.scored_now,
            "queries_resumed": outcome.resumed,
            "documents_scored_now": outcome.documents_scored_now,
            "prompt_tokens": outcome.prompt_tokens,
        },
        "metric_names": metrics,
        "metrics": means(scores),
        "comparison": comparison,
        "query_changes": _query_changes(dataset, query_ids, scores, metrics[0]),
        "tie_breaking": "score descending, then document id descending (trec_eval's order)",
        "files": {name: f"{name}.trec" for name in runs}
        | {"scores": SCORES_FILE, "per_query": per_query.FILE},
        "environment": report_module.environment(),
    }
    if options.fusion:
        report["fusion"] = options.fusion.describe()
    if offline is not None:
        report["offline_fusion"] = {"run": offline.run_name, **offline.describe()}
    return report
