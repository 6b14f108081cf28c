"""`reranker eval run | gate | compare`: the command line of the eval harness.

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
from reranker.eval.metrics import DEFAULT_METRICS
from reranker.fusion import DEFAULT_RRF_K, DEFAULT_WEIGHT, Fusion

API_KEY_ENV = "RERANK_EVAL_API_KEY"
DEFAULT_TOP_K = 100


def _run(args: argparse.Namespace) -> int:
    from reranker.eval.ci import write_ci_files
    from reranker.eval.first_stage import Bm25Config
    from reranker.eval.gating import measured_as, run_gated
    from reranker.eval.offline_fusion import parse
    from reranker.eval.pipeline import EvalOptions, run_eval
    from reranker.eval.report import markdown
    from reranker.eval.timing import Stopwatch, process_seconds

    watch = Stopwatch(before=process_seconds())
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request over --api-url
    top_k, max_queries, fusion = args.top_k, args.max_queries, _fusion(args)
    offline = None
    if args.fuse_offline is not None:
        offline = parse(
            args.fuse_offline, args.fuse_offline_weights, args.fuse_offline_param, args.fuse_offline_norm
        )
    elif args.fuse_offline_weights or args.fuse_offline_param or args.fuse_offline_norm != "min-max":
        raise EvalError("--fuse-offline-weights, -param and -norm need --fuse-offline METHOD")
    if args.gate is not None:  # the gate's table says how its thresholds were measured
        top_k, max_queries, fusion = measured_as(
            args.gate, args.dataset, args.split, top_k, max_queries, fusion
        )
    options = EvalOptions(
        dataset=args.dataset,
        split=args.split,
        model=args.model,
        out=args.out,
        api_url=args.api_url,
        api_key=os.environ.get(API_KEY_ENV),
        run_file=args.run_file,
        top_k=top_k or DEFAULT_TOP_K,
        bm25=Bm25Config(k1=args.k1, b=args.b, stemmer=args.stemmer, tokenizer=args.tokenizer),
        metrics=args.metrics,
        fusion=fusion,
        offline_fusion=offline,
        cache_dir=args.cache_dir,
        concurrency=args.concurrency,
        timeout=args.timeout,
        retries=args.retries,
        restart=args.restart,
        progress=not args.no_progress,
        max_queries=max_queries,
    )
    if args.gate is None:
        sys.stdout.write(markdown(run_eval(options, watch=watch)) + "\n")
        return 0
    gated = run_gated(options, args.gate, watch=watch)
    sys.stdout.write(markdown(gated.report) + "\n")
    sys.stdout.write(gated.verdict.text() + "\n")
    write_ci_files(gated, args.junit, args.summary)
    return 0 if gated.verdict.passed else 1


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


def _compare(args: argparse.Namespace) -> int:
    from reranker.eval.compare import compare_runs, markdown

    result = compare_runs(
        args.a,
        args.b,
        run_a=args.run_a,
        run_b=args.run_b or args.run_a,
        metrics=args.metrics,
        stat_test=args.test,
        max_p=args.max_p,
        top=args.top,
    )
    sys.stdout.write(markdown(result))
    return 0


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def add_eval_command(commands: Any) -> None:
    """Add `eval run`, `eval gate` and `eval compare` to the CLI's subcommands."""
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
    run.add_argument(
        "--split", default="test", help="qrels split to evaluate: qrels/<split>.tsv (default: %(default)s)"
    )
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
    run.add_argument(
        "--tokenizer",
        default="lucene",
        help="BM25 tokens: lucene (StandardTokenizer's UAX #29 rules, as Pyserini) or regex "
        "(the older \\w+ words) (default: %(default)s)",
    )
    run.add_argument(
        "--stemmer",
        default="porter",
        help="porter (Lucene's PorterStemFilter), snowball (Snowball English), none, or any PyStemmer "
        "algorithm (default: %(default)s)",
    )
    run.add_argument("--metrics", nargs="+", default=list(DEFAULT_METRICS), help="ranx metric names")
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
    run.add_argument(
        "--fuse-offline",
        metavar="METHOD",
        help="also fuse first stage and reranked offline with any ranx method (wsum, rrf, bordafuse, ...): "
        "its own run offline_METHOD, NOT what the service serves; see docs/eval.md",
    )
    run.add_argument(
        "--fuse-offline-weights",
        nargs=2,
        type=float,
        metavar=("FIRST_STAGE", "RERANKED"),
        help="weights of the weighted methods (wsum, wmnz, mixed, w_bordafuse, w_condorcet)",
    )
    run.add_argument(
        "--fuse-offline-param",
        action="append",
        metavar="NAME=VALUE",
        help="a method parameter: rrf k, rbc phi, gmnz gamma, logn_isr sigma, probfuse n_segments, "
        "slidefuse w (repeatable)",
    )
    run.add_argument(
        "--fuse-offline-norm",
        default="min-max",
        help="ranx score normalisation before fusing (default: min-max)",
    )
    run.add_argument(
        "--cache-dir",
        type=Path,
        default=default_cache_dir(),
        help="BM25 indexes and numba's compiled ranx kernels (default: %(default)s)",
    )
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
    run.add_argument(
        "--junit",
        type=Path,
        metavar="FILE",
        help="with --gate: write the verdict as JUnit XML (one testcase per check)",
    )
    run.add_argument(
        "--summary",
        type=Path,
        metavar="FILE",
        help="with --gate: write the report and verdict as Markdown (a CI job summary)",
    )
    run.set_defaults(run=_run, extra="eval")

    gate = sub.add_parser("gate", help="check a saved report.json against a thresholds file (exit 0/1)")
    gate.add_argument("report", type=Path)
    gate.add_argument("--thresholds", type=Path, required=True)
    gate.set_defaults(run=_gate)

    compare = sub.add_parser(
        "compare",
        help="diff two saved runs query by query, with the paired test",
        description="Compare run B against run A (run folders, or their report.json) on the same dataset "
        "and queries, from the per_query.tsv beside each report. Exit 0, or 2 on bad input.",
    )
    compare.add_argument("a", type=Path, help="run folder of A (the baseline)")
    compare.add_argument("b", type=Path, help="run folder of B")
    compare.add_argument(
        "--run-a", default="reranked", help="run of A: first_stage, reranked, fused, offline_..."
    )
    compare.add_argument("--run-b", help="run of B (default: the same name as --run-a)")
    compare.add_argument("--metrics", nargs="+", help="metrics to compare (default: all that both have)")
    compare.add_argument("--test", choices=["student", "fisher"], default="student", help="paired test")
    compare.add_argument("--max-p", type=float, default=0.05, help="significance level (default: 0.05)")
    compare.add_argument("--top", type=_positive, default=10, help="queries listed per side (default: 10)")
    compare.set_defaults(run=_compare)


def _alias_store(args: argparse.Namespace, target: str) -> tuple[Any, str, str, Any]:
    """Return (alias store, model, alias, fetch) for `<root>/<name>@<alias>`."""
    from reranker.config import load_settings
    from reranker.model_store.aliases import alias_store_for, split_alias

    named = split_alias(target)
    if named is None:
        raise EvalError(
            f"{target!r} names no alias: use <root>/<name>@<alias>, e.g. s3://bucket/models/m@prod"
        )
    root, model, alias = named
    settings = load_settings(s3_endpoint_url=args.endpoint_url) if args.endpoint_url else load_settings()
    if root.startswith("s3://"):
        from reranker.model_store.s3 import S3ModelStore
        from reranker.model_store.s3client import build_s3_client

        client = build_s3_client(settings, max_attempts=settings.s3_max_attempts)
        s3 = S3ModelStore(settings, client=client)
        return alias_store_for(root, client), model, alias, lambda uri: s3.fetch(uri, label=model).folder
    return alias_store_for(root), model, alias, Path


def _promote(args: argparse.Namespace) -> int:
    from reranker.eval.promotion import GateRefused, PromotionRequest, promote

    store, model, alias, fetch = _alias_store(args, args.target)
    request = PromotionRequest(
        model=model,
        alias=alias,
        version=args.version,
        gate=args.gate,
        dataset=args.dataset,
        split=args.split,
        by=args.by,
        reason=args.reason,
        force=args.force,
        report=args.report,
        cache_dir=args.cache_dir,
    )
    try:
        done = promote(request, store, fetch)
    except GateRefused as exc:
        if exc.verdict is not None:
            sys.stdout.write(exc.verdict.text() + "\n")
        sys.stderr.write(f"reranker: {exc.message}\n")
        return 1
    record = done.record
    if done.verdict is not None:
        sys.stdout.write(done.verdict.text() + "\n")
    was = f" (was {record.previous['version']})" if record.previous else " (new alias)"
    how = "FORCED, gate skipped: " + str(record.reason) if record.forced else "gate passed"
    reused = ", report reused" if done.reused else ""
    sys.stdout.write(
        f"promoted {model}@{alias} -> version {record.version}{was}; {how}{reused}; "
        f"fingerprint {record.fingerprint[:12]}, record #{record.seq} by {record.by}\n"
    )
    return 0


def _history(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    store, model, alias, _ = _alias_store(args, args.target)
    records = store.history(model, alias)
    if args.json:
        sys.stdout.write(json.dumps([asdict(r) for r in records], indent=2) + "\n")
        return 0
    sys.stdout.write("SEQ  AT                         VERSION  FROM  BY  GATE  REASON\n")
    for r in records:
        gate = "forced" if r.forced else ("pass" if r.gate and r.gate.get("passed") else "?")
        was = r.previous["version"] if r.previous else "-"
        sys.stdout.write(f"{r.seq:<4} {r.at:<26} {r.version:<8} {was:<5} {r.by}  {gate}  {r.reason or ''}\n")
    return 0


def add_promotion_commands(model_commands: Any) -> None:
    """Add `promote` and `history` under `reranker models` (store aliases, gated)."""
    from reranker.eval.first_stage import default_cache_dir

    endpoint_help = "S3-compatible endpoint; default RERANK_S3_ENDPOINT_URL or AWS"
    promote = model_commands.add_parser(
        "promote",
        help="move a store alias to a version, only if the relevance gate passes for it",
        description="Gate VERSION (eval run --gate, or a saved report for that fingerprint and gate "
        "file) and move <root>/<name>@<alias> to it, with an audit record. Exit 0 moved, 1 refused, "
        "2 bad input.",
    )
    promote.add_argument("target", help="the alias: s3://bucket/models/NAME@ALIAS or FOLDER/NAME@ALIAS")
    promote.add_argument("version", help="the published version to move it to")
    promote.add_argument("--gate", type=Path, required=True, help="thresholds file (eval/gates.toml)")
    promote.add_argument("--dataset", type=Path, required=True, help="BEIR folder the gate has a table for")
    promote.add_argument("--split", default="test", help="qrels split (default: %(default)s)")
    promote.add_argument(
        "--report", type=Path, help="a gated run's folder or report.json to use instead of running"
    )
    promote.add_argument("--by", required=True, help="who promotes (recorded)")
    promote.add_argument("--reason", help="why (recorded; required with --force)")
    promote.add_argument("--force", action="store_true", help="move without the gate (needs --reason)")
    promote.add_argument(
        "--cache-dir", type=Path, default=default_cache_dir(), help="BM25 indexes and gate runs"
    )
    promote.add_argument("--endpoint-url", help=endpoint_help)
    promote.set_defaults(run=_promote, extra="eval")

    history = model_commands.add_parser("history", help="list the recorded moves of a store alias")
    history.add_argument("target", help="s3://bucket/models/NAME@ALIAS or FOLDER/NAME@ALIAS")
    history.add_argument("--json", action="store_true", help="print the records as JSON")
    history.add_argument("--endpoint-url", help=endpoint_help)
    history.set_defaults(run=_history)
