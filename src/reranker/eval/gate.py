"""The relevance quality gate: a thresholds file and a report -> pass or fail, with a readable verdict.

Thresholds file (TOML), one table per dataset and split, one sub-table per gated run:

    [scifact.test]
    top_k = 100          # optional: how the gated run is made, and what the report must show
    max_queries = 100    # optional: only the first N judged queries (by id); absent = all

    [scifact.test.reranked]
    min = { "ndcg@10" = 0.60 }            # absolute floors
    baseline = { "ndcg@10" = 0.6234 }     # values measured when the floors were set
    max_drop = 0.01                       # fail when a metric falls more than this below its baseline

Exit codes of `reranker eval gate`: 0 pass, 1 fail, 2 the inputs are wrong.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reranker.eval.errors import EvalError

EPSILON = 1e-12
RUN_SETTINGS = ("top_k", "max_queries")


@dataclass(frozen=True)
class Verdict:
    passed: bool
    lines: list[str]

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


def run_settings(path: Path, dataset: str, split: str) -> dict[str, int | None]:
    """Return the top_k and max_queries the gate for dataset/split is measured with (None: not set)."""
    table = load_thresholds(path, dataset, split)
    settings: dict[str, int | None] = {}
    for key in RUN_SETTINGS:
        value = table.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise EvalError(f"thresholds [{dataset}.{split}]: {key} must be a positive integer")
        settings[key] = value
    return settings


def _check_conditions(table: dict[str, Any], report: dict[str, Any]) -> list[tuple[bool, str]]:
    """The report must be made the way the thresholds were measured, or the comparison means nothing."""
    actual = {"top_k": report["first_stage"]["top_k"], "max_queries": report["dataset"]["max_queries"]}
    checks: list[tuple[bool, str]] = []
    for key in RUN_SETTINGS:
        if key in table:
            ok = actual[key] == table[key]
            checks.append((ok, f"{key} = {actual[key]} (the thresholds were measured with {table[key]})"))
    return checks


def _check_run(run: str, rules: dict[str, Any], values: dict[str, float]) -> list[tuple[bool, str]]:
    checks: list[tuple[bool, str]] = []
    known = {"min", "baseline", "max_drop"}
    if set(rules) - known:
        raise EvalError(f"thresholds [{run}]: unknown keys {sorted(set(rules) - known)}; use {sorted(known)}")
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
    checks = _check_conditions(table, report)
    runs = {key: value for key, value in table.items() if isinstance(value, dict)}
    if not runs:
        raise EvalError(f"thresholds [{dataset}.{split}] gate no run; add e.g. [{dataset}.{split}.reranked]")
    for run, rules in runs.items():
        if run not in report["metrics"]:
            checks.append(
                (False, f"{run}: the report has no such run (runs: {', '.join(report['metrics'])})")
            )
            continue
        checks.extend(_check_run(run, rules, report["metrics"][run]))
    failed = sum(1 for ok, _ in checks if not ok)
    lines = [f"quality gate {dataset}/{split} ({thresholds.name}):"]
    lines += [f"  {'PASS' if ok else 'FAIL'}  {text}" for ok, text in checks]
    lines.append(
        f"GATE PASSED: {len(checks)} checks"
        if not failed
        else f"GATE FAILED: {failed} of {len(checks)} checks failed"
    )
    return Verdict(passed=not failed, lines=lines)


def check_file(report_path: Path, thresholds: Path) -> Verdict:
    """Return the verdict of a saved report.json against the thresholds file."""
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvalError(f"report {report_path.name!r} cannot be read as JSON") from exc
    return check(report, thresholds)
