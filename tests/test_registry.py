"""What the registry hands the engines: the runtime options taken from Settings, and no more."""

from __future__ import annotations

from dataclasses import fields

from reranker.config import Settings
from reranker.registry import runtime_options
from reranker.scoring.types import RuntimeOptions


def test_the_runtime_options_default_to_the_settings_defaults() -> None:
    assert runtime_options(Settings()) == RuntimeOptions()


def test_every_runtime_option_comes_from_its_setting() -> None:
    settings = Settings(
        precision="fp32",
        runtime="onnxruntime",
        device="cpu",
        threads=3,
        spin_threads=True,
        deterministic=False,
        batch_token_budget=2048,
        max_batch_size=7,
        max_query_tokens=40,
        embedding_cache_size=5,
    )
    options = runtime_options(settings)
    assert options == RuntimeOptions(
        precision="fp32",
        runtime="onnxruntime",
        device="cpu",
        threads=3,
        spin_threads=True,
        deterministic=False,
        batch_token_budget=2048,
        max_batch_size=7,
        max_query_tokens=40,
        embedding_cache_size=5,
    )
    # Each field differs from its default above, so a field left unmapped would fail here.
    assert all(getattr(options, f.name) != f.default for f in fields(RuntimeOptions))
