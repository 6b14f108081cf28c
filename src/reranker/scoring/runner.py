"""What scorers hold: a graph runner, whatever runtime is under it, over our input contract."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from reranker.deadline import check_deadline
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


class BatchedRunner:
    """The batch loop every runtime shares: length-sorted padded batches, a deadline check before each.

    With `max_batch_size` 1 (deterministic scoring) each row runs alone, without padding.
    """

    def __init__(self, *, input_names: set[str], pad_id: int, token_budget: int, max_batch_size: int) -> None:
        self._input_names = input_names
        self._pad_id = pad_id
        self._token_budget = token_budget
        self._max_batch_size = max_batch_size

    def _infer(self, feed: Mapping[str, IntArray]) -> FloatArray:
        """Return the graph's output for one padded batch."""
        raise NotImplementedError

    def run(self, rows: Sequence[Encoded], check: Callable[[], None] = check_deadline) -> FloatArray:
        """Return the output row of each input row, in input order.

        `check` runs before each batch; it raises to stop (the request's deadline passed).
        """
        batches = plan_batches([len(r) for r in rows], self._token_budget, self._max_batch_size)
        result: FloatArray | None = None
        for batch in batches:
            check()
            input_ids, attention_mask, token_type_ids = pad_batch([rows[i] for i in batch], self._pad_id)
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
