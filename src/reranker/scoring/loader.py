"""A verified model folder -> a ready scorer of the kind its manifest names."""

from __future__ import annotations

from pathlib import Path

from reranker.config import Settings
from reranker.errors import ConfigurationError
from reranker.model_store.manifest import Manifest
from reranker.scoring.bi_encoder import BiEncoderScorer
from reranker.scoring.cross_encoder import CrossEncoderScorer
from reranker.scoring.embedding_cache import EmbeddingCache
from reranker.scoring.prompt import PromptEncoder
from reranker.scoring.session import OnnxModel, create_session
from reranker.scoring.tokenize import TextEncoder, load_tokenizer
from reranker.scoring.types import Scorer

OUTPUT_BY_KIND = {"cross-encoder": "logits", "bi-encoder": "embeddings"}


def load_scorer(folder: Path, manifest: Manifest, settings: Settings) -> Scorer:
    """Return a scorer over the variant the settings ask for (fp32 when int8 was not exported)."""
    variant = settings.variant if settings.variant in manifest.variants else "fp32"
    if variant not in manifest.variants:
        raise ConfigurationError(f"model {manifest.name} has no {settings.variant} or fp32 graph")
    tokenizer = load_tokenizer(str(folder / manifest.tokenizer))
    encoder = TextEncoder(tokenizer, manifest.max_length, settings.max_query_tokens)
    prompted = (
        PromptEncoder(tokenizer, manifest.prompt, manifest.max_length, settings.max_query_tokens)
        if manifest.prompt is not None
        else None
    )
    session = create_session(
        folder / manifest.variants[variant],
        threads=settings.threads,
        providers=settings.providers,
        spin_threads=settings.spin_threads,
    )
    model = OnnxModel(
        session,
        output=OUTPUT_BY_KIND[manifest.kind],
        variant=variant,
        pad_id=encoder.pad_id,  # right padding, masked; decoders gather the last real token
        token_budget=settings.batch_token_budget,
        max_batch_size=1 if settings.deterministic else settings.max_batch_size,
    )
    if manifest.kind == "cross-encoder":
        return CrossEncoderScorer(manifest, prompted or encoder, model)
    return BiEncoderScorer(manifest, encoder, model, EmbeddingCache(settings.embedding_cache_size))
