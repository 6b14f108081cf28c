"""Scorer knobs, one at a time: token budget, batch size, threads, graph optimisation at load, spinning.

Runs our OnnxModel (length-sorted token-budget batches, dynamic padding) in this one process on
rows tokenized once, so only the knob changes between configurations; configurations take
turns request by request and the figure is the median. Also prints where a request's time
goes (tokenize, pad, run) and what each session costs to create (the cold-start share).

    python benchmarks/tuning.py                    # ce int8, max_length 512, 100 documents
    python benchmarks/tuning.py --variant fp32 --max-length 256
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnxruntime as ort
from common import (
    DEFAULT_CACHE,
    QUERY,
    make_documents,
    median,
    model_setup,
    parse_csv_ints,
    print_header,
    print_table,
)

from reranker.scoring.batching import pad_batch, plan_batches
from reranker.scoring.runner import RowPlan
from reranker.scoring.session import OnnxModel
from reranker.scoring.tokenize import TextEncoder, load_tokenizer

NO_BUDGET = 1 << 20
KNOBS = ("budget", "batch", "threads", "level", "spinning")
LEVELS = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def make_session(
    path: Path, *, threads: int, level: str, spinning: bool
) -> tuple[ort.InferenceSession, float]:
    """Return a CPU session with these options and the seconds it took to create."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = LEVELS[level]
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    started = time.perf_counter()
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    return session, time.perf_counter() - started


def configurations(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Return the knob settings to compare; the first is the shipped default."""
    base = {"budget": args.budget, "batch": args.batch, "threads": 0, "level": "all", "spinning": True}
    variations: list[dict[str, Any]] = [base]
    if "budget" in args.knobs:
        variations += [{**base, "budget": b} for b in args.budgets if b != args.budget]
    if "batch" in args.knobs:
        variations += [{**base, "batch": n, "budget": NO_BUDGET} for n in (8, 32)]
    if "threads" in args.knobs:
        variations += [{**base, "threads": 1}]
    if "level" in args.knobs:
        variations += [{**base, "level": level} for level in ("disabled", "basic", "extended")]
    if "spinning" in args.knobs:
        variations += [{**base, "spinning": False}]
    return variations


def label(config: dict[str, Any], base: dict[str, Any]) -> str:
    """Return what differs from the default, e.g. "threads=1"."""
    if config["budget"] == NO_BUDGET:
        return f"batch size={config['batch']}, no token budget"
    changed = [f"{k}={v}" for k, v in config.items() if v != base[k]]
    return ", ".join(changed) or "default"


def time_breakdown(
    encoder: TextEncoder, model: OnnxModel, documents: Sequence[str], budget: int, batch: int
) -> dict[str, float]:
    """Return the seconds of tokenizing, planning+padding and running one request."""
    started = time.perf_counter()
    rows = encoder.encode_pairs(QUERY, documents, "end", None)
    tokenized = time.perf_counter()
    for indices in plan_batches([len(r) for r in rows], budget, batch):
        pad_batch([rows[i] for i in indices], encoder.pad_id)
    padded = time.perf_counter()
    model.run(rows)
    ran = time.perf_counter()
    return {"tokenize": tokenized - started, "pad": padded - tokenized, "run": ran - padded}


def run(args: argparse.Namespace) -> None:
    folder, _ = (
        (args.model_dir, None) if args.model_dir else model_setup("ce", args.max_length, args.cache_dir)
    )
    manifest = json.loads((folder / "model.json").read_text())
    path = folder / manifest["variants"][args.variant]
    documents = make_documents(args.docs, args.words)
    encoder = TextEncoder(load_tokenizer(str(folder / manifest["tokenizer"])), manifest["max_length"], None)
    rows = encoder.encode_pairs(QUERY, documents, "end", None)
    lengths = sorted(len(r) for r in rows)
    print_header(
        "tuning: our scorer's knobs, one at a time",
        {
            "model folder": folder.parent.name,
            "variant": args.variant,
            "max_length": manifest["max_length"],
            "documents": f"{args.docs} of {args.words} words; tokens per pair min/median/max "
            f"{lengths[0]}/{lengths[len(lengths) // 2]}/{lengths[-1]}",
            "load average at start": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        },
    )
    configs = configurations(args)
    models: list[OnnxModel] = []
    create_seconds: list[float] = []
    for config in configs:
        session, created = make_session(
            path, threads=config["threads"], level=config["level"], spinning=config["spinning"]
        )
        models.append(
            OnnxModel(
                session,
                RowPlan(
                    output="logits",
                    variant=args.variant,
                    pad_id=encoder.pad_id,
                    token_budget=config["budget"],
                    max_batch_size=config["batch"],
                ),
            )
        )
        create_seconds.append(created)
        models[-1].run(rows[:2])  # warm up
    timings: list[list[float]] = [[] for _ in configs]
    for rep in range(args.reps):
        shift = rep % len(configs)
        for index in [*range(shift, len(configs)), *range(shift)]:
            started = time.perf_counter()
            models[index].run(rows)
            timings[index].append(time.perf_counter() - started)
    base_rate = len(rows) / median(timings[0])
    table = []
    for config, runs, created in zip(configs, timings, create_seconds, strict=True):
        rate = len(rows) / median(runs)
        table.append(
            {
                "configuration": label(config, configs[0]),
                "median s": median(runs),
                "pairs/s": rate,
                "vs default": rate / base_rate,
                "session create s": created,
            }
        )
    print_table(table, list(table[0]))
    parts = [time_breakdown(encoder, models[0], documents, args.budget, args.batch) for _ in range(3)]
    total = {k: median(p[k] for p in parts) for k in parts[0]}
    whole = sum(total.values())
    print(
        "one request, default configuration: "
        + ", ".join(f"{k} {1000 * v:.1f} ms ({100 * v / whole:.1f}%)" for k, v in total.items())
    )
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variant", choices=["fp32", "int8"], default="int8")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--words", type=int, default=200)
    parser.add_argument("--reps", type=int, default=5, help="timed requests per configuration")
    parser.add_argument("--budget", type=int, default=None, help="default: the Settings default")
    parser.add_argument("--batch", type=int, default=None, help="default: the Settings default")
    parser.add_argument(
        "--knobs",
        type=lambda s: s.split(","),
        default=list(KNOBS),
        help=f"which to vary (of {','.join(KNOBS)})",
    )
    parser.add_argument("--budgets", type=parse_csv_ints, default=[512, 1024, 2048, 4096, 8192])
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--model-dir", type=Path, help="an exported cross-encoder folder to use instead")
    parser.add_argument("--quick", action="store_true", help="20 documents, 2 requests per configuration")
    args = parser.parse_args(argv)
    from reranker.config import Settings

    defaults = Settings()
    args.budget = args.budget or defaults.batch_token_budget
    args.batch = args.batch or defaults.max_batch_size
    if args.quick:
        args.docs, args.reps = 20, 2
    return args


if __name__ == "__main__":
    run(parse_args())
