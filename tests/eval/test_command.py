"""`reranker eval run` end to end: files written, the Markdown table printed, the gate's exit code."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from reranker.cli import main
from reranker.scoring.cross_encoder import CrossEncoderScorer
from reranker.scoring.types import ScoreOptions, ScoreResult
from tests.eval.conftest import MakeDataset


def test_eval_run_writes_run_files_and_report_and_applies_the_gate(
    make_dataset: MakeDataset,
    tmp_path: Path,
    tiny_cross_encoder_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = make_dataset()
    gates = tmp_path / "gates.toml"
    # Floors that depend on the model: the tiny cross-encoder ranks each judged query's best
    # document first (reranked nDCG@10 and MRR@10 0.6667: queries 1 and 2 perfect, "zebra" 0);
    # the same model with its scores reversed gets nDCG@10 0.5400, MRR@10 0.5000 (measured).
    gates.write_text(
        "[tiny.test]\ntop_k = 3\n\n[tiny.test.first_stage]\nmin = { 'recall@100' = 0.6 }\n"
        "\n[tiny.test.reranked]\nmin = { 'ndcg@10' = 0.6, 'mrr@10' = 0.6 }\n"
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
        "per_query.tsv",
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
    assert report["metrics"]["reranked"]["ndcg@10"] == pytest.approx(2 / 3)
    assert "PASS  reranked ndcg@10 = 0.6667 >= 0.6000 (min)" in printed

    # A worse model through the same command: the tiny cross-encoder with its scores reversed.
    real_score = CrossEncoderScorer.score

    def reversed_score(
        self: CrossEncoderScorer, query: str, documents: Sequence[str], options: ScoreOptions
    ) -> ScoreResult:
        result = real_score(self, query, documents, options)
        return ScoreResult(scores=1.0 - result.scores, prompt_tokens=result.prompt_tokens)

    worse_argv = [str(tmp_path / "worse") if arg == str(out) else arg for arg in argv]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CrossEncoderScorer, "score", reversed_score)
        assert main(worse_argv) == 1
    printed = capsys.readouterr().out
    assert "FAIL  reranked ndcg@10 = 0.5400 < 0.6000 (min)" in printed
    assert "FAIL  reranked mrr@10 = 0.5000 < 0.6000 (min)" in printed
    assert "GATE FAILED: 2 of 4 checks failed" in printed

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


@pytest.mark.slow  # offline fusion builds ranx Runs (numba typed dicts): ~30 s
def test_offline_fusion_per_query_file_report_and_compare(
    make_dataset: MakeDataset,
    tmp_path: Path,
    tiny_cross_encoder_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    argv = ["eval", "run", str(make_dataset()), "--model", str(tiny_cross_encoder_dir), "--out", str(out)]
    argv += ["--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    argv += ["--fuse-offline", "wsum", "--fuse-offline-weights", "0.5", "0.5"]

    assert main(argv) == 0

    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert set(report["metrics"]) == {"first_stage", "reranked", "offline_wsum"}
    assert report["offline_fusion"]["served"] is False
    assert "| offline ranx fusion, not served (wsum, min-max, weights 0.5/0.5) |" in printed
    assert "Queries won / tied / lost against the first stage:" in printed
    wtl = report["comparison"]["runs"]["reranked"]["ndcg@10"]["win_tie_loss"]
    assert f"| {wtl['W']} / {wtl['T']} / {wtl['L']} |" in printed
    assert report["dataset"]["queries"] == {
        "in_file": 4,
        "with_relevant": 3,
        "judged_not_relevant": 1,
        "judged_in_other_splits": 0,
        "unjudged": 0,
    }
    # The stages and "other" add up to the run's wall time, and the report.md prints them.
    timings = report["timings"]
    assert sum(entry["seconds"] for entry in timings["stages"]) == pytest.approx(timings["wall_seconds"])
    assert [e["stage"] for e in timings["stages"]][:3] == [
        "check options, import ranx and numba",
        "load dataset",
        "first stage",
    ]
    assert "| metrics (ranx) |" in printed and "| other |" in printed and "| total |" in printed
    assert timings["before_run_seconds"] > 0 and "| before the run |" in printed
    # per_query.tsv: every run x every judged query, values equal to the report's means.
    rows = (out / "per_query.tsv").read_text().splitlines()
    assert rows[0] == "run\tquery_id\tndcg@10\tmrr@10\trecall@100\tmap"
    assert len(rows) == 1 + 3 * 3
    reranked = [float(r.split("\t")[2]) for r in rows[1:] if r.startswith("reranked\t")]
    assert sum(reranked) / 3 == pytest.approx(report["metrics"]["reranked"]["ndcg@10"])

    assert main(["eval", "compare", str(out), str(out / "report.json"), "--run-a", "first_stage"]) == 0
    compared = capsys.readouterr().out
    first = report["metrics"]["first_stage"]["ndcg@10"]
    second = report["metrics"]["reranked"]["ndcg@10"]
    assert f"| ndcg@10 | {first:.4f} | {second:.4f} | {second - first:+.4f} |" in compared

    assert main(["eval", "compare", str(out), str(out), "--run-a", "fused"]) == 2
    assert "A has no run 'fused'; its runs: first_stage, reranked, offline_wsum" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--fuse-offline", "combsum"], "'combsum' is not a ranx fusion method; use one of anz, bayesfuse,"),
        (["--fuse-offline", "wsum"], "wsum needs two weights, first stage then reranked"),
        (["--fuse-offline-weights", "1", "2"], "need --fuse-offline METHOD"),
        (["--tokenizer", "whitespace"], "tokenizer 'whitespace' is unknown; use one of lucene, regex"),
        (["--stemmer", "klingon"], "stemmer 'klingon' is unknown; use porter"),
        (["--metrics", "ndgc@10"], "unknown metric 'ndgc@10'"),
    ],
)
def test_bad_options_exit_2_before_anything_is_scored(
    make_dataset: MakeDataset,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    message: str,
) -> None:
    out = tmp_path / "out"
    argv = ["eval", "run", str(make_dataset()), "--model", "no-such-model", "--out", str(out)]

    assert main([*argv, "--cache-dir", str(tmp_path / "cache"), *options]) == 2

    assert message in capsys.readouterr().err
    assert not out.exists()  # nothing loaded, retrieved or scored
