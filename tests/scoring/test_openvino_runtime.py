"""The OpenVINO runner on real exported models: parity with onnxruntime, bf16, the static int8 IR, threads."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from reranker.config import Settings
from reranker.errors import ModelUnavailable
from reranker.export.parity import spearman
from reranker.manifest import parse_manifest
from reranker.model_store.local import LocalModelStore
from reranker.registry import runtime_options
from reranker.scoring.graph_choice import GraphChoice, probe_openvino
from reranker.scoring.loader import load_scorer
from reranker.scoring.openvino_runtime import compile_graph
from reranker.scoring.types import ScoreOptions, Scorer
from tests.scoring.test_determinism import QUERY, documents

# Measured on 100 documents (Xeon with AMX): tiny BERT 1.8e-7, all-MiniLM-L6-v2 4.5e-7.
FP32_TOLERANCE = 1e-5
# Measured: tiny BERT 0.9996, all-MiniLM-L6-v2 0.9999.
BF16_MIN_SPEARMAN = 0.99
# Static int8 IR against onnxruntime fp32 on 100 documents, measured: tiny BERT 0.9965, all-MiniLM-L6-v2
# 0.9658 (onnxruntime dynamic int8 on the same: 0.9990, 0.9664).
STATIC_INT8_MIN_SPEARMAN = 0.95
needs_bf16 = pytest.mark.skipif(
    not probe_openvino().bf16,
    reason="bf16 needs openvino and a CPU with BF16 instructions (AVX512_BF16 or AMX)",
)


def load(folder: Path, **settings: object) -> Scorer:
    manifest = parse_manifest((folder / "model.json").read_bytes(), origin="test")
    return load_scorer(folder, manifest, runtime_options(Settings(**settings)))  # type: ignore[arg-type]


def raw(model: Scorer, texts: list[str]) -> np.ndarray:
    return model.score(QUERY, texts, ScoreOptions(raw_scores=True)).scores


@pytest.fixture(params=["tiny-ce", "all-minilm-l6-v2"])
def folder(request: pytest.FixtureRequest, tiny_cross_encoder_dir: Path, default_model_dir: Path) -> Path:
    return tiny_cross_encoder_dir if request.param == "tiny-ce" else default_model_dir


def test_fp32_scores_match_onnxruntime(folder: Path) -> None:
    docs = documents(100, seed=0)
    reference = raw(load(folder, runtime="onnxruntime", precision="fp32"), docs)
    model = load(folder, runtime="openvino", precision="fp32")
    assert (model.provider, model.variant) == ("OpenVINO CPU", "fp32")
    np.testing.assert_allclose(raw(model, docs), reference, atol=FP32_TOLERANCE, rtol=0)


@needs_bf16
def test_bf16_keeps_the_order_but_is_not_fp32(folder: Path) -> None:
    docs = documents(100, seed=0)
    reference = raw(load(folder, runtime="onnxruntime", precision="fp32"), docs)
    model = load(folder, runtime="openvino", precision="bf16")
    assert (model.provider, model.variant) == ("OpenVINO CPU", "bf16")
    got = raw(model, docs)
    assert spearman(got, reference) >= BF16_MIN_SPEARMAN
    # The hint is really bf16: an f32 run would match within 1e-5 (the test above).
    assert np.max(np.abs(got - reference)) > FP32_TOLERANCE


def test_the_int8_setting_opens_the_static_int8_ir(folder: Path, tmp_path: Path) -> None:
    """With the ONNX files gone, only the exported IR (.xml + .bin) can be what scores."""
    docs = documents(100, seed=0)
    reference = raw(load(folder, runtime="onnxruntime", precision="fp32"), docs)
    bare = tmp_path / "bare"
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix != ".onnx":
            (bare / path.relative_to(folder)).parent.mkdir(parents=True, exist_ok=True)
            (bare / path.relative_to(folder)).write_bytes(path.read_bytes())
    model = load(bare, runtime="openvino", precision="int8")
    assert (model.provider, model.variant) == ("OpenVINO CPU", "int8-static")
    got = raw(model, docs)
    # Quantized (so not fp32), keeping the order; its quality is the exporter's test (tests/export).
    assert np.max(np.abs(got - reference)) > FP32_TOLERANCE
    assert spearman(got, reference) >= STATIC_INT8_MIN_SPEARMAN
    # Auto serves onnxruntime's int8 (a quarter of the memory), so without its graph it cannot load.
    with pytest.raises(ModelUnavailable):
        load(bare, precision="int8")


def test_static_int8_has_its_own_fingerprint(folder: Path) -> None:
    local = LocalModelStore().fetch(str(folder), label=folder.name)
    served = load(folder, runtime="openvino", precision="int8")
    fingerprint = local.manifest.fingerprint(served.variant)
    assert fingerprint is not None
    assert fingerprint != local.manifest.fingerprint("int8")
    assert fingerprint != local.manifest.fingerprint("fp32")


def test_padded_batches_score_like_rows_alone(folder: Path) -> None:
    docs = documents(40, seed=5)
    alone = raw(load(folder, runtime="openvino", precision="fp32"), docs)
    batched = raw(load(folder, runtime="openvino", precision="fp32", rows_alone=False), docs)
    np.testing.assert_allclose(batched, alone, atol=FP32_TOLERANCE, rtol=0)


def test_threads_scoring_at_once_get_the_serial_scores(tiny_cross_encoder_dir: Path) -> None:
    model = load(tiny_cross_encoder_dir, runtime="openvino", precision="fp32", threads=1)
    batches = [documents(15, seed=seed) for seed in range(4)]
    serial = [raw(model, docs) for docs in batches]
    results: dict[int, np.ndarray] = {}

    def score(index: int) -> None:
        for _ in range(3):
            results[index] = raw(model, batches[index])

    threads = [threading.Thread(target=score, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for index, expected in enumerate(serial):
        np.testing.assert_array_equal(results[index], expected)


def test_a_graph_openvino_cannot_read_is_unavailable(tmp_path: Path) -> None:
    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"not a graph")
    with pytest.raises(ModelUnavailable, match="could not be compiled by OpenVINO"):
        compile_graph(broken, GraphChoice("openvino", "fp32", "fp32", ("model.onnx",), "f32"), threads=1)
