"""Rows scored on several threads at once: the same bits as one at a time, and the caller's deadline."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import numpy as np
import pytest

from reranker.config import Settings
from reranker.deadline import Deadline, deadline_scope
from reranker.errors import DeadlineExceeded
from reranker.model_store.local import LocalModelStore
from reranker.scoring.loader import load_scorer
from reranker.scoring.types import ScoreOptions, Scorer

WORDS = "apple river music doctor engine garden protein immune vitamin signal pathway patient".split()


def documents(count: int) -> list[str]:
    rng = random.Random(3)
    return [" ".join(rng.choices(WORDS, k=rng.randint(2, 60))) for _ in range(count)]


def scorer(folder: Path, **settings: object) -> Scorer:
    local = LocalModelStore().fetch(str(folder), label=folder.name)
    return load_scorer(local.folder, local.manifest, Settings(**settings))  # type: ignore[arg-type]


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_rows_on_three_threads_score_like_rows_one_at_a_time(
    tiny_cross_encoder_dir: Path, variant: str
) -> None:
    docs = documents(60)
    serial = scorer(tiny_cross_encoder_dir, variant=variant, backend="onnxruntime", threads=1)
    parallel = scorer(tiny_cross_encoder_dir, variant=variant, backend="onnxruntime", threads=3)
    expected = serial.score("vitamin signal", docs, ScoreOptions(raw_scores=True)).scores
    got = parallel.score("vitamin signal", docs, ScoreOptions(raw_scores=True)).scores
    assert any(thread.name.startswith("rows") for thread in threading.enumerate())
    np.testing.assert_array_equal(got, expected)
    # And each row is the row alone (a request of one document runs on the caller's thread).
    alone = [parallel.score("vitamin signal", [d], ScoreOptions(raw_scores=True)).scores[0] for d in docs[:8]]
    np.testing.assert_array_equal(np.array(alone), expected[:8])


def test_the_callers_deadline_stops_rows_run_on_other_threads(tiny_cross_encoder_dir: Path) -> None:
    parallel = scorer(tiny_cross_encoder_dir, backend="onnxruntime", threads=2)
    with deadline_scope(Deadline(0.0)), pytest.raises(DeadlineExceeded):
        parallel.score("vitamin signal", documents(20), ScoreOptions())
