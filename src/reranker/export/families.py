"""The model families export supports, and what each needs: head class, optimizer, prompt.

Each family here is proven end to end (export, serve, parity with Hugging Face over HTTP) by
tests/integration; anything else is refused by name rather than exported on hope.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reranker.export.errors import ExportError

# The Qwen3-Reranker prompt (its model card): the system prompt and chat markers are fixed text,
# and the suffix after the document ends where the model answers "yes" or "no".
QWEN3_RERANKER_TEMPLATE = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and "
    'the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n'
    "<|im_start|>user\n<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}"
    "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
)
QWEN3_RERANKER_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"


@dataclass(frozen=True)
class Family:
    """One supported architecture: how to optimise its graph and, for decoders, prompt it."""

    model_type: str
    head: str
    # onnxruntime.transformers optimizer model_type; "bert" fuses the encoder ops it recognises
    # (Attention only where the BERT attention pattern is present: graph.py says which families
    # must fuse it), "gpt2" the RMSNorm decoders'.
    optimizer: str
    template: str | None = None
    default_instruction: str | None = None
    # Whether int8 is exported by default: False where it did not keep parity on the tiny test
    # model (asking for it still exports it when it passes the int8 gate).
    int8: bool = True

    @property
    def decoder(self) -> bool:
        return self.template is not None


FAMILIES: Mapping[str, Family] = {
    family.model_type: family
    for family in (
        Family("bert", "BertForSequenceClassification", "bert"),
        Family("roberta", "RobertaForSequenceClassification", "bert"),
        Family("xlm-roberta", "XLMRobertaForSequenceClassification", "bert"),
        Family("camembert", "CamembertForSequenceClassification", "bert"),
        Family("electra", "ElectraForSequenceClassification", "bert"),
        # Disentangled attention (DeBERTa) and rotary local/global attention (ModernBERT) have no
        # onnxruntime Attention fusion; the BERT optimizer still fuses their LayerNorm and Gelu.
        Family("deberta-v2", "DebertaV2ForSequenceClassification", "bert"),
        # int8 off by default: the tiny ModernBERT's int8 graph kept Pearson 0.988 but only
        # Spearman 0.82 on the export samples (the gate is 0.9); fp32 parity is 3e-7.
        Family("modernbert", "ModernBertForSequenceClassification", "bert", int8=False),
        Family(
            "qwen3",
            "Qwen3ForCausalLM",
            "gpt2",
            template=QWEN3_RERANKER_TEMPLATE,
            default_instruction=QWEN3_RERANKER_INSTRUCTION,
        ),
    )
}


def supported() -> str:
    """Return the supported reranker classes, for messages."""
    return ", ".join(f.head for f in FAMILIES.values())


def family_of(
    config: Mapping[str, Any], architectures: Sequence[str], *, cross_encoder: bool
) -> Family | None:
    """Return the family of a checkpoint, or raise ExportError naming it and the supported classes.

    Bi-encoders keep their wider support (any encoder the BERT optimizer handles): None when the
    family is not listed. A cross-encoder checkpoint must be one of FAMILIES; a bare encoder of a
    listed encoder family is accepted (its head will be random, as load_model warns).
    """
    model_type = str(config.get("model_type", ""))
    family = FAMILIES.get(model_type)
    if not cross_encoder:
        if family is not None and family.decoder:
            raise ExportError(
                f"{family.head} is a yes/no reranker, not an embedding model; export it as a reranker"
            )
        return family
    named = ", ".join(architectures) or f"model_type {model_type!r}"
    if family is None:
        raise ExportError(f"{named} is not supported for reranking; export supports {supported()}")
    if family.decoder and family.head not in architectures:
        raise ExportError(f"{named}: a {model_type} yes/no reranker must be a {family.head} checkpoint")
    heads = [a for a in architectures if a.endswith("ForSequenceClassification")]
    if not family.decoder and heads and family.head not in heads:
        raise ExportError(f"{named} is not supported for reranking; export supports {supported()}")
    return family
