"""Static int8 for OpenVINO: activation ranges calibrated once, at export, with NNCF.

Dynamic int8 (onnxruntime) measures each batch's activation range while serving, so a row's
score can depend on what it is batched with; static int8 fixes every range from a calibration
sample, so a row's score is its own. On this project's CPUs the OpenVINO static int8 graph
was also the fastest (docs/benchmarks.md); onnxruntime's own static (QDQ) graph was slower
than its dynamic one, so onnxruntime keeps dynamic int8.

The calibration sample is the export's fixed sample rows (export/samples.py) unless the user
passes text closer to their traffic (`reranker models export --calibration FILE`, JSON Lines:
`{"query": ..., "document": ...}` per line for a cross-encoder, `{"text": ...}` for a
bi-encoder). Rows run one at a time, unpadded, as serving runs them.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from reranker.export.errors import ExportError
from reranker.manifest import ModelKind

logger = logging.getLogger(__name__)

IR_INT8_FILE = "openvino/model.int8.xml"
MAX_CALIBRATION_ROWS = 300
Feed = dict[str, npt.NDArray[np.int64]]


def read_calibration(path: Path, kind: ModelKind) -> list[tuple[str, ...]]:
    """Return the calibration rows of a JSON Lines file; raise ExportError naming a bad line."""
    fields = ("query", "document") if kind == "cross-encoder" else ("text",)
    rows: list[tuple[str, ...]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"cannot read the calibration file {path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ExportError(f"{path} line {number} is not JSON: {exc.msg}") from exc
        values = [record.get(field) if isinstance(record, dict) else None for field in fields]
        if not all(isinstance(value, str) and value for value in values):
            wanted = ", ".join(f'"{field}"' for field in fields)
            raise ExportError(
                f"{path} line {number}: a {kind} calibration row needs {wanted} as non-empty strings"
            )
        rows.append(tuple(str(value) for value in values))
    if not rows:
        raise ExportError(f"the calibration file {path} has no rows")
    if len(rows) > MAX_CALIBRATION_ROWS:
        logger.info("calibrating on the first %d of %d rows", MAX_CALIBRATION_ROWS, len(rows))
    return rows[:MAX_CALIBRATION_ROWS]


def calibration_feeds(rows: Sequence[Any], input_names: Sequence[str]) -> list[Feed]:
    """Return one unpadded feed per encoded row (`ids`, `type_ids`), as serving feeds the graph."""
    feeds: list[Feed] = []
    for row in rows:
        ids = np.asarray([row.ids], dtype=np.int64)
        columns = {
            "input_ids": ids,
            "attention_mask": np.ones_like(ids),
            "token_type_ids": np.asarray([row.type_ids], dtype=np.int64),
        }
        feeds.append({name: columns[name] for name in input_names})
    return feeds


def quantize_static_int8(fp32: Path, out_xml: Path, feeds: Sequence[Feed]) -> dict[str, object]:
    """Write the OpenVINO static int8 IR of the `fp32` ONNX graph; return what to record of it."""
    try:
        import nncf
        import openvino as ov
        from nncf.quantization.advanced_parameters import (
            AdvancedQuantizationParameters,
            AdvancedSmoothQuantParameters,
        )
    except ImportError as exc:
        raise ExportError(
            "static int8 needs openvino and nncf (the [export] extra); or export --variants fp32"
        ) from exc
    nncf.set_log_level(logging.ERROR)
    model = ov.Core().read_model(str(fp32))
    # NNCF draws progress bars on stdout, where `reranker models export` writes the manifest.
    with contextlib.redirect_stdout(io.StringIO()):
        quantized = nncf.quantize(
            model,
            nncf.Dataset(list(feeds)),
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(feeds),
            # SmoothQuant off: fitted on a few dozen rows it moved unseen text (all-MiniLM-L6-v2,
            # the 3-token text "no": cosine to fp32 0.887 with it, 0.970 without; mean 0.970 ->
            # 0.990), and a larger calibration set did not help it (tests/export/test_exporter.py).
            advanced_parameters=AdvancedQuantizationParameters(
                smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=-1)
            ),
        )
    out_xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(out_xml), compress_to_fp16=False)
    return {"tool": f"nncf {nncf.__version__}", "openvino": ov.__version__, "calibration_rows": len(feeds)}
