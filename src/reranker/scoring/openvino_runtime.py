"""OpenVINO on the CPU: a compiled graph (our ONNX file or a static int8 IR) behind the runner contract.

Imported only when the openvino backend was chosen, so a serving image without the [openvino]
extra never loads it. The precision hint is always set: on CPUs with AMX or AVX512_BF16,
OpenVINO's default is bf16, so fp32 must ask for f32 explicitly (docs/scores.md).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import openvino

from reranker.errors import ModelUnavailable
from reranker.scoring.graph_choice import GraphChoice
from reranker.scoring.runner import BatchedRunner, FloatArray, IntArray, RowPlan

PROVIDER = "OpenVINO CPU"


def compile_graph(
    path: Path, choice: GraphChoice, *, threads: int, streams: int = 1
) -> openvino.CompiledModel:
    """Return the graph compiled for the CPU: `streams` rows at once on `threads` threads each.

    `threads=0` is OpenVINO's default (every core, one stream).
    """
    config: dict[str, object] = {
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": streams,
        "INFERENCE_PRECISION_HINT": choice.openvino_precision or "f32",
    }
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads * streams
    try:
        core = openvino.Core()
        return core.compile_model(core.read_model(str(path)), "CPU", config)
    except Exception as exc:
        raise ModelUnavailable("the model's graph could not be compiled by OpenVINO") from exc


class OpenVinoModel(BatchedRunner):
    """One compiled graph with our input contract; each thread runs its own infer request."""

    def __init__(self, compiled: openvino.CompiledModel, plan: RowPlan) -> None:
        super().__init__(
            plan,
            inputs={name for port in compiled.inputs for name in port.get_names()},
            outputs={name for port in compiled.outputs for name in port.get_names()},
            provider=PROVIDER,
            runtime="OpenVINO",
        )
        self._compiled = compiled
        self._output = compiled.output(plan.output)
        self._local = threading.local()  # an infer request is not safe to share between threads

    def _infer(self, feed: Mapping[str, IntArray]) -> FloatArray:
        request: openvino.InferRequest | None = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        # The result is a view of the request's buffer, which its next run overwrites: copy it.
        return np.array(request.infer(dict(feed))[self._output], dtype=np.float32, copy=True)
