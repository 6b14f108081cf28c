"""A verified model folder -> a ready scorer of the kind its manifest names, on the chosen runtime."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import onnxruntime as ort

from reranker.manifest import Manifest
from reranker.scoring.bi_encoder import BiEncoderScorer
from reranker.scoring.cross_encoder import CrossEncoderScorer
from reranker.scoring.embedding_cache import EmbeddingCache
from reranker.scoring.graph_choice import GraphChoice, choose_graph
from reranker.scoring.prompt import PromptEncoder
from reranker.scoring.runner import GraphRunner, RowPlan
from reranker.scoring.session import OnnxModel, create_session
from reranker.scoring.tokenize import TextEncoder, load_tokenizer
from reranker.scoring.types import RuntimeOptions, Scorer

logger = logging.getLogger(__name__)

OUTPUT_BY_KIND = {"cross-encoder": "logits", "bi-encoder": "embeddings"}


def load_scorer(folder: Path, manifest: Manifest, options: RuntimeOptions) -> Scorer:
    """Return a scorer over the graph `choose_graph` picks (fp32 when int8 was not exported)."""
    choice = choose_graph(manifest, options)
    logger.info(
        "graph chosen",
        extra={
            "model": manifest.name,
            "runtime": choice.runtime,
            "variant": choice.label,
            "file": choice.graph,
        },
    )
    tokenizer = load_tokenizer(str(folder / manifest.tokenizer))
    encoder = TextEncoder(tokenizer, manifest.max_length, options.max_query_tokens)
    prompted = (
        PromptEncoder(tokenizer, manifest.prompt, manifest.max_length, options.max_query_tokens)
        if manifest.prompt is not None
        else None
    )
    model = load_runner(folder, manifest, options, choice, pad_id=encoder.pad_id)
    if manifest.kind == "cross-encoder":
        return CrossEncoderScorer(manifest, prompted or encoder, model)
    return BiEncoderScorer(manifest, encoder, model, EmbeddingCache(options.embedding_cache_size))


def usable_cores() -> int:
    """Return the cores this process may run on (its affinity mask, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def load_runner(
    folder: Path, manifest: Manifest, options: RuntimeOptions, choice: GraphChoice, *, pad_id: int
) -> GraphRunner:
    """Return the chosen graph loaded by its runtime.

    Deterministic scoring runs every row alone: a request of several rows runs one row per core
    at once, each on one thread (`RERANK_THREADS` rows at once, 0: every core; measured 1.17-1.27x
    the pairs/s of one row at a time on two threads, docs/benchmarks.md), and a request of one
    row runs it on every thread. Batched scoring (GPUs) runs one batch at a time on
    `RERANK_THREADS` threads. OpenVINO runs one stream per core, one thread each.
    """
    cores = options.threads or usable_cores()
    workers = cores if options.rows_alone else 1
    plan = RowPlan(
        output=OUTPUT_BY_KIND[manifest.kind],
        variant=choice.label,
        pad_id=pad_id,
        token_budget=options.batch_token_budget,
        max_batch_size=1 if options.rows_alone else options.max_batch_size,
        workers=workers,
    )
    if choice.runtime == "openvino":
        from reranker.scoring.openvino_runtime import OpenVinoModel, compile_graph

        threads = 1 if workers > 1 else options.threads
        compiled = compile_graph(folder / choice.graph, choice, threads=threads, streams=workers)
        return OpenVinoModel(compiled, plan)

    def open_session(threads: int) -> ort.InferenceSession:
        graph = folder / choice.graph
        return create_session(
            graph, threads=threads, providers=options.device, spin_threads=options.spin_threads
        )

    one_thread = (lambda: open_session(1)) if workers > 1 else None
    return OnnxModel(open_session(options.threads), plan, one_thread)
