"""onnxruntime sessions: worker threads yield their cores unless RERANK_SPIN_THREADS asks them to spin."""

from __future__ import annotations

from pathlib import Path

import pytest

from reranker.config import Settings
from reranker.scoring.session import create_session

SPINNING = "session.intra_op.allow_spinning"


def test_threads_do_not_spin_by_default(tiny_cross_encoder_dir: Path) -> None:
    assert Settings().spin_threads is False
    session = create_session(tiny_cross_encoder_dir / "model.onnx", threads=2, providers="cpu")
    assert session.get_session_options().get_session_config_entry(SPINNING) == "0"


def test_spinning_is_onnxruntimes_own_default_when_asked_for(tiny_cross_encoder_dir: Path) -> None:
    session = create_session(
        tiny_cross_encoder_dir / "model.onnx", threads=2, providers="cpu", spin_threads=True
    )
    with pytest.raises(RuntimeError, match="does not have configuration"):  # unset: onnxruntime spins
        session.get_session_options().get_session_config_entry(SPINNING)
