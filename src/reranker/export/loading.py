"""Loading a checkpoint folder with transformers: offline, eager attention, inference mode.

transformers is imported here, inside functions, after HF_HUB_OFFLINE is set: the hub
library reads that variable at import, and export only ever reads local folders.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from tokenizers import Tokenizer

from reranker.export.errors import ExportError
from reranker.manifest import ModelKind

logger = logging.getLogger(__name__)


def transformers_offline() -> ModuleType:
    """Return the transformers module, imported with the hub switched off."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    module = importlib.import_module("transformers")
    module.utils.logging.disable_progress_bar()
    return module


def load_config(source: Path) -> dict[str, Any]:
    """Return the checkpoint's config as a dict, with transformers' defaults filled in."""
    transformers = transformers_offline()
    try:
        config = transformers.AutoConfig.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ExportError(f"config.json of {source.name} cannot be loaded: {exc}") from exc
    result: dict[str, Any] = config.to_dict()
    return result


def load_tokenizer(source: Path) -> Any:
    """Return the checkpoint's fast tokenizer; a slow-only one cannot be saved as tokenizer.json."""
    transformers = transformers_offline()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError, KeyError, ImportError) as exc:
        raise ExportError(f"the tokenizer of {source.name} cannot be loaded: {exc}") from exc
    if not getattr(tokenizer, "is_fast", False) or getattr(tokenizer, "backend_tokenizer", None) is None:
        raise ExportError(
            f"the tokenizer of {source.name} ({type(tokenizer).__name__}) is not a fast tokenizer; "
            "the serving path needs a tokenizer.json (convert it with transformers first)"
        )
    return tokenizer


def save_tokenizer_json(tokenizer: Any, path: Path) -> Tokenizer:
    """Write the backend tokenizer to `path` with truncation and padding off, and return it.

    Checkpoints often ship tokenizer.json with truncation and fixed padding (MiniLM: 128);
    the serving path cuts and pads itself, so the saved file must do neither.
    """
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_truncation()
    backend.no_padding()
    backend.save(str(path), pretty=False)
    return backend


def load_model(
    source: Path, kind: ModelKind, architectures: list[str], *, causal: bool = False
) -> torch.nn.Module:
    """Return the PyTorch model in eval mode, with eager attention (`causal`: the LM head model).

    Eager attention matters: the default (sdpa) exports a mask path that onnxruntime's BERT
    optimizer cannot fuse into Attention nodes (see models.md).
    """
    transformers = transformers_offline()
    if causal:
        factory = transformers.AutoModelForCausalLM
    elif kind == "cross-encoder":
        factory = transformers.AutoModelForSequenceClassification
        if not any(a.endswith("ForSequenceClassification") for a in architectures):
            logger.warning(
                "checkpoint %s has no sequence-classification head; its head will be random",
                source.name,
            )
    else:
        factory = transformers.AutoModel
    try:
        model = factory.from_pretrained(source, attn_implementation="eager", local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ExportError(f"the weights of {source.name} cannot be loaded: {exc}") from exc
    if not isinstance(model, torch.nn.Module):
        raise ExportError(f"{source.name} did not load as a PyTorch model")
    model.float()
    return model.eval()
