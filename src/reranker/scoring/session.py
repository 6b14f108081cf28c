"""onnxruntime sessions: provider choice, threads, and running padded batches."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from reranker.config import Providers
from reranker.deadline import check_deadline
from reranker.errors import ConfigurationError, ModelUnavailable
from reranker.scoring.batching import pad_batch, plan_batches
from reranker.scoring.tokenize import Encoded

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]


def choose_providers(preference: Providers) -> list[str]:
    """Return onnxruntime providers in order: CUDA first when present and allowed, CPU last."""
    available = ort.get_available_providers()
    if preference == "cuda" and "CUDAExecutionProvider" not in available:
        raise ConfigurationError(
            "RERANK_PROVIDERS=cuda but onnxruntime has no CUDA provider "
            "(install the [gpu] extra on a machine with a GPU)"
        )
    if preference != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def create_session(
    path: Path, *, threads: int, providers: Providers, spin_threads: bool = True
) -> ort.InferenceSession:
    """Return a session for one ONNX file; `threads=0` lets onnxruntime use every core."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if not spin_threads:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=choose_providers(providers))
    except ConfigurationError:
        raise
    except Exception as exc:
        raise ModelUnavailable("the model's ONNX graph could not be loaded") from exc


class OnnxModel:
    """One ONNX graph with our input contract, run over length-sorted padded batches."""

    def __init__(
        self,
        session: ort.InferenceSession,
        *,
        output: str,
        variant: str,
        pad_id: int,
        token_budget: int,
        max_batch_size: int,
    ) -> None:
        self._session = session
        self._output = output
        self._pad_id = pad_id
        self._token_budget = token_budget
        self._max_batch_size = max_batch_size
        self._input_names = {node.name for node in session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - self._input_names
        if missing or output not in {node.name for node in session.get_outputs()}:
            raise ConfigurationError(
                f"ONNX graph does not follow the model contract (inputs {sorted(self._input_names)})"
            )
        self.provider = session.get_providers()[0]
        self.variant = variant

    def run(self, rows: Sequence[Encoded], check: Callable[[], None] = check_deadline) -> FloatArray:
        """Return the output row of each input row, in input order.

        `check` runs before each batch; it raises to stop (the request's deadline passed).
        """
        batches = plan_batches([len(r) for r in rows], self._token_budget, self._max_batch_size)
        result: FloatArray | None = None
        for batch in batches:
            check()
            input_ids, attention_mask, token_type_ids = pad_batch([rows[i] for i in batch], self._pad_id)
            feed = {"input_ids": input_ids, "attention_mask": attention_mask}
            if "token_type_ids" in self._input_names:
                feed["token_type_ids"] = token_type_ids
            (output,) = self._session.run([self._output], feed)
            if result is None:
                result = np.empty((len(rows), *output.shape[1:]), dtype=np.float32)
            result[batch] = output
        if result is None:
            return np.empty((0,), dtype=np.float32)
        return result
