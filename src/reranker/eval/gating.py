"""A gated eval run: the gate file says how the run is made, the run is made (or a complete report of
the same run reused), and the gate gives its verdict. `reranker eval run --gate` and
`reranker models promote` both come through `run_gated`, so a promotion is gated exactly as CI is.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reranker.eval.errors import EvalError
from reranker.eval.gate import Verdict, check, run_settings
from reranker.eval.pipeline import EvalOptions, default_out, run_eval
from reranker.eval.timing import Stopwatch
from reranker.fusion import Fusion

logger = logging.getLogger(__name__)

REPORT = "report.json"
DEFAULT_TOP_K = 100


def gate_sha256(gate: Path) -> str:
    """Return the sha256 of the gate file's bytes (what a report and an alias record name)."""
    try:
        return hashlib.sha256(gate.read_bytes()).hexdigest()
    except OSError as exc:
        raise EvalError(f"gate file {gate.name!r} cannot be read ({exc.strerror})") from exc


def measured_as(
    gate: Path, dataset: Path, split: str, top_k: int | None, max_queries: int | None, fusion: Fusion | None
) -> tuple[int, int | None, Fusion | None]:
    """Return (top_k, max_queries, fusion): what is given, else what the gate's table says its
    thresholds were measured with (the table must exist), else the defaults."""
    measured = run_settings(gate, dataset.resolve().name, split)
    return (
        top_k or measured.top_k or DEFAULT_TOP_K,
        max_queries or measured.max_queries,
        fusion or measured.fusion,
    )


def run_key(options: EvalOptions, dataset_fingerprint: str | None, gate_sha: str) -> str:
    """Return the identity of a gated run but its model: a report with the same key and the same
    model fingerprint is the same measurement."""
    identity = {
        "dataset": dataset_fingerprint,
        "split": options.split,
        "top_k": options.top_k,
        "max_queries": options.max_queries,
        "first_stage": options.bm25.describe() if options.run_file is None else str(options.run_file),
        "metrics": sorted(options.metrics),
        "fusion": options.fusion.describe() if options.fusion else None,
        "gate": gate_sha,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class GatedRun:
    report: dict[str, Any]
    verdict: Verdict
    reused: bool


def reusable_report(out: Path, key: str, fingerprint: str | None) -> dict[str, Any] | None:
    """Return the complete report in `out` made by the same run for the same model, or None."""
    path = out / REPORT
    if fingerprint is None or not path.is_file():
        return None
    try:
        report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if report.get("gate", {}).get("run_key") != key:
        return None
    if report.get("reranker", {}).get("model_fingerprint") != fingerprint:
        return None
    if "metrics" not in report or "timings" not in report:  # written last: the run finished
        return None
    return report


def run_gated(
    options: EvalOptions,
    gate: Path,
    *,
    expected_fingerprint: str | None = None,
    watch: Stopwatch | None = None,
) -> GatedRun:
    """Return the report and the verdict of the gated run (its report names the gate file's sha256);
    the options already carry what `measured_as` gives.

    With `expected_fingerprint` (a model whose fingerprint is known before loading it, as a
    promotion knows it), a complete report of the same run for that fingerprint in the output
    folder is reused: nothing is loaded or scored again.
    """
    from reranker.eval.datasets import load_dataset

    sha = gate_sha256(gate)
    out = options.out or default_out(options)
    options = replace(options, out=out)
    if expected_fingerprint is not None:
        dataset = load_dataset(options.dataset, options.split)
        key = run_key(options, dataset.fingerprint, sha)
        report = reusable_report(out, key, expected_fingerprint)
        if report is not None:
            logger.info("reusing the gate report in %s (same run, same model fingerprint)", out)
            return GatedRun(report, check(report, gate), reused=True)
    report = run_eval(options, watch=watch)
    key = run_key(options, report["dataset"]["fingerprint"], sha)
    verdict = check(report, gate)
    report["gate"] = {"file": gate.name, "sha256": sha, "run_key": key, "passed": verdict.passed}
    (out / REPORT).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return GatedRun(report, verdict, reused=False)
