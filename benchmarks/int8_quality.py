"""int8 ranking quality: nDCG@10 on SciFact (BM25 top-k reranked), fp32 against each cheaper graph.

Runs the eval harness (`reranker eval run`, one child process per graph) on the same model
folder and candidates: fp32 and dynamic int8 on onnxruntime, static int8 and bf16 on OpenVINO
(`--graphs` picks), then prints each figure and its loss against fp32. The default bi-encoder
all-MiniLM-L6-v2 (`--model bi`, the default) carries real relevance; the MiniLM-L6 cross-encoder
shape (`--model ce`) has an untrained head, so its nDCG only says how far int8 moves rankings.

    python benchmarks/int8_quality.py                  # bi, 100 queries, top 30
    python benchmarks/int8_quality.py --max-queries 0 --top-k 100   # the whole test split
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from common import DEFAULT_CACHE, SCIFACT, model_setup, print_header, print_table
from procs import child_env

METRICS = ["ndcg@10", "mrr@10"]


GRAPHS = {
    "fp32": {"RERANK_RUNTIME": "onnxruntime", "RERANK_PRECISION": "fp32"},
    "int8 dynamic": {"RERANK_RUNTIME": "onnxruntime", "RERANK_PRECISION": "int8"},
    "int8 static": {"RERANK_RUNTIME": "openvino", "RERANK_PRECISION": "int8"},
    "bf16": {"RERANK_RUNTIME": "openvino", "RERANK_PRECISION": "bf16"},
}


def evaluate(folder: Path, graph: str, args: argparse.Namespace) -> dict[str, float]:
    """Return the reranked run's metrics from one `reranker eval run` on this graph."""
    out = args.out / f"{folder.parent.name}-{graph.replace(' ', '-')}-q{args.max_queries}-k{args.top_k}"
    command = [sys.executable, "-m", "reranker.cli", "eval", "run", str(args.dataset), "--model", str(folder)]
    command += ["--out", str(out), "--top-k", str(args.top_k), "--no-progress", "--metrics", *METRICS]
    command += ["--cache-dir", str(args.out / "bm25-cache"), "--split", args.split]
    if args.max_queries:
        command += ["--max-queries", str(args.max_queries)]
    started = time.perf_counter()
    done = subprocess.run(command, env=child_env(GRAPHS[graph]), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"reranker eval run ({graph}) failed:\n{done.stderr[-3000:]}")
    report = json.loads((out / "report.json").read_text())
    figures = {metric: float(report["metrics"]["reranked"][metric]) for metric in METRICS}
    first = {f"bm25 {metric}": float(report["metrics"]["first_stage"][metric]) for metric in METRICS}
    return {**figures, **first, "seconds": time.perf_counter() - started}


def run(args: argparse.Namespace) -> None:
    if not (args.dataset / "corpus.jsonl").is_file():
        print(f"SciFact is not at {args.dataset}; nothing to measure (pass --dataset)")
        return
    folder = args.model_dir or model_setup(args.model, args.max_length, args.cache_dir)[0]
    print_header(
        "int8 ranking quality: reranked nDCG@10, fp32 vs int8",
        {
            "model folder": folder.parent.name,
            "dataset": f"{args.dataset.name} ({args.split})",
            "queries": args.max_queries or "all judged",
            "candidates": f"BM25 top {args.top_k}",
        },
    )
    results = {graph: evaluate(folder, graph, args) for graph in ["fp32", *args.graphs]}
    rows: list[dict[str, object]] = []
    for graph, figures in results.items():
        row: dict[str, object] = {"graph": graph, "seconds": f"{figures['seconds']:.0f}"}
        row.update({k: f"{v:.4f}" for k, v in figures.items() if k != "seconds"})
        row.update({f"{m} - fp32": f"{figures[m] - results['fp32'][m]:+.4f}" for m in METRICS})
        rows.append(row)
    print_table(
        rows,
        ["graph", *METRICS, *(f"{m} - fp32" for m in METRICS), *(f"bm25 {m}" for m in METRICS), "seconds"],
    )
    for graph in args.graphs:
        loss = results["fp32"]["ndcg@10"] - results[graph]["ndcg@10"]
        verdict = "met" if loss <= 0.005 else "NOT met"
        print(f"{graph} nDCG@10 loss against fp32: {loss:+.4f} (target <= 0.005: {verdict})")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", choices=["ce", "bi"], default="bi")
    parser.add_argument(
        "--graphs",
        type=lambda text: text.split(","),
        default=["int8 dynamic", "int8 static"],
        help=f"compared with fp32, comma-separated, from {[g for g in GRAPHS if g != 'fp32']}",
    )
    parser.add_argument("--max-length", type=int, default=None, help="default: 512 (ce), 256 (bi)")
    parser.add_argument("--dataset", type=Path, default=SCIFACT)
    parser.add_argument("--split", default="test")
    parser.add_argument("--max-queries", type=int, default=100, help="0: every judged query")
    parser.add_argument("--top-k", type=int, default=30, help="BM25 candidates reranked per query")
    parser.add_argument("--out", type=Path, default=DEFAULT_CACHE / "eval-runs")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument(
        "--model-dir", type=Path, help="an exported model folder to use instead of building one"
    )
    parser.add_argument("--quick", action="store_true", help="20 queries, top 10")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.graphs) - set(GRAPHS) | ({"fp32"} & set(args.graphs)))
    if unknown:
        parser.error(f"--graphs: {unknown} not comparable; choose from {[g for g in GRAPHS if g != 'fp32']}")
    args.max_length = args.max_length or (512 if args.model == "ce" else 256)
    if args.quick:
        args.max_queries, args.top_k = 20, 10
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return args


if __name__ == "__main__":
    run(parse_args())
