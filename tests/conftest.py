"""Session fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fixtures.model_cache import (
    default_model_export,
    tiny_cross_encoder_export,
    tiny_xlmr_cross_encoder_export,
)

# The suite configures the service itself: settings from the caller's shell must not leak in.
for _name in [name for name in os.environ if name.startswith("RERANK_") and name != "RERANK_TEST_CACHE"]:
    del os.environ[_name]

# --- Exported models (owned by tests/export) -----------------------------------------------
# Real ONNX model folders written by reranker.export, cached on disk between runs under
# $RERANK_TEST_CACHE or <repo>/.cache/test-models (see tests/fixtures/model_cache.py).
# The tiny cross-encoder's source checkpoint is the sibling folder `checkpoint`.


@pytest.fixture(scope="session")
def tiny_cross_encoder_dir() -> Path:
    """Return the tiny BERT cross-encoder (name tiny-ce, 1 label, max_length 128)."""
    return tiny_cross_encoder_export(num_labels=1)


@pytest.fixture(scope="session")
def tiny_xlmr_cross_encoder_dir() -> Path:
    """Return the tiny XLM-RoBERTa cross-encoder (name tiny-xlmr-ce, 1 label, max_length 128)."""
    return tiny_xlmr_cross_encoder_export()


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """Return all-MiniLM-L6-v2 exported as a bi-encoder (name all-minilm-l6-v2, alias default)."""
    return default_model_export()


# --- End of exported models ----------------------------------------------------------------
