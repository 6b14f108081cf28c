"""What a checkpoint folder is: its kind, pooling, inputs and the longest input it can take.

Only JSON files are read here (no torch, no transformers), so kind detection and the
sentence-transformers layout can be checked cheaply before any weights are loaded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reranker.export.errors import ExportError
from reranker.manifest import Activation, ModelKind, Pooling

# Models whose position ids start after the padding index (padding_idx + 1), so they can
# take `max_position_embeddings - padding_idx - 1` tokens, not `max_position_embeddings`.
OFFSET_POSITION_MODELS = frozenset({"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "mpnet"})
# Above this, `tokenizer.model_max_length` is transformers' "no limit" sentinel, not a limit.
_NO_LIMIT = 1_000_000
_DEFAULT_MAX_LENGTH = 512
_MIN_LENGTH = 8
_POOLINGS: dict[str, Pooling] = {"mean": "mean", "cls": "cls", "max": "max"}
_LEGACY_POOLING_KEYS: dict[str, str] = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


@dataclass(frozen=True)
class SentenceLayout:
    """How a bi-encoder turns token states into one vector (sentence-transformers modules)."""

    pooling: Pooling
    normalize: bool
    max_seq_length: int | None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path.name} in the checkpoint is unreadable: {exc}") from exc


def read_architectures(source: Path) -> list[str]:
    """Return `architectures` of the checkpoint's config.json (empty when it names none)."""
    config_path = source / "config.json"
    if not config_path.is_file():
        raise ExportError(f"{source.name or source} is not a Hugging Face checkpoint (no config.json)")
    raw = _read_json(config_path)
    architectures = raw.get("architectures") if isinstance(raw, dict) else None
    return [str(a) for a in architectures] if isinstance(architectures, list) else []


def detect_kind(source: Path) -> ModelKind:
    """Return the model kind a checkpoint folder holds.

    A sequence-classification head wins over a sentence-transformers layout, because
    sentence-transformers >= 5 also writes modules.json next to CrossEncoder checkpoints.
    """
    architectures = read_architectures(source)
    if any(a.endswith(("ForSequenceClassification", "ForCausalLM")) for a in architectures):
        return "cross-encoder"  # a causal LM reranks by its yes/no answer (export/families.py)
    if (source / "modules.json").is_file() or (source / "1_Pooling" / "config.json").is_file():
        return "bi-encoder"
    if any(a.endswith("Model") for a in architectures):
        return "bi-encoder"
    raise ExportError(
        f"cannot tell the model kind from architectures {architectures}; "
        "pass kind='cross-encoder' or kind='bi-encoder'"
    )


def _pooling_mode(config: Mapping[str, Any]) -> Pooling:
    mode = config.get("pooling_mode")
    if mode is None:
        modes = [name for key, name in _LEGACY_POOLING_KEYS.items() if config.get(key)]
    else:
        modes = [mode] if isinstance(mode, str) else list(mode)
    if len(modes) != 1 or modes[0] not in _POOLINGS:
        raise ExportError(
            f"pooling {modes} is not supported; export handles exactly one of {list(_POOLINGS)}"
        )
    return _POOLINGS[modes[0]]


def read_sentence_layout(source: Path) -> SentenceLayout:
    """Return pooling, normalisation and max_seq_length of a bi-encoder folder.

    Without modules.json the folder is a bare encoder: mean pooling, no normalisation.
    Modules other than Transformer, Pooling and Normalize (Dense, ...) would change the
    vectors in ways the graph does not reproduce, so they are refused rather than dropped.
    """
    pooling_dir = "1_Pooling"
    normalize = False
    modules_path = source / "modules.json"
    if modules_path.is_file():
        modules = _read_json(modules_path)
        if not isinstance(modules, list):
            raise ExportError("modules.json in the checkpoint is not a list of modules")
        for module in modules:
            kind = str(module.get("type", "")).rsplit(".", 1)[-1]
            path = str(module.get("path", ""))
            if kind == "Transformer" and path not in ("", "."):
                raise ExportError(f"the Transformer module lives in {path!r}; export that folder")
            if kind == "Pooling":
                pooling_dir = path
            elif kind == "Normalize":
                normalize = True
            elif kind != "Transformer":
                raise ExportError(f"sentence-transformers module {kind!r} is not supported")
    pooling_path = source / pooling_dir / "config.json"
    pooling: Pooling = _pooling_mode(_read_json(pooling_path)) if pooling_path.is_file() else "mean"
    max_seq_length: int | None = None
    sbert_path = source / "sentence_bert_config.json"
    if sbert_path.is_file():
        value = _read_json(sbert_path).get("max_seq_length")
        max_seq_length = int(value) if value is not None else None
    return SentenceLayout(pooling=pooling, normalize=normalize, max_seq_length=max_seq_length)


def position_limit(config: Mapping[str, Any]) -> int:
    """Return the longest input (in tokens) the position embeddings can address."""
    limit = int(config.get("max_position_embeddings") or _DEFAULT_MAX_LENGTH)
    if config.get("model_type") in OFFSET_POSITION_MODELS:
        limit -= int(config.get("pad_token_id") or 0) + 1
    return limit


def resolve_max_length(
    requested: int | None,
    *,
    kind: ModelKind,
    sentence_max: int | None,
    tokenizer_max: int | None,
    limit: int,
) -> int:
    """Return the max_length to serve with: the request, else the checkpoint's own choice.

    Bi-encoders were trained at sentence_bert_config's max_seq_length; otherwise the smallest
    of the tokenizer's limit (ignoring transformers' huge "no limit" sentinel), the position
    limit and 512, since longer inputs cost quadratically and rarely help reranking.
    """
    if requested is not None:
        value = requested
    elif kind == "bi-encoder" and sentence_max is not None:
        value = sentence_max
    else:
        tokenizer_limit = tokenizer_max if tokenizer_max and tokenizer_max < _NO_LIMIT else math.inf
        value = int(min(tokenizer_limit, limit, _DEFAULT_MAX_LENGTH))
    if not _MIN_LENGTH <= value <= limit:
        raise ExportError(
            f"max_length {value} is outside [{_MIN_LENGTH}, {limit}] "
            "(the model's position embeddings end there)"
        )
    return value


def uses_token_type_ids(config: Mapping[str, Any]) -> bool:
    """Return whether the model has more than one segment embedding (BERT yes, RoBERTa no)."""
    return int(config.get("type_vocab_size") or 0) > 1


def attention_shape(config: Mapping[str, Any]) -> tuple[int, int]:
    """Return (num_heads, hidden_size); 0 lets onnxruntime's optimizer read them from the graph."""
    heads = next((config[k] for k in ("num_attention_heads", "n_heads") if config.get(k)), 0)
    hidden = next((config[k] for k in ("hidden_size", "dim", "d_model") if config.get(k)), 0)
    return int(heads), int(hidden)


def activation_for(num_labels: int) -> Activation:
    """Return how a cross-encoder's logits become a score: sigmoid (1 label), softmax (2)."""
    if num_labels == 1:
        return "sigmoid"
    if num_labels == 2:
        return "softmax"
    raise ExportError(
        f"a cross-encoder with {num_labels} labels is not supported; "
        "export handles 1 (sigmoid) or 2 (softmax, positive class 1)"
    )
