"""Throughput when other work shares the cores: our scorer's thread settings against sentence-transformers.

On Lambda vCPUs are fractional and on a shared host other processes take the cores; onnxruntime's
worker threads spin while they wait, which can help on idle cores and hurt on busy ones. This
runs the same contenders with 0, 2 and 4 busy-loop processes beside them (`--hogs`), taking
turns request by request, so every load level compares them in one run.

    python benchmarks/contention.py                          # ce, 512, 100 docs of 200 words
    python benchmarks/contention.py --hogs 0,4 --quick

Contenders (`--contenders`): `ours` = our scorer as served (onnxruntime, rows one per core),
`ours-ov` = the same on OpenVINO, `one` = one row at a time on one thread (RERANK_THREADS=1),
`st` = sentence-transformers fp32, `flashrank` and `infinity-onnx` = the peers of compare.py
from the benchmark venv (`make bench-venv`; skipped with a line when it is missing); any
`name=RERANK_X=v;RERANK_Y=w` adds our scorer with those settings. Besides pairs/s, the table
gives `ours` over each peer at each level: the lead "holds" when those ratios stay within 20 %.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from common import (
    DEFAULT_CACHE,
    QUERY,
    make_documents,
    median,
    model_setup,
    parse_csv_ints,
    print_header,
    print_table,
    workload_source,
)
from compare import BENCH_PYTHON, Contender, spawn
from procs import Worker
from throughput import interleave

ONNXRUNTIME = {"RERANK_RUNTIME": "onnxruntime"}
BUILT_IN = {
    "ours": ONNXRUNTIME,
    "ours-ov": {"RERANK_RUNTIME": "openvino"},
    "one": {**ONNXRUNTIME, "RERANK_THREADS": "1"},
}
PEERS = ("st", "flashrank", "infinity-onnx")


def parse_contender(text: str) -> tuple[str, dict[str, str]]:
    """Return a contender's label and its RERANK_* environment ("st" has none)."""
    if text in BUILT_IN or text in PEERS:
        return text, BUILT_IN.get(text, {})
    label, _, settings = text.partition("=")
    env = dict(pair.split("=", 1) for pair in settings.split(";") if pair)
    if not label or not env or not all(key.startswith("RERANK_") for key in env):
        raise argparse.ArgumentTypeError(
            f"{text!r}: use {', '.join([*BUILT_IN, *PEERS])} or name=RERANK_X=v;RERANK_Y=w"
        )
    return label, env


@contextmanager
def hogs(count: int) -> Iterator[None]:
    """Run `count` busy-loop processes (the other tenants) for the duration of the block."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(0.5 if count else 0.0)
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def run(args: argparse.Namespace) -> None:
    folder, checkpoint = model_setup("ce", args.max_length, args.cache_dir)
    documents = make_documents(args.docs, args.words)
    print_header(
        "contention: pairs/s with busy processes beside the contenders",
        {
            "model": "MiniLM-L6 cross-encoder shape",
            "max_length": args.max_length,
            "documents": f"{args.docs} x {args.words} words, from {workload_source()}",
            "variant (ours)": args.variant,
            "load average at start": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        },
    )
    common = ["--folder", str(folder), "--checkpoint", str(checkpoint), "--kind", "ce"]
    common += ["--max-length", str(args.max_length)]
    workers: list[tuple[str, Worker]] = []
    for label, env in args.contenders:
        if label in ("flashrank", "infinity-onnx"):
            if not BENCH_PYTHON.exists():
                print(f"{label}: skipped, no benchmark venv ({BENCH_PYTHON}; make bench-venv)")
                continue
            worker = spawn(Contender(label, args.variant), folder, checkpoint, args.cache_dir, BENCH_PYTHON)
            assert isinstance(worker, Worker)
            workers.append((label, worker))
            continue
        kind = "st" if label == "st" else "scorer"
        variant = "fp32" if label == "st" else args.variant
        # contenders.py passes --threads to the scorer's Settings, where it overrides the environment.
        threads = ["--threads", env.get("RERANK_THREADS", "0")]
        workers.append((label, Worker(label, [kind, *common, *threads, "--variant", variant], env)))
    rates: dict[tuple[str, int], float] = {}
    try:
        for _, worker in workers:
            worker.wait_ready()
            worker.load(QUERY, {"docs": documents})
        for count in args.hogs:
            sys.stderr.write(f"{count} busy processes\n")
            with hogs(count):
                timings, _ = interleave([worker for _, worker in workers], [("docs", args.reps)], pause=0.2)
            for index, (label, _) in enumerate(workers):
                rates[(label, count)] = args.docs / median(timings[(index, "docs")])
    finally:
        for _, worker in workers:
            worker.close()
    rows: list[dict[str, object]] = []
    for label, _ in workers:
        row: dict[str, object] = {"contender": label}
        for count in args.hogs:
            rate = rates[(label, count)]
            st = rates.get(("st", count))
            row[f"{count} busy: pairs/s"] = rate
            row[f"{count} busy: x st"] = rate / st if st else float("nan")
        rows.append(row)
    columns = ["contender", *(f"{c} busy: {k}" for c in args.hogs for k in ("pairs/s", "x st"))]
    print_table(rows, columns)
    labels = [label for label, _ in workers]
    if "ours" in labels:
        leads: list[dict[str, object]] = []
        for peer in [label for label in labels if label != "ours"]:
            lead: dict[str, object] = {"ours over": peer}
            for count in args.hogs:
                lead[f"{count} busy"] = rates[("ours", count)] / rates[(peer, count)]
            first, last = args.hogs[0], args.hogs[-1]
            lead[f"{last} busy / {first} busy"] = (
                rates[("ours", last)] / rates[(peer, last)] / (rates[("ours", first)] / rates[(peer, first)])
            )
            leads.append(lead)
        print("ours / each contender at each level (the lead holds when the last column is 0.8-1.2):")
        print_table(leads, list(leads[0]))
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--words", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--variant", choices=["fp32", "int8"], default="int8")
    parser.add_argument("--hogs", type=parse_csv_ints, default=[0, 2], help="busy processes per level")
    parser.add_argument(
        "--contenders",
        type=lambda text: [parse_contender(part) for part in text.split(",")],
        default=[parse_contender(name) for name in ("ours", "ours-ov", "one", *PEERS)],
    )
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--quick", action="store_true", help="20 documents, 1 round per level")
    args = parser.parse_args(argv)
    if args.quick:
        args.docs, args.reps = 20, 1
    return args


if __name__ == "__main__":
    run(parse_args())
