"""Execution providers: CUDA then CPU when onnxruntime offers CUDA, CPU when forced, and the truth reported.

No GPU exists on these machines, so the CUDA branch is exercised by making onnxruntime report a
CUDA provider; a real GPU run is not covered here.
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import pytest

from reranker.choices import Device
from reranker.config import Settings
from reranker.errors import ConfigurationError
from reranker.scoring import session

WITH_CUDA = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
CPU_ONLY = ["AzureExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.parametrize(
    ("available", "preference", "chosen"),
    [
        (WITH_CUDA, "auto", ["CUDAExecutionProvider", "CPUExecutionProvider"]),
        (WITH_CUDA, "cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"]),
        (WITH_CUDA, "cpu", ["CPUExecutionProvider"]),
        (CPU_ONLY, "auto", ["CPUExecutionProvider"]),
        (CPU_ONLY, "cpu", ["CPUExecutionProvider"]),
    ],
)
def test_choose_providers(
    available: list[str], preference: Device, chosen: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ort, "get_available_providers", lambda: available)
    assert session.choose_providers(preference) == chosen


def test_asking_for_cuda_without_it_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ort, "get_available_providers", lambda: CPU_ONLY)
    with pytest.raises(ConfigurationError, match="RERANK_DEVICE=cuda but onnxruntime has no CUDA provider"):
        session.choose_providers("cuda")


def test_rerank_device_cpu_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RERANK_DEVICE", "cpu")
    assert Settings().device == "cpu"
    monkeypatch.setenv("RERANK_DEVICE", "tpu")
    with pytest.raises(ValueError, match="device"):
        Settings()


def test_the_provider_reported_is_the_one_the_session_runs_on(
    tiny_cross_encoder_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = tiny_cross_encoder_dir / "model.int8.onnx"
    assert (
        session.create_session(graph, threads=1, providers="auto").get_providers()[0]
        == "CPUExecutionProvider"
    )
    # onnxruntime claims CUDA (as onnxruntime-gpu does on a machine whose GPU is missing): the
    # session falls back to CPU, and the session, not the request, is what gets reported.
    monkeypatch.setattr(ort, "get_available_providers", lambda: WITH_CUDA)
    with pytest.warns(UserWarning, match="CUDAExecutionProvider"):
        fallback = session.create_session(graph, threads=1, providers="auto")
    assert fallback.get_providers() == ["CPUExecutionProvider"]
