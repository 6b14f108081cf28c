"""Throughput, latency and peak RSS: our API and scorer against sentence-transformers and a naive ONNX loop.

One query against N documents of ~200 words, on the same weights: the MiniLM-L6 cross-encoder
shape (`--model ce`, the default) or the default bi-encoder all-MiniLM-L6-v2 (`--model bi`).
Every contender runs in its own child process (so RSS is its own) and they take turns request by
request (so machine noise hits all alike); figures are medians over the repeats and the
`x st` ratios come from this run only.

    python benchmarks/throughput.py                      # ce, max_length 512, 10 and 100 docs
    python benchmarks/throughput.py --max-length 256 --sizes 10,100,1000
    python benchmarks/throughput.py --model bi --quick
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from common import (
    DEFAULT_CACHE,
    QUERY,
    make_documents,
    median,
    model_setup,
    parse_csv_ints,
    percentile,
    print_header,
    print_table,
    workload_source,
)
from procs import ApiServer, Worker

ALL_CONTENDERS = ("api", "scorer", "st", "naive")
COLUMNS = (
    "contender",
    "variant",
    "docs",
    "requests",
    "p50 ms",
    "p95 ms",
    "pairs/s",
    "x st",
    "peak RSS MB",
    "rank corr vs ours fp32",
)


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Return Spearman's rho (no tie correction: scores here are continuous)."""
    if len(a) < 2:
        return float("nan")
    ranks_a = np.argsort(np.argsort(a)).astype(float)
    ranks_b = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ranks_a, ranks_b)[0, 1])


def repeats_for(size: int, reps: int) -> int:
    """Return how many timed requests a set of `size` documents gets: fewer as sets grow."""
    return max(1, round(reps * min(3.0, 100 / size)))


Timings = dict[tuple[int, str], list[float]]


def interleave(
    processes: Sequence[Worker | ApiServer], rounds: Sequence[tuple[str, int]], pause: float
) -> tuple[Timings, Timings]:
    """Score each (set name, repeats) round on every process in turn; return seconds and first scores.

    Both are keyed by (process index, set name). Who goes first rotates every repeat, so no
    contender always follows the same neighbour and machine noise hits all alike.
    """
    timings: Timings = {}
    first_scores: Timings = {}
    for name, repeats in rounds:
        for rep in range(repeats):
            sys.stderr.write(f"set {name}, round {rep + 1}/{repeats}\n")
            shift = rep % len(processes)
            for index in [*range(shift, len(processes)), *range(shift)]:
                seconds, scores = processes[index].score(name)
                timings.setdefault((index, name), []).append(seconds)
                first_scores.setdefault((index, name), scores)
                time.sleep(pause)
    return timings, first_scores


def start_contenders(
    args: argparse.Namespace, folder: Path, checkpoint: Path
) -> list[tuple[str, str, Worker | ApiServer]]:
    common_args = ["--folder", str(folder), "--checkpoint", str(checkpoint), "--kind", args.model]
    common_args += ["--max-length", str(args.max_length), "--threads", str(args.threads)]
    # The bi-encoder's embedding cache would answer every repeat of the same documents from
    # memory; it is off unless --embedding-cache, so every request is computed.
    env = {"RERANK_THREADS": str(args.threads)}
    if not args.embedding_cache:
        env["RERANK_EMBEDDING_CACHE_SIZE"] = "0"
    started: list[tuple[str, str, Worker | ApiServer]] = []
    for contender in args.contenders:
        for variant in ("fp32",) if contender == "st" else args.variants:
            label = f"{contender} {variant}"
            if contender == "api":
                started.append((contender, variant, ApiServer(label, folder, variant, env)))
            else:
                worker_args = [contender, *common_args, "--variant", variant]
                started.append((contender, variant, Worker(label, worker_args, env)))
    for _, _, process in started:  # started together, waited for in turn: loading overlaps
        process.wait_ready()
    return started


def run(args: argparse.Namespace) -> None:
    folder, checkpoint = (
        (args.model_dir, args.checkpoint)
        if args.model_dir
        else model_setup(args.model, args.max_length, args.cache_dir, args.rebuild)
    )
    sets = {str(n): make_documents(n, args.words) for n in args.sizes}
    print_header(
        "throughput: 1 query x N documents",
        {
            "model": "MiniLM-L6 cross-encoder shape" if args.model == "ce" else "all-MiniLM-L6-v2 bi-encoder",
            "model folder": folder.parent.name,
            "max_length": args.max_length,
            "documents": f"{args.words} words each, from {workload_source()}",
            "threads": args.threads or "library default (all cores)",
            "our embedding cache": "on" if args.embedding_cache else "off (every request computed)",
            "load average at start": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        },
    )
    contenders = start_contenders(args, folder, checkpoint)
    try:
        for _, _, process in contenders:
            process.load(QUERY, sets)
        rounds = [(str(size), repeats_for(size, args.reps)) for size in args.sizes]
        started = time.perf_counter()
        timings, first_scores = interleave([process for _, _, process in contenders], rounds, args.pause)
        elapsed = time.perf_counter() - started
        rss = [process.peak_rss_mb() for _, _, process in contenders]
    finally:
        for _, _, process in contenders:
            process.close()

    reference = next((i for i, (c, v, _) in enumerate(contenders) if c == "scorer" and v == "fp32"), None)
    st_index = next((i for i, (c, _, _) in enumerate(contenders) if c == "st"), None)
    rows: list[dict[str, object]] = []
    for size in args.sizes:
        key = str(size)
        st_rate = size / median(timings[(st_index, key)]) if st_index is not None else float("nan")
        for index, (contender, variant, _) in enumerate(contenders):
            seconds = timings[(index, key)]
            rate = size / median(seconds)
            corr = (
                spearman(first_scores[(index, key)], first_scores[(reference, key)])
                if reference is not None
                else float("nan")
            )
            rows.append(
                {
                    "contender": contender,
                    "variant": variant if contender != "st" else "fp32 (PyTorch)",
                    "docs": size,
                    "requests": len(seconds),
                    "p50 ms": 1000 * median(seconds),
                    "p95 ms": 1000 * percentile(seconds, 95),
                    "pairs/s": rate,
                    "x st": rate / st_rate,
                    "peak RSS MB": rss[index],
                    "rank corr vs ours fp32": corr,
                }
            )
    print_table(rows, COLUMNS)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"timed section: {elapsed:.0f} s; load average at end: {load}")
    print(
        "pairs/s = documents / median request seconds; api includes HTTP and JSON; st = sentence-transformers"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", choices=["ce", "bi"], default="ce", help="cross-encoder or bi-encoder")
    parser.add_argument("--max-length", type=int, default=None, help="default: 512 (ce), 256 (bi)")
    parser.add_argument(
        "--sizes", type=parse_csv_ints, default=None, help="documents per request (default 10,100)"
    )
    parser.add_argument("--words", type=int, default=200, help="words per document")
    parser.add_argument("--reps", type=int, default=3, help="timed requests per contender at 100 documents")
    parser.add_argument("--variants", type=lambda s: s.split(","), default=["fp32", "int8"])
    parser.add_argument("--contenders", type=lambda s: s.split(","), default=list(ALL_CONTENDERS))
    parser.add_argument(
        "--threads", type=int, default=0, help="intra-op threads for every contender (0: default)"
    )
    parser.add_argument(
        "--pause", type=float, default=0.2, help="seconds between requests (lets spinning threads settle)"
    )
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument(
        "--rebuild", action="store_true", help="re-export the cached model (after exporter changes)"
    )
    parser.add_argument(
        "--model-dir", type=Path, help="an exported model folder to use instead of building one"
    )
    parser.add_argument("--checkpoint", type=Path, help="its PyTorch checkpoint (with --model-dir)")
    parser.add_argument(
        "--embedding-cache", action="store_true", help="leave our bi-encoder's embedding cache on"
    )
    parser.add_argument("--quick", action="store_true", help="10 documents, 3 requests each")
    args = parser.parse_args(argv)
    if args.model_dir and not args.checkpoint:
        parser.error("--model-dir needs --checkpoint")
    unknown = set(args.contenders) - set(ALL_CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders {sorted(unknown)}; choose from {list(ALL_CONTENDERS)}")
    args.max_length = args.max_length or (512 if args.model == "ce" else 256)
    if args.quick:
        args.sizes, args.reps = args.sizes or [10], 1
    args.sizes = args.sizes or [10, 100]
    return args


if __name__ == "__main__":
    run(parse_args())
