"""The in-process contenders, each run alone in a child process (`python benchmarks/contenders.py`).

One process per contender keeps peak RSS and imports apart. The parent drives the child over
stdin/stdout with one JSON object per line, so it can interleave contenders request by request:

    -> {"op": "docs", "query": "...", "sets": {"100": ["...", ...]}}   <- {"ok": true}
    -> {"op": "score", "set": "100"}   <- {"seconds": wall, "cpu": cpu seconds, "scores": [...]}
    -> {"op": "rss"}                   <- {"peak_rss_mb": ...}

Contenders: `scorer` (our scorer, reranker.scoring.loader.load_scorer), `st` (sentence-transformers
on PyTorch), `naive` (onnxruntime on our ONNX file, fixed padding to max_length, input order,
batches of 32: the loop most ONNX rerankers ship), and the other rerankers, which run under the
benchmark venv's python (.venv-bench, `make bench-venv`) and import nothing of ours: `flashrank`
(FlashRank's Ranker on a folder compare.py lays out with our int8 ONNX file), `infinity-onnx` and
`infinity-torch` (infinity-emb's rerank engine, in process, on folders compare.py lays out).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

Score = Callable[[str, Sequence[str]], Sequence[float]]
NAIVE_BATCH = 32


def _scorer(folder: Path, variant: str, threads: int, **_: Any) -> Score:
    from reranker.config import Settings
    from reranker.model_store.local import LocalModelStore
    from reranker.registry import runtime_options
    from reranker.scoring.loader import load_scorer
    from reranker.scoring.types import ScoreOptions

    local = LocalModelStore().fetch(str(folder), label=folder.name)
    settings = Settings(precision=variant, threads=threads)
    scorer = load_scorer(local.folder, local.manifest, runtime_options(settings))
    options = ScoreOptions()

    def score(query: str, documents: Sequence[str]) -> Sequence[float]:
        return [float(s) for s in scorer.score(query, documents, options).scores]

    return score


def _sentence_transformers(checkpoint: Path, kind: str, max_length: int, threads: int, **_: Any) -> Score:
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch

    if threads:
        torch.set_num_threads(threads)
    if kind == "ce":
        from sentence_transformers import CrossEncoder

        model = CrossEncoder(str(checkpoint), max_length=max_length, device="cpu")

        def score_ce(query: str, documents: Sequence[str]) -> Sequence[float]:
            scores = model.predict([(query, d) for d in documents], batch_size=32, show_progress_bar=False)
            return [float(s) for s in scores]

        return score_ce
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(str(checkpoint), device="cpu")
    encoder.max_seq_length = max_length

    def score_bi(query: str, documents: Sequence[str]) -> Sequence[float]:
        vectors = encoder.encode([query, *documents], batch_size=32, normalize_embeddings=True)
        return [float(s) for s in vectors[1:] @ vectors[0]]

    return score_bi


def _naive(folder: Path, variant: str, kind: str, max_length: int, threads: int, **_: Any) -> Score:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    manifest = json.loads((folder / "model.json").read_text())
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(folder / manifest["variants"][variant]), options)
    names = {node.name for node in session.get_inputs()}
    tokenizer = Tokenizer.from_file(str(folder / manifest["tokenizer"]))
    tokenizer.enable_truncation(max_length, strategy="only_second" if kind == "ce" else "longest_first")
    tokenizer.enable_padding(length=max_length)

    def run(encodings: Sequence[Any]) -> Any:
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        return session.run(None, {k: v for k, v in feed.items() if k in names})[0]

    def score(query: str, documents: Sequence[str]) -> Sequence[float]:
        outputs = []
        texts: list[Any] = [(query, d) for d in documents] if kind == "ce" else [query, *documents]
        for start in range(0, len(texts), NAIVE_BATCH):
            outputs.append(run(tokenizer.encode_batch(texts[start : start + NAIVE_BATCH])))
        stacked = np.concatenate(outputs)
        if kind == "ce":
            return [float(s) for s in 1.0 / (1.0 + np.exp(-stacked[:, 0]))]
        unit = stacked / np.linalg.norm(stacked, axis=1, keepdims=True)
        return [float(s) for s in unit[1:] @ unit[0]]

    return score


# The file FlashRank's Ranker loads from its model folder (compare.py links our graph there).
FLASHRANK_MODEL_FILE = "model.onnx"


def _by_index(count: int, pairs: Sequence[tuple[int, float]]) -> list[float]:
    """Return scores in input order from (input index, score) pairs of a ranked answer."""
    scores = [0.0] * count
    for index, value in pairs:
        scores[index] = float(value)
    return scores


def _flashrank(folder: Path, max_length: int, **_: Any) -> Score:
    # Imported by name: FlashRank lives in the benchmark venv only, so mypy never sees it.
    flashrank = importlib.import_module("flashrank")
    # Ranker only knows the model names of its own download map; ours is registered in that map
    # so Ranker finds the folder already there and never reaches for the network.
    importlib.import_module("flashrank.Config").model_file_map[folder.name] = FLASHRANK_MODEL_FILE
    ranker = flashrank.Ranker(
        model_name=folder.name, cache_dir=str(folder.parent), max_length=max_length, log_level="WARNING"
    )

    def score(query: str, documents: Sequence[str]) -> Sequence[float]:
        passages = [{"id": i, "text": d} for i, d in enumerate(documents)]
        ranked = ranker.rerank(flashrank.RerankRequest(query=query, passages=passages))
        return _by_index(len(documents), [(p["id"], p["score"]) for p in ranked])

    return score


def _infinity(folder: Path, engine: str) -> Score:
    infinity = importlib.import_module("infinity_emb")
    # infinity-emb 0.0.78 hands optimum the ONNX file's path as globbed under model_name_or_path, and
    # optimum 2.x accepts a bare file name only: "." (the child runs in the folder) makes it one.
    os.chdir(folder)
    engine_args = infinity.EngineArgs(model_name_or_path=".", engine=engine, device="cpu", model_warmup=False)
    model = infinity.AsyncEmbeddingEngine.from_args(engine_args)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(model.astart())

    def score(query: str, documents: Sequence[str]) -> Sequence[float]:
        results, _ = loop.run_until_complete(model.rerank(query=query, docs=list(documents)))
        return _by_index(len(documents), [(r.index, r.relevance_score) for r in results])

    return score


def _infinity_onnx(folder: Path, **_: Any) -> Score:
    return _infinity(folder, "optimum")


def _infinity_torch(folder: Path, **_: Any) -> Score:
    return _infinity(folder, "torch")


FACTORIES: dict[str, Callable[..., Score]] = {
    "scorer": _scorer,
    "st": _sentence_transformers,
    "naive": _naive,
    "flashrank": _flashrank,
    "infinity-onnx": _infinity_onnx,
    "infinity-torch": _infinity_torch,
}


def own_peak_rss_mb() -> float:
    """Return this process's VmHWM: ru_maxrss would carry a large parent's peak across exec."""
    with open("/proc/self/status") as status:
        found = re.search(r"^VmHWM:\s+(\d+)", status.read(), re.MULTILINE)
    return int(found.group(1)) / 1024 if found else float("nan")


def serve_commands(score: Score) -> None:
    """Answer the parent's commands on stdin until it closes the pipe."""
    query = ""
    sets: dict[str, list[str]] = {}
    for line in sys.stdin:
        command = json.loads(line)
        reply: dict[str, Any]
        if command["op"] == "docs":
            query, sets = command["query"], command["sets"]
            reply = {"ok": True}
        elif command["op"] == "score":
            cpu, wall = time.process_time(), time.perf_counter()
            scores = score(query, sets[command["set"]])
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            reply = {"seconds": wall, "cpu": cpu, "scores": list(scores)}
        else:
            reply = {"peak_rss_mb": own_peak_rss_mb()}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("contender", choices=sorted(FACTORIES))
    parser.add_argument(
        "--folder", type=Path, required=True, help="exported model folder (or the contender's own)"
    )
    parser.add_argument("--checkpoint", type=Path, required=True, help="PyTorch checkpoint folder")
    parser.add_argument("--kind", choices=["ce", "bi"], required=True)
    parser.add_argument("--variant", default="fp32", help="a variant of the model folder (fp32, int8)")
    parser.add_argument("--max-length", type=int, required=True)
    parser.add_argument("--threads", type=int, default=0, help="0: the library's default")
    parser.add_argument("--query", default="warm up", help="the first (untimed) call's query")
    args = parser.parse_args()
    started = time.perf_counter()
    score = FACTORIES[args.contender](
        folder=args.folder,
        checkpoint=args.checkpoint,
        kind=args.kind,
        variant=args.variant,
        max_length=args.max_length,
        threads=args.threads,
    )
    loaded = time.perf_counter()
    score(args.query, ["a first call warms the session up"])
    ready = {"load_seconds": loaded - started, "first_call_seconds": time.perf_counter() - loaded}
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    serve_commands(score)


if __name__ == "__main__":
    main()
