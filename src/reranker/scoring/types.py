"""What every scorer takes and returns, so the service never cares which kind it holds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from reranker.choices import Device, Precision, RuntimeChoice, Truncate
from reranker.errors import InvalidRequest
from reranker.manifest import Manifest
from reranker.request import ChunkOptions


@dataclass(frozen=True)
class RuntimeOptions:
    """How loaded models run: the few settings the scoring engine reads, never the whole Settings.

    The registry builds it from Settings (`registry.runtime_options`); the defaults are Settings'.
    """

    precision: Precision = "int8"
    runtime: RuntimeChoice = "auto"
    device: Device = "auto"
    threads: int = 0
    spin_threads: bool = False
    # True: every row runs alone, so a score never depends on the rest of the request.
    rows_alone: bool = True
    batch_token_budget: int = 1024
    max_batch_size: int = 32
    max_query_tokens: int | None = None
    embedding_cache_size: int = 20_000


@dataclass(frozen=True)
class ScoreOptions:
    truncate: Truncate = "end"
    max_tokens_per_document: int | None = None
    raw_scores: bool = False
    # None: one row per document, cut to fit. Set: long documents are windowed and max-pooled.
    chunking: ChunkOptions | None = None
    # Prompted rerankers only (None: the model's default); others reject any instruction.
    instruction: str | None = None


def refuse_instruction(manifest: Manifest, options: ScoreOptions) -> None:
    """Raise InvalidRequest when a request sends an instruction to a model that takes none."""
    if options.instruction is not None and not manifest.takes_instruction:
        family = f" ({manifest.family})" if manifest.family else ""
        raise InvalidRequest(
            f"model {manifest.name}{family} takes no instruction; leave extra_body.instruction out",
            param="extra_body.instruction",
        )


@dataclass(frozen=True)
class ScoreResult:
    """`scores[i]` belongs to `documents[i]`; `prompt_tokens` counts tokens fed, specials included."""

    scores: npt.NDArray[np.float64]
    prompt_tokens: int


class Scorer(Protocol):
    """Scores a query against texts; one instance per loaded model, shared across requests."""

    manifest: Manifest
    provider: str
    variant: str

    def score(self, query: str, documents: Sequence[str], options: ScoreOptions) -> ScoreResult:
        """Return one score per document, in input order."""
        ...
