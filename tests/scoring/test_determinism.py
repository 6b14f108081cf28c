"""A document's score depends on that document alone: not on the request around it, nor on history.

Each model and variant scores ten target documents alone, inside a 100-document request, in
three shuffled orders of it, and in a fresh scorer after unrelated traffic that shares half of
them (which fills a bi-encoder's embedding cache from other requests first). Every score must be
bit-identical across all of these, on onnxruntime and on OpenVINO (fp32, bf16 and static int8).
The last test shows the check has teeth: with padded batches, dynamic int8 moves the same scores.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from reranker.choices import Precision
from reranker.config import Settings
from reranker.model_store.local import LocalModelStore
from reranker.registry import runtime_options
from reranker.scoring.graph_choice import probe_openvino
from reranker.scoring.loader import load_scorer
from reranker.scoring.types import ScoreOptions, Scorer

WORDS = (
    "apple river music doctor engine garden history ocean planet winter coffee market school forest "
    "bridge camera island pencil rocket silver protein immune vitamin signal pathway patient trial"
).split()
QUERY = "vitamin signal in the immune pathway of a patient"
TARGETS = 10


def documents(count: int, seed: int) -> list[str]:
    """Return documents of 3 to 90 words, so padded batches would really pad."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(3, 90))) for _ in range(count)]


def scorer(folder: Path, variant: Precision, **settings: object) -> Scorer:
    local = LocalModelStore().fetch(str(folder), label=folder.name)
    return load_scorer(local.folder, local.manifest, runtime_options(Settings(precision=variant, **settings)))  # type: ignore[arg-type]


def raw(model: Scorer, texts: list[str]) -> np.ndarray:
    return model.score(QUERY, texts, ScoreOptions(raw_scores=True)).scores


def scores_by_condition(folder: Path, variant: Precision, **settings: object) -> np.ndarray:
    """Return a (conditions x TARGETS) array: each target document's raw score under each condition."""
    docs = documents(100, seed=0)
    model = scorer(folder, variant, **settings)
    rows = [np.array([raw(model, [docs[i]])[0] for i in range(TARGETS)]), raw(model, docs)[:TARGETS]]
    rng = random.Random(1)
    for _ in range(3):
        order = list(range(len(docs)))
        rng.shuffle(order)
        shuffled = raw(model, [docs[i] for i in order])
        rows.append(np.array([shuffled[order.index(i)] for i in range(TARGETS)]))
    fresh = scorer(folder, variant, **settings)
    raw(fresh, docs[::2] + documents(50, seed=7))
    rows.append(raw(fresh, docs)[:TARGETS])
    return np.stack(rows)


RUNTIMES = [
    pytest.param("onnxruntime", "int8", id="onnxruntime-int8"),
    pytest.param("onnxruntime", "fp32", id="onnxruntime-fp32"),
    pytest.param("openvino", "fp32", id="openvino-fp32"),
    pytest.param("openvino", "int8", id="openvino-int8-static"),
    pytest.param(
        "openvino",
        "bf16",
        id="openvino-bf16",
        marks=pytest.mark.skipif(
            not probe_openvino().bf16,
            reason="bf16 needs openvino and a CPU with BF16 instructions (AVX512_BF16 or AMX)",
        ),
    ),
]


@pytest.mark.parametrize(("backend", "variant"), RUNTIMES)
def test_cross_encoder_scores_are_bit_identical_whatever_the_batch(
    tiny_cross_encoder_dir: Path, backend: str, variant: Precision
) -> None:
    seen = scores_by_condition(tiny_cross_encoder_dir, variant, runtime=backend)
    np.testing.assert_array_equal(seen, np.broadcast_to(seen[0], seen.shape))
    assert np.unique(seen[0]).size == TARGETS  # the targets really differ, so equality means something


@pytest.mark.parametrize(("backend", "variant"), RUNTIMES)
def test_bi_encoder_scores_are_bit_identical_whatever_the_batch(
    default_model_dir: Path, backend: str, variant: Precision
) -> None:
    seen = scores_by_condition(default_model_dir, variant, runtime=backend)
    np.testing.assert_array_equal(seen, np.broadcast_to(seen[0], seen.shape))
    assert np.unique(seen[0]).size == TARGETS


def test_padded_int8_batches_would_move_scores(default_model_dir: Path) -> None:
    """The failure the default guards against: one int8 scale per padded batch ties rows together."""
    seen = scores_by_condition(default_model_dir, "int8", rows_alone=False, runtime="onnxruntime")
    assert np.max(np.ptp(seen, axis=0)) > 1e-4
