from __future__ import annotations

import numpy as np

from reranker.scoring.batching import pad_batch, plan_batches
from reranker.scoring.tokenize import Encoded


def test_batches_are_longest_first_and_respect_the_token_budget() -> None:
    lengths = [5, 50, 10, 50, 7, 12]
    batches = plan_batches(lengths, token_budget=100, max_batch_size=8)
    assert batches == [[1, 3], [5, 2, 4, 0]]
    for batch in batches:
        assert len(batch) * max(lengths[i] for i in batch) <= 100


def test_batch_size_cap_and_an_oversized_sequence_gets_its_own_batch() -> None:
    assert plan_batches([300, 1, 1, 1], token_budget=100, max_batch_size=2) == [[0], [1, 2], [3]]


def test_equal_lengths_keep_input_order() -> None:
    assert plan_batches([3, 3, 3], token_budget=1000, max_batch_size=32) == [[0, 1, 2]]


def test_empty_input_plans_no_batch() -> None:
    assert plan_batches([], token_budget=10, max_batch_size=2) == []


def test_padding_goes_to_the_longest_row_with_masks_and_type_ids() -> None:
    rows = [Encoded(ids=[1, 2, 3], type_ids=[0, 0, 1]), Encoded(ids=[4], type_ids=[0])]
    input_ids, attention_mask, token_type_ids = pad_batch(rows, pad_id=9)
    np.testing.assert_array_equal(input_ids, [[1, 2, 3], [4, 9, 9]])
    np.testing.assert_array_equal(attention_mask, [[1, 1, 1], [1, 0, 0]])
    np.testing.assert_array_equal(token_type_ids, [[0, 0, 1], [0, 0, 0]])
    assert input_ids.dtype == np.int64
