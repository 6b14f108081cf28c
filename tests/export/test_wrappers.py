"""Pooling inside the graph: padding never counts."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from reranker.export.wrappers import pool  # noqa: E402

pytestmark = pytest.mark.torch

# Two rows of three positions, hidden size 2; row 1 has one padding position holding 100s.
HIDDEN = torch.tensor(
    [
        [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
        [[1.0, -1.0], [3.0, 1.0], [100.0, 100.0]],
    ]
)
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])


def test_mean_pooling_excludes_padding() -> None:
    assert pool(HIDDEN, MASK, "mean").tolist() == [[3.0, 4.0], [2.0, 0.0]]


def test_max_pooling_excludes_padding() -> None:
    assert pool(HIDDEN, MASK, "max").tolist() == [[5.0, 6.0], [3.0, 1.0]]


def test_cls_pooling_takes_the_first_position() -> None:
    assert pool(HIDDEN, MASK, "cls").tolist() == [[1.0, 2.0], [1.0, -1.0]]
