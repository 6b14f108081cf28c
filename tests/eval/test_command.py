"""`reranker eval run` end to end: files written, the Markdown table printed, the gate's exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reranker.cli import main
from tests.eval.conftest import MakeDataset


def test_eval_run_writes_run_files_and_report_and_applies_the_gate(
    make_dataset: MakeDataset,
    tmp_path: Path,
    tiny_cross_encoder_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = make_dataset()
    gates = tmp_path / "gates.toml"
    gates.write_text(
        "[tiny.test]\ntop_k = 3\n\n[tiny.test.first_stage]\nmin = { 'recall@100' = 0.6 }\n"
        "\n[tiny.test.reranked]\nmin = { 'recall@100' = 0.6, 'mrr@10' = 0.0 }\n"
    )
    out = tmp_path / "out"
    argv = ["eval", "run", str(folder), "--model", str(tiny_cross_encoder_dir), "--out", str(out)]
    argv += ["--cache-dir", str(tmp_path / "cache"), "--no-progress", "--fuse", "rrf", "--gate", str(gates)]

    assert main(argv) == 0

    printed = capsys.readouterr().out
    assert "| run | ndcg@10 | mrr@10 | recall@100 | map |" in printed and "GATE PASSED: 4 checks" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "first_stage.trec",
        "fused.trec",
        "report.json",
        "report.md",
        "reranked.trec",
        "scores.jsonl",
    ]
    report = json.loads((out / "report.json").read_text())
    assert report["first_stage"]["top_k"] == 3  # taken from the gate's table
    assert report["first_stage"]["queries_without_candidates"] == 1
    assert report["reranker"]["model"] == "tiny-ce" and report["reranker"]["mode"] == "in-process"
    # Queries 1 and 2 find their relevant documents; query 3 ("zebra") finds nothing: recall 2/3.
    assert report["metrics"]["first_stage"]["recall@100"] == pytest.approx(2 / 3)
    assert set(report["metrics"]) == {"first_stage", "reranked", "fused"}

    gates.write_text("[tiny.test]\ntop_k = 3\n\n[tiny.test.reranked]\nmin = { 'recall@100' = 0.99 }\n")
    assert main(argv) == 1  # resumes every query, then fails the gate
    printed = capsys.readouterr().out
    assert "GATE FAILED: 1 of 2 checks failed" in printed
    assert "0 documents scored now, 3 queries resumed" not in printed  # query 3 had nothing to score
    assert "0 documents scored now, 2 queries resumed" in printed

    gates.write_text("[tiny.test.reranked]\nmin = { 'recall@100' = 0.5 }\n")  # top_k 100: other candidates
    assert main(argv) == 2
    assert "holds scores of another run (differs in: top_k)" in capsys.readouterr().err


def test_bad_dataset_exits_2_with_the_named_problem(
    make_dataset: MakeDataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_dataset(qrels=[("1", "nope", 1)])

    assert main(["eval", "run", str(folder), "--cache-dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "qrels/test.tsv line 2: corpus-id 'nope' is not in corpus.jsonl" in capsys.readouterr().err
