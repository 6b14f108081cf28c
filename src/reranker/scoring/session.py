"""onnxruntime sessions: provider choice, threads, and the runner over them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import onnxruntime as ort

from reranker.choices import Device
from reranker.errors import ConfigurationError, ModelUnavailable
from reranker.scoring.runner import BatchedRunner, FloatArray, IntArray, RowPlan

logger = logging.getLogger(__name__)


def choose_providers(preference: Device) -> list[str]:
    """Return onnxruntime providers in order: CUDA first when present and allowed, CPU last."""
    available = ort.get_available_providers()
    if preference == "cuda" and "CUDAExecutionProvider" not in available:
        raise ConfigurationError(
            "RERANK_DEVICE=cuda but onnxruntime has no CUDA provider "
            "(install the [gpu] extra on a machine with a GPU)"
        )
    if preference != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def create_session(
    path: Path, *, threads: int, providers: Device, spin_threads: bool = False
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


class OnnxModel(BatchedRunner):
    """One ONNX graph with our input contract, run by onnxruntime.

    `session` runs a batch alone (on all its threads); `one_thread`, when given, opens the
    one-thread session that rows running side by side share, on the first such request: a
    Lambda that only ever scores one document at a time never pays for it.
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        plan: RowPlan,
        one_thread: Callable[[], ort.InferenceSession] | None = None,
    ) -> None:
        super().__init__(
            plan,
            inputs={node.name for node in session.get_inputs()},
            outputs={node.name for node in session.get_outputs()},
            provider=session.get_providers()[0],
            runtime="ONNX",
        )
        self._session = session
        self._open_one_thread = one_thread
        self._one_thread: ort.InferenceSession | None = None
        self._opening = threading.Lock()

    def _infer(self, feed: Mapping[str, IntArray]) -> FloatArray:
        return self._run(self._session, feed)

    def _infer_beside(self, feed: Mapping[str, IntArray]) -> FloatArray:
        if self._open_one_thread is None:
            return self._run(self._session, feed)
        with self._opening:
            if self._one_thread is None:
                self._one_thread = self._open_one_thread()
        return self._run(self._one_thread, feed)

    def _run(self, session: ort.InferenceSession, feed: Mapping[str, IntArray]) -> FloatArray:
        (output,) = session.run([self._plan.output], dict(feed))
        return np.asarray(output, dtype=np.float32)
