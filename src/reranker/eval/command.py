"""`reranker eval run | gate`: the command line of the eval harness.

Imported by reranker.cli at start, so it imports nothing heavy: ranx, bm25s and numba load
only when an eval command runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from reranker.eval.errors import EvalError
from reranker.fusion import DEFAULT_RRF_K, DEFAULT_WEIGHT, Fusion

DEFAULT_METRICS = ["ndcg@10", "mrr@10", "recall@100", "map"]
API_KEY_ENV = "RERANK_EVAL_API_KEY"
DEFAULT_TOP_K = 100


def _run(args: argparse.Namespace) -> int:
    from reranker.eval.first_stage import Bm25Config
    from reranker.eval.gate import check, run_settings
    from reranker.eval.pipeline import EvalOptions, run_eval
    from reranker.eval.report import markdown

    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request over --api-url
    top_k, max_queries, fusion = args.top_k, args.max_queries, _fusion(args)
    if args.gate is not None:  # the gate's table says how its thresholds were measured
        measured = run_settings(args.gate, args.dataset.resolve().name, args.split)
        top_k = top_k or measured.top_k
        max_queries = max_queries or measured.max_queries
        fusion = fusion or measured.fusion
    options = EvalOptions(
        dataset=args.dataset,
        split=args.split,
        model=args.model,
        out=args.out,
        api_url=args.api_url,
        api_key=os.environ.get(API_KEY_ENV),
        run_file=args.run_file,
        top_k=top_k or DEFAULT_TOP_K,
        bm25=Bm25Config(k1=args.k1, b=args.b, stemmer=args.stemmer),
        metrics=args.metrics,
        fusion=fusion,
        cache_dir=args.cache_dir,
        concurrency=args.concurrency,
        timeout=args.timeout,
        retries=args.retries,
        restart=args.restart,
        progress=not args.no_progress,
        max_queries=max_queries,
    )
    report = run_eval(options)
    sys.stdout.write(markdown(report) + "\n")
    if args.gate is None:
        return 0
    verdict = check(report, args.gate)
    sys.stdout.write(verdict.text() + "\n")
    return 0 if verdict.passed else 1


def _fusion(args: argparse.Namespace) -> Fusion | None:
    """Return the fusion the options ask for, checked before anything is scored."""
    if args.fuse is None:
        if args.fuse_weight is not None or args.fuse_k is not None:
            raise EvalError("--fuse-weight and --fuse-k need --fuse combsum or --fuse rrf")
        return None
    if args.fuse == "rrf" and args.fuse_weight is not None:
        raise EvalError("--fuse-weight applies to --fuse combsum (rrf takes --fuse-k)")
    if args.fuse == "combsum" and args.fuse_k is not None:
        raise EvalError("--fuse-k applies to --fuse rrf (combsum takes --fuse-weight)")
    weight = DEFAULT_WEIGHT if args.fuse_weight is None else args.fuse_weight
    return Fusion(args.fuse, weight=weight, k=DEFAULT_RRF_K if args.fuse_k is None else args.fuse_k)


def _weight(value: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return number


def _gate(args: argparse.Namespace) -> int:
    from reranker.eval.gate import check_file

    verdict = check_file(args.report, args.thresholds)
    sys.stdout.write(verdict.text() + "\n")
    return 0 if verdict.passed else 1


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def add_eval_command(commands: Any) -> None:
    """Add `eval run` and `eval gate` to the CLI's subcommands."""
    from reranker.eval.first_stage import default_cache_dir

    evaluate = commands.add_parser("eval", help="score BEIR datasets and gate on relevance (needs [eval])")
    sub = evaluate.add_subparsers(dest="eval_command", required=True)

    run = sub.add_parser(
        "run",
        help="first stage -> rerank -> ranx metrics, run files and a report",
        description="Rerank a BEIR dataset's first-stage candidates through RerankService (in process) "
        f"or a running API (--api-url; the key is read from ${API_KEY_ENV}). Exit 0, or 1 when "
        "--gate fails, or 2 on bad input.",
    )
    run.add_argument("dataset", type=Path, help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv")
    run.add_argument("--split", default="test")
    run.add_argument(
        "--model",
        default="default",
        help="a model folder (served in process like `reranker serve --model`), or a model name/alias "
        "of RERANK_MODELS or of the API (default: %(default)s)",
    )
    run.add_argument("--out", type=Path, help="output folder (default: eval-runs/<dataset>-<split>-<model>)")
    run.add_argument("--api-url", help="base URL of a running API; omitted: rerank in process")
    run.add_argument("--run-file", type=Path, help="TREC run file to use instead of BM25")
    run.add_argument(
        "--top-k",
        type=_positive,
        help=f"candidates reranked per query (default: the gate's, else {DEFAULT_TOP_K})",
    )
    run.add_argument("--k1", type=float, default=0.9, help="BM25 k1 (default: %(default)s, as Pyserini)")
    run.add_argument("--b", type=float, default=0.4, help="BM25 b (default: %(default)s, as Pyserini)")
    run.add_argument("--stemmer", default="porter", help="PyStemmer algorithm or 'none' (default: porter)")
    run.add_argument("--metrics", nargs="+", default=DEFAULT_METRICS, help="ranx metric names")
    run.add_argument(
        "--fuse",
        choices=["combsum", "rrf"],
        help="add the fused run, fused by the service exactly as the API's extra_body.fusion does "
        "(default: the gate's fusion, else none)",
    )
    run.add_argument(
        "--fuse-weight", type=_weight, help=f"combsum: the model's share, 0-1 (default {DEFAULT_WEIGHT})"
    )
    run.add_argument("--fuse-k", type=_positive, help=f"rrf: the rank offset (default {DEFAULT_RRF_K})")
    run.add_argument("--cache-dir", type=Path, default=default_cache_dir(), help="BM25 index cache")
    run.add_argument("--concurrency", type=_positive, default=4, help="requests in flight over HTTP")
    run.add_argument("--timeout", type=float, default=120.0, help="seconds per HTTP request")
    run.add_argument("--retries", type=int, default=5, help="retries on 429, 5xx and connection errors")
    run.add_argument("--restart", action="store_true", help="discard saved scores instead of resuming")
    run.add_argument(
        "--max-queries",
        type=_positive,
        help="only the first N judged queries by id (default: the gate's, else all)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress lines (done, rate, ETA)")
    run.add_argument("--gate", type=Path, help="thresholds file: exit 1 unless the run passes")
    run.set_defaults(run=_run)

    gate = sub.add_parser("gate", help="check a saved report.json against a thresholds file (exit 0/1)")
    gate.add_argument("report", type=Path)
    gate.add_argument("--thresholds", type=Path, required=True)
    gate.set_defaults(run=_gate)
