"""export_model end to end: real checkpoints in, verified model folders out.

ONNX outputs are compared with PyTorch on pairs and texts that are NOT the exporter's
built-in samples, with the reference computed here independently of the export wrappers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import onnxruntime as ort  # noqa: E402
import openvino as ov  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from reranker.export import parity  # noqa: E402
from reranker.export.checkpoint import detect_kind  # noqa: E402
from reranker.export.errors import ExportError  # noqa: E402
from reranker.export.exporter import export_model  # noqa: E402
from reranker.manifest import MANIFEST_NAME, Manifest, parse_manifest, sha256_file  # noqa: E402
from tests.fixtures.checkpoints import (  # noqa: E402
    build_tiny_roberta_cross_encoder,
    default_checkpoint_dir,
    torch_single_thread,
)
from tests.fixtures.model_cache import tiny_cross_encoder_export  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.slow]
os.environ["HF_HUB_OFFLINE"] = "1"

Floats = npt.NDArray[np.float64]

NEW_PAIRS = [
    ("how tall is mount everest", "Mount Everest is 8,849 metres above sea level."),
    ("how tall is mount everest", "K2 is the second-highest mountain on Earth."),
    ("how tall is mount everest", "Bananas are rich in potassium."),
    ("symptoms of flu", "Fever, cough, sore throat, muscle aches and tiredness are common flu symptoms."),
    ("symptoms of flu", "no"),
    ("river apple", "apple river forest"),
    ("river apple", "camera pencil rocket silver island"),
    ("rust borrow checker", "The borrow checker enforces that references never outlive their data " * 12),
    ("¿dónde está la biblioteca?", "La biblioteca está al lado del ayuntamiento."),
    ("open source licences", "Apache-2.0 and MIT are permissive; GPL is copyleft."),
    ("zebra", "Zebras are African equines with distinctive black-and-white striped coats."),
]
NEW_TEXTS = [
    "how tall is mount everest",
    "Mount Everest is 8,849 metres above sea level.",
    "Bananas are rich in potassium.",
    "no",
    "La biblioteca está al lado del ayuntamiento.",
    "The borrow checker enforces that references never outlive their data. " * 40,
    "Fever, cough, sore throat, muscle aches and tiredness are common flu symptoms.",
]


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    with torch_single_thread():
        yield


@pytest.fixture(scope="module")
def two_label_dir() -> Path:
    return tiny_cross_encoder_export(num_labels=2)


def checkpoint_of(model_dir: Path) -> Path:
    return model_dir.parent / "checkpoint"


def manifest_of(model_dir: Path) -> Manifest:
    return parse_manifest((model_dir / MANIFEST_NAME).read_bytes(), origin=model_dir.name)


def session(model_dir: Path, variant: str) -> ort.InferenceSession:
    path = model_dir / manifest_of(model_dir).variants[variant]  # type: ignore[index]
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_onnx(model_dir: Path, variant: str, encoded: Any) -> Floats:
    onnx_session = session(model_dir, variant)
    names = {node.name for node in onnx_session.get_inputs()}
    feed = {k: v.numpy().astype(np.int64) for k, v in encoded.items() if k in names}
    return np.asarray(onnx_session.run(None, feed)[0], dtype=np.float64)


def run_static_int8(model_dir: Path, encoded: Any) -> Floats:
    """Run the OpenVINO static int8 IR at fp32 activations (bf16 would blur the comparison)."""
    xml = model_dir / manifest_of(model_dir).openvino["int8"]
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    names = {port.any_name for port in compiled.inputs}
    feed = {k: v.numpy().astype(np.int64) for k, v in encoded.items() if k in names}
    return np.asarray(compiled.create_infer_request().infer(feed)[0], dtype=np.float64)


def cross_encoder_reference(
    checkpoint: Path, pairs: Sequence[tuple[str, str]], max_length: int
) -> tuple[Any, Floats]:
    tokenizer = transformers.AutoTokenizer.from_pretrained(checkpoint)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(checkpoint).eval()
    encoded = tokenizer(
        [q for q, _ in pairs],
        [d for _, d in pairs],
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    with torch.no_grad():
        logits = model(**encoded).logits.double().numpy()
    return encoded, logits


def mean_pooled_reference(
    checkpoint: Path, texts: Sequence[str], max_length: int, normalize: bool
) -> tuple[Any, Floats]:
    """sentence-transformers' recipe by hand: mean over real tokens, then L2 normalisation."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(checkpoint)
    model = transformers.AutoModel.from_pretrained(checkpoint).eval()
    encoded = tokenizer(
        list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    with torch.no_grad():
        hidden = model(**encoded).last_hidden_state
    mask = encoded["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    if normalize:
        pooled = torch.nn.functional.normalize(pooled, dim=1)
    return encoded, pooled.double().numpy()


def cosines(a: Floats, b: Floats) -> Floats:
    result: Floats = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return result


# --- the folder and its manifest ----------------------------------------------------------


def test_tiny_cross_encoder_manifest(tiny_cross_encoder_dir: Path) -> None:
    manifest = manifest_of(tiny_cross_encoder_dir)
    assert (manifest.name, manifest.kind, manifest.max_length) == ("tiny-ce", "cross-encoder", 128)
    assert (manifest.activation, manifest.pooling, manifest.source) == ("sigmoid", None, "checkpoint")
    assert manifest.variants == {"fp32": "model.onnx", "int8": "model.int8.onnx"}
    assert manifest.export["opset"] == 17
    assert manifest.export["fused_ops"] == {
        "EmbedLayerNormalization": 1,
        "Attention": 2,
        "BiasGelu": 2,
        "SkipLayerNormalization": 4,
    }
    figures = manifest.export["parity"]
    assert isinstance(figures, dict) and set(figures) == {"fp32", "int8", "int8-static"}
    assert manifest.openvino == {"int8": "openvino/model.int8.xml"}
    static = manifest.export["static_int8"]
    assert isinstance(static, dict)
    assert (static["calibration"], static["calibration_rows"]) == ("the fixed sample rows", 49)  # 6 x 8 + 1


def test_default_model_manifest(default_model_dir: Path) -> None:
    manifest = manifest_of(default_model_dir)
    assert (manifest.name, manifest.aliases, manifest.kind) == ("all-minilm-l6-v2", ["default"], "bi-encoder")
    assert (manifest.max_length, manifest.pooling, manifest.normalize) == (256, "mean", True)
    assert manifest.activation == "identity"
    assert manifest.source == "model"  # the checkpoint folder's name, never an absolute path
    assert manifest.export["fused_ops"] == {
        "EmbedLayerNormalization": 1,
        "Attention": 6,
        "BiasGelu": 6,
        "SkipLayerNormalization": 12,
    }
    fp32 = manifest.export["parity"]["fp32"]  # type: ignore[index]
    assert fp32["min_cosine"] >= parity.FP32_MIN_COSINE


@pytest.mark.parametrize("fixture", ["tiny_cross_encoder_dir", "default_model_dir"])
def test_files_match_their_sha256_and_nothing_else_is_there(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    model_dir: Path = request.getfixturevalue(fixture)
    manifest = manifest_of(model_dir)
    present = [p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file()]
    assert sorted(present) == sorted([MANIFEST_NAME, *manifest.files])
    ir = {"openvino/model.int8.xml", "openvino/model.int8.bin"}
    assert set(manifest.files) == {"tokenizer.json", "model.onnx", "model.int8.onnx", *ir}
    for name, entry in manifest.files.items():
        assert sha256_file(model_dir / name) == entry.sha256
        assert (model_dir / name).stat().st_size == entry.size


@pytest.mark.parametrize(
    ("fixture", "output", "width"),
    [("tiny_cross_encoder_dir", "logits", 1), ("default_model_dir", "embeddings", 384)],
)
@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_graph_follows_the_contract(
    fixture: str, output: str, width: int, variant: str, request: pytest.FixtureRequest
) -> None:
    onnx_session = session(request.getfixturevalue(fixture), variant)
    inputs = [(i.name, i.type, i.shape) for i in onnx_session.get_inputs()]
    assert inputs == [
        (name, "tensor(int64)", ["batch", "sequence"])
        for name in ("input_ids", "attention_mask", "token_type_ids")  # BERT has segments
    ]
    assert [(o.name, o.shape) for o in onnx_session.get_outputs()] == [(output, ["batch", width])]


def test_tokenizer_json_neither_truncates_nor_pads(default_model_dir: Path) -> None:
    raw = json.loads((default_model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    assert raw["truncation"] is None and raw["padding"] is None
    tokenizer = Tokenizer.from_file(str(default_model_dir / "tokenizer.json"))
    assert len(tokenizer.encode("word " * 300).ids) == 302  # [CLS] + 300 + [SEP], not cut to 128
    assert len(tokenizer.encode_batch(["a", "a b c"])[0].ids) == 3  # not padded to the batch


def test_detect_kind_of_the_built_cross_encoder(tiny_cross_encoder_dir: Path) -> None:
    assert detect_kind(checkpoint_of(tiny_cross_encoder_dir)) == "cross-encoder"


# --- parity on new inputs -----------------------------------------------------------------


def assert_cross_encoder_parity(model_dir: Path, labels: int) -> Floats:
    encoded, expected = cross_encoder_reference(checkpoint_of(model_dir), NEW_PAIRS, 128)
    assert expected.shape == (len(NEW_PAIRS), labels)
    assert int(encoded["attention_mask"].sum(1).max()) == 128  # one pair is truncated
    fp32 = run_onnx(model_dir, "fp32", encoded)
    assert np.max(np.abs(fp32 - expected)) <= parity.FP32_MAX_ABS_DIFF
    reference = parity.positive_logit(expected)
    for int8 in (run_onnx(model_dir, "int8", encoded), run_static_int8(model_dir, encoded)):
        quantized = parity.positive_logit(int8)
        assert parity.spearman(reference, quantized) >= parity.INT8_MIN_SPEARMAN
        assert parity.pearson(reference, quantized) >= parity.INT8_MIN_PEARSON
    return expected


def test_one_label_cross_encoder_parity(tiny_cross_encoder_dir: Path) -> None:
    logits = assert_cross_encoder_parity(tiny_cross_encoder_dir, labels=1)
    assert np.std(logits) > 0.05  # trained: scores differ between pairs


def test_two_label_cross_encoder_parity(two_label_dir: Path) -> None:
    assert manifest_of(two_label_dir).activation == "softmax"
    assert_cross_encoder_parity(two_label_dir, labels=2)


def test_default_bi_encoder_parity(default_model_dir: Path) -> None:
    encoded, expected = mean_pooled_reference(default_checkpoint_dir(), NEW_TEXTS, 256, normalize=True)
    assert int(encoded["attention_mask"].sum(1).max()) == 256
    fp32 = run_onnx(default_model_dir, "fp32", encoded)
    assert np.min(cosines(fp32, expected)) >= parity.FP32_MIN_COSINE
    assert np.allclose(np.linalg.norm(fp32, axis=1), 1.0, atol=1e-5)
    for int8 in (run_onnx(default_model_dir, "int8", encoded), run_static_int8(default_model_dir, encoded)):
        assert np.min(cosines(int8, expected)) >= parity.INT8_MIN_COSINE
        assert np.mean(cosines(int8, expected)) >= parity.INT8_MIN_MEAN_COSINE
        # Meaning survives int8: the query is closer to its answer than to an unrelated text.
        assert int8[0] @ int8[1] > int8[0] @ int8[2] + 0.2


def test_a_bare_encoder_exports_unnormalised_mean_pooling(
    tiny_cross_encoder_dir: Path, tmp_path: Path
) -> None:
    checkpoint = checkpoint_of(tiny_cross_encoder_dir)
    manifest = export_model(
        checkpoint, tmp_path / "bare", name="bare", kind="bi-encoder", max_length=64, variants=["fp32"]
    )
    assert (manifest.pooling, manifest.normalize, manifest.activation) == ("mean", False, "identity")
    assert manifest.variants == {"fp32": "model.onnx"} and "model.int8.onnx" not in manifest.files
    encoded, expected = mean_pooled_reference(checkpoint, NEW_TEXTS, 64, normalize=False)
    embeddings = run_onnx(tmp_path / "bare", "fp32", encoded)
    assert np.max(np.abs(embeddings - expected)) <= parity.FP32_MAX_ABS_DIFF
    assert not np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-2)


def test_roberta_graph_has_no_token_type_ids(tmp_path: Path) -> None:
    checkpoint = build_tiny_roberta_cross_encoder(tmp_path / "roberta")
    manifest = export_model(checkpoint, tmp_path / "out", name="tiny-roberta", max_length=64)
    assert manifest.export["inputs"] == ["input_ids", "attention_mask"]
    assert manifest.export["fused_ops"]["Attention"] == 2  # type: ignore[index]
    names = [node.name for node in session(tmp_path / "out", "int8").get_inputs()]
    assert names == ["input_ids", "attention_mask"]


def test_static_int8_calibrates_on_the_users_file(tiny_cross_encoder_dir: Path, tmp_path: Path) -> None:
    rows = [{"query": q, "document": d} for q, d in NEW_PAIRS]
    calibration = tmp_path / "traffic.jsonl"
    calibration.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n", encoding="utf-8")
    manifest = export_model(
        checkpoint_of(tiny_cross_encoder_dir), tmp_path / "out", name="x", calibration=calibration
    )
    static = manifest.export["static_int8"]
    assert isinstance(static, dict)
    assert (static["calibration"], static["calibration_rows"]) == ("traffic.jsonl", len(NEW_PAIRS))
    # Other ranges, other weights: the IR is not the one calibrated on the samples.
    default = manifest_of(tiny_cross_encoder_dir).files["openvino/model.int8.bin"]
    assert manifest.files["openvino/model.int8.bin"].sha256 != default.sha256


@pytest.mark.parametrize(
    ("lines", "options", "message"),
    [
        (['{"query": "q"}'], {}, r'line 1: a cross-encoder calibration row needs "query", "document"'),
        (['{"query": "q", "document": 3}'], {}, r"needs .* as non-empty strings"),
        (['{"text": "t"}', "not json"], {"kind": "bi-encoder"}, r"line 2 is not JSON"),
        (["", "  "], {}, "has no rows"),
        (['{"query": "q", "document": "d"}'], {"variants": ["fp32"]}, "does not write"),
    ],
)
def test_a_bad_calibration_file_fails_before_any_export(
    tiny_cross_encoder_dir: Path, tmp_path: Path, lines: list[str], options: dict[str, Any], message: str
) -> None:
    calibration = tmp_path / "calibration.jsonl"
    calibration.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ExportError, match=message):
        export_model(
            checkpoint_of(tiny_cross_encoder_dir),
            tmp_path / "out",
            name="x",
            calibration=calibration,
            **options,
        )
    assert not (tmp_path / "out").exists()


# --- refusals -----------------------------------------------------------------------------


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_refuses_to_overwrite_a_non_empty_folder(tiny_cross_encoder_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ExportError, match="exists and is not empty; pass overwrite=True"):
        export_model(checkpoint_of(tiny_cross_encoder_dir), out, name="x")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_overwrite_replaces_the_folder_whole(tiny_cross_encoder_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "stale.onnx").write_text("old", encoding="utf-8")
    export_model(checkpoint_of(tiny_cross_encoder_dir), out, name="x", variants=["fp32"], overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "model.onnx", "tokenizer.json"]
    assert leftovers(tmp_path) == []


def test_a_parity_breach_raises_and_leaves_the_old_folder(
    tiny_cross_encoder_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parity, "FP32_MAX_ABS_DIFF", -1.0)
    out = tmp_path / "previous"
    out.mkdir()
    (out / "model.json").write_text("{}", encoding="utf-8")
    with pytest.raises(
        ExportError, match=r"fp32 parity with PyTorch failed: max \|logit diff\| [0-9.e-]+, needs <= -1"
    ):
        export_model(checkpoint_of(tiny_cross_encoder_dir), out, name="x", variants=["fp32"], overwrite=True)
    assert [p.name for p in out.iterdir()] == ["model.json"]
    assert (out / "model.json").read_text(encoding="utf-8") == "{}"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_length": 1024}, r"max_length 1024 is outside \[8, 512\]"),
        ({"variants": ["fp16"]}, "variants must be a non-empty subset"),
        ({"variants": []}, "variants must be a non-empty subset"),
        ({"name": "no spaces allowed"}, "manifest would be invalid"),
        ({"kind": "cross-encoder", "name": "ok", "source": "missing"}, r"no config\.json"),
    ],
)
def test_bad_options_fail_before_any_export(
    tiny_cross_encoder_dir: Path, tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    source = (
        tmp_path / options.pop("source") if "source" in options else checkpoint_of(tiny_cross_encoder_dir)
    )
    options.setdefault("name", "x")
    with pytest.raises(ExportError, match=message):
        export_model(source, tmp_path / "out", **options)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
