"""What the registry hands the engines (the runtime options taken from Settings, and no more), and
the settings that serve model folders."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from reranker.config import Settings
from reranker.manifest import MANIFEST_NAME, parse_manifest
from reranker.registry import folder_settings, runtime_options
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
        rows_alone=False,
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
        rows_alone=False,
        batch_token_budget=2048,
        max_batch_size=7,
        max_query_tokens=40,
        embedding_cache_size=5,
    )
    # Each field differs from its default above, so a field left unmapped would fail here.
    assert all(getattr(options, f.name) != f.default for f in fields(RuntimeOptions))


def test_model_folders_are_served_under_their_manifest_names(tiny_cross_encoder_dir: Path) -> None:
    manifest = parse_manifest((tiny_cross_encoder_dir / MANIFEST_NAME).read_bytes(), origin="test")
    settings = folder_settings([tiny_cross_encoder_dir])
    assert settings.models == {manifest.name: str(tiny_cross_encoder_dir.resolve())}
    assert settings.aliases == dict.fromkeys(manifest.aliases, manifest.name)
    assert settings.default_model == manifest.name
