"""Batch independence of scores, and what it costs: padded batches against one row per run.

For each model (MiniLM-L6 cross-encoder shape, all-MiniLM-L6-v2 bi-encoder), variant (int8,
fp32) and batching mode (`padded`: length-sorted padded batches, `rows`: every row alone, the
default `RERANK_ROWS_ALONE=true`), the first 10 of 100 documents of varied length are scored
under five conditions: alone, inside the 100-document request, in two shuffled orders of it, and
in a fresh scorer after unrelated traffic that shares half of them (so a bi-encoder's embedding
cache is filled by other batches first). `spread` is the largest max - min of one document's
score across the conditions; `moved` counts rank positions of the 100-document request that
differ between the fresh request and the one after traffic. Throughput is the median pairs/s
of the 100-document request over interleaved repeats.

    python benchmarks/determinism.py                  # both models, 2 lengths
    python benchmarks/determinism.py --models ce --repeats 5
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from common import DEFAULT_CACHE, QUERY, make_documents, median, model_setup, print_header, print_table

from reranker.choices import Precision
from reranker.config import Settings
from reranker.model_store.local import LocalModelStore
from reranker.registry import runtime_options
from reranker.scoring.loader import load_scorer
from reranker.scoring.types import ScoreOptions, Scorer

TARGETS = 10
COLUMNS = ("model", "variant", "mode", "spread", "moved", "pairs/s short", "pairs/s long", "cost")


def load(folder: Path, variant: Precision, mode: str, threads: int, cache: int = 20_000) -> Scorer:
    """Return a fresh scorer (an empty embedding cache of `cache` rows) in the given batching mode."""
    local = LocalModelStore().fetch(str(folder), label=folder.name)
    settings = Settings(
        precision=variant,
        rows_alone=mode == "rows",
        threads=threads,
        embedding_cache_size=cache,
    )
    return load_scorer(local.folder, local.manifest, runtime_options(settings))


def varied_documents(count: int, seed: int) -> list[str]:
    """Return `count` documents of 20 to 220 words, so padded batches really pad."""
    rng = random.Random(seed)
    return [" ".join(text.split()[: rng.randint(20, 220)]) for text in make_documents(count, 220, seed)]


def scores(scorer: Scorer, documents: Sequence[str]) -> np.ndarray:
    return scorer.score(QUERY, documents, ScoreOptions(raw_scores=True)).scores


def spread(folder: Path, variant: Precision, mode: str, threads: int) -> tuple[float, int]:
    """Return (largest score spread of one target document, rank positions moved by history)."""
    documents = varied_documents(100, seed=0)
    scorer = load(folder, variant, mode, threads)
    seen: list[list[float]] = [[] for _ in range(TARGETS)]
    for index in range(TARGETS):
        seen[index].append(float(scores(scorer, [documents[index]])[0]))
    full = scores(scorer, documents)
    for index in range(TARGETS):
        seen[index].append(float(full[index]))
    rng = random.Random(1)
    for _ in range(2):
        order = list(range(len(documents)))
        rng.shuffle(order)
        shuffled = scores(scorer, [documents[i] for i in order])
        position = {doc: at for at, doc in enumerate(order)}
        for index in range(TARGETS):
            seen[index].append(float(shuffled[position[index]]))
    fresh = load(folder, variant, mode, threads)
    scores(fresh, documents[::2] + varied_documents(50, seed=7))  # unrelated traffic first
    after = scores(fresh, documents)
    for index in range(TARGETS):
        seen[index].append(float(after[index]))
    worst = max(max(values) - min(values) for values in seen)
    ranks_full = np.argsort(-full, kind="stable")
    ranks_after = np.argsort(-after, kind="stable")
    return worst, int(np.sum(ranks_full != ranks_after))


def throughput(scorer: Scorer, documents: Sequence[str], repeats: int) -> list[float]:
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        scores(scorer, documents)
        rates.append(len(documents) / (time.perf_counter() - started))
    return rates


def run(args: argparse.Namespace) -> None:
    print_header("Batch independence and its cost", {"threads": args.threads or "all cores"})
    rows = []
    for kind in args.models:
        folder, _ = model_setup(kind, 512 if kind == "ce" else 256, args.cache)
        workloads = {"short": make_documents(100, 40, seed=3), "long": make_documents(100, 200, seed=4)}
        variants: tuple[Precision, ...] = ("int8", "fp32")
        for variant in variants:
            # No embedding cache here: repeats would time the cache, not the model.
            scorers = {
                mode: load(folder, variant, mode, args.threads, cache=0) for mode in ("padded", "rows")
            }
            for scorer in scorers.values():
                scores(scorer, workloads["short"][:4])  # warm-up
            rates: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.repeats):  # interleaved: machine noise hits both modes alike
                for mode, scorer in scorers.items():
                    for label, documents in workloads.items():
                        rates.setdefault((mode, label), []).extend(throughput(scorer, documents, 1))
            for mode in ("padded", "rows"):
                worst, moved = spread(folder, variant, mode, args.threads)
                short, long = median(rates[(mode, "short")]), median(rates[(mode, "long")])
                base = median(rates[("padded", "long")])
                rows.append(
                    {
                        "model": kind,
                        "variant": variant,
                        "mode": mode,
                        "spread": f"{worst:.3g}",
                        "moved": moved,
                        "pairs/s short": short,
                        "pairs/s long": long,
                        "cost": f"{(long / base - 1) * 100:+.0f}% long, "
                        f"{(short / median(rates[('padded', 'short')]) - 1) * 100:+.0f}% short",
                    }
                )
    print("spread: raw scores (log-odds or cosine); short: 40 words, long: 200 words, 100 documents")
    print_table(rows, COLUMNS)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=("ce", "bi"), default=["ce", "bi"])
    parser.add_argument("--repeats", type=int, default=3, help="interleaved throughput repeats")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime threads (0: all cores)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(parse_args())
