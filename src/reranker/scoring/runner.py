"""What scorers hold: a graph runner, whatever runtime is under it, over our input contract."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from reranker.deadline import check_deadline
from reranker.errors import ConfigurationError
from reranker.scoring.batching import pad_batch, plan_batches
from reranker.scoring.tokenize import Encoded

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
Feed = dict[str, IntArray]


class GraphRunner(Protocol):
    """Runs rows through one model graph; `provider` and `variant` say what runs it (/v1/models)."""

    provider: str
    variant: str

    def run(self, rows: Sequence[Encoded], check: Callable[[], None] = check_deadline) -> FloatArray:
        """Return the output row of each input row, in input order."""
        ...


@dataclass(frozen=True)
class RowPlan:
    """What a runner reads and how it groups rows: `max_batch_size` 1 runs each row alone, unpadded.

    `output` is the graph output read (`logits` or `embeddings`), `variant` the label of what
    scores (/v1/models, the model fingerprint). Rows are right-padded with `pad_id` and masked;
    decoders gather the last real token.
    """

    output: str
    variant: str
    pad_id: int
    token_budget: int
    max_batch_size: int


class BatchedRunner:
    """The batch loop every runtime shares: length-sorted padded batches, a deadline check before each."""

    def __init__(
        self, plan: RowPlan, *, inputs: set[str], outputs: set[str], provider: str, runtime: str
    ) -> None:
        if {"input_ids", "attention_mask"} - inputs or plan.output not in outputs:
            raise ConfigurationError(
                f"{runtime} graph does not follow the model contract (inputs {sorted(inputs)}, "
                f"outputs {sorted(outputs)})"
            )
        self._plan = plan
        self._input_names = inputs
        self.provider = provider
        self.variant = plan.variant

    def _infer(self, feed: Mapping[str, IntArray]) -> FloatArray:
        """Return the graph's output for one padded batch."""
        raise NotImplementedError

    def run(self, rows: Sequence[Encoded], check: Callable[[], None] = check_deadline) -> FloatArray:
        """Return the output row of each input row, in input order.

        `check` runs before each batch; it raises to stop (the request's deadline passed).
        """
        plan = self._plan
        batches = plan_batches([len(r) for r in rows], plan.token_budget, plan.max_batch_size)
        result: FloatArray | None = None
        for batch in batches:
            check()
            input_ids, attention_mask, token_type_ids = pad_batch([rows[i] for i in batch], plan.pad_id)
            feed: Feed = {"input_ids": input_ids, "attention_mask": attention_mask}
            if "token_type_ids" in self._input_names:
                feed["token_type_ids"] = token_type_ids
            output = self._infer(feed)
            if result is None:
                result = np.empty((len(rows), *output.shape[1:]), dtype=np.float32)
            result[batch] = output
        if result is None:
            return np.empty((0,), dtype=np.float32)
        return result
