"""The modules traced to ONNX: the graph contract of manifest.py around a transformers model.

Pooling and normalisation live inside the graph so that the serving path only runs it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from reranker.manifest import Pooling

# sentence-transformers fills padding with this before max pooling.
_MAX_POOL_FILL = -1e9


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: Pooling) -> torch.Tensor:
    """Return one vector per row of `hidden` [batch, sequence, hidden], padding excluded."""
    if mode == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "max":
        return hidden.masked_fill(mask == 0, _MAX_POOL_FILL).max(dim=1).values
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def _model_inputs(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None
) -> dict[str, torch.Tensor]:
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if token_type_ids is not None:
        inputs["token_type_ids"] = token_type_ids
    return inputs


class CrossEncoderGraph(torch.nn.Module):
    """(input_ids, attention_mask[, token_type_ids]) -> logits [batch, labels]."""

    output_name = "logits"

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        logits: torch.Tensor = self.model(**_model_inputs(input_ids, attention_mask, token_type_ids)).logits
        return logits


class BiEncoderGraph(torch.nn.Module):
    """(input_ids, attention_mask[, token_type_ids]) -> embeddings [batch, hidden]."""

    output_name = "embeddings"

    def __init__(self, model: torch.nn.Module, pooling: Pooling, normalize: bool) -> None:
        super().__init__()
        self.model = model
        self.pooling: Pooling = pooling
        self.normalize = normalize

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        inputs = _model_inputs(input_ids, attention_mask, token_type_ids)
        hidden: torch.Tensor = self.model(**inputs).last_hidden_state
        pooled = pool(hidden, attention_mask, self.pooling)
        return F.normalize(pooled, p=2.0, dim=1) if self.normalize else pooled


class YesNoGraph(torch.nn.Module):
    """(input_ids, attention_mask) -> ["no", "yes"] logits at each row's last real token [batch, 2].

    Rows are right-padded, so a causal model's last real token never sees the padding; only its
    hidden state meets the two rows of the output embedding that matter, never the vocabulary.
    """

    output_name = "logits"

    def __init__(self, model: torch.nn.Module, yes_token_id: int, no_token_id: int) -> None:
        super().__init__()
        self.model = model
        self.answers = [no_token_id, yes_token_id]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        base: Any = self.model.base_model
        hidden: torch.Tensor = base(
            input_ids=input_ids, attention_mask=attention_mask, use_cache=False
        ).last_hidden_state
        last = attention_mask.sum(dim=1) - 1
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        head: Any = self.model.get_output_embeddings()  # type: ignore[operator]
        weight = head.weight[self.answers]
        logits = hidden[rows, last] @ weight.T
        if getattr(head, "bias", None) is not None:
            logits = logits + head.bias[self.answers]
        result: torch.Tensor = logits
        return result


class LastTokenReference(torch.nn.Module):
    """The plain causal-LM computation the graph must equal: full logits, last position, ["no", "yes"]."""

    def __init__(self, model: torch.nn.Module, yes_token_id: int, no_token_id: int) -> None:
        super().__init__()
        self.model = model
        self.answers = [no_token_id, yes_token_id]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        return logits[:, -1, self.answers]
