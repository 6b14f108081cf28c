"""What scorers hold: a graph runner, whatever runtime is under it, over our input contract.

Rows that run alone (the deterministic default) run on `workers` threads at once, one thread
each: at short lengths one row is too small a GEMM to keep two cores busy, and the per-run
overhead is paid on each core in parallel instead of in turn. A request of one row runs on all
the runner's threads instead. Each row is still one call of the same graph on its own; that its
output is the same bits on one thread or several is checked by tests/scoring/test_runner.py
and test_determinism.py.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
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
    decoders gather the last real token. `workers` batches run at once, each on its own thread.
    """

    output: str
    variant: str
    pad_id: int
    token_budget: int
    max_batch_size: int
    workers: int = 1


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
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _infer(self, feed: Mapping[str, IntArray]) -> FloatArray:
        """Return the graph's output for one padded batch, the only one running."""
        raise NotImplementedError

    def _infer_beside(self, feed: Mapping[str, IntArray]) -> FloatArray:
        """Return the graph's output for one batch while others run beside it (on one thread each)."""
        return self._infer(feed)

    def run(self, rows: Sequence[Encoded], check: Callable[[], None] = check_deadline) -> FloatArray:
        """Return the output row of each input row, in input order.

        `check` runs before each batch, in the caller's context (its deadline); once it raises,
        no further batch starts, on any thread, and its error is raised here.
        """
        plan = self._plan
        if not rows:
            return np.empty((0,), dtype=np.float32)
        batches = plan_batches([len(r) for r in rows], plan.token_budget, plan.max_batch_size)
        outputs: list[FloatArray | None] = [None] * len(batches)
        self._run_batches(rows, batches, outputs, check)
        result: FloatArray | None = None
        for batch, output in zip(batches, outputs, strict=True):
            assert output is not None  # every batch ran, or _run_batches raised
            if result is None:
                result = np.empty((len(rows), *output.shape[1:]), dtype=np.float32)
            result[batch] = output
        assert result is not None
        return result

    def _run_batches(
        self,
        rows: Sequence[Encoded],
        batches: list[list[int]],
        outputs: list[FloatArray | None],
        check: Callable[[], None],
    ) -> None:
        """Fill `outputs` batch by batch: the caller's thread and up to `workers - 1` others take
        the next batch in turn, checking before each; the first failure stops every thread."""
        context = contextvars.copy_context()
        pending = iter(enumerate(batches))
        lock = threading.Lock()
        failures: list[BaseException] = []

        def work() -> None:
            while True:
                with lock:  # taking a batch and checking happen together: none starts after a failure
                    taken = None if failures else next(pending, None)
                    if taken is None:
                        return
                    try:
                        context.copy().run(check)
                    except BaseException as exc:
                        failures.append(exc)
                        return
                index, batch = taken
                try:
                    outputs[index] = infer(self._feed([rows[i] for i in batch]))
                except BaseException as exc:
                    with lock:
                        failures.append(exc)
                    return

        helpers = min(self._plan.workers, len(batches)) - 1
        infer = self._infer_beside if helpers > 0 else self._infer
        started = [self._workers().submit(work) for _ in range(helpers)] if helpers > 0 else []
        work()
        for future in started:
            future.result()
        if failures:
            raise failures[0]

    def _feed(self, rows: Sequence[Encoded]) -> Feed:
        """Return the graph inputs of one batch: a row alone as it is, several right-padded."""
        if len(rows) == 1:
            (row,) = rows
            input_ids = np.array([row.ids], dtype=np.int64)
            attention_mask = np.ones_like(input_ids)
            token_type_ids = np.array([row.type_ids], dtype=np.int64)
        else:
            input_ids, attention_mask, token_type_ids = pad_batch(rows, self._plan.pad_id)
        feed: Feed = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self._input_names:
            feed["token_type_ids"] = token_type_ids
        return feed

    def _workers(self) -> ThreadPoolExecutor:
        """Return the threads beside the caller's, started on first use (one row starts none)."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._plan.workers - 1, thread_name_prefix="rows")
            return self._pool
