"""Smoke tests of the benchmark scripts: tiny sizes on the tiny model, figures named, no timing asserted.

The scripts run as users run them (`python benchmarks/<name>.py`), in a child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_script(name: str, *args: str) -> str:
    """Return the stdout of `python benchmarks/<name>.py ARGS`, failing with its stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RERANK_")}
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def table_rows(output: str) -> list[list[str]]:
    """Return the cells of every Markdown table row after the header separators."""
    rows = [line.strip("|").split("|") for line in output.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows]


def model_args(model: Path) -> list[str]:
    return [
        "--model-dir",
        str(model),
        "--checkpoint",
        str(model.parent / "checkpoint"),
        "--max-length",
        "128",
    ]


def test_throughput_prints_every_figure_for_every_contender(tiny_cross_encoder_dir: Path) -> None:
    output = run_script(
        "throughput",
        *model_args(tiny_cross_encoder_dir),
        "--sizes",
        "20",  # enough documents for a rank correlation to mean something (3 allow only +-1, +-0.5)
        "--reps",
        "1",
        "--pause",
        "0",
        "--contenders",
        "api,scorer,naive",
    )
    rows = table_rows(output)
    header = rows[0]
    for figure in ("pairs/s", "p50 ms", "p95 ms", "peak RSS MB", "x st", "rank corr vs ours fp32"):
        assert figure in header
    found = {(row[0], row[1]) for row in rows[2:]}
    assert found == {(c, v) for c in ("api", "scorer", "naive") for v in ("fp32", "int8")}
    for row in rows[2:]:
        cells = dict(zip(header, row, strict=True))
        assert cells["docs"] == "20"
        assert float(cells["pairs/s"]) > 0
        assert float(cells["peak RSS MB"]) > 10
        # The same weights: every fp32 contender ranks the documents as our fp32 scorer does.
        # int8 keeps the ranking nearly whole: Spearman 0.992-0.997 measured for each contender
        # on these 20 documents (SciFact abstracts, and the fixed word list where they are
        # absent); a random order of 20 gives 0 +- 0.23, a reversed one -1.
        corr = float(cells["rank corr vs ours fp32"])
        if cells["variant"] == "fp32":
            assert corr == 1.0, cells
        else:
            assert corr >= 0.95, cells
    assert "onnxruntime:" in output and "nproc:" in output


def test_cold_start_times_the_api_lambda_and_scorer(tiny_cross_encoder_dir: Path) -> None:
    output = run_script(
        "cold_start",
        *model_args(tiny_cross_encoder_dir),
        "--reps",
        "1",
        "--variants",
        "int8",
        "--contenders",
        "api,lambda,scorer",
    )
    rows = table_rows(output)
    header = rows[0]
    assert {"cold start s (median)", "imports s", "model load s", "first call s", "peak RSS MB"} <= set(
        header
    )
    assert [row[0] for row in rows[2:]] == ["api", "lambda", "scorer"]
    for row in rows[2:]:
        assert float(dict(zip(header, row, strict=True))["cold start s (median)"]) > 0


def test_tuning_compares_knobs_against_the_default(tiny_cross_encoder_dir: Path) -> None:
    output = run_script("tuning", "--model-dir", str(tiny_cross_encoder_dir), "--quick")
    rows = table_rows(output)
    assert rows[0] == ["configuration", "median s", "pairs/s", "vs default", "session create s"]
    labels = [row[0] for row in rows[2:]]
    assert labels[0] == "default" and rows[2][3] == "1"
    assert "threads=1" in labels and "level=basic" in labels and "spinning=False" in labels
    assert "one request, default configuration: tokenize" in output


def _tiny_beir(folder: Path) -> Path:
    folder.mkdir()
    corpus = [
        {"_id": "d1", "title": "", "text": "apple river music"},
        {"_id": "d2", "title": "", "text": "doctor engine garden"},
        {"_id": "d3", "title": "", "text": "apple garden history"},
        {"_id": "d4", "title": "", "text": "ocean planet winter"},
    ]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(row) + "\n" for row in corpus))
    queries = [{"_id": "q1", "text": "apple river"}, {"_id": "q2", "text": "garden doctor"}]
    (folder / "queries.jsonl").write_text("".join(json.dumps(row) + "\n" for row in queries))
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    return folder


@pytest.mark.slow
def test_int8_quality_reports_each_graph_and_its_loss(tiny_cross_encoder_dir: Path, tmp_path: Path) -> None:
    output = run_script(
        "int8_quality",
        "--model-dir",
        str(tiny_cross_encoder_dir),
        "--dataset",
        str(_tiny_beir(tmp_path / "tiny")),
        "--out",
        str(tmp_path / "runs"),
        "--max-queries",
        "0",
        "--top-k",
        "4",
    )
    rows = table_rows(output)
    assert [row[0] for row in rows[2:]] == ["fp32", "int8 dynamic", "int8 static"]
    assert "ndcg@10" in rows[0] and "ndcg@10 - fp32" in rows[0]
    assert rows[2][rows[0].index("ndcg@10 - fp32")] == "+0.0000"
    assert "int8 dynamic nDCG@10 loss against fp32:" in output
    assert "int8 static nDCG@10 loss against fp32:" in output
