"""A Hugging Face checkpoint folder -> a served model folder: tokenizer.json, ONNX graphs, model.json.

Everything is written into a hidden sibling folder and renamed into place only after every
variant has passed parity, so a failed or killed export never leaves a half model folder.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import onnx
import onnxruntime
import torch
from pydantic import ValidationError
from tokenizers import Tokenizer

from reranker.export import parity, prompted
from reranker.export.checkpoint import (
    SentenceLayout,
    activation_for,
    attention_shape,
    detect_kind,
    position_limit,
    read_architectures,
    read_sentence_layout,
    resolve_max_length,
    uses_token_type_ids,
)
from reranker.export.errors import ExportError
from reranker.export.families import Family, family_of
from reranker.export.graph import OPSET, optimize_graph, quantize_int8, trace_to_onnx
from reranker.export.loading import (
    load_config,
    load_model,
    load_tokenizer,
    save_tokenizer_json,
    transformers_offline,
)
from reranker.export.samples import sample_inputs
from reranker.export.static_int8 import (
    IR_INT8_FILE,
    calibration_feeds,
    quantize_static_int8,
    read_calibration,
)
from reranker.export.wrappers import BiEncoderGraph, CrossEncoderGraph, LastTokenReference, YesNoGraph
from reranker.manifest import (
    MANIFEST_NAME,
    FileEntry,
    Manifest,
    ModelKind,
    PromptTemplate,
    file_entry,
    openvino_weights,
    weights_sha256,
)
from reranker.scoring.tokenize import Encoded, TextEncoder

logger = logging.getLogger(__name__)

Variant = Literal["fp32", "int8"]
VARIANT_FILES: dict[Variant, str] = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
TOKENIZER_FILE = "tokenizer.json"
_PLACEHOLDER = FileEntry(sha256="0" * 64, size=0)


def _chosen_variants(variants: Sequence[str]) -> list[Variant]:
    known: tuple[Variant, ...] = get_args(Variant)
    chosen = [v for v in known if v in variants]
    unknown = sorted(set(variants) - set(known))
    if unknown or not chosen:
        raise ExportError(f"variants must be a non-empty subset of {list(known)}, got {list(variants)}")
    return chosen


def _occupied(out: Path) -> bool:
    if out.is_symlink() or out.is_file():
        return True
    return out.is_dir() and any(out.iterdir())


def _build_manifest(files: Mapping[str, FileEntry], **fields: Any) -> Manifest:
    try:
        return Manifest(files=dict(files), **fields)
    except ValidationError as exc:
        raise ExportError(f"the model manifest would be invalid: {exc}") from exc


def _example_inputs(
    tokenizer: Any, kind: ModelKind, input_names: Sequence[str], max_length: int
) -> dict[str, torch.Tensor]:
    """Return two padded rows of different lengths to trace with (shapes stay dynamic)."""
    first, second = sample_inputs(kind, max_length)[:2]
    columns = [list(column) for column in zip(first, second, strict=True)]
    encoded = tokenizer(*columns, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    width = encoded["input_ids"].shape[1]
    return {
        name: encoded[name] if name in encoded else torch.zeros((2, width), dtype=torch.int64)
        for name in input_names
    }


def _calibration_encoded(
    backend: Any, kind: ModelKind, max_length: int, rows: Sequence[tuple[str, ...]] | None
) -> list[Encoded]:
    """Return the calibration rows framed as serving frames them (the samples when `rows` is None)."""
    encoder = TextEncoder(backend, max_length, None)
    texts = rows if rows is not None else sample_inputs(kind, max_length)
    if kind == "cross-encoder":
        return [encoder.encode_pairs(query, [document], "end", None)[0] for query, document in texts]
    return encoder.encode_documents([text for (text,) in texts], "end", None)


def _publish(folder: Path, out: Path, staging: Path, overwrite: bool) -> None:
    """Move the finished `folder` to `out`; an old `out` is kept until the new one is in place."""
    previous: Path | None = None
    if out.is_symlink() or out.is_file():
        if not overwrite:
            raise ExportError(f"{out} appeared during export; pass overwrite=True to replace it")
        out.unlink()
    elif out.is_dir():
        if any(out.iterdir()) and not overwrite:
            raise ExportError(f"{out} filled up during export; pass overwrite=True to replace it")
        previous = out.rename(staging / "previous")
    try:
        folder.rename(out)
    except OSError:
        if previous is not None:
            previous.rename(out)
        raise


@dataclass(frozen=True)
class _Plan:
    """What an export will write, read from the checkpoint and checked before any heavy work."""

    source: Path
    kind: ModelKind
    architectures: list[str]
    config: dict[str, Any]
    family: Family | None
    layout: SentenceLayout | None
    tokenizer: Any
    prompt: PromptTemplate | None
    length: int
    chosen: list[Variant]
    calibration: Path | None
    calibration_rows: list[tuple[str, ...]] | None
    input_names: list[str]
    fields: dict[str, Any]
    files: tuple[str, ...]


def export_model(
    source: Path,
    out: Path,
    *,
    name: str,
    version: str = "1",
    aliases: Sequence[str] = (),
    kind: ModelKind | None = None,
    max_length: int | None = None,
    variants: Sequence[Variant] | None = None,
    overwrite: bool = False,
    prompt_template: str | None = None,
    instruction: str | None = None,
    calibration: Path | None = None,
) -> Manifest:
    """Return the manifest of the model folder written to `out` from checkpoint `source`.

    `prompt_template` and `instruction` override a yes/no reranker family's own prompt
    (see export/families.py); other families take neither. `variants` defaults to fp32 and
    int8, or fp32 alone for a family whose int8 graph does not keep parity. int8 writes two
    graphs: onnxruntime's dynamic int8 and OpenVINO's static int8, calibrated on the rows of
    `calibration` (a JSON Lines file, see export/static_int8.py) or on the fixed samples.

    Raises ExportError before any heavy work when the checkpoint, the options or `out` are
    unusable, and after it when a variant fails parity (then `out` is left untouched).
    """
    started = time.perf_counter()
    source, out = Path(source), Path(out)
    if variants is not None:
        _chosen_variants(variants)  # fail fast, before any file is read
    if _occupied(out) and not overwrite:
        raise ExportError(f"{out} exists and is not empty; pass overwrite=True to replace it")
    plan = _plan(source, kind, max_length, variants, prompt_template, instruction, calibration)
    plan.fields.update(name=name, version=version, aliases=list(aliases))
    _build_manifest(dict.fromkeys(plan.files, _PLACEHOLDER), **plan.fields)  # a bad name, alias or version

    model = load_model(source, plan.kind, plan.architectures, causal=plan.prompt is not None)
    graph = _graph_module(plan, model)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.export-", dir=out.parent) as staging_dir:
        staging = Path(staging_dir)
        folder, work = staging / "model", staging / "work"
        folder.mkdir()
        work.mkdir()
        backend = save_tokenizer_json(plan.tokenizer, folder / TOKENIZER_FILE)
        rows = prompted.prompt_rows(backend, plan.prompt, plan.length) if plan.prompt is not None else []
        paths, fused, static_int8 = _write_graphs(plan, graph, backend, rows, folder, work)
        figures = _measure_parity(plan, model, graph, backend, rows, paths)
        plan.fields["export"] = _export_record(plan, fused, figures, static_int8)
        manifest = _build_manifest({f: file_entry(folder / f) for f in plan.files}, **plan.fields)
        (folder / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
        _publish(folder, out, staging, overwrite)
    logger.info(
        "exported %s (%s, max_length %d, variants %s) in %.1f s",
        name,
        plan.kind,
        plan.length,
        plan.chosen,
        time.perf_counter() - started,
    )
    return manifest


def _plan(
    source: Path,
    kind: ModelKind | None,
    max_length: int | None,
    variants: Sequence[Variant] | None,
    prompt_template: str | None,
    instruction: str | None,
    calibration: Path | None,
) -> _Plan:
    """Read the checkpoint's config, layout, family and tokenizer; check the options against them."""
    architectures = read_architectures(source)
    kind = kind or detect_kind(source)
    layout = read_sentence_layout(source) if kind == "bi-encoder" else None
    config = load_config(source)
    family = family_of(config, architectures, cross_encoder=kind == "cross-encoder")
    default_variants: list[Variant] = ["fp32", "int8"] if family is None or family.int8 else ["fp32"]
    chosen = _chosen_variants(default_variants if variants is None else variants)
    _check_options(family, chosen, prompt_template, instruction, calibration)
    tokenizer = load_tokenizer(source)
    prompt = (
        prompted.build_prompt(family, tokenizer, prompt_template, instruction)
        if family is not None and family.decoder
        else None
    )
    length = resolve_max_length(
        max_length,
        kind=kind,
        sentence_max=layout.max_seq_length if layout else None,
        tokenizer_max=getattr(tokenizer, "model_max_length", None),
        limit=position_limit(config),
    )
    input_names = ["input_ids", "attention_mask"]
    if uses_token_type_ids(config) and prompt is None:
        input_names.append("token_type_ids")
    if prompt is not None:
        activation = "softmax"
    else:
        activation = activation_for(len(config["id2label"])) if layout is None else "identity"
    fields: dict[str, Any] = {
        "kind": kind,
        "max_length": length,
        "activation": activation,
        "pooling": layout.pooling if layout else None,
        "normalize": layout.normalize if layout else False,
        "tokenizer": TOKENIZER_FILE,
        "variants": {v: VARIANT_FILES[v] for v in chosen},
        "openvino": {"int8": IR_INT8_FILE} if "int8" in chosen else {},
        "source": source.resolve().name,
        "source_sha256": weights_sha256(source),
        "family": str(config.get("model_type") or "") or None,
        "prompt": prompt,
    }
    ir_files = [name for xml in fields["openvino"].values() for name in (xml, openvino_weights(xml))]
    return _Plan(
        source=source,
        kind=kind,
        architectures=architectures,
        config=config,
        family=family,
        layout=layout,
        tokenizer=tokenizer,
        prompt=prompt,
        length=length,
        chosen=chosen,
        calibration=calibration,
        calibration_rows=read_calibration(calibration, kind) if calibration is not None else None,
        input_names=input_names,
        fields=fields,
        files=(TOKENIZER_FILE, *fields["variants"].values(), *ir_files),
    )


def _check_options(
    family: Family | None,
    chosen: Sequence[Variant],
    prompt_template: str | None,
    instruction: str | None,
    calibration: Path | None,
) -> None:
    """Refuse options the checkpoint's family does not take, before the model is loaded."""
    decoder = family is not None and family.decoder
    if (prompt_template is not None or instruction is not None) and not decoder:
        raise ExportError("prompt_template and instruction apply to yes/no rerankers (Qwen3ForCausalLM) only")
    if calibration is not None and "int8" not in chosen:
        raise ExportError("a calibration file is for the int8 variant, which this export does not write")
    if calibration is not None and decoder:
        raise ExportError("yes/no rerankers calibrate on their prompt samples; drop the calibration file")


def _graph_module(plan: _Plan, model: torch.nn.Module) -> torch.nn.Module:
    """Return the module traced to ONNX: the model with the head the served graph has."""
    graph: torch.nn.Module
    if plan.prompt is not None:
        graph = YesNoGraph(model, plan.prompt.yes_token_id, plan.prompt.no_token_id)
    elif plan.layout is None:
        graph = CrossEncoderGraph(model)
    else:
        graph = BiEncoderGraph(model, plan.layout.pooling, plan.layout.normalize)
    graph.eval()  # eval the wrapper too: export restores its training flag recursively
    return graph


def _write_graphs(
    plan: _Plan,
    graph: torch.nn.Module,
    backend: Tokenizer,
    rows: Sequence[Encoded],
    folder: Path,
    work: Path,
) -> tuple[dict[str, Path], dict[str, int], dict[str, object]]:
    """Trace, fuse and quantize; return the graphs by variant, the fused ops, static int8's record."""
    if plan.prompt is not None:
        prompted.check_rows(plan.tokenizer, plan.prompt, rows, plan.length)
        example = prompted.example_inputs(rows)
    else:
        example = _example_inputs(plan.tokenizer, plan.kind, plan.input_names, plan.length)
    trace_to_onnx(graph, example, str(graph.output_name), work / "raw.onnx")
    paths: dict[str, Path] = {"fp32": (folder if "fp32" in plan.chosen else work) / VARIANT_FILES["fp32"]}
    num_heads, hidden_size = attention_shape(plan.config)
    fused = optimize_graph(
        work / "raw.onnx",
        paths["fp32"],
        model_type=str(plan.config.get("model_type", "")),
        optimizer=plan.family.optimizer if plan.family else "bert",
        num_heads=num_heads,
        hidden_size=hidden_size,
    )
    static_int8: dict[str, object] = {}
    if "int8" in plan.chosen:
        paths["int8"] = folder / VARIANT_FILES["int8"]
        quantize_int8(paths["fp32"], paths["int8"])
        paths["int8-static"] = folder / IR_INT8_FILE
        encoded = list(rows) or _calibration_encoded(backend, plan.kind, plan.length, plan.calibration_rows)
        static_int8 = quantize_static_int8(
            paths["fp32"], paths["int8-static"], calibration_feeds(encoded, plan.input_names)
        )
        static_int8["calibration"] = (
            "the fixed sample rows" if plan.calibration is None else plan.calibration.name
        )
    return paths, fused, static_int8


def _measure_parity(
    plan: _Plan,
    model: torch.nn.Module,
    graph: torch.nn.Module,
    backend: Tokenizer,
    rows: Sequence[Encoded],
    paths: Mapping[str, Path],
) -> dict[str, Any]:
    """Return every written graph's parity with the PyTorch model (ExportError past a tolerance)."""
    checked = {v: paths[v] for v in [*plan.chosen, "int8-static"] if v in paths}
    if plan.prompt is not None:
        reference = LastTokenReference(model, plan.prompt.yes_token_id, plan.prompt.no_token_id).eval()
        pad_id = int(plan.tokenizer.pad_token_id or 0)
        return prompted.measure_parity(reference, rows, checked, pad_id)
    return parity.measure_parity(
        kind=plan.kind,
        module=graph,
        tokenizer=plan.tokenizer,
        backend=backend,
        input_names=plan.input_names,
        max_length=plan.length,
        variants=checked,
    )


def _export_record(
    plan: _Plan, fused: dict[str, int], figures: dict[str, Any], static_int8: dict[str, object]
) -> dict[str, Any]:
    """Return the manifest's `export` entry: versions, inputs, fused ops, parity and its bounds."""
    return {
        "torch": torch.__version__,
        "transformers": transformers_offline().__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "opset": OPSET,
        "inputs": plan.input_names,
        "fused_ops": fused,
        "parity": figures,
        **({"static_int8": static_int8} if static_int8 else {}),
        "tolerances": {
            "fp32_max_abs_diff": parity.FP32_MAX_ABS_DIFF,
            "fp32_min_cosine": parity.FP32_MIN_COSINE,
            "int8_min_cosine": parity.INT8_MIN_COSINE,
            "int8_min_mean_cosine": parity.INT8_MIN_MEAN_COSINE,
            "int8_min_spearman": parity.INT8_MIN_SPEARMAN,
            "int8_min_pearson": parity.INT8_MIN_PEARSON,
        },
    }
