"""The quality gate: thresholds file + report -> a readable verdict and exit code 0, 1 or 2."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from reranker.cli import main
from reranker.eval.errors import EvalError
from reranker.eval.gate import GatedRun, check, run_settings
from reranker.fusion import Fusion

REPO_GATES = Path(__file__).resolve().parents[2] / "eval" / "gates.toml"

THRESHOLDS = """
[tiny.test]
top_k = 100

[tiny.test.reranked]
min = { "ndcg@10" = 0.5, "mrr@10" = 0.4 }
baseline = { "ndcg@10" = 0.62 }
max_drop = 0.05

[tiny.test.first_stage]
min = { "recall@100" = 0.9 }
"""


def _report(ndcg: float, top_k: int = 100, max_queries: int | None = None) -> dict[str, Any]:
    return {
        "dataset": {"name": "tiny", "split": "test", "max_queries": max_queries, "queries_evaluated": 3},
        "first_stage": {"top_k": top_k},
        "metrics": {
            "first_stage": {"ndcg@10": 0.4, "mrr@10": 0.3, "recall@100": 0.95},
            "reranked": {"ndcg@10": ndcg, "mrr@10": 0.45, "recall@100": 0.95},
        },
    }


@pytest.fixture
def thresholds(tmp_path: Path) -> Path:
    path = tmp_path / "gates.toml"
    path.write_text(THRESHOLDS)
    return path


def test_passing_report(thresholds: Path) -> None:
    verdict = check(_report(0.6), thresholds)

    assert verdict.passed
    assert verdict.lines == [
        "quality gate tiny/test (gates.toml):",
        "  PASS  top_k = 100 (the thresholds were measured with 100)",
        "  PASS  reranked ndcg@10 = 0.6000 >= 0.5000 (min)",
        "  PASS  reranked mrr@10 = 0.4500 >= 0.4000 (min)",
        "  PASS  reranked ndcg@10 = 0.6000 vs baseline 0.6200 (-0.0200; max drop 0.0500)",
        "  PASS  first_stage recall@100 = 0.9500 >= 0.9000 (min)",
        "GATE PASSED: 5 checks",
    ]


def test_failing_report_names_each_failure(thresholds: Path) -> None:
    verdict = check(_report(0.45, top_k=20), thresholds)

    assert not verdict.passed
    failures = [line for line in verdict.lines if line.startswith("  FAIL")]
    assert failures == [
        "  FAIL  top_k = 20 (the thresholds were measured with 100)",
        "  FAIL  reranked ndcg@10 = 0.4500 < 0.5000 (min)",
        "  FAIL  reranked ndcg@10 = 0.4500 vs baseline 0.6200 (-0.1700; max drop 0.0500)",
    ]
    assert verdict.lines[-1] == "GATE FAILED: 3 of 5 checks failed"


def test_exact_threshold_passes(thresholds: Path) -> None:
    assert check(_report(0.57), thresholds).passed  # exactly max_drop below the baseline


def test_gate_command_exit_codes(
    thresholds: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(_report(0.6)))
    bad.write_text(json.dumps(_report(0.3)))

    assert main(["eval", "gate", str(good), "--thresholds", str(thresholds)]) == 0
    assert "GATE PASSED" in capsys.readouterr().out
    assert main(["eval", "gate", str(bad), "--thresholds", str(thresholds)]) == 1
    assert "GATE FAILED: 2 of 5 checks failed" in capsys.readouterr().out

    (tmp_path / "other.toml").write_text("[scifact.test.reranked]\nmin = { 'ndcg@10' = 0.6 }\n")
    assert main(["eval", "gate", str(good), "--thresholds", str(tmp_path / "other.toml")]) == 2
    assert "has no [tiny.test] table" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tiny.test\n", "is not valid TOML"),
        ("[tiny.test]\ntop_k = 100\n", "gate no run"),
        ("[tiny.test.reranked]\nmin = { 'ndcg@10' = 'high' }\n", "reranked.min.ndcg@10 must be a number"),
        ("[tiny.test.reranked]\nfloor = { 'ndcg@10' = 0.1 }\n", "unknown keys ['floor']"),
    ],
)
def test_malformed_thresholds_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "gates.toml"
    path.write_text(text)

    with pytest.raises(EvalError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check(_report(0.6), path)


def test_run_settings_come_from_the_table(thresholds: Path, tmp_path: Path) -> None:
    assert run_settings(thresholds, "tiny", "test") == GatedRun(top_k=100)
    bad = tmp_path / "bad.toml"
    bad.write_text("[tiny.test]\ntop_k = 0\n")
    with pytest.raises(EvalError, match="top_k must be a positive integer"):
        run_settings(bad, "tiny", "test")


def _scifact_report(reranked: dict[str, float], fused: dict[str, float]) -> dict[str, Any]:
    """Return a SciFact report made as the repository's gate asks, with the given run metrics."""
    table = tomllib.loads(REPO_GATES.read_text())["scifact"]["test"]
    return {
        "dataset": {"name": "scifact", "split": "test", "max_queries": table.get("max_queries")},
        "first_stage": {"top_k": table["top_k"]},
        "fusion": run_settings(REPO_GATES, "scifact", "test").fusion.describe(),  # type: ignore[union-attr]
        "reranker": {"model_fingerprint": table.get("model_fingerprint")},
        "metrics": {
            "first_stage": dict(table["first_stage"]["baseline"]),
            "reranked": reranked,
            "fused": fused,
        },
    }


def test_repository_gate_passes_its_measured_baselines() -> None:
    table = tomllib.loads(REPO_GATES.read_text())["scifact"]["test"]
    report = _scifact_report(dict(table["reranked"]["baseline"]), dict(table["fused"]["baseline"]))
    verdict = check(report, REPO_GATES)
    assert verdict.passed, verdict.text()


@pytest.mark.parametrize("offset", [0.0, -0.01])
def test_repository_gate_fails_a_reranker_no_better_than_bm25(offset: float) -> None:
    """The reranker does nothing (its runs equal BM25's), or hurts by 0.01: the gate must fail."""
    table = tomllib.loads(REPO_GATES.read_text())["scifact"]["test"]
    bm25 = {metric: value + offset for metric, value in table["first_stage"]["baseline"].items()}
    verdict = check(_scifact_report(dict(bm25), dict(bm25)), REPO_GATES)
    assert not verdict.passed
    failures = [line for line in verdict.lines if line.strip().startswith("FAIL")]
    assert any("fused ndcg@10" in line and "vs first_stage" in line for line in failures), verdict.text()


def test_repository_gate_names_the_fusion_and_the_model() -> None:
    table = tomllib.loads(REPO_GATES.read_text())["scifact"]["test"]
    gated = run_settings(REPO_GATES, "scifact", "test")
    assert gated.fusion == Fusion("combsum", weight=0.5)
    assert gated.model_fingerprint is not None and len(gated.model_fingerprint) == 64
    assert table["fused"]["beats"] == "first_stage" and table["fused"]["margin"]["ndcg@10"] >= 0.02
    report = _scifact_report(dict(table["reranked"]["baseline"]), dict(table["fused"]["baseline"]))
    report["reranker"]["model_fingerprint"] = "0" * 64  # another model
    report["fusion"] = {"method": "rrf", "k": 60}  # fused another way
    verdict = check(report, REPO_GATES)
    assert not verdict.passed
    assert sum("FAIL  model fingerprint" in line or "FAIL  fusion" in line for line in verdict.lines) == 2


def test_beats_compares_runs_of_the_same_report(tmp_path: Path) -> None:
    path = tmp_path / "gates.toml"
    path.write_text("[tiny.test.reranked]\nbeats = 'first_stage'\nmargin = { 'ndcg@10' = 0.1 }\n")
    assert check(_report(0.5), path).passed  # 0.5 vs 0.4
    failed = check(_report(0.45), path)
    assert not failed.passed
    assert "reranked ndcg@10 = 0.4500 vs first_stage 0.4000 (+0.0500; needs +0.1000)" in failed.text()
    path.write_text("[tiny.test.reranked]\nmargin = { 'ndcg@10' = 0.1 }\n")
    with pytest.raises(EvalError, match="margin needs beats"):
        check(_report(0.5), path)
    path.write_text(
        "[tiny.test]\nfusion = { method = 'wsum' }\n[tiny.test.reranked]\nmin = { 'ndcg@10' = 0.1 }\n"
    )
    with pytest.raises(EvalError, match="fusion is invalid"):
        check(_report(0.5), path)
