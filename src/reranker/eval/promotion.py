"""`reranker models promote NAME@ALIAS VERSION`: move a store alias only when the gate passes for
that version's fingerprint, through `run_gated` (the path of `reranker eval run --gate`), and
record who, when, why, the gate file's sha256, the report's figures and the previous target.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reranker.eval.errors import EvalError
from reranker.eval.gate import Verdict, check
from reranker.eval.gating import REPORT, GatedRun, gate_sha256, measured_as, run_gated
from reranker.eval.pipeline import EvalOptions
from reranker.model_store.aliases import AliasRecord, AliasStore, check_alias_name, check_fingerprint

if TYPE_CHECKING:
    from reranker.manifest import Manifest


class GateRefused(EvalError):
    """The gate failed, or the report given is another model's or another gate file's: exit 1."""

    def __init__(self, message: str, verdict: Verdict | None = None) -> None:
        super().__init__(message)
        self.verdict = verdict


@dataclass(frozen=True)
class PromotionRequest:
    model: str
    alias: str
    version: str
    gate: Path
    dataset: Path
    by: str
    split: str = "test"
    reason: str | None = None
    force: bool = False
    report: Path | None = None
    cache_dir: Path | None = None


@dataclass(frozen=True)
class Promoted:
    record: AliasRecord
    verdict: Verdict | None
    reused: bool


def served_variant(manifest: Manifest) -> str:
    """Return the variant this process's settings would score `manifest` with (as the eval does)."""
    from reranker.config import load_settings
    from reranker.registry import runtime_options
    from reranker.scoring.graph_choice import choose_graph

    return str(choose_graph(manifest, runtime_options(load_settings())).precision)


def _from_report(request: PromotionRequest, manifest: Manifest, sha: str) -> GatedRun:
    """Return the verdict of a saved report, refused unless it is this version's and this gate's."""
    path = request.report / REPORT if request.report and request.report.is_dir() else request.report
    assert path is not None
    try:
        report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvalError(f"report {path.name!r} cannot be read as JSON") from exc
    reranker = report.get("reranker", {})
    variant, made_by = str(reranker.get("variant")), reranker.get("model_fingerprint")
    if made_by is None or manifest.fingerprint(variant) != made_by:
        raise GateRefused(
            f"refused: the report was made by model fingerprint {str(made_by)[:12]}, not by "
            f"{request.model} version {request.version} "
            f"({variant}: {str(manifest.fingerprint(variant))[:12]})"
        )
    made_with = report.get("gate", {}).get("sha256")
    if made_with != sha:
        raise GateRefused(
            f"refused: the report was gated with another gate file (sha256 {str(made_with)[:12]}, "
            f"{request.gate.name} is {sha[:12]}); run the gate again"
        )
    return GatedRun(report, check(report, request.gate), reused=True)


def _run(request: PromotionRequest, folder: Path, fingerprint: str, dataset_fingerprint: str) -> GatedRun:
    """Return the gated run of the version's folder, in the output folder kept per dataset and model
    fingerprint (so a promotion of an evaluated model reuses its report or its scores)."""
    from reranker.eval.first_stage import default_cache_dir

    cache = request.cache_dir or default_cache_dir()
    top_k, max_queries, fusion = measured_as(request.gate, request.dataset, request.split, None, None, None)
    options = EvalOptions(
        dataset=request.dataset,
        split=request.split,
        model=str(folder),
        out=cache
        / "gate-runs"
        / f"{request.dataset.resolve().name}-{dataset_fingerprint[:12]}-{fingerprint[:16]}",
        top_k=top_k,
        max_queries=max_queries,
        fusion=fusion,
        cache_dir=cache,
        progress=False,
    )
    return run_gated(options, request.gate, expected_fingerprint=fingerprint)


def promote(request: PromotionRequest, store: AliasStore, fetch: Any) -> Promoted:
    """Return the record of the move; raise GateRefused (nothing written) when the gate says no.

    `fetch(uri)` returns the version as a verified local folder (the store's own fetch).
    """
    from reranker.eval.datasets import load_dataset

    check_alias_name(request.alias)
    if request.force and not request.reason:
        raise EvalError("--force needs --reason: a forced move is recorded with why")
    current = store.read(request.model, request.alias)
    manifest = store.manifest(request.model, request.version)
    if manifest is None:
        raise EvalError(f"{request.model} version {request.version!r} is not published under this root")
    variant = served_variant(manifest)
    fingerprint = manifest.fingerprint(variant)
    if fingerprint is None:
        raise EvalError(f"{request.model} version {request.version} has no weights hash; export it again")
    sha = gate_sha256(request.gate)
    gated: GatedRun | None = None
    if not request.force:
        if request.report is not None:
            gated = _from_report(request, manifest, sha)
        else:
            dataset = load_dataset(request.dataset, request.split)
            folder = fetch(store.version_uri(request.model, request.version))
            gated = _run(request, folder, fingerprint, dataset.fingerprint)
        if gated.report["reranker"].get("model_fingerprint") != fingerprint:
            raise GateRefused("refused: the gated report was made by another model than this version")
        if not gated.verdict.passed:
            raise GateRefused(
                f"refused: the gate failed for {request.model} version {request.version}; "
                f"{request.model}@{request.alias} is unchanged",
                gated.verdict,
            )
    previous = None
    if current is not None:
        old = current[0]
        previous = {"version": old.version, "fingerprint": old.fingerprint, "at": old.at, "by": old.by}
    record = AliasRecord(
        model=request.model,
        alias=request.alias,
        version=request.version,
        fingerprint=fingerprint,
        variant=variant,
        seq=current[0].seq + 1 if current else 1,
        at=datetime.now(UTC).isoformat(timespec="seconds"),
        by=request.by,
        reason=request.reason,
        forced=request.force,
        previous=previous,
        gate=_gate_record(request, sha, gated),
    )
    check_fingerprint(record, manifest, f"{request.model}@{request.alias}")
    store.move(record, current[1] if current else None)
    return Promoted(record, gated.verdict if gated else None, gated.reused if gated else False)


def _gate_record(request: PromotionRequest, sha: str, gated: GatedRun | None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "file": request.gate.name,
        "sha256": sha,
        "dataset": request.dataset.resolve().name,
    }
    if gated is None:
        return {**record, "passed": None, "skipped": "forced"}
    return {
        **record,
        "split": gated.report["dataset"]["split"],
        "dataset_fingerprint": gated.report["dataset"]["fingerprint"],
        "passed": gated.verdict.passed,
        "checks": len(gated.verdict.checks),
        "metrics": gated.report["metrics"],
    }
