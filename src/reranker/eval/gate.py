"""The relevance quality gate: a thresholds file and a report -> pass or fail, with a readable verdict.

Thresholds file (TOML), one table per dataset and split, one sub-table per gated run:

    [scifact.test]
    top_k = 100          # optional: how the gated run is made, and what the report must show
    max_queries = 100    # optional: only the first N judged queries (by id); absent = all
    fusion = { method = "combsum", weight = 0.5 }   # optional: the served fusion the run asks for
    model_fingerprint = "9f2c..."                    # optional: the model (weights + variant) measured

    [scifact.test.fused]
    beats = "first_stage"                 # this run must beat that one ...
    margin = { "ndcg@10" = 0.02 }         # ... by at least this much, metric by metric
    min = { "ndcg@10" = 0.60 }            # absolute floors
    baseline = { "ndcg@10" = 0.6234 }     # values measured when the floors were set
    max_drop = 0.01                       # fail when a metric falls more than this below its baseline

Floors alone cannot tell a reranker that helps from one that does nothing: `beats` compares runs
of the same report, so a reranker no better than its first stage fails whatever the dataset.

Exit codes of `reranker eval gate`: 0 pass, 1 fail, 2 the inputs are wrong.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reranker.eval.errors import EvalError
from reranker.fusion import Fusion
from reranker.types import FusionSpec

EPSILON = 1e-12
RUN_SETTINGS = ("top_k", "max_queries")
RUN_RULES = frozenset({"min", "baseline", "max_drop", "beats", "margin"})


@dataclass(frozen=True)
class GatedRun:
    """How the gated run must be made: candidates, queries, fusion, and the model, when set."""

    top_k: int | None = None
    max_queries: int | None = None
    fusion: Fusion | None = None
    model_fingerprint: str | None = None


@dataclass(frozen=True)
class Verdict:
    passed: bool
    lines: list[str]
    # Each check as (passed, text): the text names the run, the metric, the figure and the bound.
    checks: list[tuple[bool, str]] = field(default_factory=list)

    def text(self) -> str:
        """Return the verdict as lines of text, the outcome last."""
        return "\n".join(self.lines)


def load_thresholds(path: Path, dataset: str, split: str) -> dict[str, Any]:
    """Return the table of thresholds for dataset/split from the TOML file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvalError(f"thresholds file {path.name!r} cannot be read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise EvalError(f"thresholds file {path.name!r} is not valid TOML: {exc}") from exc
    table = data.get(dataset, {}).get(split)
    if not isinstance(table, dict):
        raise EvalError(f"thresholds file {path.name!r} has no [{dataset}.{split}] table")
    return table


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EvalError(f"thresholds: {where} must be a number")
    return float(value)


def run_settings(path: Path, dataset: str, split: str) -> GatedRun:
    """Return how the gate for dataset/split is measured (None where the table does not say)."""
    table = load_thresholds(path, dataset, split)
    where = f"thresholds [{dataset}.{split}]"
    counts: dict[str, int | None] = {}
    for key in RUN_SETTINGS:
        value = table.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise EvalError(f"{where}: {key} must be a positive integer")
        counts[key] = value
    fusion = None
    if "fusion" in table:
        try:
            fusion = FusionSpec.model_validate(table["fusion"]).to_fusion()
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'fusion'}: {e['msg']}" for e in exc.errors()
            )
            raise EvalError(
                f'{where}: fusion is invalid ({problems}); e.g. {{ method = "combsum" }}'
            ) from exc
    fingerprint = table.get("model_fingerprint")
    if fingerprint is not None and not isinstance(fingerprint, str):
        raise EvalError(f"{where}: model_fingerprint must be a string")
    return GatedRun(counts["top_k"], counts["max_queries"], fusion, fingerprint)


def _check_conditions(
    table: dict[str, Any], report: dict[str, Any], gated: GatedRun
) -> list[tuple[bool, str]]:
    """The report must be made the way the thresholds were measured, or the comparison means nothing."""
    actual = {"top_k": report["first_stage"]["top_k"], "max_queries": report["dataset"]["max_queries"]}
    checks: list[tuple[bool, str]] = []
    for key in RUN_SETTINGS:
        if key in table:
            ok = actual[key] == table[key]
            checks.append((ok, f"{key} = {actual[key]} (the thresholds were measured with {table[key]})"))
    if gated.fusion is not None:
        wanted = gated.fusion.describe()
        made = report.get("fusion")
        checks.append((made == wanted, f"fusion = {made} (the thresholds were measured with {wanted})"))
    if gated.model_fingerprint is not None:
        made = report.get("reranker", {}).get("model_fingerprint")
        checks.append(
            (
                made == gated.model_fingerprint,
                f"model fingerprint {made} (the thresholds name {gated.model_fingerprint})",
            )
        )
    return checks


def _check_beats(
    run: str, rules: dict[str, Any], metrics: dict[str, dict[str, float]]
) -> list[tuple[bool, str]]:
    """Return the checks that `run` beats the run it names by each metric's margin."""
    other = rules.get("beats")
    if other is None:
        if "margin" in rules:
            raise EvalError(f'thresholds [{run}]: margin needs beats = "<run>"')
        return []
    margins = rules.get("margin", {})
    if not isinstance(other, str) or not isinstance(margins, dict) or not margins:
        raise EvalError(f'thresholds [{run}]: use beats = "first_stage" and margin = {{ "ndcg@10" = 0.02 }}')
    if other not in metrics:
        return [(False, f"{run} beats {other}: the report has no run {other!r}")]
    checks: list[tuple[bool, str]] = []
    for metric, wanted in margins.items():
        margin = _number(wanted, f"{run}.margin.{metric}")
        if metric not in metrics[run] or metric not in metrics[other]:
            checks.append((False, f"{run} {metric}: not in the report (run with --metrics {metric})"))
            continue
        gain = metrics[run][metric] - metrics[other][metric]
        ok = gain >= margin - EPSILON
        checks.append(
            (
                ok,
                f"{run} {metric} = {metrics[run][metric]:.4f} vs {other} {metrics[other][metric]:.4f} "
                f"({gain:+.4f}; needs {margin:+.4f})",
            )
        )
    return checks


def _check_run(run: str, rules: dict[str, Any], values: dict[str, float]) -> list[tuple[bool, str]]:
    checks: list[tuple[bool, str]] = []
    if set(rules) - RUN_RULES:
        raise EvalError(
            f"thresholds [{run}]: unknown keys {sorted(set(rules) - RUN_RULES)}; use {sorted(RUN_RULES)}"
        )
    for metric, floor in rules.get("min", {}).items():
        limit = _number(floor, f"{run}.min.{metric}")
        if metric not in values:
            checks.append((False, f"{run} {metric}: not in the report (run with --metrics {metric})"))
            continue
        ok = values[metric] >= limit - EPSILON
        checks.append((ok, f"{run} {metric} = {values[metric]:.4f} {'>=' if ok else '<'} {limit:.4f} (min)"))
    baseline = rules.get("baseline", {})
    if baseline:
        max_drop = _number(rules.get("max_drop", 0.0), f"{run}.max_drop")
        for metric, stored in baseline.items():
            reference = _number(stored, f"{run}.baseline.{metric}")
            if metric not in values:
                checks.append((False, f"{run} {metric}: not in the report (run with --metrics {metric})"))
                continue
            drop = reference - values[metric]
            ok = drop <= max_drop + EPSILON
            checks.append(
                (
                    ok,
                    f"{run} {metric} = {values[metric]:.4f} vs baseline {reference:.4f} "
                    f"({values[metric] - reference:+.4f}; max drop {max_drop:.4f})",
                )
            )
    return checks


def check(report: dict[str, Any], thresholds: Path) -> Verdict:
    """Return the verdict of the report against the thresholds file."""
    dataset, split = report["dataset"]["name"], report["dataset"]["split"]
    table = load_thresholds(thresholds, dataset, split)
    checks = _check_conditions(table, report, run_settings(thresholds, dataset, split))
    runs = {key: value for key, value in table.items() if isinstance(value, dict) and key != "fusion"}
    if not runs:
        raise EvalError(f"thresholds [{dataset}.{split}] gate no run; add e.g. [{dataset}.{split}.reranked]")
    for run, rules in runs.items():
        if run not in report["metrics"]:
            checks.append(
                (False, f"{run}: the report has no such run (runs: {', '.join(report['metrics'])})")
            )
            continue
        checks.extend(_check_run(run, rules, report["metrics"][run]))
        checks.extend(_check_beats(run, rules, report["metrics"]))
    failed = sum(1 for ok, _ in checks if not ok)
    lines = [f"quality gate {dataset}/{split} ({thresholds.name}):"]
    lines += [f"  {'PASS' if ok else 'FAIL'}  {text}" for ok, text in checks]
    lines.append(
        f"GATE PASSED: {len(checks)} checks"
        if not failed
        else f"GATE FAILED: {failed} of {len(checks)} checks failed"
    )
    return Verdict(passed=not failed, lines=lines, checks=checks)


def check_file(report_path: Path, thresholds: Path) -> Verdict:
    """Return the verdict of a saved report.json against the thresholds file."""
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvalError(f"report {report_path.name!r} cannot be read as JSON") from exc
    return check(report, thresholds)
