"""`eval compare`, per_query.tsv and report.md on hand-made run folders with exact values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import ttest_rel

from reranker.eval import per_query
from reranker.eval.compare import compare_runs, markdown
from reranker.eval.errors import EvalError
from reranker.eval.report import markdown as report_markdown
from reranker.eval.timing import Stopwatch, process_seconds

QUERIES = [f"q{i:02d}" for i in range(12)]
A_VALUES = np.array([0.1 * (i % 5) for i in range(12)])
B_VALUES = np.array([0.1 * (i % 5) + (0.05 if i % 3 else -0.2) for i in range(12)])


def _folder(
    root: Path, name: str, values: np.ndarray[Any, Any], fingerprint: str = "f1", queries: list[str] = QUERIES
) -> Path:
    folder = root / name
    folder.mkdir()
    report = {
        "dataset": {"name": "tiny", "split": "test", "fingerprint": fingerprint},
        "reranker": {"model": name},
    }
    (folder / "report.json").write_text(json.dumps(report))
    scores = {
        "first_stage": {"ndcg@10": np.zeros(len(queries)), "mrr@10": np.zeros(len(queries))},
        "reranked": {"ndcg@10": values[: len(queries)], "mrr@10": values[: len(queries)] / 2},
    }
    per_query.write(folder / per_query.FILE, queries, scores, ["ndcg@10", "mrr@10"])
    return folder


def test_compare_gives_means_the_paired_t_test_and_the_movers(tmp_path: Path) -> None:
    result = compare_runs(_folder(tmp_path, "a", A_VALUES), _folder(tmp_path, "b", B_VALUES))

    row = result["metrics"]["ndcg@10"]
    assert row["A"] == pytest.approx(A_VALUES.mean()) and row["B"] == pytest.approx(B_VALUES.mean())
    assert row["p_value"] == pytest.approx(ttest_rel(A_VALUES, B_VALUES).pvalue, abs=1e-12)
    assert row["win_tie_loss"] == {"W": 8, "T": 0, "L": 4}
    assert [r["query_id"] for r in result["movers"]["lost"]] == ["q00", "q03", "q06", "q09"]
    assert len(result["movers"]["gained"]) == 8 and result["movers"]["gained"][0]["delta"] == pytest.approx(
        0.05
    )
    text = markdown(result)
    a_mean, b_mean = A_VALUES.mean(), B_VALUES.mean()
    assert f"| ndcg@10 | {a_mean:.4f} | {b_mean:.4f} | {b_mean - a_mean:+.4f} |" in text
    assert "8 / 0 / 4 |" in text
    assert "| q00 | 0.0000 | -0.2000 | -0.2000 |" in text


def test_compare_two_runs_of_one_folder(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "a", A_VALUES)

    result = compare_runs(folder, folder, run_a="first_stage", run_b="reranked", metrics=["mrr@10"])

    assert list(result["metrics"]) == ["mrr@10"]
    assert result["metrics"]["mrr@10"]["B"] == pytest.approx(A_VALUES.mean() / 2)


@pytest.mark.parametrize(
    ("b_args", "kwargs", "message"),
    [
        ({"fingerprint": "other"}, {}, "A and B were made on different data (dataset fingerprint differs"),
        ({"queries": QUERIES[:6]}, {}, "A has 12 queries and B 6, not the same ones"),
        ({}, {"run_b": "fused"}, "B has no run 'fused'; its runs: first_stage, reranked"),
        ({}, {"metrics": ["map"]}, "metric 'map' is not in both; both have: ndcg@10, mrr@10"),
    ],
)
def test_compare_refuses_what_cannot_be_paired(
    tmp_path: Path, b_args: dict[str, Any], kwargs: dict[str, Any], message: str
) -> None:
    a = _folder(tmp_path, "a", A_VALUES)
    b = _folder(tmp_path, "b", B_VALUES, **b_args)

    with pytest.raises(EvalError) as caught:
        compare_runs(a, b, **kwargs)
    assert message in str(caught.value)


def test_a_folder_without_a_report_or_per_query_file_is_named(tmp_path: Path) -> None:
    a = _folder(tmp_path, "a", A_VALUES)
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvalError, match=r"B: empty/report\.json cannot be read"):
        compare_runs(a, tmp_path / "empty")
    (a / per_query.FILE).unlink()
    with pytest.raises(EvalError, match=r"a/per_query\.tsv is missing"):
        compare_runs(a, a)


def test_per_query_file_round_trips_and_rejects_broken_lines(tmp_path: Path) -> None:
    path = tmp_path / per_query.FILE
    scores = {"reranked": {"ndcg@10": np.array([0.1, 1 / 3])}}
    per_query.write(path, ["q1", "q2"], scores, ["ndcg@10"])

    assert per_query.read(path) == (
        ["ndcg@10"],
        {"reranked": {"q1": {"ndcg@10": 0.1}, "q2": {"ndcg@10": 1 / 3}}},
    )

    path.write_text("run\tquery_id\tndcg@10\nreranked\tq1\tnan\n")
    with pytest.raises(EvalError, match=r"per_query\.tsv line 2: expected 3 fields with numeric values"):
        per_query.read(path)


def test_stopwatch_stages_and_other_add_up_to_the_wall_time() -> None:
    watch = Stopwatch()
    with watch.stage("a", "first") as entry:
        entry["detail"] = "changed"
    watch.add("b", 0.0)

    summary = watch.summary()

    assert [s["stage"] for s in summary["stages"]] == ["a", "b", "other"]
    assert summary["stages"][0]["detail"] == "changed"
    assert sum(s["seconds"] for s in summary["stages"]) == pytest.approx(summary["wall_seconds"], abs=1e-12)
    assert summary["before_run_seconds"] is None  # unknown unless the CLI says
    assert Stopwatch(before=process_seconds()).summary()["before_run_seconds"] > 0


def test_report_md_of_a_report_without_timings_or_counts_still_renders() -> None:
    report = {
        "dataset": {"name": "tiny", "split": "test", "queries_evaluated": 3, "documents": 5},
        "first_stage": {"name": "BM25", "top_k": 10},
        "reranker": {"model": "m", "mode": "in-process"},
        "metric_names": ["ndcg@10"],
        "metrics": {"first_stage": {"ndcg@10": 0.5}},
        "wall_seconds": 2.0,
        "environment": {"cpus": 2, "processor": "cpu"},
    }

    text = report_markdown(report)

    assert "3 queries evaluated; 5 documents" in text and "| total | 2.0 | |" in text


@pytest.mark.parametrize(
    ("provider", "variant", "line"),
    [
        ("OpenVINO CPU", "int8", "**Scored by: OpenVINO CPU, static int8 (calibrated at export) graph.**"),
        (
            "CPUExecutionProvider",
            "int8",
            "**Scored by: onnxruntime CPUExecutionProvider, dynamic int8 graph.**",
        ),
        ("CPUExecutionProvider", "fp32", "**Scored by: onnxruntime CPUExecutionProvider, fp32 graph.**"),
        (None, None, "**Scored by: runtime and graph not reported by the target.**"),
    ],
)
def test_report_md_says_which_runtime_and_graph_scored_under_its_title(
    provider: str | None, variant: str | None, line: str
) -> None:
    report = {
        "dataset": {"name": "tiny", "split": "test", "queries_evaluated": 3, "documents": 5},
        "first_stage": {"name": "BM25", "top_k": 10},
        "reranker": {"model": "m", "mode": "in-process", "provider": provider, "variant": variant},
        "metric_names": ["ndcg@10"],
        "metrics": {"first_stage": {"ndcg@10": 0.5}},
        "wall_seconds": 2.0,
        "environment": {"cpus": 2, "processor": "cpu"},
    }
    assert report_markdown(report).splitlines()[:3] == ["# Eval: tiny (test)", "", line]
