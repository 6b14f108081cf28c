"""Decoder-only yes/no rerankers at export: the prompt, its answer ids, example rows and parity.

The served rows come from the serving path's own PromptEncoder over the saved tokenizer.json;
every row that was not cut must equal transformers' encoding of the whole filled-in prompt,
and every variant's ["no", "yes"] logits must equal the plain causal LM's at the last position
(full vocabulary, each row alone), so one check covers template, tokenizer, gather and head.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer

from reranker.export import parity
from reranker.export.errors import ExportError
from reranker.export.families import Family
from reranker.export.samples import sample_inputs
from reranker.manifest import PromptTemplate
from reranker.scoring.prompt import PromptEncoder
from reranker.scoring.tokenize import Encoded

logger = logging.getLogger(__name__)


def answer_id(tokenizer: Any, word: str) -> int:
    """Return the id of `word` as one token (how Qwen3-Reranker reads its answer), or refuse."""
    token_id = tokenizer.convert_tokens_to_ids(word)
    if not isinstance(token_id, int) or token_id == tokenizer.unk_token_id or token_id < 0:
        raise ExportError(f"the tokenizer has no single token {word!r}; a yes/no reranker needs one")
    return token_id


def build_prompt(
    family: Family, tokenizer: Any, template: str | None, instruction: str | None
) -> PromptTemplate:
    """Return the prompt to record: the family's template and instruction unless overridden."""
    try:
        return PromptTemplate(
            template=template or family.template or "",
            default_instruction=instruction if instruction is not None else family.default_instruction,
            yes_token_id=answer_id(tokenizer, "yes"),
            no_token_id=answer_id(tokenizer, "no"),
        )
    except ValueError as exc:
        raise ExportError(f"the prompt template is unusable: {exc}") from exc


def filled(prompt: PromptTemplate, query: str, document: str) -> str:
    """Return the whole prompt text with the default instruction, query and document put in."""
    return (
        prompt.template.replace("{instruction}", prompt.default_instruction or "")
        .replace("{query}", query)
        .replace("{document}", document)
    )


def prompt_rows(backend: Tokenizer, prompt: PromptTemplate, max_length: int) -> list[Encoded]:
    """Return the sample pairs framed as the serving path frames them."""
    encoder = PromptEncoder(backend, prompt, max_length, None)
    return [
        encoder.encode_pairs(q, [d], "end", None)[0] for q, d in sample_inputs("cross-encoder", max_length)
    ]


def check_rows(tokenizer: Any, prompt: PromptTemplate, rows: Sequence[Encoded], max_length: int) -> None:
    """Raise ExportError unless each uncut row equals transformers' encoding of the whole prompt."""
    pairs = sample_inputs("cross-encoder", max_length)
    if max(len(row) for row in rows) != max_length:
        raise ExportError(f"no sample prompt reached max_length {max_length}; truncation is untested")
    for index, ((query, document), row) in enumerate(zip(pairs, rows, strict=True)):
        if len(row) == max_length:
            continue
        expected = tokenizer(filled(prompt, query, document), add_special_tokens=False)["input_ids"]
        if list(expected) != row.ids:
            raise ExportError(
                f"the served prompt of sample row {index} encodes differently from AutoTokenizer "
                f"({len(row.ids)} against {len(expected)} tokens)"
            )


def example_inputs(rows: Sequence[Encoded]) -> dict[str, torch.Tensor]:
    """Return two right-padded rows of different lengths to trace with."""
    first, second = sorted(rows[:2], key=len)
    width = len(second)
    return {
        "input_ids": torch.tensor([first.ids + [0] * (width - len(first)), second.ids], dtype=torch.int64),
        "attention_mask": torch.tensor([[1] * len(first) + [0] * (width - len(first)), [1] * width]),
    }


def measure_parity(
    reference: torch.nn.Module, rows: Sequence[Encoded], variants: Mapping[str, Path], pad_id: int
) -> dict[str, dict[str, float]]:
    """Return each variant's figures against the reference; raise ExportError out of tolerance."""
    columns = [{"input_ids": row.ids, "attention_mask": [1] * len(row)} for row in rows]
    expected = parity.torch_outputs(reference, columns, ["input_ids", "attention_mask"])
    result: dict[str, dict[str, float]] = {}
    for variant, path in variants.items():
        figures = parity.compare("cross-encoder", expected, parity.onnx_outputs(path, rows, pad_id))
        logger.info("parity %s: %s", variant, figures)
        parity.check("cross-encoder", variant, figures, len(rows))
        result[variant] = {key: float(value) for key, value in figures.items()}
    if not np.isfinite(expected).all():
        raise ExportError("the reference yes/no logits are not finite")
    return result
