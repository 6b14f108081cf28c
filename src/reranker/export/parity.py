"""Parity at export: every graph (ONNX, and the OpenVINO IR) against the PyTorch model, on the fixed samples.

The PyTorch reference runs each row alone (no padding); onnxruntime runs rows encoded by the
saved tokenizer.json in padded batches, as serving does. So one check covers the tokenizer
file, the traced graph, the optimizer's fusions, the attention mask and quantization.

Tolerances, and why:
- fp32 is the same arithmetic reordered by fusion: logits within 1e-3 absolute (measured
  ~1e-6), embeddings at cosine >= 0.9999 with the reference.
- int8 changes the numbers but must keep the meaning. Embeddings: mean cosine >= 0.98 over
  the rows, and no row below 0.93 (MiniLM measured mean 0.990; its worst row, the 3-token
  text "ok", 0.955: the shortest texts average the fewest tokens, so they move most).
  Cross-encoders: ranking is what a
  reranker delivers, so the positive-class logits must keep Spearman >= 0.9 and Pearson >= 0.9
  with the reference; absolute logit error scales with the model's logit range, so it is
  recorded, not gated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import torch
from tokenizers import Encoding, Tokenizer

from reranker.export.errors import ExportError
from reranker.export.samples import sample_inputs
from reranker.manifest import ModelKind

logger = logging.getLogger(__name__)

Floats = npt.NDArray[np.float64]

FP32_MAX_ABS_DIFF = 1e-3
FP32_MIN_COSINE = 0.9999
INT8_MIN_COSINE = 0.93
INT8_MIN_MEAN_COSINE = 0.98
INT8_MIN_SPEARMAN = 0.9
INT8_MIN_PEARSON = 0.9
BATCH_SIZE = 4


class Row(Protocol):
    """An encoded row: a tokenizers Encoding, or a framed row of the serving path."""

    @property
    def ids(self) -> list[int]: ...

    @property
    def type_ids(self) -> list[int]: ...


def _rank(values: Floats) -> Floats:
    """Return ranks with ties given their average rank (as Spearman's rho wants)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    averaged: Floats = np.bincount(inverse, weights=ranks) / counts
    return averaged[inverse]


def pearson(a: Floats, b: Floats) -> float:
    """Return Pearson's r; NaN when either side does not vary."""
    if np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def spearman(a: Floats, b: Floats) -> float:
    """Return Spearman's rho (Pearson's r of the ranks)."""
    return pearson(_rank(a), _rank(b))


def positive_logit(logits: Floats) -> Floats:
    """Return one number per row that orders rows as the served score does."""
    return logits[:, 0] if logits.shape[1] == 1 else logits[:, 1] - logits[:, 0]


def row_cosines(a: Floats, b: Floats) -> Floats:
    """Return the cosine similarity of each row of `a` with the same row of `b`."""
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosines: Floats = np.sum(a * b, axis=1) / np.maximum(norms, 1e-12)
    return cosines


def compare(kind: ModelKind, reference: Floats, output: Floats) -> dict[str, float]:
    """Return the parity figures of one variant's outputs against the reference."""
    figures = {"max_abs_diff": float(np.max(np.abs(reference - output)))}
    if kind == "bi-encoder":
        cosines = row_cosines(reference, output)
        figures["min_cosine"] = float(np.min(cosines))
        figures["mean_cosine"] = float(np.mean(cosines))
    else:
        figures["spearman"] = spearman(positive_logit(reference), positive_logit(output))
        figures["pearson"] = pearson(positive_logit(reference), positive_logit(output))
    return {key: float(f"{value:.6g}") for key, value in figures.items()}


# An int8 graph is checked after fp32 passed: say how to keep the fp32 work. An untrained or
# barely trained checkpoint's logits hardly vary, so int8's rounding reorders them.
FP32_ONLY_HINT = (
    "; the fp32 graph passed: export it alone with `--variants fp32` (Python: variants=['fp32']); "
    "an untrained or barely trained checkpoint's scores hardly vary, which int8 cannot keep"
)


def check(kind: ModelKind, variant: str, figures: Mapping[str, float], rows: int) -> None:
    """Raise ExportError naming the measured figure when a variant is out of tolerance."""
    if variant == "fp32" and kind == "cross-encoder":
        bounds = [("max_abs_diff", FP32_MAX_ABS_DIFF, "max |logit diff|", "<=")]
    elif variant == "fp32":
        bounds = [("min_cosine", FP32_MIN_COSINE, "min cosine", ">=")]
    elif kind == "bi-encoder":
        bounds = [
            ("min_cosine", INT8_MIN_COSINE, "min cosine", ">="),
            ("mean_cosine", INT8_MIN_MEAN_COSINE, "mean cosine", ">="),
        ]
    else:
        bounds = [
            ("spearman", INT8_MIN_SPEARMAN, "Spearman of logits", ">="),
            ("pearson", INT8_MIN_PEARSON, "Pearson of logits", ">="),
        ]
    for key, bound, label, sense in bounds:
        value = figures[key]
        ok = value <= bound if sense == "<=" else value >= bound
        if not ok:  # NaN fails both senses: outputs that do not vary prove nothing
            raise ExportError(
                f"{variant} parity with PyTorch failed: {label} {value:.6g}, "
                f"needs {sense} {bound:g} (on {rows} sample rows; figures {dict(figures)})"
                + ("" if variant == "fp32" else FP32_ONLY_HINT)
            )


def _reference_ids(tokenizer: Any, row: tuple[str, ...], max_length: int) -> dict[str, list[int]]:
    encoded = tokenizer(*row, truncation=True, max_length=max_length)
    return {key: list(value) for key, value in encoded.items()}


def encode_rows(
    tokenizer: Any, backend: Tokenizer, rows: Sequence[tuple[str, ...]], max_length: int
) -> tuple[list[dict[str, list[int]]], list[Encoding]]:
    """Return the rows encoded by transformers and by the saved tokenizer.json, which must agree."""
    truncating = Tokenizer.from_str(backend.to_str())
    truncating.enable_truncation(max_length, strategy="longest_first")
    reference = [_reference_ids(tokenizer, row, max_length) for row in rows]
    served = [truncating.encode(row[0], row[1] if len(row) > 1 else None) for row in rows]
    for index, (ref, enc) in enumerate(zip(reference, served, strict=True)):
        types = ref.get("token_type_ids", enc.type_ids)
        if ref["input_ids"] != enc.ids or types != enc.type_ids:
            raise ExportError(
                f"tokenizer.json encodes sample row {index} differently from AutoTokenizer "
                f"({len(enc.ids)} against {len(ref['input_ids'])} tokens)"
            )
    return reference, served


def torch_outputs(
    module: torch.nn.Module, reference: Sequence[Mapping[str, list[int]]], input_names: Sequence[str]
) -> Floats:
    """Return the module's outputs, each row run alone so no padding is involved."""
    results = []
    with torch.no_grad():
        for row in reference:
            zeros = [0] * len(row["input_ids"])
            tensors = [torch.tensor([row.get(name, zeros)], dtype=torch.int64) for name in input_names]
            results.append(module(*tensors)[0].double().numpy())
    return np.stack(results)


def _runner(path: Path) -> tuple[set[str], Callable[[dict[str, npt.NDArray[np.int64]]], Any]]:
    """Return a graph's input names and a function running it on CPU: onnxruntime, or OpenVINO for IR."""
    if path.suffix == ".xml":
        import openvino as ov

        compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        request = compiled.create_infer_request()
        return {port.any_name for port in compiled.inputs}, lambda feed: request.infer(feed)[0]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return {node.name for node in session.get_inputs()}, lambda feed: session.run(None, feed)[0]


def onnx_outputs(path: Path, served: Sequence[Row], pad_id: int) -> Floats:
    """Return the graph's outputs on CPU, rows padded per batch to that batch's longest."""
    names, run = _runner(path)
    outputs = []
    for start in range(0, len(served), BATCH_SIZE):
        batch = served[start : start + BATCH_SIZE]
        width = max(len(e.ids) for e in batch)
        columns = {
            "input_ids": [e.ids + [pad_id] * (width - len(e.ids)) for e in batch],
            "attention_mask": [[1] * len(e.ids) + [0] * (width - len(e.ids)) for e in batch],
            "token_type_ids": [e.type_ids + [0] * (width - len(e.ids)) for e in batch],
        }
        feed = {k: np.asarray(v, dtype=np.int64) for k, v in columns.items() if k in names}
        outputs.append(np.asarray(run(feed), dtype=np.float64))
    return np.concatenate(outputs)


def measure_parity(
    *,
    kind: ModelKind,
    module: torch.nn.Module,
    tokenizer: Any,
    backend: Tokenizer,
    input_names: Sequence[str],
    max_length: int,
    variants: Mapping[str, Path],
) -> dict[str, dict[str, float]]:
    """Return the parity figures of every variant; raise ExportError when one is out of bounds."""
    rows = sample_inputs(kind, max_length)
    reference, served = encode_rows(tokenizer, backend, rows, max_length)
    if max(len(e.ids) for e in served) != max_length:
        raise ExportError(f"no sample row reached max_length {max_length}; truncation is untested")
    expected = torch_outputs(module, reference, input_names)
    pad_id = int(tokenizer.pad_token_id or 0)
    result: dict[str, dict[str, float]] = {}
    for variant, path in variants.items():
        figures = compare(kind, expected, onnx_outputs(path, served, pad_id))
        logger.info("parity %s: %s", variant, figures)
        check(kind, variant, figures, len(rows))
        result[variant] = figures
    return result
