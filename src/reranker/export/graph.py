"""ONNX files: trace to opset 17, fuse with onnxruntime's BERT optimizer, quantize to int8."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path

import onnx
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers.optimizer import optimize_model

from reranker.export.errors import ExportError

logger = logging.getLogger(__name__)

OPSET = 17
# Encoders the BERT optimizer is known to fuse; for these, no Attention node means the fusion
# silently failed (e.g. sdpa attention) and the graph would serve 1.2-1.6x slower.
ATTENTION_FUSING_MODELS = frozenset({"bert", "roberta", "xlm-roberta", "camembert", "electra"})
# Families onnxruntime has no Attention fusion for (measured: 0 fused with bert and gpt2 types).
UNFUSABLE_ATTENTION_MODELS = frozenset({"deberta-v2", "modernbert", "qwen3"})


def trace_to_onnx(
    module: torch.nn.Module, example: Mapping[str, torch.Tensor], output_name: str, path: Path
) -> None:
    """Write `module` as ONNX with dynamic batch and sequence axes on every input.

    The TorchScript exporter (dynamo=False) is used: it is the route measured here to give
    graphs the BERT optimizer fuses.
    """
    names = list(example)
    axes: dict[str, dict[int, str]] = {name: {0: "batch", 1: "sequence"} for name in names}
    axes[output_name] = {0: "batch"}
    module.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on shape branches parity then checks
        torch.onnx.export(
            module,
            tuple(example.values()),
            str(path),
            input_names=names,
            output_names=[output_name],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def optimize_graph(
    raw: Path, out: Path, *, model_type: str, optimizer: str = "bert", num_heads: int, hidden_size: int
) -> dict[str, int]:
    """Write the fused graph to `out` and return the counts of fused operators found in it.

    `optimizer` is the onnxruntime optimizer's model_type for the family (export/families.py).
    """
    optimized = optimize_model(str(raw), model_type=optimizer, num_heads=num_heads, hidden_size=hidden_size)
    fused = {str(op): int(count) for op, count in optimized.get_fused_operator_statistics().items() if count}
    if model_type in ATTENTION_FUSING_MODELS and not fused.get("Attention"):
        raise ExportError(
            f"onnxruntime fused no Attention node in this {model_type} graph (fused: {fused}); "
            "the checkpoint was probably not traced with eager attention"
        )
    if not fused.get("Attention") and model_type not in UNFUSABLE_ATTENTION_MODELS:
        logger.warning("no Attention fusion for model type %s; the graph will be slower", model_type)
    optimized.save_model_to_file(str(out))
    return fused


def quantize_int8(fp32: Path, out: Path) -> None:
    """Write the dynamic int8 version of `fp32` to `out`.

    Per-channel weights keep embeddings close to fp32 (min cosine 0.95-0.97 against 0.90 per
    tensor on MiniLM). reduce_range keeps weights to 7 bits so that the u8 x s8 kernels of
    x86 CPUs without VNNI (AVX2, AVX-512F) cannot saturate; it cost no accuracy or speed
    here (VNNI). DefaultTensorType lets the quantizer type the fused contrib ops.
    """
    quantize_dynamic(
        str(fp32),
        str(out),
        per_channel=True,
        reduce_range=True,
        weight_type=QuantType.QInt8,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
